package indexfile

import (
	"errors"
	"fmt"
	"iter"
)

// TruncatePhys drops every entry with phys >= phys, durably, and lowers
// DispatchedPhys to at most phys (the commit log lost its tail). Files
// wholly past it are deleted; in the file it cuts, the entry count is reset
// and every slot head pointing at a dropped entry is walked back along its
// chain to the newest surviving entry before the call returns, so later
// Puts never link to dropped entries. The checkpoint is lowered first, so a
// crash part-way leaves files that Open trims the rest of the way.
func (ix *Index) TruncatePhys(phys int64) error {
	if phys < 0 {
		return fmt.Errorf("%w: truncate to phys %d", ErrInvalid, phys)
	}
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	if ix.ck.Cur.Dispatched > phys {
		if err := ix.ck.Write(checkpointRec{State: stateOK, Dispatched: phys, MinPhys: ix.ck.Cur.MinPhys}); err != nil {
			return err
		}
	}
	for {
		cur := ix.dispatched.Load()
		if cur <= phys || ix.dispatched.CompareAndSwap(cur, phys) {
			break
		}
	}
	return ix.truncateLocked(phys)
}

// truncateLocked drops entries with phys >= phys. Caller holds flushMu and
// wmu.
func (ix *Index) truncateLocked(phys int64) error {
	ix.mu.Lock()
	gone, err := ix.removeTailLocked(phys)
	removed := len(gone)
	var last *indexFile
	var cnt, keep uint32
	if err == nil && len(ix.files) > 0 {
		last = ix.files[len(ix.files)-1]
		cnt = last.count.Load()
		if keep, err = last.searchPhys(cnt, phys); err == nil && keep < cnt {
			err = last.truncateLocked(keep)
		}
	}
	ix.mu.Unlock()
	ix.lastPhys = -1
	if last != nil {
		ix.lastPhys = last.endPhys
	}
	if err != nil {
		return err
	}
	// The cut file is now the active one: durable, and marked not clean,
	// since Puts will change its slots.
	if last != nil && (keep < cnt || removed > 0 || last.hdrClean) {
		if err := last.shrinkDurably(last.headerLocked(keep, false), cnt); err != nil {
			return err
		}
	}
	if removed > 0 {
		if err := ix.opts.FS.SyncDir(ix.opts.Dir); err != nil {
			return fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err)
		}
	}
	return nil
}

// removeTailLocked deletes the newest files while they are empty or wholly
// at or past phys, and returns their paths. Caller holds wmu and mu.
func (ix *Index) removeTailLocked(phys int64) ([]string, error) {
	var gone []string
	for len(ix.files) > 0 {
		f := ix.files[len(ix.files)-1]
		if f.count.Load() > 0 && f.beginPhys < phys {
			break
		}
		ix.files = ix.files[:len(ix.files)-1]
		gone = append(gone, f.path)
		if err := f.remove(ix.opts.FS); err != nil {
			return gone, err
		}
	}
	return gone, nil
}

// DropBeforePhys applies retention: whole files whose newest entry has
// phys < phys are deleted, and Query leaves out offsets below phys. The
// index is flushed and the watermark checkpointed first.
func (ix *Index) DropBeforePhys(phys int64) error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	mp := max(phys, ix.minPhys.Load())
	if err := ix.flushLocked(mp, false); err != nil {
		return err
	}
	ix.minPhys.Store(mp)
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	var gone []*indexFile
	for len(ix.files) > 0 && ix.files[0].count.Load() > 0 && ix.files[0].endPhys < mp {
		gone = append(gone, ix.files[0])
		ix.files = ix.files[1:]
	}
	ix.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	var errs []error
	for _, f := range gone {
		errs = append(errs, f.remove(ix.opts.FS))
	}
	if err := ix.opts.FS.SyncDir(ix.opts.Dir); err != nil {
		errs = append(errs, fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err))
	}
	return errors.Join(errs...)
}

// Reset deletes every index file and zeroes both watermarks, durably, for a
// rebuild. A crash during Reset is finished by the next Open.
func (ix *Index) Reset() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	return ix.resetLocked()
}

func (ix *Index) resetLocked() error {
	if err := ix.ck.Write(checkpointRec{State: stateResetting}); err != nil {
		return err
	}
	ix.mu.Lock()
	files := ix.files
	ix.files = nil
	ix.mu.Unlock()
	var errs []error
	for _, f := range files {
		errs = append(errs, f.close())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ix.removeAllLocked()
}

// removeAllLocked deletes every index file in Dir and writes an empty
// checkpoint. Caller holds flushMu and wmu (or is Open).
func (ix *Index) removeAllLocked() error {
	fsys := ix.opts.FS
	names, err := fsys.List(ix.opts.Dir)
	if err != nil {
		return fmt.Errorf("indexfile: list %s: %w", ix.opts.Dir, err)
	}
	for _, name := range names {
		if _, ok := parseFileName(name); ok {
			if err := fsys.Remove(ix.opts.Dir + "/" + name); err != nil {
				return fmt.Errorf("indexfile: remove %s: %w", name, err)
			}
		}
	}
	if err := fsys.SyncDir(ix.opts.Dir); err != nil {
		return fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err)
	}
	ix.dispatched.Store(0)
	ix.minPhys.Store(0)
	ix.lastPhys, ix.nextNum, ix.dirSync = -1, 0, false
	return ix.ck.Write(checkpointRec{State: stateOK})
}

// Rebuild resets the index and indexes every key the caller's commit-log
// walk yields, in log order, then flushes. The walk stops at the first
// error it yields. A crash during Rebuild leaves an index whose
// DispatchedPhys says how far it got.
func (ix *Index) Rebuild(items iter.Seq2[Item, error]) error {
	if err := ix.Reset(); err != nil {
		return err
	}
	for it, err := range items {
		if err != nil {
			return fmt.Errorf("indexfile: rebuild: %w", err)
		}
		if err := ix.Put(it.Key, it.Phys, it.StoreTime); err != nil {
			return fmt.Errorf("indexfile: rebuild: %w", err)
		}
	}
	return ix.Flush()
}
