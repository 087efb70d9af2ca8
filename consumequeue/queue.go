package consumequeue

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Queue is the consume queue of one (topic, queueId): a sequence of entries
// addressed by queue offset, stored in fixed-size mapped files.
//
// Concurrency: one writer at a time (Put and the Store's maintenance calls
// serialize on an internal writer lock) and any number of concurrent readers
// (Get, Read, Range, SearchTime, MinOffset, MaxOffset). A Put that appends
// writes the entry's bytes and then publishes it by an atomic store of the
// max offset, so readers, which only read below the max offset they load,
// never see a half-written entry and never block an append. Readers hold a
// read lock that keeps the mapped files alive; only file creation, deletion
// and truncation take the write lock.
//
// Lock order: wmu → flushMu → mu.
type Queue struct {
	s       *Store
	topic   string
	id      int32
	dir     string
	perFile int64 // entries per file; fixed for the life of the queue

	// wmu serializes writers. Holders may read files without mu, because
	// only wmu holders change it.
	wmu      sync.Mutex
	lastPhys int64 // Phys of the entry at max-1, or -1 if unknown; guarded by wmu

	flushMu sync.Mutex
	flushed int64 // entries below are durable; guarded by flushMu
	// syncDir and syncParents say that a file was created in dir, or dir
	// itself, since the last Flush; guarded by flushMu.
	syncDir, syncParents bool

	mu     sync.RWMutex
	files  []*queueFile // ascending, contiguous; written under wmu+mu
	closed bool         // written under wmu+mu

	min atomic.Int64 // first readable queue offset
	max atomic.Int64 // next queue offset to be written
}

func newQueue(s *Store, topic string, id int32, perFile int64) *Queue {
	return &Queue{
		s:        s,
		topic:    topic,
		id:       id,
		dir:      filepath.Join(s.opts.Dir, topic, fmt.Sprint(id)),
		perFile:  perFile,
		lastPhys: -1,
	}
}

// Topic returns the queue's topic.
func (q *Queue) Topic() string { return q.topic }

// ID returns the queue id.
func (q *Queue) ID() int32 { return q.id }

// MinOffset returns the first queue offset that can be read.
func (q *Queue) MinOffset() int64 { return q.min.Load() }

// MaxOffset returns the next queue offset to be written (RocketMQ
// semantics: one past the last entry). MinOffset == MaxOffset means empty.
func (q *Queue) MaxOffset() int64 { return q.max.Load() }

var _ fmt.Stringer = (*Queue)(nil)

func (q *Queue) String() string { return fmt.Sprintf("%s/%d", q.topic, q.id) }

// fileFor returns the file holding queue offset off, which must be covered
// by the files. Caller holds mu (read) or wmu.
func (q *Queue) fileFor(off int64) *queueFile {
	return q.files[(off-q.files[0].base)/q.perFile]
}

// readLocked returns the entry at off, which must be covered by the files.
func (q *Queue) readLocked(off int64) (Entry, error) {
	e, st := decodeEntry(q.fileFor(off).entry(off), off)
	if st != entryValid {
		return Entry{}, q.corruptAt(off, st)
	}
	return e, nil
}

func (q *Queue) corruptAt(off int64, st entryState) error {
	what := "checksum mismatch"
	if st == entryEmpty {
		what = "unwritten entry"
	}
	return fmt.Errorf("%w: queue %s offset %d: %s", ErrCorrupt, q, off, what)
}

func (q *Queue) outOfRange(off int64) error {
	return fmt.Errorf("%w: queue %s offset %d not in [%d, %d)", ErrOutOfRange, q, off, q.min.Load(), q.max.Load())
}

// Get returns the entry at queue offset off in O(1). It fails with
// ErrOutOfRange outside [MinOffset, MaxOffset) and with ErrCorrupt if the
// entry's checksum does not match.
func (q *Queue) Get(off int64) (Entry, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return Entry{}, ErrClosed
	}
	if off < q.min.Load() || off >= q.max.Load() {
		return Entry{}, q.outOfRange(off)
	}
	return q.readLocked(off)
}

// Read fills buf with the entries from queue offset off on and returns how
// many it read: min(len(buf), MaxOffset-off). It does not allocate. off ==
// MaxOffset reads nothing (nothing new yet); off outside [MinOffset,
// MaxOffset] fails with ErrOutOfRange.
func (q *Queue) Read(off int64, buf []Entry) (int, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return 0, ErrClosed
	}
	hi := q.max.Load()
	if off < q.min.Load() || off > hi {
		return 0, q.outOfRange(off)
	}
	n := len(buf)
	if int64(n) > hi-off {
		n = int(hi - off)
	}
	for i := 0; i < n; {
		qf := q.fileFor(off + int64(i))
		end := min(n, i+int(qf.base+q.perFile-off-int64(i)))
		p := headerSize + (off+int64(i)-qf.base)*entrySize
		for ; i < end; i++ {
			cur := off + int64(i)
			e, st := decodeEntry(qf.b[p:p+entrySize:p+entrySize], cur)
			if st != entryValid {
				return i, q.corruptAt(cur, st)
			}
			buf[i] = e
			p += entrySize
		}
	}
	return n, nil
}

// Range returns up to max entries from queue offset off on, like Read into
// a new slice.
func (q *Queue) Range(off int64, max int) ([]Entry, error) {
	if max <= 0 {
		return nil, nil
	}
	if avail := q.max.Load() - off; avail >= 0 && avail < int64(max) {
		max = int(avail)
	}
	buf := make([]Entry, max)
	n, err := q.Read(off, buf)
	return buf[:n], err
}

// SearchTime returns the first queue offset in [MinOffset, MaxOffset) whose
// entry has StoreTime >= ts, or MaxOffset if there is none (RocketMQ's
// getOffsetInQueueByTime). It binary-searches, so it assumes store times do
// not decrease along the queue; where they do (clock steps between
// leaders), the answer is some offset o with StoreTime(o-1) < ts <=
// StoreTime(o). It fails only with ErrCorrupt (or ErrClosed).
func (q *Queue) SearchTime(ts int64) (int64, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return 0, ErrClosed
	}
	lo, hi := q.min.Load(), q.max.Load()
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.readLocked(mid)
		if err != nil {
			return 0, err
		}
		if e.StoreTime >= ts {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// searchPhysLocked returns the first queue offset in [lo, hi) whose entry
// has Phys >= phys, or hi. Caller holds wmu or mu.
func (q *Queue) searchPhysLocked(lo, hi, phys int64) (int64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.readLocked(mid)
		if err != nil {
			return 0, err
		}
		if e.Phys >= phys {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Put stores e at queue offset off. Offsets are assigned by the caller in
// commit-log order:
//   - off == MaxOffset appends (the first Put to a new queue may use any
//     offset >= 0; the queue then starts there);
//   - off < MaxOffset with an identical stored entry is a no-op, so
//     re-dispatch after a crash is idempotent (below MinOffset, an entry with
//     Phys below the retention watermark is accepted as already dropped);
//   - a different stored entry fails with ErrConflict, off > MaxOffset with
//     ErrGap.
//
// e.Size must be > 0, e.Phys >= 0 and greater than the previous entry's;
// off must be below 2^62.
// Put does not make the entry durable; Flush does.
func (q *Queue) Put(off int64, e Entry) error {
	if e.Size <= 0 || e.Phys < 0 || e.Phys > 1<<63-1-int64(e.Size) || off < 0 || off >= maxQueueOffset {
		return fmt.Errorf("%w: put queue %s offset %d: %+v", ErrInvalid, q, off, e)
	}
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.closed {
		return ErrClosed
	}
	hi := q.max.Load()
	if len(q.files) > 0 && off != hi {
		if off > hi {
			return fmt.Errorf("%w: queue %s: put offset %d, next is %d", ErrGap, q, off, hi)
		}
		return q.rePutLocked(off, e)
	}
	if e.Phys <= q.lastPhys {
		return fmt.Errorf("%w: queue %s offset %d: phys %d not after previous %d", ErrInvalid, q, off, e.Phys, q.lastPhys)
	}
	var qf *queueFile
	if len(q.files) == 0 {
		var err error
		if qf, err = q.addFileLocked(off-off%q.perFile, off); err != nil {
			return err
		}
		q.min.Store(off)
		q.max.Store(off)
		q.flushMu.Lock()
		q.flushed = off
		q.flushMu.Unlock()
	} else if last := q.files[len(q.files)-1]; off >= last.base+q.perFile {
		var err error
		if qf, err = q.addFileLocked(last.base+q.perFile, last.base+q.perFile); err != nil {
			return err
		}
	} else {
		qf = last
	}
	encodeEntry(qf.entry(off), off, e)
	q.max.Store(off + 1)
	q.lastPhys = e.Phys
	q.s.noteDispatched(e.Phys + int64(e.Size))
	return nil
}

// rePutLocked handles a Put below MaxOffset.
func (q *Queue) rePutLocked(off int64, e Entry) error {
	if off < q.min.Load() {
		if e.Phys < q.s.minPhys.Load() {
			return nil
		}
		return fmt.Errorf("%w: queue %s offset %d is below min offset %d but phys %d is retained", ErrConflict, q, off, q.min.Load(), e.Phys)
	}
	old, err := q.readLocked(off)
	if err != nil {
		return err
	}
	if old != e {
		return fmt.Errorf("%w: queue %s offset %d holds %+v, put %+v", ErrConflict, q, off, old, e)
	}
	q.s.noteDispatched(e.Phys + int64(e.Size))
	return nil
}

// addFileLocked creates the file with the given base and start offset and
// appends it to files. Nothing is synced here; the next Flush does it.
// Caller holds wmu.
func (q *Queue) addFileLocked(base, start int64) (*queueFile, error) {
	fsys := q.s.opts.FS
	newDir := len(q.files) == 0
	if newDir {
		if err := fsys.MkdirAll(q.dir); err != nil {
			return nil, fmt.Errorf("consumequeue: create %s: %w", q.dir, err)
		}
	}
	qf, err := createQueueFile(fsys, q.dir, fileHeader{
		entriesPerFile: q.perFile,
		queueID:        q.id,
		topicHash:      topicHash(q.topic),
		base:           base,
		start:          start,
	})
	if err != nil {
		return nil, err
	}
	q.flushMu.Lock()
	q.syncDir = true
	q.syncParents = q.syncParents || newDir
	q.mu.Lock()
	q.files = append(q.files, qf)
	q.mu.Unlock()
	q.flushMu.Unlock()
	return qf, nil
}

// Flush makes every entry put so far durable: msync of the range written
// since the last Flush, or an fdatasync of each file created since (which
// also covers its size and header), then a sync of the directories that
// gained files. It does not advance the Store's checkpoint; Store.Flush
// does.
func (q *Queue) Flush() error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	hi := q.max.Load()
	if len(q.files) == 0 || (q.flushed >= hi && !q.syncDir) {
		return nil
	}
	lo := max(q.flushed, q.files[0].start)
	for i := (min(lo, hi) - q.files[0].base) / q.perFile; i < int64(len(q.files)); i++ {
		qf := q.files[i]
		if !qf.synced {
			if err := qf.f.Sync(); err != nil {
				return fmt.Errorf("consumequeue: sync %s: %w", qf.path, err)
			}
			qf.synced = true
			continue
		}
		from, to := max(lo, qf.base), min(hi, qf.base+q.perFile)
		if err := qf.flushEntries(from, to); err != nil {
			return err
		}
	}
	if q.syncDir {
		dirs := []string{q.dir}
		if q.syncParents {
			dirs = append(dirs, filepath.Dir(q.dir), q.s.opts.Dir)
		}
		for _, d := range dirs {
			if err := q.s.opts.FS.SyncDir(d); err != nil {
				return fmt.Errorf("consumequeue: sync %s: %w", d, err)
			}
		}
		q.syncDir, q.syncParents = false, false
	}
	q.flushed = hi
	return nil
}
