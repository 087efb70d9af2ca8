#!/usr/bin/env bash
# `make run`: a local NameServer plus one three-node broker group on loopback.
set -euo pipefail
if [ ! -x bin/namesrv ] || [ ! -x bin/dledger-broker ]; then
  echo "make run: the namesrv and dledger-broker binaries are not built yet."
  echo "What exists today: the storage engine (commitlog, consumequeue, indexfile) and its tests;"
  echo "run 'make test' to exercise it."
  exit 0
fi
