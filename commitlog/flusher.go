package commitlog

import (
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// flushLoop is the background flusher. Under FlushAsync it makes appended
// records durable every FlushInterval; under both modes it then advances the
// sync point recorded in the active segment's header, which lags one batch
// behind while the log is busy.
func (l *Log) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.backgroundFlush()
		}
	}
}

// backgroundFlush runs one flusher step. It takes flushMu but not mu, so
// appends continue while it waits for the disk.
func (l *Log) backgroundFlush() {
	if l.closed.Load() || l.failure() != nil {
		return
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// The active segment cannot change while flushMu is held: rolls,
	// truncations and resets take it. Its bytes below End are complete.
	l.segMu.RLock()
	seg := l.segs[len(l.segs)-1]
	l.segMu.RUnlock()
	to := l.end.Load()
	var err error
	switch {
	case to > l.durable && to > seg.first && to <= seg.limit():
		err = l.flushDataLocked(seg, to)
	case seg.slotSync < l.durable && l.durable <= seg.limit():
		err = seg.writeSlotFlushLocked(l.durable)
	}
	if err != nil {
		l.fail(err)
		return
	}
	l.releaseCacheLocked()
}

// Flush makes every record below the End it observes durable and returns
// that End. Unlike Sync it does not hold writers off while it waits for the
// disk: like the background flusher it takes flushMu only, so Append and
// AppendUnsynced continue meanwhile. Concurrent Flush calls share the
// disk's work: the later one finds the earlier one's offset durable.
func (l *Log) Flush() (int64, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// Close takes flushMu, so the segments stay mapped while it is held.
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if err := l.failure(); err != nil {
		return 0, err
	}
	l.segMu.RLock()
	seg := l.segs[len(l.segs)-1]
	l.segMu.RUnlock()
	to := l.end.Load()
	// A roll flushes the segment it seals, so an End below the active
	// segment's first record is durable already.
	if to > l.durable && to > seg.first && to <= seg.limit() {
		if err := l.flushDataLocked(seg, to); err != nil {
			return 0, l.fail(err)
		}
	}
	return to, nil
}

// releaseStep is the least the flusher releases at once, so an idle or
// slow log makes no system calls for a few pages.
const releaseStep = 4 << 20

// releaseCacheLocked gives the page cache of durable bytes more than
// CacheWindow behind the durable end back to the OS, where the segments'
// mappings support it. It releases only what was already past the window
// at the previous call: the kernel cannot drop pages whose writes are still
// tied to a running journal transaction, and one FlushInterval lets that
// settle. Requires flushMu.
func (l *Log) releaseCacheLocked() {
	if l.opts.CacheWindow < 0 {
		return
	}
	target := l.durable - l.opts.CacheWindow
	upTo := min(target, l.releasable)
	l.releasable = target
	if l.released > l.durable {
		// A Truncate or Reset moved the log below what was released.
		l.released = max(upTo, 0)
	}
	if upTo-l.released < releaseStep {
		return
	}
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	for _, s := range l.segs {
		lo, hi := max(l.released, s.base), min(upTo, s.limit())
		if lo >= hi {
			continue
		}
		r, ok := s.m.(vfs.CacheReleaser)
		if !ok {
			return
		}
		if err := r.ReleaseCache(int(lo-s.base), int(hi-lo)); err != nil {
			// Only the cost of later reads depends on it.
			l.logger.Debug("commitlog: release page cache", "segment", s.name, "err", err)
		}
	}
	l.released = upTo
}
