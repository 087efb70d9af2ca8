// Package consumequeue is RocketMQ's ConsumeQueue: for every (topic,
// queueId) a sequence of fixed-width entries, addressed by queue offset, that
// point into the commit log (physical offset and size) and carry the tag hash
// and store time, so a pull can filter by tag and a consumer can seek by time
// without reading the commit log.
//
// The queues are derived state. The store's owner dispatches committed
// messages to them in commit-log order and can always rebuild them from the
// log (Reset, Rebuild). Physical offsets are opaque int64 positions that
// increase in dispatch order.
//
// # Layout
//
// Dir/<topic>/<queueId>/<20-digit base offset> files of a fixed number of
// 32-byte entries (300,000 by default), each file mapped whole; and
// Dir/dispatch.ckpt, the checkpoint. FORMAT.md beside this file is the
// byte-level description.
//
// # Durability
//
// Put writes into the mapping and is not durable by itself. Queue.Flush
// msyncs the entries written since the last flush. Store.Flush flushes every
// queue and then writes the checkpoint (fdatasync) with DispatchedPhys as it
// was when the flush began; that checkpoint is the state a restart returns
// to: on Open every queue is trimmed to the entries with Phys below the
// checkpointed DispatchedPhys, so the caller re-dispatches from there. File
// creation and deletion are made durable with a directory sync before the
// call returns. TruncatePhys, DropBeforePhys and Reset write the checkpoint
// first and then change the queues, so a crash part-way through is finished
// (or made harmless) by the next Open.
//
// # Recovery
//
// Open checks every file header, that files are contiguous, and every entry
// of each queue's last file: the valid entries form a prefix; anything after
// it that is not zero is a torn tail (zeroed and reported) unless a valid
// entry after the damage lies below the checkpoint, which proves the damaged
// entry had been made durable: that is ErrCorrupt. Entries in older files
// are checked (CRC32-C) whenever they are read; damage is reported as
// ErrCorrupt, never skipped. On ErrCorrupt the caller rebuilds.
//
// # Concurrency
//
// One dispatcher writes; any number of pull handlers read concurrently
// (see Queue and Store for the lock protocol).
package consumequeue
