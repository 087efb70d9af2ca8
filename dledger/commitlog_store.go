package dledger

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// LogStoreOptions configures a commit-log LogStore.
type LogStoreOptions struct {
	// Dir holds the commit log (Dir/commitlog) and the index (Dir/index).
	// Required.
	Dir string
	// FS is the file system. Default vfs.OS.
	FS vfs.FS
	// SegmentSize is the commit-log segment size in bytes. Every replica of
	// a group must use the same value (offsets depend on it). Default 1 GiB.
	SegmentSize int64
	// Flush is the commit-log flush mode. FlushSync (default): StoreLogs
	// returns after the batch is synced, except under a running Node, where
	// the store syncs while raft goes on and nothing that depends on the
	// batch happens before the sync (durability.go). FlushAsync: it returns once written
	// and a background flush syncs every FlushInterval — entries acknowledged
	// within that window can be lost if a majority loses power.
	Flush commitlog.FlushMode
	// FlushInterval is the background sync period for FlushAsync. Default
	// (and meaning) as in commitlog.
	FlushInterval time.Duration
	// CacheWindow is commitlog.Options.CacheWindow; 0 takes its default.
	CacheWindow int64
	// WarmSegments is commitlog.Options.WarmSegments.
	WarmSegments bool
	// CacheEntries is the number of recently appended entries served from
	// memory by GetLog. 0 disables the cache. Default 4096.
	CacheEntries int
	// CacheBytes bounds the payload bytes the cache holds; the oldest
	// entries go first past it. 0 means no byte bound. Default 64 MiB.
	CacheBytes int64
	// IndexSlotsPerFile is the number of 16-byte index slots per index file.
	// Default 1<<20 (16 MiB files).
	IndexSlotsPerFile uint64
	// IndexFlushEvery is how many index slots may be written before they are
	// made durable (msync) together; more means a longer rebuild from the
	// commit log after a crash. Default 16384.
	IndexFlushEvery uint64
	// Logger receives recovery reports. Default: discard.
	Logger *slog.Logger
}

// DefaultLogStoreOptions returns the defaults for a store in dir.
func DefaultLogStoreOptions(dir string) LogStoreOptions {
	return LogStoreOptions{
		Dir:               dir,
		FS:                vfs.OS,
		SegmentSize:       1 << 30,
		Flush:             commitlog.FlushSync,
		CacheEntries:      4096,
		CacheBytes:        64 << 20,
		IndexSlotsPerFile: 1 << 20,
		IndexFlushEvery:   16384,
	}
}

// Validate reports every problem with o.
func (o LogStoreOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if o.Dir == "" {
		bad("log store Dir is empty")
	}
	if o.SegmentSize <= 0 {
		bad("SegmentSize %d must be positive", o.SegmentSize)
	}
	if o.CacheEntries < 0 {
		bad("CacheEntries %d must not be negative", o.CacheEntries)
	}
	if o.IndexSlotsPerFile == 0 || o.IndexSlotsPerFile > 1<<32 {
		bad("IndexSlotsPerFile %d must be in [1, 2^32]", o.IndexSlotsPerFile)
	}
	if o.IndexFlushEvery == 0 {
		bad("IndexFlushEvery must be positive")
	}
	return errors.Join(errs...)
}

// LogStore is a raft.LogStore whose entries are records of a commit log: one
// raft entry is one framed record (FORMAT.md), and an index file maps raft
// index → physical offset. See the package documentation for durability and
// for how compaction, retention and snapshots interact.
//
// Concurrency: all methods are safe for concurrent use. Lock order: wmu
// (writers: StoreLogs, DeleteRange, DropBefore, snapshot restore, Close)
// before mu (guards the fields below and the index; readers take it shared).
// Commit-log appends and syncs run under wmu only, so GetLog is not blocked
// by a sync in progress.
type LogStore struct {
	opts   LogStoreOptions
	log    *commitlog.Log
	logger *slog.Logger

	wmu sync.Mutex
	// Encoding scratch reused by StoreLogs (guarded by wmu): the commit log
	// copies records into its mapping, and the cache keeps raft's own
	// *raft.Log values, so nothing refers to these after Append returns.
	encBuf  []byte
	encRecs []commitlog.Record
	encOffs []int64

	mu sync.RWMutex
	ix *indexFiles
	// first is the logical first index (raft's FirstIndex; prefix
	// DeleteRange advances it). next is the index the next StoreLogs must
	// start at; 0 until the store holds (or held) an entry, when any index
	// is accepted. The logical log is [first, next); it is empty when
	// first >= next.
	first, next uint64
	// physFirst is the raft index of the first record physically in the
	// commit log (== next when none); records below first stay until
	// retention (DropBefore) removes their segments.
	physFirst uint64
	cache     entryCache
	// mark is the term of the log's last entry and the index of the first
	// entry of that term in the log (TermStart; nil or zero when empty):
	// the durability gates wait for that entry too (durability.go,
	// "Entries of earlier terms"). Written with mu held, read without.
	mark   atomic.Pointer[termMark]
	closed bool
	failed error // sticky: a half-applied write left memory and disk apart

	// dur tracks which entries are durable; under FlushSync the leader's
	// batches are synced by its goroutine (durability.go).
	dur durability

	stats storeStats
}

// storeStats are cumulative counters (atomic; read with Stats).
type storeStats struct {
	appends, entries, appendNanos, bytes atomic.Int64
	syncs, syncNanos                     atomic.Int64
}

// LogStoreStats are cumulative write-path counters of a LogStore.
type LogStoreStats struct {
	// Appends is the number of StoreLogs batches written (one commit-log
	// Append and, under FlushSync, one sync each).
	Appends int64
	// Entries and Bytes count the raft entries and record bytes written.
	Entries, Bytes int64
	// AppendTime is the total time spent in commit-log Append (encoding
	// excluded), which under FlushSync includes the sync (not for the
	// leader's batches, whose sync runs on the store's goroutine).
	AppendTime time.Duration
	// Syncs counts the syncs of deferred batches (each covers every batch
	// written before it started) and SyncTime is their total duration.
	Syncs    int64
	SyncTime time.Duration
}

// Stats returns the store's cumulative write counters.
func (s *LogStore) Stats() LogStoreStats {
	return LogStoreStats{
		Appends: s.stats.appends.Load(), Entries: s.stats.entries.Load(), Bytes: s.stats.bytes.Load(),
		AppendTime: time.Duration(s.stats.appendNanos.Load()),
		Syncs:      s.stats.syncs.Load(), SyncTime: time.Duration(s.stats.syncNanos.Load()),
	}
}

var (
	_ raft.LogStore = (*LogStore)(nil)
	_ offsetSource  = (*LogStore)(nil)
)

// OpenLogStore opens (or creates) the store in opts.Dir, recovering the
// commit log and bringing the index in line with it.
func OpenLogStore(opts LogStoreOptions) (*LogStore, error) {
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clo := commitlog.DefaultOptions(filepath.Join(opts.Dir, "commitlog"))
	clo.FS = opts.FS
	clo.SegmentSize = opts.SegmentSize
	clo.Flush = opts.Flush
	// pwrite under both flush modes: raft batches are large, and through a
	// three-node group under FlushAsync it carried 133k msgs/s against 114k
	// for copying into the mapping (BENCHMARKS.md, "End to end").
	clo.Write = commitlog.WritePwrite
	if opts.FlushInterval > 0 {
		clo.FlushInterval = opts.FlushInterval
	}
	if opts.CacheWindow != 0 {
		clo.CacheWindow = opts.CacheWindow
	}
	clo.WarmSegments = opts.WarmSegments
	clo.Logger = logger
	if err := opts.FS.MkdirAll(clo.Dir); err != nil {
		return nil, fmt.Errorf("dledger: create %s: %w", clo.Dir, err)
	}
	cl, err := commitlog.Open(clo)
	if err != nil {
		return nil, fmt.Errorf("dledger: open commit log: %w", err)
	}
	ix, err := openIndex(opts.FS, filepath.Join(opts.Dir, "index"), opts.IndexSlotsPerFile, opts.IndexFlushEvery, logger)
	if err != nil {
		_ = cl.Close()
		return nil, err
	}
	s := &LogStore{opts: opts, log: cl, logger: logger, ix: ix, cache: newEntryCache(opts.CacheEntries, opts.CacheBytes)}
	if err := s.recover(); err != nil {
		_ = ix.closeAll()
		_ = cl.Close()
		return nil, err
	}
	// What recovery found may include writes a crashed process never
	// synced; make it durable before anything counts on it.
	if err := cl.Sync(); err != nil {
		_ = ix.closeAll()
		_ = cl.Close()
		return nil, fmt.Errorf("dledger: sync recovered commit log: %w", err)
	}
	s.dur.init(s.next - min(s.next, 1))
	if opts.Flush == commitlog.FlushSync {
		go s.syncLoop()
	} else {
		close(s.dur.done)
	}
	return s, nil
}

// CommitLog returns the underlying commit log, for readers of message bytes
// (Read/ReadAt at offsets from EntryOffset). Do not write to it.
func (s *LogStore) CommitLog() *commitlog.Log { return s.log }

// checkLocked is the check for writes: closed or failed stores refuse them.
func (s *LogStore) checkLocked() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

// checkOpenLocked is the check for reads: a store that failed on a write
// still serves the entries it had published (memory and disk agree on them).
func (s *LogStore) checkOpenLocked() error {
	if s.closed {
		return ErrClosed
	}
	return nil
}

// FirstIndex implements raft.LogStore: the logical first index, 0 when empty.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return 0, err
	}
	if s.first >= s.next {
		return 0, nil
	}
	return s.first, nil
}

// LastIndex implements raft.LogStore: the last index, 0 when empty.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return 0, err
	}
	if s.first >= s.next {
		return 0, nil
	}
	return s.next - 1, nil
}

// GetLog implements raft.LogStore. Recently appended entries come from
// memory; older ones are read from the commit log (one record read, CRC
// checked by the commit log).
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return err
	}
	if index < s.first || index >= s.next {
		return raft.ErrLogNotFound
	}
	if e, ok := s.cache.get(index); ok {
		*out = *e.log
		return nil
	}
	_, data, err := s.readRecordLocked(index)
	if err != nil {
		return err
	}
	return decodeEntry(data, out)
}

// readRecordLocked returns the record offset and data of a physically
// present entry, checking that it is the entry the index says.
func (s *LogStore) readRecordLocked(index uint64) (int64, []byte, error) {
	off, n, err := s.ix.get(index)
	if err != nil {
		return 0, nil, err
	}
	rec, _, err := s.log.Read(off)
	if err != nil {
		return 0, nil, fmt.Errorf("dledger: read entry %d at offset %d: %w", index, off, err)
	}
	if rec.Type != RecordTypeEntry || uint32(len(rec.Data)) != n {
		return 0, nil, fmt.Errorf("dledger: entry %d at offset %d: record type %d length %d, index says %d: %w",
			index, off, rec.Type, len(rec.Data), n, ErrEntryCorrupt)
	}
	h, err := decodeEntryHeader(rec.Data)
	if err != nil {
		return 0, nil, fmt.Errorf("dledger: entry %d at offset %d: %w", index, off, err)
	}
	if h.Index != index {
		return 0, nil, fmt.Errorf("dledger: record at offset %d holds entry %d, index says %d: %w",
			off, h.Index, index, ErrEntryCorrupt)
	}
	return off, rec.Data, nil
}

// StoreLog implements raft.LogStore.
func (s *LogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: the batch, which must continue the log
// exactly, is appended with one commit-log Append and (FlushSync) synced
// once before this returns — unless the defer probe says otherwise, as it
// does for every batch a running Node's raft stores: those return once
// written and are synced on the store's own goroutine (durability.go
// explains why that is safe).
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.storeLogsW(logs, s.deferSync())
}

// storeLogsW is StoreLogs with wmu held; deferred leaves the sync to the
// syncer.
func (s *LogStore) storeLogsW(logs []*raft.Log, deferred bool) error {
	s.mu.RLock()
	err, next := s.checkLocked(), s.next
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if next != 0 && logs[0].Index != next {
		return fmt.Errorf("dledger: StoreLogs at index %d, log continues at %d: %w", logs[0].Index, next, ErrNotContiguous)
	}
	size := 0
	for i, l := range logs {
		if err := checkEntry(l); err != nil {
			return err
		}
		if l.Index != logs[0].Index+uint64(i) {
			return fmt.Errorf("dledger: StoreLogs batch jumps from %d to %d: %w", logs[0].Index+uint64(i)-1, l.Index, ErrNotContiguous)
		}
		size += encodedEntrySize(l)
	}
	if cap(s.encBuf) < size {
		s.encBuf = make([]byte, 0, size)
	}
	buf := s.encBuf[:0]
	recs := s.encRecs[:0]
	for _, l := range logs {
		start := len(buf)
		buf = appendEntry(buf, l)
		recs = append(recs, commitlog.Record{Type: RecordTypeEntry, Data: buf[start:len(buf):len(buf)]})
	}
	endBefore := s.log.End()
	start := time.Now()
	var offs []int64
	if deferred {
		offs, err = s.log.AppendUnsynced(s.encOffs[:0], recs)
	} else {
		offs, err = s.log.AppendInto(s.encOffs[:0], recs)
	}
	s.stats.appendNanos.Add(int64(time.Since(start)))
	defer func() {
		// Keep the scratch unless a huge batch grew it.
		if cap(s.encBuf) > 16<<20 {
			s.encBuf = nil
		}
		clear(recs)
		s.encRecs, s.encOffs = recs[:0], offs[:0]
	}()
	if err != nil {
		// Take back whatever part of the batch reached the log, so memory
		// and disk agree; if that fails too the store is unusable.
		if terr := s.log.Truncate(endBefore); terr != nil {
			s.fail(fmt.Errorf("dledger: append failed (%v) and undoing it failed: %w", err, terr))
		}
		return fmt.Errorf("dledger: append entries %d-%d: %w", logs[0].Index, logs[len(logs)-1].Index, err)
	}
	s.stats.appends.Add(1)
	s.stats.entries.Add(int64(len(logs)))
	s.stats.bytes.Add(int64(len(buf)))
	if err := s.publishW(logs, recs, offs); err != nil {
		return err
	}
	s.noteWritten(logs[len(logs)-1].Index, !deferred)
	return nil
}

// publishW records appended entries in the index and cache and makes them
// visible.
func (s *LogStore) publishW(logs []*raft.Log, recs []commitlog.Record, offs []int64) error {
	s.mu.Lock()
	if s.next == 0 {
		if err := s.ix.reset(logs[0].Index); err != nil {
			s.mu.Unlock()
			s.fail(err)
			return err
		}
		s.first, s.physFirst, s.next = logs[0].Index, logs[0].Index, logs[0].Index
	}
	for i, l := range logs {
		if err := s.ix.add(offs[i], uint32(len(recs[i].Data))); err != nil {
			s.mu.Unlock()
			s.fail(err)
			return err
		}
		s.cache.put(l, offs[i], s.log.DataOffset(offs[i])+EntryHeaderSize+int64(len(l.Extensions)))
		s.next = l.Index + 1
		if term, _ := s.TermStart(); l.Term != term {
			s.setTermStartLocked(l.Term, l.Index)
		}
	}
	s.mu.Unlock()
	if err := s.ix.maybeFlush(false); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

func (s *LogStore) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
		s.logger.Error("dledger: log store failed; reopen to recover from disk", "err", err)
	}
	s.mu.Unlock()
}

// DeleteRange implements raft.LogStore. A suffix [min, last] is truncated
// from the commit log durably (raft removing a conflicting tail). A prefix
// [first, max] only advances the logical first index (raft compacting after
// a snapshot): the records stay until retention drops their segments, so
// snapshots can carry them to replicas that need them.
func (s *LogStore) DeleteRange(min, max uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkLocked(); err != nil {
		return err
	}
	if min > max || s.first >= s.next || max < s.first || min >= s.next {
		return nil // nothing stored in the range
	}
	switch {
	case min <= s.first: // prefix (possibly everything)
		s.first = max + 1
		return nil
	case max >= s.next-1: // suffix
		return s.truncateLocked(min)
	default:
		return fmt.Errorf("dledger: DeleteRange(%d, %d) inside [%d, %d]: %w", min, max, s.first, s.next-1, ErrUnsupportedRange)
	}
}

// truncateLocked drops entries >= index from the index (durably) and then
// from the commit log (durably). Called with wmu and mu held.
func (s *LogStore) truncateLocked(index uint64) error {
	off, _, err := s.ix.get(index)
	if err != nil {
		return err
	}
	if err := s.ix.truncate(index); err != nil {
		s.failed = err
		return err
	}
	s.next = index
	if s.physFirst > index {
		s.physFirst = index
	}
	if err := s.log.Truncate(off); err != nil {
		s.failed = fmt.Errorf("dledger: truncate commit log at %d: %w", off, err)
		return s.failed
	}
	if _, start := s.TermStart(); start >= index {
		s.findTermStartLocked()
	}
	s.noteReset(index-1, false)
	return nil
}

// EntryOffset returns the physical offset of entry index's record and of
// the first byte of its raft Data (the message layer adds offsets inside
// Data to the latter). The entry must be physically in the commit log.
func (s *LogStore) EntryOffset(index uint64) (recordOffset, dataOffset int64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return 0, 0, err
	}
	if index < s.physFirst || index >= s.next {
		return 0, 0, fmt.Errorf("dledger: entry %d not in [%d, %d): %w", index, s.physFirst, s.next, raft.ErrLogNotFound)
	}
	if e, ok := s.cache.get(index); ok {
		return e.recOff, e.dataOff, nil
	}
	off, n, err := s.ix.get(index)
	if err != nil {
		return 0, 0, err
	}
	var hb [EntryHeaderSize]byte
	if n < EntryHeaderSize {
		return 0, 0, fmt.Errorf("dledger: entry %d record of %d bytes: %w", index, n, ErrEntryCorrupt)
	}
	d := s.log.DataOffset(off)
	if _, err := s.log.ReadAt(hb[:], d); err != nil {
		return 0, 0, fmt.Errorf("dledger: read entry %d header: %w", index, err)
	}
	h, err := decodeEntryHeader(hb[:])
	if err == nil && h.Index != index {
		err = fmt.Errorf("dledger: entry header says %d, want %d: %w", h.Index, index, ErrEntryCorrupt)
	}
	if err != nil {
		return 0, 0, err
	}
	return off, d + entryDataStart(h), nil
}

// ReadEntryRecord returns the physical offset and the raw record data of
// entry index, for replica verification (CompareLogs) and diagnostics.
func (s *LogStore) ReadEntryRecord(index uint64) (int64, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return 0, nil, err
	}
	if index < s.physFirst || index >= s.next {
		return 0, nil, fmt.Errorf("dledger: entry %d not in [%d, %d): %w", index, s.physFirst, s.next, raft.ErrLogNotFound)
	}
	return s.readRecordLocked(index)
}

// AppendedAt returns when entry index was appended by the leader that
// proposed it (raft's AppendedAt, stored with the entry, so the same on
// every replica) and its record's offset. The entry must be physically in
// the commit log.
func (s *LogStore) AppendedAt(index uint64) (time.Time, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return time.Time{}, 0, err
	}
	off, h, err := s.entryHeaderLocked(index)
	return decodeTime(h.AppendedAt), off, err
}

// Bounds reports the physical first index (records present), the logical
// first index and the next index to append (0 if the store never held an
// entry).
func (s *LogStore) Bounds() (physFirst, first, next uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.physFirst, s.first, s.next
}

// DropBefore is retention: it removes commit-log segments wholly below off,
// but never a record raft still counts as part of its log (index >= the
// logical first index): off is lowered to that record's offset. It returns
// the new first retained offset.
func (s *LogStore) DropBefore(off int64) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	err := s.checkLocked()
	first, next := s.first, s.next
	s.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if first < next {
		s.mu.RLock()
		limit, _, err := s.ix.get(first)
		s.mu.RUnlock()
		if err != nil {
			return 0, err
		}
		off = min(off, limit)
	}
	start, err := s.log.DropBefore(off)
	if err != nil {
		return 0, fmt.Errorf("dledger: retention drop before %d: %w", off, err)
	}
	physFirst := next
	it := s.log.NewIterator(start)
	if it.Next() {
		h, err := decodeEntryHeader(it.Record().Data)
		if err != nil {
			return 0, fmt.Errorf("dledger: first record after retention at %d: %w", it.Offset(), err)
		}
		physFirst = h.Index
	} else if err := it.Err(); err != nil {
		return 0, fmt.Errorf("dledger: first record after retention: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.physFirst = physFirst
	if err := s.ix.dropBefore(physFirst); err != nil {
		return 0, err
	}
	return start, nil
}

// Sync makes everything appended so far durable (useful with FlushAsync,
// and for snapshots).
func (s *LogStore) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.log.Sync(); err != nil {
		return err
	}
	// wmu holds writers off, so everything written is what was synced.
	s.dur.mu.Lock()
	if s.dur.written > s.dur.durable {
		s.dur.setDurableLocked(s.dur.written)
	}
	s.dur.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ix.maybeFlush(true)
}

// Close flushes the index and closes the files. Further calls fail with
// ErrClosed.
func (s *LogStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopSyncer()
	var errs []error
	if s.failed == nil {
		errs = append(errs, s.ix.close())
	} else {
		errs = append(errs, s.ix.closeAll())
	}
	errs = append(errs, s.log.Close())
	s.cache.reset()
	return errors.Join(errs...)
}

// abandon closes the store without flushing the index, as a crash would
// leave it (the commit log's own unsynced data is left to the file system).
func (s *LogStore) abandon() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.stopSyncer()
	_ = s.ix.closeAll()
	_ = s.log.Close()
	s.cache.reset()
}
