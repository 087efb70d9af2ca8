package indexfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// RecoveryReport says what Open found and changed.
type RecoveryReport struct {
	// DispatchedPhys and MinPhys are the checkpoint's watermarks.
	DispatchedPhys, MinPhys int64
	// Files is the number of index files after recovery.
	Files int
	// Uncheckpointed counts entries with phys >= DispatchedPhys that were
	// dropped (re-dispatch from DispatchedPhys puts them back).
	Uncheckpointed int64
	// RebuiltSlots lists files whose slot table was recomputed from their
	// entries because they were not closed cleanly.
	RebuiltSlots []string
	// RemovedFiles lists files deleted: torn creations and files wholly
	// past the checkpoint.
	RemovedFiles []string
	// ResetFinished is set when a Reset interrupted by a crash was completed.
	ResetFinished bool
	// Ignored lists names in Dir that are not ours.
	Ignored []string
}

// Open opens (or creates) the index in opts.Dir and recovers it to the
// checkpoint: entries with phys >= the checkpointed DispatchedPhys are
// dropped, files torn while being created are deleted, and the slot table
// of a file that was not closed cleanly is rebuilt from its entries. Damage
// to data the checkpoint covers fails with ErrCorrupt.
func Open(opts Options) (*Index, error) {
	opts.applyDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	fsys := opts.FS
	if err := fsys.MkdirAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("indexfile: create %s: %w", opts.Dir, err)
	}
	ix := &Index{opts: opts, log: opts.Logger, hash: hashKey, lastPhys: -1}
	names, err := fsys.List(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("indexfile: list %s: %w", opts.Dir, err)
	}
	var nums []int64
	for _, n := range names {
		if num, ok := parseFileName(n); ok {
			nums = append(nums, num)
		} else if n != checkpointName {
			ix.report.Ignored = append(ix.report.Ignored, filepath.Join(opts.Dir, n))
		}
	}
	if _, err := fsys.Stat(filepath.Join(opts.Dir, checkpointName)); errors.Is(err, fs.ErrNotExist) && len(nums) > 0 {
		return nil, fmt.Errorf("%w: %s: index files without a checkpoint", ErrCorrupt, opts.Dir)
	}
	ck, _, err := openCheckpoint(fsys, opts.Dir, checkpointRec{State: stateOK})
	if err != nil {
		return nil, err
	}
	ix.ck = ck
	if ck.Cur.State == stateResetting {
		ix.log.Warn("indexfile: finishing an interrupted reset", "dir", opts.Dir)
		if err := ix.removeAllLocked(); err != nil {
			ck.Close()
			return nil, err
		}
		ix.report.ResetFinished = true
		nums = nil
	}
	ix.dispatched.Store(ck.Cur.Dispatched)
	ix.minPhys.Store(ck.Cur.MinPhys)
	ix.report.DispatchedPhys, ix.report.MinPhys = ck.Cur.Dispatched, ck.Cur.MinPhys
	if err := ix.load(nums); err != nil {
		for _, f := range ix.files {
			f.close()
		}
		ck.Close()
		return nil, err
	}
	ix.report.Files = len(ix.files)
	return ix, nil
}

// load opens the files and trims them to the checkpoint.
func (ix *Index) load(nums []int64) error {
	fsys := ix.opts.FS
	rep := &ix.report
	if len(nums) > 0 {
		ix.nextNum = nums[len(nums)-1] + 1
	}
	for i, num := range nums {
		f, h, err := openIndexFile(fsys, filepath.Join(ix.opts.Dir, fileName(num)), num)
		if err != nil && !errors.Is(err, errBadFile) {
			return err
		}
		if err == nil && len(ix.files) > 0 {
			if prev := ix.files[len(ix.files)-1]; h.count > 0 && prev.count.Load() > 0 && h.beginPhys < prev.endPhys {
				err = fmt.Errorf("%w: %s: begins at phys %d, before the end %d of the previous file", errBadFile, f.path, h.beginPhys, prev.endPhys)
				f.close()
			}
		}
		if err != nil {
			if err := ix.removeTornFiles(nums[i:], err); err != nil {
				return err
			}
			break
		}
		ix.files = append(ix.files, f)
	}
	d := ix.dispatched.Load()
	if err := ix.checkCoverage(d); err != nil {
		return err
	}
	var dropped int64
	for i := len(ix.files) - 1; i >= 0 && (ix.files[i].count.Load() == 0 || ix.files[i].beginPhys >= d); i-- {
		dropped += int64(ix.files[i].count.Load())
	}
	gone, err := ix.removeTailLocked(d)
	rep.RemovedFiles = append(rep.RemovedFiles, gone...)
	if err != nil {
		return err
	}
	for i, f := range ix.files {
		last := i == len(ix.files)-1
		cnt := f.count.Load()
		keep := cnt
		if last {
			if keep, err = f.searchPhys(cnt, d); err != nil {
				return err
			}
			dropped += int64(cnt - keep)
		}
		switch {
		case !f.hdrClean || keep < cnt:
			// Slots may point at entries the crash lost or that were just
			// dropped: recompute them from the surviving entries.
			if err := f.rebuildSlotsLocked(keep); err != nil {
				return err
			}
			rep.RebuiltSlots = append(rep.RebuiltSlots, f.path)
			// Entries written after the last flush, or dropped here, must
			// not linger past count (see checkCoverage).
			upto := keep
			if last {
				upto = f.l.capacity
			}
			if err := f.shrinkDurably(f.headerLocked(keep, !last), upto); err != nil {
				return err
			}
		case last:
			// Clean, but about to take Puts: mark it not clean first.
			if err := f.writeHeader(f.headerLocked(cnt, false)); err != nil {
				return err
			}
		}
	}
	for _, f := range ix.files[:max(len(ix.files)-1, 0)] {
		if cnt := f.count.Load(); cnt != f.l.capacity {
			return fmt.Errorf("%w: %s: %d of %d entries, yet a later file holds entries below the checkpoint", ErrCorrupt, f.path, cnt, f.l.capacity)
		}
	}
	if dropped > 0 {
		rep.Uncheckpointed = dropped
		ix.log.Info("indexfile: dropped entries past the checkpoint", "entries", dropped, "dispatched", d)
	}
	if len(gone) > 0 {
		if err := fsys.SyncDir(ix.opts.Dir); err != nil {
			return fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err)
		}
	}
	if len(ix.files) > 0 {
		ix.lastPhys = ix.files[len(ix.files)-1].endPhys
	}
	return nil
}

// removeTornFiles deletes files whose header or size is unusable, after
// checking that none holds an entry below the checkpoint (read in the
// layout a header copy describes, else the configured one); otherwise they
// are corrupt and why wraps ErrCorrupt.
func (ix *Index) removeTornFiles(nums []int64, why error) error {
	fsys := ix.opts.FS
	d := ix.dispatched.Load()
	for _, num := range nums {
		path := filepath.Join(ix.opts.Dir, fileName(num))
		fh, err := fsys.Open(path)
		if err != nil {
			return fmt.Errorf("indexfile: open %s: %w", path, err)
		}
		l := layoutFor(uint32(ix.opts.SlotCount), uint32(ix.opts.EntriesPerFile))
		var hb [headerSize]byte
		if n, _ := fh.ReadAt(hb[:], 0); n == headerSize {
			for c := 0; c < 2; c++ {
				if h, ok := decodeHeader(hb[c*headerCopySize:]); ok {
					l = layoutFor(h.slots, h.capacity)
				}
			}
		}
		err = scanEntries(fh, l, func(n uint32, b []byte) error {
			if e, ok := decodeEntry(b, n); ok && e.phys < d {
				return fmt.Errorf("%w: %v (and %s holds entry %d at phys %d, below the checkpoint %d)", ErrCorrupt, why, path, n, e.phys, d)
			}
			return nil
		})
		fh.Close()
		if err != nil {
			return err
		}
		if err := fsys.Remove(path); err != nil {
			return fmt.Errorf("indexfile: remove %s: %w", path, err)
		}
		ix.report.RemovedFiles = append(ix.report.RemovedFiles, path)
		ix.log.Warn("indexfile: removed torn file", "path", path, "reason", why.Error())
	}
	if err := fsys.SyncDir(ix.opts.Dir); err != nil {
		return fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err)
	}
	return nil
}

// checkCoverage checks that no file lost, with its newest header copy,
// entries the checkpoint says are durable: the entry after a file's count
// must not be a sound entry below the checkpoint (the checkpoint is written
// after the headers of the flush that covered it). Entries past count are
// only ever ones written after the last flush (phys >= the checkpoint):
// truncation and recovery zero what they drop.
func (ix *Index) checkCoverage(d int64) error {
	for _, f := range ix.files {
		cnt := f.count.Load()
		if cnt == f.l.capacity {
			continue
		}
		if e, ok := decodeEntry(f.entryBytes(cnt+1), cnt+1); ok && e.phys < d && e.phys >= f.endPhys {
			return fmt.Errorf("%w: %s: entry %d (phys %d) is below the checkpoint %d but past the header's count", ErrCorrupt, f.path, cnt+1, e.phys, d)
		}
	}
	return nil
}
