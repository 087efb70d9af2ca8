package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Record is one entry of the log. Type is 1..255 (0 is invalid).
type Record struct {
	Type uint8
	Data []byte
}

// highWaterStep is how far past the write position the high-water mark is
// moved each time the writer reaches it (one extra header msync per step).
// Recovery scans at most this much past the end for stale bytes.
const highWaterStep = 64 << 20

// Log is a segmented, memory-mapped, append-only log of framed records.
// See the package documentation for the durability and concurrency
// contracts.
type Log struct {
	opts    Options
	fs      vfs.FS
	dir     string
	segSize int64
	maxData int64
	logger  *slog.Logger
	pwrite  bool  // WritePwrite in effect
	slotLag int64 // see Options.slotLag; < 0: rewrite the slot on every flush

	// wbuf is the reusable encode buffer of the pwrite path (guarded by mu).
	wbuf []byte

	// mu serializes the writers: Append, Truncate, Reset, DropBefore, Sync
	// and Close.
	mu sync.Mutex

	// flushMu guards durable, every segment's header slot (slotSync,
	// highWater and the slot bytes) and the flushing of the active segment.
	flushMu sync.Mutex
	// durable is the offset up to which the active segment's records are
	// known durable (>= its first record offset).
	durable int64
	// released is the offset below which the flusher has released the
	// page cache, releasable what it may release next (releaseCacheLocked;
	// both guarded by flushMu).
	released, releasable int64

	// segMu guards segs, segment.sealed and the mappings' lifetime: readers
	// hold it shared while touching mapped bytes; writers hold it exclusive
	// to add, remove or unmap segments and to zero a truncated tail.
	segMu sync.RWMutex
	segs  []*segment // contiguous bases, oldest first; the last is active

	// end is the published end: every record below it is fully written.
	end atomic.Int64
	// truncGen counts Truncate and Reset calls (changed under segMu), so
	// iterators drop bytes they copied before one.
	truncGen atomic.Uint64
	closed   atomic.Bool

	failMu  sync.Mutex
	failErr error

	recovery RecoveryReport

	stop chan struct{}
	done chan struct{}
	// warm holds the spare file for the next segment, warmed
	// (Options.WarmSegments) or recycled (unless Options.NoRecycle); nil
	// with neither.
	warm *warmer
}

// Open opens (recovering) or creates the log in opts.Dir. Zero fields of
// opts take their defaults (see DefaultOptions).
func Open(opts Options) (*Log, error) {
	def := DefaultOptions(opts.Dir)
	if opts.FS == nil {
		opts.FS = def.FS
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = def.SegmentSize
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = def.FlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = def.Logger
	}
	if opts.CacheWindow == 0 {
		opts.CacheWindow = def.CacheWindow
	}
	if opts.WarmRate == 0 {
		opts.WarmRate = DefaultWarmRate
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.slotLag == 0 {
		opts.slotLag = defaultSlotLag
	}
	l := &Log{
		opts:    opts,
		fs:      opts.FS,
		dir:     opts.Dir,
		segSize: opts.SegmentSize,
		maxData: maxDataLen(opts.SegmentSize),
		logger:  opts.Logger,
		pwrite:  opts.Write == WritePwrite || (opts.Write == WriteAuto && opts.Flush == FlushSync),
		slotLag: opts.slotLag,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := l.fs.MkdirAll(l.dir); err != nil {
		return nil, fmt.Errorf("commitlog: create %s: %w", l.dir, err)
	}
	if err := l.recover(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, err
	}
	go l.flushLoop()
	switch {
	case opts.WarmSegments:
		l.warm = newWarmer(l, true)
		go l.warm.run()
		l.warm.wake()
	case !opts.NoRecycle:
		l.warm = newWarmer(l, false)
	}
	return l, nil
}

// Recovery reports what Open found and repaired.
func (l *Log) Recovery() RecoveryReport { return l.recovery }

// Start returns the offset of the first retained record.
func (l *Log) Start() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if len(l.segs) == 0 {
		return l.end.Load()
	}
	return l.segs[0].first
}

// End returns the offset the next record gets if it fits in the active
// segment (otherwise it goes to the start of the next one). Every record
// below End is complete; under FlushSync it is also durable, except for
// records of an AppendUnsynced that no Flush or Sync has covered yet.
func (l *Log) End() int64 { return l.end.Load() }

// DataOffset returns the offset of the first data byte of the record at
// recOff.
func (l *Log) DataOffset(recOff int64) int64 { return recOff + RecordHeaderSize }

// SegmentSize returns the size of a segment file.
func (l *Log) SegmentSize() int64 { return l.segSize }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// MaxRecordSize returns the largest data length Append accepts.
func (l *Log) MaxRecordSize() int64 { return l.maxData }

// Sync makes every appended record durable and records the sync point.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := l.syncActiveLocked(); err != nil {
		return l.fail(err)
	}
	return nil
}

// syncActiveLocked flushes the active segment up to End and then records
// End as the sync point. Requires mu and flushMu.
func (l *Log) syncActiveLocked() error {
	seg := l.segs[len(l.segs)-1]
	if to := l.end.Load(); to > l.durable {
		if err := l.flushDataLocked(seg, to); err != nil {
			return err
		}
	}
	if seg.slotSync < l.durable {
		return seg.writeSlotFlushLocked(l.durable)
	}
	return nil
}

// flushDataLocked makes seg durable up to the absolute offset to with one
// msync (WriteMmap: the range from the segment start) or fdatasync
// (WritePwrite). If the header's sync point lags the durable end by
// slotLag or more, the flush first rewrites it with the durable end as of
// before this flush, never the one being made: if power fails during the
// flush, whichever version of the slot reaches the disk, everything below
// it was already durable. Requires flushMu.
func (l *Log) flushDataLocked(seg *segment, to int64) error {
	if sp := max(l.durable, seg.first); sp > seg.slotSync && sp-seg.slotSync >= l.slotLag {
		encodeSlot(seg.b, sp, seg.highWater)
		seg.slotSync = sp
	}
	var err error
	if l.pwrite {
		err = seg.f.Sync()
	} else {
		err = seg.m.Flush(0, int(to-seg.base))
	}
	if err != nil {
		return fmt.Errorf("commitlog: flush %s up to %d: %w", seg.name, to, err)
	}
	l.durable = max(l.durable, to)
	return nil
}

// Close flushes the log (recording the exact sync point), stops the
// background flusher and unmaps every segment.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return ErrClosed
	}
	close(l.stop)
	<-l.done
	if l.warm != nil {
		l.warm.close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.failure() == nil && len(l.segs) > 0 {
		l.flushMu.Lock()
		if err := l.syncActiveLocked(); err != nil {
			errs = append(errs, err)
		} else if err := l.clearTailLocked(); err != nil {
			errs = append(errs, err)
		}
		l.flushMu.Unlock()
	}
	l.segMu.Lock()
	for _, s := range l.segs {
		if err := s.close(); err != nil {
			errs = append(errs, fmt.Errorf("commitlog: close %s: %w", s.name, err))
		}
	}
	l.segs = nil
	l.segMu.Unlock()
	return errors.Join(errs...)
}

// writableLocked returns the error a write must fail with, if any.
func (l *Log) writableLocked() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.failure()
}

// failure returns the sticky failure, wrapped in ErrFailed, or nil.
func (l *Log) failure() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	if l.failErr == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrFailed, l.failErr)
}

// fail makes err sticky (the on-disk state is no longer known) and returns
// it wrapped in ErrFailed.
func (l *Log) fail(err error) error {
	l.failMu.Lock()
	if l.failErr == nil {
		l.failErr = err
		l.logger.Error("commitlog: log failed; reopen to recover", "dir", l.dir, "err", err)
	}
	l.failMu.Unlock()
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

// segmentIndexLocked returns the index in segs of the segment holding off,
// or -1. Requires segMu (either mode) or mu.
func (l *Log) segmentIndexLocked(off int64) int {
	if len(l.segs) == 0 || off < l.segs[0].base {
		return -1
	}
	i := (off - l.segs[0].base) / l.segSize
	if i >= int64(len(l.segs)) {
		return -1
	}
	return int(i)
}
