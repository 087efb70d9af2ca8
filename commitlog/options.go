package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// FlushMode says when appended records become durable.
type FlushMode uint8

const (
	// FlushSync makes every Append durable before it returns: one msync per
	// batch (plus a few at a segment roll).
	FlushSync FlushMode = iota
	// FlushAsync returns from Append once the records are in the mapping; a
	// background flusher makes them durable every FlushInterval. Records
	// appended less than about one FlushInterval before a power loss can be
	// lost (see the package documentation).
	FlushAsync
)

func (m FlushMode) String() string {
	switch m {
	case FlushSync:
		return "sync"
	case FlushAsync:
		return "async"
	}
	return fmt.Sprintf("FlushMode(%d)", uint8(m))
}

// WriteMethod says how Append puts record bytes into a segment file.
type WriteMethod uint8

const (
	// WriteAuto picks per flush mode: WritePwrite under FlushSync,
	// WriteMmap under FlushAsync (for appends of a few records each, the
	// faster one for each on Linux/ext4; see the package documentation for
	// large batches).
	WriteAuto WriteMethod = iota
	// WriteMmap copies records into the segment's mapping (no system call
	// per batch) and makes them durable with msync of the written range.
	WriteMmap
	// WritePwrite encodes a batch into a reusable buffer, writes it with
	// one pwrite per segment it touches and makes it durable with
	// fdatasync. Readers still read through the mapping (the page cache is
	// shared).
	WritePwrite
)

func (m WriteMethod) String() string {
	switch m {
	case WriteAuto:
		return "auto"
	case WriteMmap:
		return "mmap"
	case WritePwrite:
		return "pwrite"
	}
	return fmt.Sprintf("WriteMethod(%d)", uint8(m))
}

// Defaults.
const (
	DefaultSegmentSize   = 1 << 30
	DefaultFlushInterval = 500 * time.Millisecond
	DefaultCacheWindow   = 256 << 20
	// DefaultWarmRate paces the background warming of segments (bytes/s).
	DefaultWarmRate = 256 << 20
)

// Options configures a Log. Start from DefaultOptions.
type Options struct {
	// Dir is the directory holding the segment files; it is created if
	// missing. Required.
	Dir string
	// FS is the file system. Default vfs.OS.
	FS vfs.FS
	// SegmentSize is the size of every segment file in bytes: a multiple of
	// 4 KiB between MinSegmentSize (4 KiB) and MaxSegmentSize (4 GiB).
	// Default 1 GiB. A log must be reopened with the size it was created
	// with. The largest record holds SegmentSize-73 bytes of data.
	SegmentSize int64
	// Flush is the flush policy. Default FlushSync.
	Flush FlushMode
	// FlushInterval is how often the background flusher runs: under
	// FlushAsync it makes appended records durable; under both modes it
	// advances the recorded sync point of an idle log. Default 500 ms
	// (RocketMQ's flushIntervalCommitLog).
	FlushInterval time.Duration
	// Write is how records reach the segment files. Default WriteAuto:
	// pwrite+fdatasync under FlushSync, copy into the mapping under
	// FlushAsync (see the package documentation for the measurements).
	Write WriteMethod
	// CacheWindow is how many bytes at the tail of the log stay in the page
	// cache: every FlushInterval the background flusher releases the durable
	// pages older than that (see "Page cache" in the package
	// documentation). Default 256 MiB; negative keeps every page (the
	// kernel alone decides).
	CacheWindow int64
	// WarmSegments writes every segment with zeros and syncs it before
	// records go into it, so syncing records never waits for the file
	// system to convert preallocated blocks (see "Warm segments" in
	// warm.go; RocketMQ's warmMapedFileEnable). Costs writing each segment
	// twice and, for a new log, warming the first segment inside Open.
	// Default false.
	WarmSegments bool
	// NoRecycle turns off reusing dropped segments. By default DropBefore
	// keeps the file of one segment it drops as the file of the next
	// segment, whose blocks are then already written, so syncs into it
	// skip the file system's conversion of preallocated blocks at no
	// extra writes (see "Recycled segments" in warm.go). WarmSegments
	// prepares its own spares instead.
	NoRecycle bool
	// WarmRate is the fastest the next segment is warmed in the
	// background, in bytes per second; below that the warmer follows the
	// rate records arrive (commitlog/warm.go). Default (0) 256 MiB/s;
	// negative: unpaced.
	WarmRate int64
	// Logger receives recovery reports and background flush failures.
	// Default: discard.
	Logger *slog.Logger

	// slotLag is how far (bytes) the sync point recorded in the header may
	// lag the durable end before an append rewrites it (the background
	// flusher catches it up every FlushInterval). Tests shrink it; 0 means
	// defaultSlotLag, negative means every flush.
	slotLag int64
}

// defaultSlotLag bounds how stale the header's sync point gets under load;
// rewriting it on every flush would dirty a second, distant page per sync.
const defaultSlotLag = 1 << 20

// DefaultOptions returns the default options for a log in dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:           dir,
		FS:            vfs.OS,
		SegmentSize:   DefaultSegmentSize,
		Flush:         FlushSync,
		FlushInterval: DefaultFlushInterval,
		CacheWindow:   DefaultCacheWindow,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("commitlog: Options.Dir is empty"))
	}
	if o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize || o.SegmentSize%segmentAlign != 0 {
		errs = append(errs, fmt.Errorf("commitlog: Options.SegmentSize %d is not a multiple of %d in [%d, %d]",
			o.SegmentSize, segmentAlign, MinSegmentSize, MaxSegmentSize))
	}
	if o.Flush != FlushSync && o.Flush != FlushAsync {
		errs = append(errs, fmt.Errorf("commitlog: Options.Flush %d is not FlushSync or FlushAsync", o.Flush))
	}
	if o.Write > WritePwrite {
		errs = append(errs, fmt.Errorf("commitlog: Options.Write %d is not a WriteMethod", o.Write))
	}
	if o.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("commitlog: Options.FlushInterval %v must be positive", o.FlushInterval))
	}
	if o.FS == nil {
		errs = append(errs, errors.New("commitlog: Options.FS is nil"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("commitlog: Options.Logger is nil"))
	}
	return errors.Join(errs...)
}

// MaxRecordSize is the largest record data length a log with these options
// accepts.
func (o Options) MaxRecordSize() int64 { return maxDataLen(o.SegmentSize) }
