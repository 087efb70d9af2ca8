package consumequeue

import (
	"errors"
	"fmt"
)

// truncatePhys drops every entry with Phys >= phys, durably.
func (q *Queue) truncatePhys(phys int64) (dropped int64, err error) {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	if len(q.files) == 0 {
		return 0, nil
	}
	hi := q.max.Load()
	cut, err := q.searchPhysLocked(q.min.Load(), hi, phys)
	if err != nil {
		return 0, err
	}
	return hi - cut, q.truncateLocked(cut)
}

// truncateLocked drops entries [newMax, MaxOffset) durably: files from
// newMax on are deleted (the first file is always kept, so the queue keeps
// its offsets) and the rest of the last file up to the old MaxOffset is
// zeroed and flushed. Caller holds wmu.
func (q *Queue) truncateLocked(newMax int64) error {
	if len(q.files) == 0 {
		return nil
	}
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	hi := q.max.Load()
	newMax = max(newMax, q.files[0].start)
	if newMax < hi {
		q.max.Store(newMax)
		if q.min.Load() > newMax {
			q.min.Store(newMax)
		}
		q.flushed = min(q.flushed, newMax)
	}
	var errs []error
	removed := false
	for len(q.files) > 1 && q.files[len(q.files)-1].base >= newMax {
		qf := q.files[len(q.files)-1]
		q.files = q.files[:len(q.files)-1]
		errs = append(errs, qf.remove(q.s.opts.FS))
		removed = true
	}
	if lf := q.files[len(q.files)-1]; newMax < hi && newMax < lf.base+q.perFile {
		to := min(hi, lf.base+q.perFile)
		clear(lf.b[headerSize+(newMax-lf.base)*entrySize : headerSize+(to-lf.base)*entrySize])
		errs = append(errs, lf.flushEntries(newMax, to))
	}
	if removed {
		if err := q.s.opts.FS.SyncDir(q.dir); err != nil {
			errs = append(errs, fmt.Errorf("consumequeue: sync %s: %w", q.dir, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return q.loadLastPhysLocked()
}

// loadLastPhysLocked sets lastPhys from the entry at MaxOffset-1.
func (q *Queue) loadLastPhysLocked() error {
	q.lastPhys = -1
	last := q.max.Load() - 1
	if len(q.files) == 0 || last < q.files[0].start {
		return nil
	}
	e, err := q.readLocked(last)
	if err != nil {
		return err
	}
	q.lastPhys = e.Phys
	return nil
}

// dropBeforePhys moves MinOffset to the first entry with Phys >= phys and
// deletes the files wholly below it, except the last file, which keeps the
// queue's offsets.
func (q *Queue) dropBeforePhys(phys int64) (removed int, err error) {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	if len(q.files) == 0 {
		return 0, nil
	}
	lo := q.min.Load()
	newMin, err := q.searchPhysLocked(lo, q.max.Load(), phys)
	if err != nil {
		return 0, err
	}
	if newMin > lo {
		q.min.Store(newMin)
	}
	return q.removeFilesBelowLocked(q.min.Load())
}

// removeFilesBelowLocked deletes the files wholly below queue offset off,
// never the last one. Caller holds wmu.
func (q *Queue) removeFilesBelowLocked(off int64) (int, error) {
	n := 0
	for n < len(q.files)-1 && q.files[n].base+q.perFile <= off {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	q.mu.Lock()
	gone := append([]*queueFile(nil), q.files[:n]...)
	q.files = append(q.files[:0:0], q.files[n:]...)
	q.mu.Unlock()
	var errs []error
	for _, qf := range gone {
		errs = append(errs, qf.remove(q.s.opts.FS))
	}
	if err := q.s.opts.FS.SyncDir(q.dir); err != nil {
		errs = append(errs, fmt.Errorf("consumequeue: sync %s: %w", q.dir, err))
	}
	return n, errors.Join(errs...)
}

// close flushes nothing; it unmaps and closes the files. Later calls on the
// queue fail with ErrClosed.
func (q *Queue) close() error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	var errs []error
	for _, qf := range q.files {
		errs = append(errs, qf.close())
	}
	q.files = nil
	return errors.Join(errs...)
}
