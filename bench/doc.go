// Package bench holds the benchmark drivers behind the `bench` binary
// (cli.BenchApp): load generation, HDR latency histograms, interval
// reporting and the final summary.
//
// # Modes
//
//   - produce: producers send Size-byte messages to a topic through the
//     broker; an acknowledgement means the message is committed on a
//     majority of the group (durable there under FlushSync) and applied on
//     the leader. One message per SEND, Batch per SEND_BATCH, or (Coalesce)
//     single sends packed by client.BatchingProducer.
//   - consume: one client pulls every queue of the topic from its first
//     offset until the backlog is drained (Embedded: a backlog of Count
//     messages is preloaded first, then consumed).
//   - e2e: produce, with a consumer following the topic's end; every body
//     carries its scheduled send time, so produce-to-consume latency is
//     measured with µs resolution.
//   - dledger: Producers × Inflight goroutines apply Size-byte entries on
//     the leader of a three-node raft group in this process (loopback TCP,
//     LogStore commitlog, the bolt baseline or memory, raft's own cost
//     with nothing on disk; default timeouts), waiting
//     for each to be committed and applied. The FSM only counts.
//   - commitlog: Producers × Inflight goroutines append Batch records per
//     commitlog.Append to a local log (FlushSync: one sync per Append).
//
// # Targets
//
// produce, consume and e2e run against a NameServer (Config.NameServer) or
// an embedded cluster (Config.Embedded): a NameServer and a three-node
// broker group started in this process, each node a store.Store behind a
// broker.Broker with default settings, data in a temporary directory, all
// on 127.0.0.1. In-process (not child processes) so the tool needs no
// other binary, tests run it under -race, and a leader kill is
// deterministic; see Cluster for how a kill imitates a crash. The catch:
// brokers and load generator share one Go runtime on the same cores, so
// throughput is what the whole system does on this machine, which is also
// what "producer on the same machine" means.
//
// # Load shapes and latency
//
// Closed loop (Rate 0): each producer keeps Inflight operations
// outstanding and starts the next when one completes; latency is from the
// start of an operation to its acknowledgement. Open loop (Rate > 0):
// operations are due on a fixed schedule (Pacer) and latency is measured
// from when each was due, so an operation delayed behind slow responses
// (all Inflight slots busy) or by the tool itself carries that delay in
// its latency: coordinated omission does not hide queueing. The tool's own
// delay is reported separately as start lag. Latencies are recorded per
// message (an operation of n messages counts n times), in µs, 1 µs to
// 60 s, 3 significant digits; only acknowledged messages have latencies.
//
// # Output
//
// A parameter banner; every Interval a line with RocketMQ's benchmark
// fields (Current Time, Send TPS, Max RT, Average RT, Send Failed,
// Response Failed; RT in ms with µs precision) plus p99 RT and progress,
// and for consuming modes RocketMQ's consumer fields (Consume TPS,
// AVG/MAX B2C and S2C RT) plus p99 and e2e latency; then a summary with
// msgs/s, MB/s (10^6 bytes of payload), p50/p90/p99/p99.9/max, the
// process's CPU time during the measured run, and the failover report.
// "Send Failed" counts messages whose operation got no usable answer
// (transport error, timeout, unknown outcome, no route, storage error),
// "Response Failed" messages a broker refused. With Config.JSON the last
// line is one JSON object (JSONResult): at least sent, errors,
// msgs_per_sec, mb_per_sec, p50_us, p99_us, p999_us and max_us.
//
// # Failover
//
// KillLeaderAt crashes the leader of the embedded group that far into the
// measured run. A Timeline counts successes and failures per millisecond;
// the report gives the longest interval without a successful send, the
// time from the first failure after the kill to the next success, and
// when the new leader was ready and appeared in the NameServer's route.
package bench
