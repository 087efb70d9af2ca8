package consumequeue

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// RecoveryReport says what Open found and changed.
type RecoveryReport struct {
	// DispatchedPhys and MinPhys are the checkpoint's watermarks.
	DispatchedPhys, MinPhys int64
	// Queues is the number of queues loaded.
	Queues int
	// TornEntries counts damaged or stray entries past a queue's valid tail
	// (written after the last checkpoint, torn by the crash); they were zeroed.
	TornEntries int64
	// Uncheckpointed counts valid entries with Phys >= DispatchedPhys; they
	// were dropped so every queue matches the checkpoint, and re-dispatch
	// from DispatchedPhys puts them back.
	Uncheckpointed int64
	// RemovedFiles lists files deleted: torn creations, files past the
	// checkpoint, files wholly below the retention watermark.
	RemovedFiles []string
	// ResetFinished is set when a Reset interrupted by a crash was completed:
	// the store is empty.
	ResetFinished bool
	// Ignored lists names in the store that are not ours and were left alone.
	Ignored []string
}

// loadQueue opens the queue stored in dir, repairs its tail and trims it to
// the checkpoint. It returns nil if dir holds no queue files.
func (s *Store) loadQueue(topic string, id int32, dir string, rep *RecoveryReport) (_ *Queue, err error) {
	fsys := s.opts.FS
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("consumequeue: list %s: %w", dir, err)
	}
	var bases []int64
	for _, name := range names {
		if base, ok := parseFileName(name); ok {
			bases = append(bases, base)
		} else {
			rep.Ignored = append(rep.Ignored, filepath.Join(dir, name))
			s.log.Warn("consumequeue: ignoring unexpected file", "path", filepath.Join(dir, name))
		}
	}
	q := newQueue(s, topic, id, 0)
	defer func() {
		if err != nil {
			q.close()
		}
	}()
	th := topicHash(topic)
	for i, base := range bases {
		path := filepath.Join(dir, fileName(base))
		qf, h, err := openQueueFile(fsys, path, base, th, id)
		if err != nil && !errors.Is(err, errBadFile) {
			return nil, err
		}
		if err == nil {
			switch {
			case i == 0:
				q.perFile = h.entriesPerFile
			case h.entriesPerFile != q.perFile:
				err = fmt.Errorf("%w: %s: %d entries per file, earlier files have %d", errBadFile, path, h.entriesPerFile, q.perFile)
			case h.base != bases[i-1]+q.perFile:
				err = fmt.Errorf("%w: %s: gap after file %d", errBadFile, path, bases[i-1])
			case h.start != h.base:
				err = fmt.Errorf("%w: %s: start offset %d inside a later file", errBadFile, path, h.start)
			}
			if err != nil {
				qf.close()
			}
		}
		if err != nil {
			// A damaged or misplaced file, and every file after it, can only
			// be a creation the crash tore if nothing in them lies below the
			// checkpoint; then they go.
			if err := s.removeTornFiles(dir, bases[i:], err, rep); err != nil {
				return nil, err
			}
			break
		}
		q.files = append(q.files, qf)
	}
	if len(q.files) == 0 {
		return nil, nil
	}
	if err := q.recoverTail(rep); err != nil {
		return nil, err
	}
	minOff, err := q.searchPhysLocked(q.files[0].start, q.max.Load(), s.minPhys.Load())
	if err != nil {
		return nil, err
	}
	q.min.Store(minOff)
	gone := pathsBelow(q, minOff)
	if _, err := q.removeFilesBelowLocked(minOff); err != nil {
		return nil, err
	}
	rep.RemovedFiles = append(rep.RemovedFiles, gone...)
	q.flushed = q.max.Load()
	return q, nil
}

func pathsBelow(q *Queue, off int64) []string {
	var p []string
	for i := 0; i < len(q.files)-1 && q.files[i].base+q.perFile <= off; i++ {
		p = append(p, q.files[i].path)
	}
	return p
}

// recoverTail trims the queue to the checkpoint. Every entry with Phys
// below the checkpointed DispatchedPhys was flushed before the checkpoint
// was written, so it must be intact; whatever follows the last such entry
// was written later and may be torn, stale or missing. recoverTail scans
// back from the end of the last file to the last valid entry with Phys <
// DispatchedPhys, drops everything after it (zeroing damaged bytes and
// deleting later files), then checks every remaining entry of the last file.
// Damage there is ErrCorrupt.
func (q *Queue) recoverTail(rep *RecoveryReport) error {
	dispatched := q.s.dispatched.Load()
	first := q.files[0].start
	lf := q.files[len(q.files)-1]
	lastDirty := int64(-1)
	var torn, valid int64
	pos := lf.base + q.perFile - 1
	for ; pos >= first; pos-- {
		e, st := decodeEntry(q.fileFor(pos).entry(pos), pos)
		if st == entryValid && e.Phys < dispatched {
			break
		}
		if st == entryEmpty {
			continue
		}
		if st == entryValid {
			valid++
		} else {
			torn++
		}
		lastDirty = max(lastDirty, pos)
	}
	cut := pos + 1
	q.max.Store(max(cut, lastDirty+1))
	if err := q.truncateLocked(cut); err != nil {
		return err
	}
	if torn > 0 {
		rep.TornEntries += torn
		q.s.log.Warn("consumequeue: dropped torn tail", "queue", q.String(), "from", cut, "entries", torn)
	}
	if valid > 0 {
		rep.Uncheckpointed += valid
		q.s.log.Info("consumequeue: dropped entries past the checkpoint", "queue", q.String(), "from", cut, "entries", valid)
	}
	// Check what is left of the last file (and its link to the one before).
	lf = q.files[len(q.files)-1]
	prev := int64(-1)
	from := lf.start
	if len(q.files) > 1 {
		from = lf.base - 1
	}
	for off := from; off < cut; off++ {
		e, err := q.readLocked(off)
		if err != nil {
			return err
		}
		if e.Phys <= prev {
			return fmt.Errorf("%w: queue %s offset %d: phys %d not after %d", ErrCorrupt, q, off, e.Phys, prev)
		}
		prev = e.Phys
	}
	return nil
}

// removeTornFiles deletes the given files of dir after checking that none
// holds an entry below the checkpoint (entries are decoded at the queue
// offsets their file names imply); otherwise the files are corrupt and why
// wraps ErrCorrupt.
func (s *Store) removeTornFiles(dir string, bases []int64, why error, rep *RecoveryReport) error {
	fsys := s.opts.FS
	dispatched := s.dispatched.Load()
	buf := make([]byte, 64<<10)
	for _, base := range bases {
		path := filepath.Join(dir, fileName(base))
		f, err := fsys.Open(path)
		if err != nil {
			return fmt.Errorf("consumequeue: open %s: %w", path, err)
		}
		pos := int64(headerSize)
		for {
			n, rerr := f.ReadAt(buf, pos)
			n -= n % entrySize
			for i := 0; i < n; i += entrySize {
				off := base + (pos-headerSize+int64(i))/entrySize
				if e, st := decodeEntry(buf[i:], off); st == entryValid && e.Phys < dispatched {
					f.Close()
					return fmt.Errorf("%w: %v (and %s holds entry %d below the checkpoint)", ErrCorrupt, why, path, off)
				}
			}
			pos += int64(n)
			if rerr != nil || n == 0 {
				if rerr != nil && !errors.Is(rerr, io.EOF) {
					f.Close()
					return fmt.Errorf("consumequeue: read %s: %w", path, rerr)
				}
				break
			}
		}
		f.Close()
		if err := fsys.Remove(path); err != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", path, err)
		}
		rep.RemovedFiles = append(rep.RemovedFiles, path)
		s.log.Warn("consumequeue: removed torn file", "path", path, "reason", why.Error())
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("consumequeue: sync %s: %w", dir, err)
	}
	return nil
}
