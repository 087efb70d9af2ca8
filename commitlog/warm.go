package commitlog

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Warm segments.
//
// A segment is preallocated with fallocate, which leaves its blocks
// "unwritten": the first write to each one converts it, and on ext4 that
// conversion is a metadata change the next fdatasync must commit through
// the journal before it returns (a journal commit and a second device
// flush on top of the data). With Options.WarmSegments every segment is
// written with zeros and synced before records go into it (what RocketMQ's
// warmMapedFileEnable does for its mapped files), so a sync of appended
// records writes the data and flushes the device once. Measured on this
// project's test machine (BENCHMARKS.md): a 256 KiB write+fdatasync took
// 0.51 ms into written blocks and 0.88 ms into unwritten ones.
//
// The cost is writing every segment twice. The first segment of a new log
// is warmed when it is created, so Open takes that time (about 1.5 s per
// GiB there). Later segments are prepared while the active one fills: a
// background goroutine writes the next one as "<base>.warm", syncs it and
// keeps it open; the roll renames it into place and writes its header. The
// warmer paces itself by the rate records arrive (warmPacer), at most
// WarmRate bytes per second, so its zeros do not come in one burst that
// would slow a busy log's syncs. A roll that finds no ready spare
// creates an unwarmed segment as without the option: appends never wait
// for the warmer. Recovery deletes leftover .warm files.

// Recycled segments.
//
// Without WarmSegments (and unless Options.NoRecycle), DropBefore keeps
// the file of the newest segment it drops as the spare for the segment
// after the active one, the way database write-ahead logs recycle their
// files: the blocks are written already, so syncs into the next segment
// cost what syncs into warmed blocks do, with no zeros written. A log whose
// retention deletes segments (every broker once its disk has filled to its
// retention time) thus stops paying for unwritten blocks; a log that never
// drops a segment is unaffected.
//
// The old records stay in the file. None can pass as a record of the new
// segment: a record's CRC covers its absolute offset, and the file's new
// base differs from every base it held before (bases only grow while a
// file is reused; a Truncate or Reset that moves the log back only makes
// the spare wait for a later roll). The steps keep every crash state one
// that recovery already handles:
//
//  1. rename "<old base>" to "<next base>.warm" and sync the directory
//     (a crash leaves either the intact old segment, still the oldest of
//     the log, or a leftover spare, which recovery deletes);
//  2. zero the header and the first page after it and sync the file, so
//     that, renamed into place at a roll, the file looks like a segment
//     whose creation never finished until its new header is durable
//     (recovery removes such a last segment, see halfCreated);
//  3. at the roll, as for a warmed spare: rename it into place, write the
//     new header, sync the file, sync the directory.
//
// Recovery cuts a torn tail by zeroing every non-zero byte after the last
// valid record up to the high-water mark; in a recycled segment that
// includes the old records in that window, which is harmless but would be
// reported as a torn tail on every open. Close therefore zeroes that
// window itself (clearTailLocked: it reads up to one 64 MiB high-water step
// past the end and writes zeros over what is not zero), so only a crash
// makes recovery do it.

// recycleClear is how much of a recycled file is zeroed before it becomes
// a spare: the header and the first page of records, what halfCreated
// checks.
const recycleClear = SegmentHeaderSize + 4096

// warmSuffix marks a segment file being prepared.
const warmSuffix = ".warm"

const (
	// warmChunk is the size of one zero write.
	warmChunk = 1 << 20
	// warmSyncEvery bounds the dirty zeros the warmer leaves to the
	// kernel's writeback between its own syncs.
	warmSyncEvery = 4 << 20
)

var zeroChunk [warmChunk]byte

// zeroFill writes zeros over [0, size) of f and syncs it. pace, if not nil,
// is asked before each chunk for the rate to keep (bytes per second, <= 0:
// no wait). It gives up, without an error, once stop is closed; the bool
// reports whether it finished.
func zeroFill(f vfs.File, size int64, pace func(written int64) int64, stop <-chan struct{}) (bool, error) {
	for off := int64(0); off < size; {
		select {
		case <-stop:
			return false, nil
		default:
		}
		n := min(int64(warmChunk), size-off)
		start := time.Now()
		if _, err := f.WriteAt(zeroChunk[:n], off); err != nil {
			return false, err
		}
		off += n
		if off%warmSyncEvery == 0 && off < size {
			if err := f.Sync(); err != nil {
				return false, err
			}
		}
		if pace == nil {
			continue
		}
		if rate := pace(off); rate > 0 {
			if wait := time.Duration(float64(n)/float64(rate)*float64(time.Second)) - time.Since(start); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-stop:
					t.Stop()
					return false, nil
				}
			}
		}
	}
	return true, f.Sync()
}

// minWarmRate is the pace of the warmer when the log is idle.
const minWarmRate = 4 << 20

// warmPacer paces the warming of the next segment to finish when the
// active segment is about 80% of the way from now to full, at the rate
// records have been arriving: the zeros cost the disk about what the
// records do, spread over the segment's life instead of in a burst that
// would slow the syncs of a busy log. Bounded by [minWarmRate, max].
type warmPacer struct {
	l        *Log
	max      int64
	size     int64
	at       time.Time
	end      int64
	appRate  float64 // bytes/s, smoothed
	measured bool
}

func (p *warmPacer) rate(written int64) int64 {
	now, end := time.Now(), p.l.End()
	if dt := now.Sub(p.at); dt >= 100*time.Millisecond {
		r := float64(max(end-p.end, 0)) / dt.Seconds()
		if p.measured {
			p.appRate = 0.7*p.appRate + 0.3*r
		} else {
			p.appRate, p.measured = r, true
		}
		p.at, p.end = now, end
	}
	activeEnd := max(p.l.nextBase(), 0) // the active segment ends where the next begins
	left := p.size - written
	if p.appRate <= 0 || left <= 0 {
		return minWarmRate
	}
	timeLeft := float64(max(activeEnd-end, 1)) / p.appRate
	need := int64(float64(left) / (0.8 * timeLeft))
	return min(max(need, minWarmRate), p.max)
}

// warmer holds the spare file for the segment after the active one: one
// its goroutine warmed (WarmSegments) or one DropBefore recycled.
type warmer struct {
	l    *Log
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu    sync.Mutex
	base  int64    // base of the spare, -1 when there is none
	spare vfs.File // open and ready when not nil
}

// newWarmer returns the holder of the log's spare; background says its
// goroutine (run) will warm spares, otherwise only recycle puts them there.
func newWarmer(l *Log, background bool) *warmer {
	w := &warmer{l: l, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), base: -1}
	if !background {
		close(w.done)
	}
	return w
}

// wake asks the warmer to prepare the segment after the active one.
func (w *warmer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// take hands over the spare for base, if it is ready; the caller renames it
// into place and owns the file.
func (w *warmer) take(base int64) (vfs.File, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.spare == nil || w.base != base {
		return nil, false
	}
	f := w.spare
	w.spare, w.base = nil, -1
	return f, true
}

// recycle makes dropped segment s's file the spare for the segment after
// the active one (see "Recycled segments"), unless recycling is off (no
// spare holder, or the warmer prepares the spares) or there is a spare
// already. It reports whether it took the file; if not, the caller closes
// and removes s as usual (its file may be gone already). Requires Log.mu.
func (l *Log) recycle(s *segment) bool {
	w := l.warm
	if w == nil || l.opts.WarmSegments {
		return false
	}
	next := l.nextBase()
	w.mu.Lock()
	have := w.spare != nil && w.base == next
	w.mu.Unlock()
	if have || next < 0 {
		return false
	}
	w.discard() // a spare for a base the log moved away from
	if s.m != nil {
		if err := s.m.Unmap(); err != nil {
			return false
		}
		s.m, s.b = nil, nil
	}
	f := s.f
	if size, err := f.Size(); err != nil || size != l.segSize {
		return false
	}
	name := segmentName(next) + warmSuffix
	if err := l.fs.Rename(l.path(s.name), l.path(name)); err != nil {
		return false
	}
	s.f = nil
	err := l.fs.SyncDir(l.dir)
	if err == nil {
		_, err = f.WriteAt(zeroChunk[:recycleClear], 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()
		_ = l.fs.Remove(l.path(name)) // or the next Open removes it
		l.logger.Warn("commitlog: recycling a dropped segment failed; it is removed", "segment", s.name, "err", err)
		return true
	}
	w.mu.Lock()
	w.spare, w.base = f, next
	w.mu.Unlock()
	return true
}

// clearTailLocked zeroes whatever is not zero past the last record of
// the active segment, up to its high-water mark: the records a recycled
// file still holds there (see "Recycled segments"). For other segments
// the range is zero already and this only reads it. Requires mu and
// flushMu, with the log durable up to End.
func (l *Log) clearTailLocked() error {
	s := l.segs[len(l.segs)-1]
	end := l.end.Load()
	_, err := s.clearPast(end, min(max(s.highWater, end), s.limit()))
	return err
}

func (w *warmer) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		next := w.l.nextBase()
		if next < 0 {
			continue
		}
		w.mu.Lock()
		have := w.spare != nil && w.base == next
		w.mu.Unlock()
		if have {
			continue
		}
		w.discard()
		if err := w.prepare(next); err != nil {
			w.l.logger.Warn("commitlog: preparing a warm segment failed; the next roll creates an unwarmed one", "base", next, "err", err)
		}
	}
}

// prepare writes and syncs <next>.warm and keeps it as the spare.
func (w *warmer) prepare(next int64) error {
	name := segmentName(next) + warmSuffix
	f, err := w.l.fs.Create(w.l.path(name))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = w.l.fs.Remove(w.l.path(name))
		}
	}()
	if err := f.Allocate(w.l.segSize); err != nil {
		return err
	}
	var pace func(int64) int64
	if w.l.opts.WarmRate > 0 {
		p := &warmPacer{l: w.l, max: w.l.opts.WarmRate, size: w.l.segSize, at: time.Now(), end: w.l.End()}
		pace = p.rate
	}
	done, err := zeroFill(f, w.l.segSize, pace, w.stop)
	if err != nil || !done {
		return err
	}
	w.mu.Lock()
	w.spare, w.base = f, next
	w.mu.Unlock()
	ok = true
	return nil
}

// discard closes and removes the spare, if any (one for a base the log
// has moved past, or at Close).
func (w *warmer) discard() {
	w.mu.Lock()
	f, base := w.spare, w.base
	w.spare, w.base = nil, -1
	w.mu.Unlock()
	if f == nil {
		return
	}
	_ = f.Close()
	_ = w.l.fs.Remove(w.l.path(segmentName(base) + warmSuffix))
}

// halt stops the warmer's goroutine; the spare stays.
func (w *warmer) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// close stops the warmer and drops the spare.
func (w *warmer) close() {
	w.halt()
	w.discard()
}

// nextBase is the base offset of the segment after the active one (-1 for
// a log without segments).
func (l *Log) nextBase() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if n := len(l.segs); n > 0 {
		return l.segs[n-1].base + l.segSize
	}
	return -1
}

// removeWarmFiles deletes spares a previous run left behind.
func (l *Log) removeWarmFiles(names []string) ([]string, error) {
	kept := names[:0]
	for _, n := range names {
		if !strings.HasSuffix(n, warmSuffix) {
			kept = append(kept, n)
			continue
		}
		if err := l.fs.Remove(l.path(n)); err != nil && !isNotExist(err) {
			return nil, fmt.Errorf("commitlog: remove leftover %s: %w", n, err)
		}
	}
	return kept, nil
}
