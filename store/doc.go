// Package store is the broker's message store: the state machine a broker
// group's Raft node (package dledger) drives, between dledger below and
// the broker above. It turns committed Raft entries into RocketMQ's
// message model — queues with dense offsets, consume queues, a key index,
// topics, subscription groups and consumer offsets — identically on every
// replica. Entry and snapshot formats are in FORMAT.md beside this file.
//
// # Write path (leader only)
//
// PutMessages takes the messages of one SEND or SEND_BATCH request. The
// leader validates them, stamps what only it may decide (store timestamp,
// store host, body CRC; DESIGN.md decision 2) and encodes them in
// RocketMQ's stored layout with QUEUEOFFSET and PHYSICALOFFSET left 0: the
// queue offset is assigned by the FSM in log order, and both fields are
// patched when a message is read. On a follower every write fails with
// ErrNotLeader (nothing written; retry elsewhere); a leader that loses its
// leadership with the entry appended answers ErrLeadershipLost, which also
// matches ErrNotLeader (outcome unknown; RocketMQ is at-least-once).
//
// Group commit (Config.GroupCommit, batcher.go): calls that arrive while
// earlier entries are in flight are packed into one Raft entry, up to
// MaxBatchMessages and MaxBatchBytes, with up to MaxInflight entries
// proposed at once (ApplyAsync, pipelined). An idle store proposes a lone
// call at once; a busy one builds bigger entries, so the per-entry cost of
// Raft is paid per batch (DESIGN.md decision 5). Each caller gets its own
// results once the entry is committed on a majority and applied on the
// leader. Consumer-offset commits are batched the same way.
//
// # Apply
//
// ApplyBatch runs on Raft's FSM goroutine, on every replica, in log order,
// and uses nothing but the entries (no clock, no randomness, no local
// state other than what earlier entries produced). For a message entry it
// computes each message's physical offset (Entry.DataOffset + its position
// in the payload, identical on every replica), assigns the next queue
// offset of its (topic, queueId), dispatches it to the consume queue
// (physical offset, size, tag hash, store time) and to the key index (every
// KEYS entry and the UNIQ_KEY, scoped as "topic#key"), and returns the
// positions — the leader's PutMessages results. Then the OnArrive hooks run
// once per queue that grew (long-poll wake-up, on every replica).
// Metadata commands (topics, subscription groups, offset commits) go
// through the same log; a command that fails validation is rejected the
// same way everywhere.
//
// If writing the consume queue or index fails (an I/O error), apply keeps
// assigning offsets (the replicated state stays right) but stops
// dispatching; reads fail with ErrDispatch and a repair loop rebuilds the
// derived state from the commit log (retrying every few seconds). A read
// that finds a corrupt consume-queue entry triggers the same repair.
//
// # Read path (any replica)
//
// Reads see applied, hence committed, data only: the consume queue holds
// nothing else. GetMessages follows RocketMQ 4.9's getMessage statuses and
// next-begin-offset rules (see GetMessages) and returns the messages
// patched and concatenated in one buffer, ready to be a PULL body, reading
// each physically contiguous run of the commit log with one copy.
// While a replica rebuilds its queues at run time (a snapshot install or a
// repair), reads fail with ErrUnavailable rather than show half-rebuilt
// queues, whose bounds could send a consumer's offset forward.
// LookupMessage (offset msg ids, CONSUMER_SEND_MSG_BACK, transactions),
// QueryMessages (keys), SearchOffsetByTime, MinOffset and MaxOffset work on
// any replica. Metadata reads return this replica's applied state;
// OnLeaderChange reports a new leader only after a Raft barrier, so what
// the leader reads then includes everything committed before its term.
//
// # Consumer offsets
//
// CommitOffsets follows RocketMQ: an update sets the group's offset for
// the queue, whatever the previous value (a consumer may reset backwards
// on purpose). "Never moving backwards on failover" means: once
// CommitOffsets returned nil, the value is in a Raft entry committed on a
// majority, so every later leader has it and — because leadership is
// reported only after the barrier — serves it or a newer value, never the
// one before. A commit still in flight when the leader fails may be lost
// (the caller got an error or no answer); the consumer then re-consumes
// from the older offset, which at-least-once delivery allows.
//
// # Topics
//
// Topic and group configurations are replicated metadata only: sending to
// a queue needs no configuration in the store (the broker checks topics
// and permissions). Deleting a topic removes its configuration; its queues
// keep their counters and messages (until retention) and consumer offsets
// stay, so a topic created again continues its offsets instead of starting
// at 0 as RocketMQ's would. That keeps every replica's queues derivable
// from the log without a replicated "queue reset".
//
// # Derived state and recovery
//
// The consume queues and the key index are derived from the commit log.
// They are written by dispatch in log order, made durable lazily
// (FlushInterval), and each records a checkpoint: its dispatched watermark
// D, below which every message is in it. The Raft snapshot holds the
// replicated state: metadata, consumer offsets, the queue counters and the
// position Ps they are valid at (the physical end of the last message
// entry applied). The counters and Ps are therefore in the snapshot, not in
// the derived files, and the derived files never need to be in any
// particular relation to the snapshot.
//
// When Open has started the node (restoring the latest snapshot, or none:
// Ps = 0 and empty counters) and after a snapshot is installed at run time,
// reconcile compares the derived state with the FSM state and the commit
// log:
//
//   - D past the log's end (a log tail lost under FlushAsync): truncate it.
//   - D ≥ Ps (the usual case after a restart: the queues are flushed more
//     often than snapshots are taken): keep them, after checking that no
//     queue ends below its counter and that each queue's last entry points
//     at a matching message in the log. Raft then re-applies the entries
//     after the snapshot, and Put is idempotent by queue offset (the same
//     entry at the same offset is a no-op, a different one is corruption).
//   - log start ≤ D < Ps (queues behind the snapshot, e.g. a crash before
//     their last flush, or a snapshot installed from the leader): dispatch
//     the messages in [D, Ps) from the commit log.
//   - D < log start (queues missing or behind what the log retains, e.g.
//     the directory was deleted, or a wiped replica restored a snapshot
//     whose log range the leader sent along): reset and rebuild from the
//     log's start.
//
// Catch-up and rebuild need the counters at the point they start from.
// They are computed, not stored: counters(x) = counters(Ps) − the number
// of messages per queue in [x, Ps), counted by a first walk over the log.
// That needs only the snapshot and the retained log, so retention
// (DropBefore) keeps nothing extra, and a wiped replica that restores a
// snapshot — dledger brings the retained commit-log range over with it
// (dledger FORMAT.md) — rebuilds queues that start at the right non-zero
// offsets. After the walk every counter must land on its snapshot value
// and every queue must end there; otherwise the queues are rebuilt from
// scratch (and if that disagrees too, it is ErrCorrupt). The key index is
// caught up from its own watermark the same way (no counters needed).
// Corrupt consume-queue or index files found by their Open are discarded
// and rebuilt; a queue entry found corrupt by a read triggers a rebuild.
//
// Retention (DropBefore) removes commit-log segments below an offset
// (never past what Raft still needs, dledger.LogStore.DropBefore), then
// consume-queue and index entries below the new log start. GetMessages
// reports entries whose message is gone as MESSAGE_WAS_REMOVING and
// offsets below a queue's new start as OFFSET_TOO_SMALL. The retention
// loop calls it with the offset of the first entry younger than
// FileReservedTime, at the DeleteWhen hours or while the disk is too full
// (retention.go).
//
// # Durability
//
// An acknowledged write is committed on a majority and durable there
// (dledger syncs the commit log before a replica acknowledges, DESIGN.md
// decision 4). Nothing in the store is needed for that: the consume queues
// and index are flushed every FlushInterval, and a crash only costs a
// catch-up from the commit log at the next Open.
//
// # Concurrency
//
// All exported methods are safe for concurrent use. The FSM side
// (ApplyBatch, Restore, Snapshot, reconcile, repair, DropBefore) is
// serialized by Store.fsmMu; the state readers need (queue counters,
// metadata) has its own RWMutexes, taken inside fsmMu only. Lock order:
// fsmMu → queueState.mu / metaState.mu; the consume queue's and index's
// locks are below all of them. Reads of messages take no store lock.
package store
