// Package jepsen is a fault-injection harness for dledgermq broker groups,
// written in Go without the Clojure Jepsen: it starts the real binaries on
// distinct loopback addresses inside a private network namespace, drives
// workloads through the lean client package, injects faults, records every
// operation in a history, and checks the history with pure checkers.
//
// # History
//
// A history (History, Op) is the sequence of operations processes
// performed, in the order the Recorder saw them: an invoke, then exactly
// one completion of the same process and kind, typed ok (it happened),
// fail (it definitely did not happen) or info (unknown: it may have
// happened, now or later). Times are monotonic nanoseconds since the
// recorder started. Histories persist as JSON lines (one Op per line,
// FORMAT in JEPSEN.md) and load back for re-checking.
//
// # Checkers
//
// Every checker is a pure function of a history and the final drain of
// every replica (Drains, taken from the history's drain operations) that
// returns a result struct with counts, examples and a Valid verdict. Each
// has self-tests on hand-made good and bad histories: a checker that
// cannot fail is a defect. CheckAll runs them all.
//
// # Read contract
//
// Any replica may answer a pull, and a lagging or restarting one answers
// "nothing yet" (RocketMQ's PULL_NOT_FOUND): late, never wrong. So by
// default (CheckOptions.StrictReads false) a read that returned nothing
// constrains nothing in the linearizability check; a read that returned a
// value must be the stored value and linearizable with the appends; and a
// read that returned nothing below the max offset its own reply reported
// is a skip, always invalid. StrictReads models reads through a leader
// that confirmed its leadership (not offered by the broker today).
// Consumer-offset queries are held to the strong contract: never below an
// acknowledged commit.
//
// # Fault building blocks
//
// Netns (a named network namespace with commands, dials and listens inside
// it), Firewall (iptables rules in a namespace-private chain), Proc
// (start, kill -9, SIGSTOP/SIGCONT, SIGTERM with bounded waits), file
// corruption (FlipBit, ZeroTail, TruncateFile on the newest segment),
// MountTmpfs (a small file system for disk-full faults), seeds (SeedFromEnv,
// NewRand: every run prints its seed and JEPSEN_SEED replays it) and Run (a
// run directory that keeps history, logs and data of failed runs).
//
// # Harness
//
// BuildBinaries builds cmd/namesrv and cmd/dledger-broker; StartCluster
// runs them in a Netns (Cluster: kill, restart, pause, leader lookup, a
// client configuration that dials into the namespace); QueueWorkload
// drives producers and readers; Settle and DrainAll take the final state;
// the nemeses (KillLeader, KillFollower, KillAll, PauseLeader,
// IsolateLeader, PartitionLeaderFromFollower, NamesrvDown, TransferLeader
// and ClockJumpLeader through the broker's test hooks, DiskFullLeader,
// FlipBitFollower, TruncateTailFollower) break and repair on a seeded
// schedule; InprocCluster, RunInprocScenario and PowerLossNemesis run the
// same workload against an in-process group on crash file systems for
// power-loss faults; RunScenario ties it together and keeps the
// run directory of a failed run. JEPSEN.md has the fault × workload ×
// checker matrix and how to replay a seed.
//
// # Concurrency
//
// Recorder is safe for concurrent use (one mutex, held while an op is
// numbered, timed and written, so sink lines are in index order).
// Checkers share nothing. Proc, Cluster and Firewall are safe for
// concurrent use (Firewall applies one rule at a time under its mutex;
// a Node's lifecycle calls serialise on the node's mutex, Cluster.mu
// guards only the NameServer process; the two are never held together).
package jepsen
