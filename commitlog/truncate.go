package commitlog

import (
	"errors"
	"fmt"
)

// Truncate removes the records at and after off durably: when it returns
// nil, no crash can bring them back. off must be a record offset in
// [Start, End] (End is a no-op). Later segments are removed (directory
// synced) before the tail of the segment holding off is zeroed and
// flushed. Readers must not race with Truncate over the removed range.
func (l *Log) Truncate(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	end := l.end.Load()
	if off == end {
		return nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.segMu.Lock()
	defer l.segMu.Unlock()

	if off < l.segs[0].first || off > end {
		return fmt.Errorf("%w: truncate at %d outside [%d, %d]", ErrOutOfRange, off, l.segs[0].first, end)
	}
	i := l.segmentIndexLocked(off)
	if i < 0 || off < l.segs[i].first {
		return fmt.Errorf("%w: truncate at %d: not a record offset", ErrOutOfRange, off)
	}
	seg := l.segs[i]
	last := i == len(l.segs)-1
	lim := end
	if !last {
		lim = seg.sealed
	}
	if off > lim {
		return fmt.Errorf("%w: truncate at %d: past the end of segment %s", ErrOutOfRange, off, seg.name)
	}
	if off != lim {
		if kind, _, _, _ := decodeRecord(seg.b[off-seg.base:lim-seg.base], off, l.maxData); kind != recValid {
			return fmt.Errorf("%w: truncate at %d: not a record offset", ErrOutOfRange, off)
		}
	}

	l.truncGen.Add(1) // iterators must not serve bytes copied before this
	// 1. Later segments go first, newest first, so a crash leaves a prefix
	// of the old log, never a sealed segment followed by a gap.
	for j := len(l.segs) - 1; j > i; j-- {
		s := l.segs[j]
		cerr := s.close()
		if err := l.fs.Remove(l.path(s.name)); err != nil && !isNotExist(err) {
			l.segs = l.segs[:j+1]
			return l.fail(fmt.Errorf("commitlog: truncate: remove %s: %w", s.name, errors.Join(err, cerr)))
		}
		l.segs[j] = nil
		l.segs = l.segs[:j]
	}
	if !last {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("commitlog: truncate: sync directory %s: %w", l.dir, err))
		}
	}

	// 2. Lower the recorded sync point first: once zeroes reach the disk
	// they must never lie below it.
	hi := end
	durable := off
	if last {
		durable = min(l.durable, off)
	} else {
		hi = min(seg.sealed+RecordHeaderSize, seg.limit())
	}
	durable = max(durable, seg.first)
	if err := seg.writeSlotFlushLocked(min(seg.slotSync, durable)); err != nil {
		return l.fail(fmt.Errorf("commitlog: truncate: %w", err))
	}

	// 3. Zero (not just fence) the tail, so stale records can never chain
	// onto records appended later, and make it durable.
	if hi > off {
		clear(seg.b[off-seg.base : hi-seg.base])
		if err := seg.m.Flush(int(off-seg.base), int(hi-off)); err != nil {
			return l.fail(fmt.Errorf("commitlog: truncate: flush %s: %w", seg.name, err))
		}
	}
	seg.sealed = -1
	l.durable = durable
	l.end.Store(off)
	return nil
}

// DropBefore removes, oldest first, every segment whose whole offset range
// lies below off, except the active one, and returns the new Start.
// Readers and iterators may run concurrently; a read of a dropped offset
// fails with ErrOutOfRange.
func (l *Log) DropBefore(off int64) (start int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	l.segMu.Lock()
	k := 0
	for k < len(l.segs)-1 && l.segs[k].limit() <= off {
		k++
	}
	dropped := append([]*segment(nil), l.segs[:k]...)
	l.segs = append([]*segment(nil), l.segs[k:]...)
	start = l.segs[0].first
	l.segMu.Unlock()
	if k == 0 {
		return start, nil
	}

	// No reader can reach the dropped segments any more: each held segMu
	// shared while it used one, and we held it exclusively above.
	var errs []error
	for i, s := range dropped {
		if i == len(dropped)-1 && l.recycle(s) {
			continue
		}
		if err := s.close(); err != nil {
			errs = append(errs, fmt.Errorf("commitlog: close %s: %w", s.name, err))
		}
		if err := l.fs.Remove(l.path(s.name)); err != nil && !isNotExist(err) {
			errs = append(errs, fmt.Errorf("commitlog: remove %s: %w", s.name, err))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("commitlog: sync directory %s: %w", l.dir, err))
	}
	// A segment that could not be removed is found again (and is harmless:
	// the log is still contiguous) on the next Open.
	return start, errors.Join(errs...)
}

// Reset removes every record durably; the next Append lands at off, which
// must not fall inside a segment header (off mod SegmentSize >=
// SegmentHeaderSize). Reset is atomic across a crash: the new segment is
// prepared under a temporary name first, and once that is durable,
// recovery finishes an interrupted Reset.
func (l *Log) Reset(off int64) error {
	if off < 0 || off%l.segSize < SegmentHeaderSize {
		return fmt.Errorf("%w: reset to %d: inside a segment header", ErrOutOfRange, off)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.segMu.Lock()
	defer l.segMu.Unlock()

	base := off - off%l.segSize
	name := segmentName(base)
	tmp := name + resetSuffix
	ns, err := createSegmentFile(l.fs, l.dir, tmp, base, l.segSize, off, min(base+l.segSize, off+highWaterStep), false)
	if err == nil {
		err = l.fs.SyncDir(l.dir)
		if err != nil {
			ns.close()
			// The prepared segment may or may not be durable; recovery
			// could finish the reset, so the state is unknown.
			return l.fail(fmt.Errorf("commitlog: reset: sync directory %s: %w", l.dir, err))
		}
	}
	if err != nil {
		// The half-prepared file must be gone durably, or recovery could
		// finish a reset that reported an error.
		if rerr := l.fs.Remove(l.path(tmp)); rerr != nil && !isNotExist(rerr) {
			return l.fail(fmt.Errorf("commitlog: reset: %w (and removing %s: %w)", err, tmp, rerr))
		}
		if serr := l.fs.SyncDir(l.dir); serr != nil {
			return l.fail(fmt.Errorf("commitlog: reset: %w (and syncing the directory: %w)", err, serr))
		}
		return fmt.Errorf("commitlog: reset: %w", err)
	}
	// From here on the reset is committed: recovery rolls it forward.
	l.truncGen.Add(1)
	if err := l.replaceAllLocked(ns, tmp, name); err != nil {
		return l.fail(fmt.Errorf("commitlog: reset: %w", err))
	}
	l.durable = off
	l.end.Store(off)
	return nil
}

// replaceAllLocked closes and removes every segment (newest first) and
// renames the prepared segment tmp to name. Requires mu, flushMu, segMu.
func (l *Log) replaceAllLocked(ns *segment, tmp, name string) error {
	for j := len(l.segs) - 1; j >= 0; j-- {
		s := l.segs[j]
		s.close()
		if s.name != name {
			if err := l.fs.Remove(l.path(s.name)); err != nil && !isNotExist(err) {
				l.segs = append(l.segs[:j], ns)
				return fmt.Errorf("remove %s: %w", s.name, err)
			}
		}
		l.segs = l.segs[:j]
	}
	ns.name = name
	l.segs = append(l.segs[:0], ns)
	if err := l.fs.Rename(l.path(tmp), l.path(name)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", l.dir, err)
	}
	return nil
}
