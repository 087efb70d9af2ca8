// Package indexfile is RocketMQ's IndexFile: a hash index from message keys
// (each KEYS entry and the UNIQ_KEY) to commit-log positions with store
// times, for "query message by key" within a time range.
//
// The index is derived state: the store's owner dispatches committed
// messages in commit-log order and can rebuild it from the log (Reset,
// Rebuild). Physical offsets are opaque int64 positions that increase in
// dispatch order.
//
// # Layout
//
// Dir/<20-digit file number> fixed-size files, each mapped whole: two
// header copies, a slot table (key hash → newest entry number) and
// entries chained newest to oldest per slot (key hash, phys, store time,
// previous entry number, CRC32-C). A file rolls over to the next number
// when full. Dir/dispatch.ckpt is the checkpoint. FORMAT.md beside this file
// is the byte-level description. Memory use is the mapped files only; no
// part of the index is copied into the Go heap.
//
// # Matching
//
// Entries store a 64-bit hash of the key, not the key: Query returns every
// entry whose hash matches, so under a (rare) full 64-bit collision it can
// return an offset of a message with another key. The caller verifies the
// key against the message, as RocketMQ's broker does.
//
// # Durability
//
// Put writes into the mapping only. Flush fdatasyncs each file written
// since the last flush and then writes that file's next header copy (entry
// count, phys and time bounds), then records DispatchedPhys, as it was when
// the flush began, in the checkpoint. On Open the index is trimmed to the
// entries with phys below the checkpointed DispatchedPhys; a file that was
// not closed cleanly has its slot table rebuilt from its entries (slots may
// point at entries the crash lost). TruncatePhys, DropBeforePhys and Reset
// write the checkpoint first, so a crash part-way is finished by Open.
//
// # Concurrency
//
// One dispatcher writes; any number of Query calls run concurrently with it
// and with each other (see Index).
package indexfile
