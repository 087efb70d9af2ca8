package indexfile

import (
	"errors"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/dispatchckpt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Item is one key handed to Rebuild by the caller's commit-log walk.
type Item struct {
	Key       string
	Phys      int64
	StoreTime int64
}

// Index is a hash index from message keys to commit-log positions, kept in
// fixed-size mapped files that roll over when full (RocketMQ's IndexFile).
//
// Concurrency: Put comes from one dispatcher (writers serialize on an
// internal lock); Query may run concurrently with everything and never
// waits for a Put (see indexFile). Flush holds the writer lock only to
// snapshot what to write. Lock order: flushMu → wmu → mu.
type Index struct {
	opts Options
	log  *slog.Logger
	hash func(string) uint64 // hashKey; tests swap it to force collisions

	flushMu sync.Mutex // serializes Flush and maintenance; guards ck and files' flusher state
	ck      *dispatchckpt.File
	dirSync bool // a file was created since the last Flush; guarded by wmu

	wmu      sync.Mutex // serializes writers; holders may read files without mu
	lastPhys int64      // phys of the newest entry, -1 if none; guarded by wmu
	nextNum  int64      // number of the next file to create; guarded by wmu

	mu     sync.RWMutex // guards files (and their mappings' lifetime) and closed
	files  []*indexFile
	closed bool

	dispatched atomic.Int64
	minPhys    atomic.Int64

	report RecoveryReport
}

// Put indexes key (one KEYS entry or the UNIQ_KEY of a message) at
// physical offset phys with the message's store time (Unix ms). Messages
// come in commit-log order; all keys of one message share its phys. A phys
// below DispatchedPhys was indexed before (re-dispatch after a crash) and
// is ignored. Put does not make the entry durable; Flush does.
func (ix *Index) Put(key string, phys, storeTime int64) error {
	if key == "" || phys < 0 {
		return fmt.Errorf("%w: put %q at phys %d", ErrInvalid, key, phys)
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.closed {
		return ErrClosed
	}
	if phys < ix.dispatched.Load() {
		return nil
	}
	if phys < ix.lastPhys {
		return fmt.Errorf("%w: phys %d below the previous %d", ErrInvalid, phys, ix.lastPhys)
	}
	var f *indexFile
	if len(ix.files) > 0 {
		f = ix.files[len(ix.files)-1]
	}
	if f == nil || f.count.Load() == f.l.capacity {
		var err error
		if f, err = ix.rollLocked(); err != nil {
			return err
		}
	}
	f.append(entry{hash: ix.hash(key), phys: phys, storeTime: storeTime})
	ix.lastPhys = phys
	ix.noteDispatched(phys)
	return nil
}

// rollLocked creates the next file. Caller holds wmu.
func (ix *Index) rollLocked() (*indexFile, error) {
	f, err := createIndexFile(ix.opts.FS, ix.opts.Dir, ix.nextNum,
		layoutFor(uint32(ix.opts.SlotCount), uint32(ix.opts.EntriesPerFile)))
	if err != nil {
		return nil, err
	}
	ix.nextNum++
	ix.mu.Lock()
	ix.files = append(ix.files, f)
	ix.dirSync = true
	ix.mu.Unlock()
	return f, nil
}

// Query returns the physical offsets of the messages indexed under key
// whose store time is in [begin, end], newest (highest phys) first,
// without duplicates, at most max of them, across all files. Offsets below
// the retention watermark are left out.
//
// Entries are matched by a 64-bit hash of the key, not the key itself: the
// result is a list of candidates (a false match needs a 64-bit collision)
// and the caller checks each message's keys, as RocketMQ does.
func (ix *Index) Query(key string, begin, end int64, max int) ([]int64, error) {
	return ix.QueryAppend(nil, key, begin, end, max)
}

// QueryAppend is Query appending to dst, so a caller can reuse a buffer.
// It allocates nothing when dst has room for max results.
func (ix *Index) QueryAppend(dst []int64, key string, begin, end int64, max int) ([]int64, error) {
	if max <= 0 || begin > end {
		return dst, nil
	}
	h := ix.hash(key)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return dst, ErrClosed
	}
	minPhys := ix.minPhys.Load()
	base, limit := len(dst), len(dst)+max
	out := dst
	for i := len(ix.files) - 1; i >= 0 && len(out) < limit; i-- {
		f := ix.files[i]
		if f.count.Load() == 0 || f.maxTime.Load() < begin || f.minTime.Load() > end {
			continue
		}
		var done bool
		var err error
		if out, done, err = f.collect(out, base, h, begin, end, minPhys, limit); err != nil || done {
			return out, err
		}
	}
	return out, nil
}

// DispatchedPhys returns the dispatch watermark: every message with a
// physical offset below it has been indexed. Put raises it to each phys it
// indexes (the keys of the newest message may still be coming), and
// AdvanceDispatched past a message once all its keys are in. After Open it
// is the checkpointed value: dispatch resumes at the first message at or
// after it.
func (ix *Index) DispatchedPhys() int64 { return ix.dispatched.Load() }

// MinPhys returns the retention watermark set by DropBeforePhys.
func (ix *Index) MinPhys() int64 { return ix.minPhys.Load() }

// AdvanceDispatched raises the dispatch watermark to phys (never lowers it).
func (ix *Index) AdvanceDispatched(phys int64) { ix.noteDispatched(phys) }

func (ix *Index) noteDispatched(v int64) {
	for {
		cur := ix.dispatched.Load()
		if v <= cur || ix.dispatched.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Flush makes every entry indexed so far durable (fdatasync of each file
// written since the last flush, then its header) and then records
// DispatchedPhys, as it was when Flush began, in the checkpoint.
func (ix *Index) Flush() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	return ix.flushLocked(ix.minPhys.Load(), false)
}

// flushLocked is Flush with the checkpoint's min phys given; sealAll marks
// every file clean (Close). Caller holds flushMu.
func (ix *Index) flushLocked(minPhys int64, sealAll bool) error {
	type job struct {
		f *indexFile
		h header
	}
	ix.wmu.Lock()
	if ix.closed {
		ix.wmu.Unlock()
		return ErrClosed
	}
	d := ix.dispatched.Load()
	var jobs []job
	for i, f := range ix.files {
		cnt, clean := f.count.Load(), sealAll || i < len(ix.files)-1
		if !f.synced || cnt != f.hdrCount || clean != f.hdrClean {
			jobs = append(jobs, job{f, f.headerLocked(cnt, clean)})
		}
	}
	dirSync := ix.dirSync
	ix.dirSync = false
	ix.mu.RLock() // keeps the files mapped once wmu is released
	ix.wmu.Unlock()
	err := func() error {
		defer ix.mu.RUnlock()
		for _, j := range jobs {
			if err := j.f.syncAndSeal(j.h); err != nil {
				return err
			}
		}
		if dirSync {
			if err := ix.opts.FS.SyncDir(ix.opts.Dir); err != nil {
				return fmt.Errorf("indexfile: sync %s: %w", ix.opts.Dir, err)
			}
		}
		return nil
	}()
	if err != nil {
		if dirSync {
			ix.wmu.Lock()
			ix.dirSync = true
			ix.wmu.Unlock()
		}
		return err
	}
	if d == ix.ck.Cur.Dispatched && minPhys == ix.ck.Cur.MinPhys {
		return nil
	}
	return ix.ck.Write(checkpointRec{State: stateOK, Dispatched: d, MinPhys: minPhys})
}

// Recovery reports what Open found and changed.
func (ix *Index) Recovery() RecoveryReport { return ix.report }

// Close flushes, marks every file clean (so the next Open skips slot
// repair) and releases the files. Dispatch must have stopped at a message
// boundary: Close records the newest indexed message as complete
// (DispatchedPhys becomes at least its phys + 1). Later calls fail with
// ErrClosed.
func (ix *Index) Close() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	if ix.ck.Closed() {
		return nil
	}
	ix.wmu.Lock()
	if ix.lastPhys >= 0 {
		ix.noteDispatched(ix.lastPhys + 1)
	}
	ix.wmu.Unlock()
	err := ix.flushLocked(ix.minPhys.Load(), true)
	ix.wmu.Lock()
	ix.mu.Lock()
	ix.closed = true
	errs := []error{err}
	for _, f := range ix.files {
		errs = append(errs, f.close())
	}
	ix.files = nil
	ix.mu.Unlock()
	ix.wmu.Unlock()
	errs = append(errs, ix.ck.Close())
	return errors.Join(errs...)
}
