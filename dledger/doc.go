// Package dledger runs a Raft group (hashicorp/raft) whose log is the commit
// log: a message is written once per replica, as part of a raft entry that is
// one commit-log record, and every replica holds it at the same physical
// offset.
//
// # Pieces
//
//   - LogStore (commitlog_store.go): raft.LogStore on commitlog. One raft
//     entry = one record (RecordTypeEntry; header in FORMAT.md). An index of
//     fixed-width mapped files maps raft index → record offset. StoreLogs
//     appends a batch with one commitlog.Append. EntryOffset gives the
//     physical offset of an entry's record and of its Data, for the message
//     layer; ReadEntryRecord and CompareLogs verify replicas.
//   - StableStore: raft-boltdb/v2 (stable.db). The LogStoreBolt kind keeps the
//     log in raft-boltdb too (raft.db, raft's LogCache in front); it is a
//     benchmark baseline and has no physical offsets. LogStoreMemory keeps
//     recent entries in memory only: a benchmark ceiling for raft itself.
//   - FSM (fsm.go): the application interface a Node drives, wrapped as a
//     raft.BatchingFSM that attaches each entry's physical offsets. The
//     kvfsm subpackage is a small implementation for tests.
//   - StreamLayer (stream_layer.go): TCP whose dials leave from the node's
//     own IP, with isolation/blocking hooks for partition tests. On the
//     commit-log store the Node runs appendTransport over it
//     (append_transport.go): its own pipelined protocol for AppendEntries,
//     whose follower side answers only once the entries are durable, and
//     raft's NetworkTransport on the same listener for everything else.
//     The baselines (bolt, memory) run on NetworkTransport alone
//     (NewTransport).
//   - Node (node.go): config, bootstrap-once, leadership observation,
//     Apply/Barrier, membership, leadership transfer on Shutdown.
//   - NewHCLogger: raft's hclog.Logger over the project's *slog.Logger.
//
// # Durability
//
// Under commitlog.FlushSync (the default) an entry a node acknowledged to
// the leader survives a power loss of that node, and an entry Apply reports
// is durable on a majority. Neither the leader's nor a follower's StoreLogs
// waits for the sync: each node's store syncs on its own goroutine, one
// fdatasync for every batch written since the previous one, while raft goes
// on. A follower answers an AppendEntries only once its log is durable past
// the request's entries (append_transport.go); the leader applies an entry,
// and Node.Apply returns, only once its own copy is durable, and the commit
// index it sends followers is capped at its durable index; both also wait
// for the first entry of the leader's term, which is what commits entries
// of earlier terms (durability.go has the argument). FlushAsync trades
// this for latency: up to about
// FlushInterval of acknowledged entries can be lost if a majority loses
// power together.
//
// The index is derived data. Its slots are written through the mapping and
// made durable in batches (LogStoreOptions.IndexFlushEvery slots, then a
// checksummed header records how many are durable); on open only that many
// are trusted, checked against the commit log (checksums, first and last
// slot read back, a binary search for the last good slot if the log is
// shorter), and the rest is rebuilt by scanning the commit log. A suffix
// DeleteRange (raft dropping a conflicting tail) first lowers the index's
// durable count, then truncates the commit log durably (commitlog.Truncate):
// when it returns no crash can resurrect the dropped entries. The stable
// store and the snapshot store use the OS file system and sync on every
// write; a snapshot is only written after the commit log is synced up to its
// index.
//
// # Compaction, retention and snapshots
//
// A replica must never lack messages the others have. Three rules keep the
// commit logs identical over the range every replica retains:
//
//  1. Prefix DeleteRange (raft compacting after a snapshot) only advances the
//     logical first index; the records stay. The logical first index is not
//     persisted: after a restart FirstIndex is the first record still on
//     disk. Offering raft older, committed entries than it asked to keep is
//     safe; it only means more entries can be sent instead of a snapshot.
//  2. Retention (LogStore.DropBefore) removes whole segments, and never one
//     holding the record of the logical first index, so a record disappears
//     only when raft no longer needs it and the retention policy wants it
//     gone. Segments, offsets and each entry's AppendedAt (the leader's clock)
//     are identical on every replica, so a deterministic policy (age or
//     offset) drops the same segments everywhere; replicas differ only
//     transiently. The newest dropped segment's file becomes the next
//     segment (commitlog, "Recycled segments"), which changes no offset.
//  3. A snapshot carries the log range. Persist stores it compactly: the
//     snapshot index's record offset and the offset just past it. When raft
//     opens a snapshot to send it (InstallSnapshot), the snapshot store
//     materialises the full form: every record physically retained from the
//     start of the commit log up to the snapshot index, each with its offset
//     and a CRC32-C, ahead of the application state. A replica restoring it
//     resets its commit log to the first carried offset (commitlog.Reset) and
//     appends the records, checking each lands where it was on the sender,
//     so it ends with the same retained log at the same offsets; entries
//     after the snapshot index then arrive by AppendEntries and land
//     contiguously. If retention had already dropped every record up to the
//     snapshot index, none are carried and the log is reset to the offset
//     the next entry takes. A replica whose log already holds the snapshot
//     index at the same offset and term skips the records. A replica with a
//     longer, divergent log keeps its entries past the snapshot index
//     (appended again behind the restored range) so raft's view of its log
//     stays valid; they conflict with the leader and raft truncates them.
//     At startup a node restores its own compact snapshots without records
//     (their records are in its own log, which is checked to hold them).
//
// Consequences: every node of a group must use the same SegmentSize (offsets
// depend on it) and the same peer list order (bootstrap entries must be
// identical, since a wiped node bootstraps again and rejoins). Groups may not
// mix log-store kinds. raft's user-snapshot restore (Raft.Restore) is not
// supported: it leaves an index gap, and StoreLogs requires contiguous
// indexes (ErrNotContiguous).
//
// # Timeouts
//
// DefaultConfig uses a 400 ms heartbeat and election timeout and a 300 ms
// leader lease: measured on loopback (TestClusterFailover) a killed leader
// is replaced in 0.5–1.0 s; a graceful Shutdown of a leader transfers
// leadership in a few milliseconds.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. LogStore lock order:
// wmu (writers) before mu (state and index; readers take it shared); the
// commit log's own locks come after both. Commit-log appends and syncs run
// under wmu only, so readers are not blocked by a sync.
package dledger
