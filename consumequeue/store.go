package consumequeue

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/dispatchckpt"
	"io/fs"
	"iter"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// QueueKey names a queue.
type QueueKey struct {
	Topic string
	ID    int32
}

// Dispatch is one entry handed to Rebuild by the caller's commit-log walk.
type Dispatch struct {
	Topic       string
	QueueID     int32
	QueueOffset int64
	Entry       Entry
}

// Store holds the consume queues of a broker under one directory, plus a
// checkpoint of how far dispatch has got (DispatchedPhys) and of the
// retention watermark (MinPhys).
//
// Concurrency: Put (on the Store or a Queue) comes from one dispatcher;
// store-wide operations (Flush, TruncatePhys, DropBeforePhys, Reset,
// Rebuild, Close) serialize among themselves and must not run concurrently
// with Puts of entries they affect. Queue readers may run concurrently with
// everything. Lock order: ckMu → mu → Queue locks.
type Store struct {
	opts Options
	log  *slog.Logger

	ckMu sync.Mutex // serializes store-wide operations; guards ck
	ck   *dispatchckpt.File

	mu     sync.RWMutex // guards queues and closed
	queues map[QueueKey]*Queue
	closed bool

	dispatched atomic.Int64 // every message with phys below is in the queues (in memory)
	minPhys    atomic.Int64 // retention watermark

	report RecoveryReport
}

// Open opens (or creates) the store in opts.Dir and recovers every queue:
// a torn tail is zeroed, entries the checkpoint does not cover are dropped,
// and damage the checkpoint says cannot be a torn tail fails with ErrCorrupt.
func Open(opts Options) (*Store, error) {
	opts.applyDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	fsys := opts.FS
	if err := fsys.MkdirAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("consumequeue: create %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, log: opts.Logger, queues: make(map[QueueKey]*Queue)}
	topics, others, err := s.listTopics()
	if err != nil {
		return nil, err
	}
	s.report.Ignored = others
	if _, err := fsys.Stat(filepath.Join(opts.Dir, checkpointName)); errors.Is(err, fs.ErrNotExist) && len(topics) > 0 {
		return nil, fmt.Errorf("%w: %s: queue directories without a checkpoint", ErrCorrupt, opts.Dir)
	}
	ck, _, err := openCheckpoint(fsys, opts.Dir, checkpointRec{State: stateOK})
	if err != nil {
		return nil, err
	}
	s.ck = ck
	if ck.Cur.State == stateResetting {
		s.log.Warn("consumequeue: finishing an interrupted reset", "dir", opts.Dir)
		if err := s.removeAllLocked(); err != nil {
			ck.Close()
			return nil, err
		}
		s.report.ResetFinished = true
		topics = nil
	}
	s.dispatched.Store(ck.Cur.Dispatched)
	s.minPhys.Store(ck.Cur.MinPhys)
	s.report.DispatchedPhys, s.report.MinPhys = ck.Cur.Dispatched, ck.Cur.MinPhys
	for _, topic := range topics {
		if err := s.loadTopic(topic); err != nil {
			s.closeQueues()
			ck.Close()
			return nil, err
		}
	}
	s.report.Queues = len(s.queues)
	return s, nil
}

// listTopics returns the topic directories in Dir and the other names.
func (s *Store) listTopics() (topics, others []string, err error) {
	names, err := s.opts.FS.List(s.opts.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("consumequeue: list %s: %w", s.opts.Dir, err)
	}
	for _, n := range names {
		switch {
		case validTopic(n):
			topics = append(topics, n)
		case n != checkpointName:
			others = append(others, filepath.Join(s.opts.Dir, n))
		}
	}
	return topics, others, nil
}

func (s *Store) loadTopic(topic string) error {
	tdir := filepath.Join(s.opts.Dir, topic)
	names, err := s.opts.FS.List(tdir)
	if err != nil {
		return fmt.Errorf("%w: %s: not a topic directory: %v", ErrCorrupt, tdir, err)
	}
	for _, n := range names {
		id, ok := parseQueueID(n)
		if !ok {
			s.report.Ignored = append(s.report.Ignored, filepath.Join(tdir, n))
			continue
		}
		q, err := s.loadQueue(topic, id, filepath.Join(tdir, n), &s.report)
		if err != nil {
			return err
		}
		if q != nil {
			s.queues[QueueKey{topic, id}] = q
		}
	}
	return nil
}

// validTopic reports whether t is a RocketMQ topic name: 1 to 127 of
// [A-Za-z0-9_%|-]. Such a name is also a safe directory name.
func validTopic(t string) bool {
	if len(t) == 0 || len(t) > 127 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '%' || c == '|') {
			return false
		}
	}
	return true
}

// parseQueueID accepts the canonical decimal form of a queue id >= 0.
func parseQueueID(n string) (int32, bool) {
	v, err := strconv.ParseInt(n, 10, 32)
	if err != nil || v < 0 || strconv.FormatInt(v, 10) != n {
		return 0, false
	}
	return int32(v), true
}

// Recovery reports what Open found and changed.
func (s *Store) Recovery() RecoveryReport { return s.report }

// Queue returns the queue (topic, id), or nil if it was never put to.
func (s *Store) Queue(topic string, id int32) *Queue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.queues[QueueKey{topic, id}]
}

// Queues returns the keys of every queue, sorted by topic then id.
func (s *Store) Queues() []QueueKey {
	s.mu.RLock()
	keys := make([]QueueKey, 0, len(s.queues))
	for k := range s.queues {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	slices.SortFunc(keys, func(a, b QueueKey) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.ID, b.ID))
	})
	return keys
}

// All iterates over the queues in Queues order.
func (s *Store) All() iter.Seq[*Queue] {
	return func(yield func(*Queue) bool) {
		for _, k := range s.Queues() {
			if q := s.Queue(k.Topic, k.ID); q != nil && !yield(q) {
				return
			}
		}
	}
}

func (s *Store) snapshot() []*Queue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	qs := make([]*Queue, 0, len(s.queues))
	for _, q := range s.queues {
		qs = append(qs, q)
	}
	return qs
}

// Put stores e at queueOffset in queue (topic, id), creating the queue on
// its first entry. See Queue.Put.
func (s *Store) Put(topic string, id int32, queueOffset int64, e Entry) error {
	q, err := s.queueOrCreate(topic, id)
	if err != nil {
		return err
	}
	return q.Put(queueOffset, e)
}

func (s *Store) queueOrCreate(topic string, id int32) (*Queue, error) {
	k := QueueKey{topic, id}
	s.mu.RLock()
	q, closed := s.queues[k], s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if q != nil {
		return q, nil
	}
	if !validTopic(topic) || id < 0 {
		return nil, fmt.Errorf("%w: queue %q/%d", ErrInvalid, topic, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if q = s.queues[k]; q == nil {
		q = newQueue(s, topic, id, int64(s.opts.EntriesPerFile))
		s.queues[k] = q
	}
	return q, nil
}

// DispatchedPhys returns the dispatch watermark: every message with a
// physical offset below it has been put (max Phys+Size over Puts, or more
// after AdvanceDispatched). After Open it is the checkpointed value, so
// dispatch resumes from the first message at or after it.
func (s *Store) DispatchedPhys() int64 { return s.dispatched.Load() }

// MinPhys returns the retention watermark set by DropBeforePhys.
func (s *Store) MinPhys() int64 { return s.minPhys.Load() }

// AdvanceDispatched raises the dispatch watermark to phys, for commit-log
// records that carry no queue entry. It never lowers it.
func (s *Store) AdvanceDispatched(phys int64) { s.noteDispatched(phys) }

func (s *Store) noteDispatched(v int64) {
	for {
		cur := s.dispatched.Load()
		if v <= cur || s.dispatched.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Flush makes every queue durable and then records DispatchedPhys (as it
// was when Flush began) in the checkpoint. This is the point a restart
// returns to.
func (s *Store) Flush() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	return s.flushLocked()
}

func (s *Store) flushLocked() error {
	return s.flushCheckpointLocked(s.minPhys.Load())
}

// flushCheckpointLocked flushes every queue and then checkpoints
// DispatchedPhys (as it was before the flush) with minPhys.
func (s *Store) flushCheckpointLocked(minPhys int64) error {
	if s.ck.Closed() {
		return ErrClosed
	}
	d := s.dispatched.Load()
	for _, q := range s.snapshot() {
		if err := q.Flush(); err != nil {
			return err
		}
	}
	if d == s.ck.Cur.Dispatched && minPhys == s.ck.Cur.MinPhys {
		return nil
	}
	return s.ck.Write(checkpointRec{State: stateOK, Dispatched: d, MinPhys: minPhys})
}

// TruncatePhys drops every entry with Phys >= phys from every queue,
// durably, and lowers DispatchedPhys to at most phys. Use it when the
// commit log's tail is truncated. The checkpoint is lowered first, so a
// crash part-way leaves queues that Open trims the rest of the way.
func (s *Store) TruncatePhys(phys int64) error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	if s.ck.Closed() {
		return ErrClosed
	}
	if phys < 0 {
		return fmt.Errorf("%w: truncate to phys %d", ErrInvalid, phys)
	}
	if s.ck.Cur.Dispatched > phys {
		if err := s.ck.Write(checkpointRec{State: stateOK, Dispatched: phys, MinPhys: s.minPhys.Load()}); err != nil {
			return err
		}
	}
	for {
		cur := s.dispatched.Load()
		if cur <= phys || s.dispatched.CompareAndSwap(cur, phys) {
			break
		}
	}
	var errs []error
	for _, q := range s.snapshot() {
		n, err := q.truncatePhys(phys)
		if n > 0 {
			s.log.Info("consumequeue: truncated queue", "queue", q.String(), "entries", n, "phys", phys)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DropBeforePhys applies retention: every queue's MinOffset moves to its
// first entry with Phys >= phys and files wholly below it are deleted (a
// queue's last file is kept). It first flushes and checkpoints the new
// watermark together with DispatchedPhys, so entries it deletes are never
// ones a restart would expect to re-dispatch, and files it keeps are
// durable. phys should not exceed
// DispatchedPhys: messages dropped before they were dispatched are lost to
// the queues.
func (s *Store) DropBeforePhys(phys int64) error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	if s.ck.Closed() {
		return ErrClosed
	}
	// Flushing first also makes every file created since the last flush
	// durable before older files, which held the queues' offsets, go.
	if err := s.flushCheckpointLocked(max(phys, s.minPhys.Load())); err != nil {
		return err
	}
	if phys > s.minPhys.Load() {
		s.minPhys.Store(phys)
	}
	var errs []error
	for _, q := range s.snapshot() {
		_, err := q.dropBeforePhys(s.minPhys.Load())
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Reset deletes every queue and zeroes both watermarks, durably, for a
// rebuild. Queue handles obtained before fail with ErrClosed. A crash
// during Reset is finished by the next Open.
func (s *Store) Reset() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	return s.resetLocked()
}

func (s *Store) resetLocked() error {
	if s.ck.Closed() {
		return ErrClosed
	}
	if err := s.ck.Write(checkpointRec{State: stateResetting}); err != nil {
		return err
	}
	if err := s.closeQueues(); err != nil {
		return err
	}
	return s.removeAllLocked()
}

// removeAllLocked deletes every topic directory and writes an empty
// checkpoint. Caller holds ckMu (or is Open) and has closed the queues.
func (s *Store) removeAllLocked() error {
	fsys := s.opts.FS
	topics, _, err := s.listTopics()
	if err != nil {
		return err
	}
	for _, t := range topics {
		tdir := filepath.Join(s.opts.Dir, t)
		qdirs, err := fsys.List(tdir)
		if err != nil {
			return fmt.Errorf("consumequeue: list %s: %w", tdir, err)
		}
		for _, qd := range qdirs {
			if err := removeDir(fsys, filepath.Join(tdir, qd)); err != nil {
				return err
			}
		}
		if err := fsys.Remove(tdir); err != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", tdir, err)
		}
	}
	if err := fsys.SyncDir(s.opts.Dir); err != nil {
		return fmt.Errorf("consumequeue: sync %s: %w", s.opts.Dir, err)
	}
	s.dispatched.Store(0)
	s.minPhys.Store(0)
	return s.ck.Write(checkpointRec{State: stateOK})
}

// removeDir deletes a queue directory and the files in it.
func removeDir(fsys vfs.FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		// Not a directory: a stray file in a topic directory.
		if rerr := fsys.Remove(dir); rerr != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", dir, rerr)
		}
		return nil
	}
	for _, n := range names {
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("consumequeue: remove %s: %w", filepath.Join(dir, n), err)
		}
	}
	if err := fsys.Remove(dir); err != nil {
		return fmt.Errorf("consumequeue: remove %s: %w", dir, err)
	}
	return nil
}

// Rebuild resets the store and puts every entry the caller's commit-log
// walk yields, in log order, then flushes. The walk stops at the first
// error it yields. Afterwards the caller may AdvanceDispatched to the log's
// end and Flush again. A crash during Rebuild leaves a store whose
// DispatchedPhys says how far it got.
func (s *Store) Rebuild(entries iter.Seq2[Dispatch, error]) error {
	s.ckMu.Lock()
	err := s.resetLocked()
	s.ckMu.Unlock()
	if err != nil {
		return err
	}
	for d, err := range entries {
		if err != nil {
			return fmt.Errorf("consumequeue: rebuild: %w", err)
		}
		if err := s.Put(d.Topic, d.QueueID, d.QueueOffset, d.Entry); err != nil {
			return fmt.Errorf("consumequeue: rebuild: %w", err)
		}
	}
	return s.Flush()
}

// closeQueues closes and forgets every queue.
func (s *Store) closeQueues() error {
	s.mu.Lock()
	qs := s.queues
	s.queues = make(map[QueueKey]*Queue)
	s.mu.Unlock()
	var errs []error
	for _, q := range qs {
		errs = append(errs, q.close())
	}
	return errors.Join(errs...)
}

// Close flushes (see Flush) and releases every file. Later calls fail with
// ErrClosed.
func (s *Store) Close() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	if s.ck.Closed() {
		return nil
	}
	err := s.flushLocked()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return errors.Join(err, s.closeQueues(), s.ck.Close())
}
