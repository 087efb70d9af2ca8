#!/usr/bin/env bash
# `make run`: a local NameServer plus one three-node broker group on loopback,
# in the foreground. Data lives under ./data; Ctrl-C stops everything cleanly
# (each broker transfers leadership if it leads, unregisters, and closes its log).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x bin/namesrv ] || [ ! -x bin/dledger-broker ]; then
  echo "make run: bin/namesrv and bin/dledger-broker are not built (run 'make build')." >&2
  exit 1
fi

NAMESRV=127.0.0.1:9876
PEERS=n0=127.0.0.1:20911,n1=127.0.0.1:20912,n2=127.0.0.1:20913
DATA=${DATA:-./data}
# 256 MiB commit-log segments keep a local group's preallocated files small;
# production brokers use the 1 GiB default. Likewise a 1,000,000-entry key
# index file (~33 MB) instead of RocketMQ's 20,000,000 (~660 MB).
SEGMENT=${SEGMENT:-268435456}
# Prometheus metrics at http://127.0.0.1:5557/metrics (n0), 5558 (n1), 5559
# (n2); METRICS=0 turns them off.
METRICS=${METRICS:-1}
mkdir -p "$DATA/logs"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping brokers and NameServer..."
  # Brokers first (they unregister from the NameServer), then the NameServer.
  for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait "${pids[0]}" 2>/dev/null || true
  echo "stopped; data kept under $DATA"
  exit 0
}
trap stop INT TERM EXIT

# setsid: Ctrl-C reaches this script only, which then stops the brokers first
# (they unregister from the NameServer) and the NameServer last.
setsid bin/namesrv --listen "$NAMESRV" >"$DATA/logs/namesrv.log" 2>&1 &
pids+=($!)

for i in 0 1 2; do
  metrics=()
  if [ "$METRICS" != 0 ]; then metrics=(--metrics-listen "127.0.0.1:$((5557 + i))"); fi
  setsid bin/dledger-broker --id "n$i" --peers "$PEERS" "${metrics[@]}" \
    --listen "127.0.0.1:1091$((i + 1))" --namesrv "$NAMESRV" \
    --broker-name broker-a --cluster DefaultCluster \
    --segment-size "$SEGMENT" --index-entries 1000000 --data "$DATA/n$i" >"$DATA/logs/broker-n$i.log" 2>&1 &
  pids+=($!)
done

cat <<INFO
NameServer      $NAMESRV
broker group    broker-a (cluster DefaultCluster), Raft peers $PEERS
  n0 clients    127.0.0.1:10911   data $DATA/n0
  n1 clients    127.0.0.1:10912   data $DATA/n1
  n2 clients    127.0.0.1:10913   data $DATA/n2
logs            $DATA/logs/
metrics         http://127.0.0.1:5557/metrics (n0), :5558 (n1), :5559 (n2)$([ "$METRICS" != 0 ] || echo "; off (METRICS=0)")
Point a RocketMQ client at the NameServer: producer.WithNameServer([]string{"$NAMESRV"}).
Ctrl-C stops the group.
INFO

# Report the elected master once the NameServer knows it (bounded wait).
for _ in $(seq 1 50); do
  if leader=$(grep -l "became leader" "$DATA"/logs/broker-n*.log 2>/dev/null | head -1) && [ -n "$leader" ]; then
    echo "master (brokerId 0): $(basename "$leader" .log | sed 's/^broker-//')"
    break
  fi
  sleep 0.2
done

# Stay in the foreground until Ctrl-C or until a process exits on its own.
wait -n "${pids[@]}" || true
echo "a process exited; see $DATA/logs/" >&2
