// Package commitlog is a segmented, memory-mapped, append-only log of
// CRC-framed records: the storage core under the Raft log and the message
// store. The byte format is in FORMAT.md beside this file.
//
// # Layout
//
// The log is a sequence of fixed-size segment files (Options.SegmentSize,
// default 1 GiB), each named by its 20-digit base offset; base offsets are
// multiples of SegmentSize, so the physical offset of a record is its
// segment's base plus its position in the file, and two logs fed the same
// records from the same start hold the same record bytes at the same
// offsets. A segment is preallocated (fallocate) and mapped when it is
// created; records are copied into the mapping or written with pwrite (see
// "Write methods") and always read from the mapping. A record that
// does not fit in the rest of a segment is preceded by an end-of-segment
// marker and goes to the start of the next segment.
//
// # Durability contract
//
// A record is durable once the bytes of its segment up to its end have been
// made durable: by fdatasync of the segment file (vfs.File.Sync) or by
// msync MS_SYNC of the range (vfs.Mapping.Flush, on Linux an fdatasync of
// that file range), depending on Options.Write.
//
//   - FlushSync (default): Append puts the whole batch into the segment,
//     then makes it durable with one sync (not one per record) and only
//     then publishes the new End and returns. A nil error means every
//     record of the batch is durable. A batch that crosses a segment
//     boundary costs a few more syncs (see "Segment roll").
//   - FlushAsync: Append returns as soon as the batch is in the page cache
//     and published; a background flusher syncs the active segment every
//     FlushInterval (default 500 ms, RocketMQ's flushIntervalCommitLog).
//     Loss window: after a power loss or kernel crash, records appended in
//     the last FlushInterval plus the duration of one flush (in practice
//     under FlushInterval + ~10 ms) may be lost, torn or partly present;
//     recovery cuts them at the first invalid record. A crash of the
//     process alone loses nothing that Append accepted: the bytes are in
//     the kernel's page cache and Open syncs them. Call Sync to close the
//     window at a point of your choosing. Readers see records before they
//     are durable.
//
// Sync makes everything appended durable and records the exact sync point;
// Close does the same before unmapping.
//
// # Write methods
//
// Every segment is preallocated (fallocate) and mapped; reads always copy
// out of the mapping. Writes take one of two paths (Options.Write):
//
//   - WriteMmap copies each record straight into the mapping: no system
//     call per batch, the fastest way to get a few records into the page
//     cache (FlushAsync's default). Durability is an msync of the segment
//     from its start to the new end (the kernel only writes dirty pages).
//   - WritePwrite encodes the batch into a reused 1 MiB buffer and writes
//     it with one pwrite per segment run, then fdatasync (FlushSync's
//     default). On this project's test machine (ext4 on a virtio disk, in
//     a VM) msync of freshly written mapped pages ran at 0.25-0.4 of
//     pwrite+fdatasync for 256 KiB batches: a write fault on a page of a
//     preallocated (unwritten) extent starts an ext4 journal handle that
//     waits behind the commit the previous sync triggered, and writeback
//     of mapped pages write-protects them again (page_mkclean with TLB
//     shootdowns). pwrite avoids both and matches pwrite+fdatasync. Without
//     syncs it costs a system call per batch: for single 1 KiB records it
//     runs at about half the copy's rate, for batches of 256 slightly
//     faster (BENCHMARKS.md). The raft log store, whose batches are raft
//     entries of many messages, uses it under both flush modes.
//
// The two paths write the same bytes and can be mixed on one log across
// restarts.
//
// # Page cache
//
// Every new byte of the log needs a fresh page-cache page, and on a VM that
// hands idle memory back to its host a fresh page costs a host fault: on
// the project's machine 10 µs per page, against 1.2 µs for memory the
// guest freed moments ago, which made pwrite half of a broker's CPU under
// load. So the background flusher releases the page cache behind the
// writer (vfs.CacheReleaser: madvise and fadvise DONTNEED) once durable
// bytes are more than Options.CacheWindow (default 256 MiB) behind the
// durable end, one FlushInterval after they left the window (the kernel
// cannot drop pages still tied to the running journal transaction); the
// freed pages are then reused for the next writes at guest cost. Released
// bytes read back unchanged, from the disk: only reads that lag the tail
// by more than the window pay for it, as RocketMQ's consumers do once
// their messages fall out of memory. Releasing never touches dirty pages,
// so it has no part in durability. The memory and crash file systems do
// not implement it.
//
// # The sync point
//
// Recovery must tell a torn tail (harmless: nothing in it was acknowledged)
// from corruption of acknowledged data (an error, never skipped). Each
// segment header holds a small checksummed slot with the sync point: an
// offset below which the records were durable when the slot was written.
// The slot is rewritten inside the page cache and reaches the disk with the
// next data sync, but it always carries the durable end as of the previous
// sync, never the one being made: if power fails during that sync,
// whichever version of the slot reaches the disk, everything below it was
// already durable. So the slot is a lower bound that costs no extra sync.
// To avoid dirtying a second, distant page on every sync, an append
// rewrites it only once it lags the durable end by 1 MiB; the background
// flusher catches it up (a header-only msync) every FlushInterval, and Sync
// and Close catch it up at once. Under load, corruption of the last
// ~1 MiB / FlushInterval of acknowledged records is therefore reported as
// a torn tail (with the dropped range) rather than as ErrCorrupt; below
// that, it is always ErrCorrupt. The point lives in the header rather than
// in a checkpoint file because a separate file would need its own fsync
// per update. The slot lies in the header's first 512-byte sector, which
// the format assumes the disk writes atomically.
//
// On Open, the records of the last segment are checked in order: an
// invalid record (bad CRC, impossible length, type 0 other than the
// marker) below the sync point is an error wrapping ErrCorrupt. At or past
// the sync point, the first invalid record ends the log, whatever follows:
// unsynced pages reach the disk in any order, so a valid-looking record
// after an invalid one is still part of the torn tail. Every segment but
// the last must be intact up to its end-of-segment marker (ErrCorrupt
// otherwise), because a roll makes the old segment durable before the next
// one exists. The cut is reported in RecoveryReport and logged.
//
// # Stale bytes and the high-water mark
//
// A tail is cut by zeroing it, not by writing a fence, because records
// appended later could otherwise end exactly where an old, still valid
// record begins and recovery would chain it back in (record CRCs cover the
// record's offset, so only a record at the very same offset can match).
// Recovery therefore zeroes every non-zero byte past the last valid record
// up to the segment's high-water mark, a header field that bounds how far
// anything was ever written; the writer raises it (making the header
// durable first) in steps of 64 MiB, so recovery scans at most that much.
// A recycled segment file (warm.go, "Recycled segments") also holds the
// records of the segment it was before; they never validate at the new
// base, and Close zeroes those past the end up to the high-water mark so
// a clean reopen has nothing to cut.
//
// # Segment roll
//
// When a record does not fit: write the end-of-segment marker, flush the
// old segment up to and including it, then create the next segment
// (create, fallocate, map, write header, fsync, then fsync the directory).
// A crash before the new segment's header is durable leaves a last segment
// with an all-zero header; recovery removes it (nothing in it was
// acknowledged). If creating the next segment fails (for example ENOSPC),
// the marker and the batch's records are cleared from the old segment and
// that is flushed, and Append returns the error; the log stays usable.
//
// # Truncate, DropBefore, Reset
//
// Truncate(off) removes later segments (newest first) and syncs the
// directory, lowers the sync point in the header and flushes it, then zeroes
// the tail of the segment holding off and flushes it, all before returning,
// so no crash can resurrect the removed records. A crash in the middle
// leaves a prefix of the old log. DropBefore removes whole segments, oldest
// first, then syncs the directory; a crash in the middle leaves a suffix.
// Unless Options.NoRecycle, the newest segment it drops becomes the spare
// for the next roll instead of being removed (warm.go).
// Reset(off) prepares the new segment under a temporary name (made durable
// with a directory sync) before removing the old ones; once the prepared
// segment is durable, recovery completes an interrupted Reset, so Reset is
// atomic across a crash.
//
// # Failures
//
// Errors found before anything is written (a record too large, type 0)
// leave the log untouched. A failed flush, or any failure that leaves the
// on-disk state unknown, makes the log fail: the write returns an error
// wrapping ErrFailed and so does every later write; Close and Open again to
// recover. Nothing that was not durable is ever acknowledged (Append returns
// no offsets with an error), but records of a failed batch may survive a
// crash, like records of a batch in flight during a power loss.
//
// # Concurrency
//
// Append, AppendInto, Truncate, Reset, DropBefore, Sync and Close are
// serialized by one mutex. Read, ReadAt and iterators may run concurrently
// with each other, with Append and with DropBefore: End is published with an
// atomic store after the batch is fully written (and, under FlushSync,
// flushed), and readers only touch bytes below the End they load, so they
// never see a half-written record; readers hold a shared lock on the segment
// list while they copy from a mapping, so DropBefore never unmaps a segment
// under a reader. Reads of the range a concurrent Truncate removes see
// either the old or the new state, or ErrOutOfRange.
//
// Lock order (acquire left to right, never the reverse):
//
//	mu (writers) → flushMu (durable offset, header slots, flushes) → segMu (segment list, mappings)
//
// The background flusher takes only flushMu (and segMu shared to find the
// active segment), so appends proceed while it waits for the disk; readers
// take only segMu shared.
//
// # Performance
//
// The append path does no per-record allocation: AppendInto with a reused
// offsets slice allocates nothing, and Append allocates only the offsets
// slice it returns. Record CRCs use hash/crc32's Castagnoli table, which is
// hardware-accelerated (SSE 4.2 / ARMv8 CRC); the 8-byte offset prefix is
// folded in with slicing-by-8 tables so it needs no scratch buffer.
// Iterators check a run of records in place in the mapping (so each byte
// comes from memory once) and then copy the run out under one lock
// acquisition.
package commitlog
