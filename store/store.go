package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Store is one replica of a broker group's message store: the FSM of the
// group's Raft node plus the consume queues and key index derived from the
// commit log. See the package documentation.
//
// Concurrency: all exported methods are safe for concurrent use. Locks:
// fsmMu serializes the FSM side (ApplyBatch, Restore, Snapshot, reconcile,
// retention); qs.mu and meta.mu guard the state readers look at and are
// taken inside fsmMu, never the other way round. Readers take no store
// lock on the hot path (the consume queue and commit log have their own).
type Store struct {
	cfg    Config
	logger *slog.Logger

	node *dledger.Node
	ls   *dledger.LogStore
	cl   *commitlog.Log
	cq   *consumequeue.Store
	ix   *keyIndex

	// maxEntry is the largest entry payload a commit-log record takes.
	maxEntry int

	// FSM side.
	fsmMu      sync.Mutex
	ready      chan struct{} // closed once Open has reconciled (or failed)
	openFailed atomic.Bool   // Open failed after starting the node: apply nothing
	startup    atomic.Bool   // set while dledger.NewNode runs (startup restore)
	lastIndex  uint64        // guarded by fsmMu
	arrivals   map[QueueKey]int64
	qs         *queueState
	meta       *metaState
	// degraded is set when dispatch failed; reads fail with it until a
	// repair (rebuild) succeeds.
	degraded atomic.Pointer[error]
	// rebuildSeq is odd while the consume queues are being reset and
	// refilled; readers compare it before and after (a sequence lock).
	rebuildSeq atomic.Uint64
	repairCh   chan struct{} // capacity 1

	hooks      hooks
	leaderTerm atomic.Uint64 // term in which this replica was reported leader, 0 if not

	msgBatcher *batcher
	offBatcher *batcher

	closed   atomic.Bool
	stopOnce sync.Once
	closing  chan struct{} // closed when shutdown begins
	stop     chan struct{} // closed when the store stops its goroutines
	bg       sync.WaitGroup
}

// Open opens (or creates) the store in cfg.Dir and starts its Raft node.
// A fresh node bootstraps the group from cfg.DLedger.Peers; a node with
// state resumes. Before Open returns, the consume queues and key index are
// checked against the snapshot state and the commit log and caught up or
// rebuilt from it (package doc, "Derived state"). Entries after the
// snapshot are re-applied by Raft once this node learns the commit index.
func Open(cfg Config) (_ *Store, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{
		cfg:      cfg,
		logger:   cfg.Logger.With("store", cfg.DLedger.ID),
		ready:    make(chan struct{}),
		qs:       newQueueState(),
		meta:     newMetaState(),
		stop:     make(chan struct{}),
		closing:  make(chan struct{}),
		repairCh: make(chan struct{}, 1),
	}
	if err := cfg.FS.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", cfg.Dir, err)
	}
	if s.cq, err = s.openConsumeQueue(); err != nil {
		return nil, err
	}
	if s.ix, err = s.openKeyIndex(); err != nil {
		_ = s.cq.Close()
		return nil, err
	}
	s.startup.Store(true)
	node, err := dledger.NewNode(cfg.DLedger, &fsm{s: s})
	if err != nil {
		_ = s.cq.Close()
		_ = s.ix.close()
		return nil, fmt.Errorf("store: start node: %w", err)
	}
	s.node, s.ls = node, node.LogStore()
	s.cl = s.ls.CommitLog()
	s.maxEntry = int(s.cl.MaxRecordSize()) - dledger.EntryHeaderSize

	s.fsmMu.Lock()
	s.startup.Store(false)
	err = s.reconcileLocked("open")
	s.fsmMu.Unlock()
	if err != nil {
		s.closed.Store(true)
		s.openFailed.Store(true)
		close(s.ready) // let a blocked ApplyBatch return so the node can stop
		return nil, errors.Join(fmt.Errorf("store: open: %w", err), node.Kill(), s.cq.Close(), s.ix.close())
	}
	close(s.ready)

	maxBytes := min(cfg.MaxBatchBytes, s.maxEntry-entryHeaderLen)
	s.msgBatcher = newBatcher(s, cmdMessages, cfg.MaxBatchMessages, maxBytes)
	s.offBatcher = newBatcher(s, cmdCommitOffsets, maxEntryItems, maxBytes)
	node.OnLeaderChange(s.onNodeLeaderChange)
	if node.IsLeader() && s.leaderTerm.Load() == 0 {
		// Elected before the callback was registered.
		term := node.Term()
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.onNodeLeaderChange(dledger.LeaderChange{LeaderID: cfg.DLedger.ID, LeaderAddr: node.Addr(), IsLeader: true, Term: term})
		}()
	}
	s.bg.Add(3)
	go s.flushLoop()
	go s.repairLoop()
	go s.retentionLoop()
	return s, nil
}

// openConsumeQueue opens the consume queues, discarding them when they are
// corrupt (they are rebuilt from the commit log by reconcile).
func (s *Store) openConsumeQueue() (*consumequeue.Store, error) {
	o := consumequeue.DefaultOptions(filepath.Join(s.cfg.Dir, "consumequeue"))
	o.FS, o.EntriesPerFile, o.Logger = s.cfg.FS, s.cfg.ConsumeQueueEntriesPerFile, s.logger
	cq, err := consumequeue.Open(o)
	if errors.Is(err, consumequeue.ErrCorrupt) {
		s.logger.Warn("store: consume queues corrupt; discarding them for a rebuild", "err", err)
		if rerr := removeAll(s.cfg.FS, o.Dir); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		cq, err = consumequeue.Open(o)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open consume queues: %w", err)
	}
	if rep := cq.Recovery(); rep.TornEntries > 0 || rep.Uncheckpointed > 0 || len(rep.RemovedFiles) > 0 {
		s.logger.Info("store: consume queue recovery", "report", fmt.Sprintf("%+v", rep))
	}
	return cq, nil
}

// removeAll deletes dir and everything under it.
func removeAll(fsys vfs.FS, dir string) error {
	names, err := fsys.List(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		// A file, not a directory.
		return fsys.Remove(dir)
	}
	for _, n := range names {
		if err := removeAll(fsys, filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	if err := fsys.Remove(dir); err != nil {
		return fmt.Errorf("store: remove %s: %w", dir, err)
	}
	return fsys.SyncDir(filepath.Dir(dir))
}

// flushLoop makes the derived state durable every FlushInterval.
func (s *Store) flushLoop() {
	s.every(s.cfg.FlushInterval, "flushing derived state", func() error {
		return errors.Join(s.cq.Flush(), s.ix.flush())
	})
}

// every runs fn every interval until the store stops, logging its
// failures (what names the work) unless the store is closing. It marks
// the store's background work done when it returns.
func (s *Store) every(interval time.Duration, what string, fn func() error) {
	defer s.bg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := fn(); err != nil && !s.closed.Load() {
				s.logger.Warn("store: "+what+" failed; will retry", "err", err, "retry", interval)
			}
		}
	}
}

// setDegraded records a failure of the derived state (the first one wins)
// and asks the repair loop to rebuild it.
func (s *Store) setDegraded(err error) {
	if s.degraded.CompareAndSwap(nil, &err) {
		s.logger.Error("store: derived state failed; reads fail until it is rebuilt", "err", err)
	}
	select {
	case s.repairCh <- struct{}{}:
	default:
	}
}

// repairLoop rebuilds the derived state from the commit log after a
// failure, retrying every repairRetry while it keeps failing.
func (s *Store) repairLoop() {
	defer s.bg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.repairCh:
		case <-retry:
		}
		retry = nil
		if !s.repairOnce() {
			retry = time.After(repairRetry)
		}
	}
}

// repairRetry is how long the repair loop waits after a failed rebuild.
const repairRetry = 5 * time.Second

// repairOnce rebuilds the derived state if it is degraded; false means it
// is still degraded.
func (s *Store) repairOnce() bool {
	s.fsmMu.Lock()
	defer s.fsmMu.Unlock()
	p := s.degraded.Load()
	if p == nil || s.closed.Load() {
		return true
	}
	if err := s.reconcileInner("repair", true); err != nil {
		s.logger.Error("store: rebuilding derived state failed; will retry", "cause", *p, "err", err, "retry", repairRetry)
		return false
	}
	s.degraded.Store(nil)
	s.logger.Info("store: derived state rebuilt from the commit log", "cause", *p)
	return true
}

// readErr is what reads return while the store cannot serve them. seq is
// the rebuild sequence to hand to readDone.
func (s *Store) readErr() (seq uint64, err error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	seq = s.rebuildSeq.Load()
	if seq&1 == 1 {
		return 0, ErrUnavailable
	}
	if p := s.degraded.Load(); p != nil {
		return 0, *p
	}
	return seq, nil
}

// readDone reports whether a read that began at seq overlapped a rebuild
// (its result must then be discarded).
func (s *Store) readDone(seq uint64) error {
	if s.rebuildSeq.Load() != seq {
		return ErrUnavailable
	}
	return nil
}

// Node returns the store's Raft node (membership, leadership transfer,
// fault injection in tests).
func (s *Store) Node() *dledger.Node { return s.node }

// IsLeader reports whether this replica is the Raft leader (writes are
// accepted only there).
func (s *Store) IsLeader() bool { return s.node.IsLeader() }

// LeaderReady reports whether this replica is the leader and has applied
// everything committed before its term (see OnLeaderChange).
func (s *Store) LeaderReady() bool {
	t := s.leaderTerm.Load()
	return t != 0 && s.node.IsLeader() && s.node.Term() == t
}

// Leader returns the current leader's ID and Raft address ("" if unknown).
func (s *Store) Leader() (id, addr string) { return s.node.Leader() }

// AppliedIndex returns the Raft index of the last entry this replica's
// store applied.
func (s *Store) AppliedIndex() uint64 { return s.node.FSMIndex() }

// Barrier waits until every entry committed before it is applied on this
// replica, which must be the leader.
func (s *Store) Barrier(timeout time.Duration) error {
	return s.barrier(timeout)
}

// barrier runs a Raft barrier but gives up when the store shuts down:
// hashicorp/raft never answers a barrier still queued when it stops.
func (s *Store) barrier(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- s.node.Barrier(timeout) }()
	select {
	case err := <-done:
		return mapRaftErr(err)
	case <-s.closing:
		return ErrClosed
	}
}

// Snapshot takes a Raft snapshot now (tests and operators; Raft also takes
// them on its own schedule).
func (s *Store) Snapshot() error { return s.node.Snapshot() }

// Close stops the store: writes waiting in the batchers fail with
// ErrClosed, a leader hands leadership to a follower, Raft stops, and the
// derived state is flushed and closed.
func (s *Store) Close() error { return s.shutdown(true) }

// Kill stops the store the way a crash looks to the other replicas (no
// leadership transfer; the commit-log index is left unflushed). Tests use
// it; the consume queues are still closed cleanly, as a process crash
// leaves their mapped pages to the OS.
func (s *Store) Kill() error { return s.shutdown(false) }

func (s *Store) shutdown(clean bool) error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.closing)
	s.msgBatcher.close()
	s.offBatcher.close()
	var nodeErr error
	if clean {
		nodeErr = s.node.Shutdown()
	} else {
		nodeErr = s.node.Kill()
	}
	s.stopOnce.Do(func() { close(s.stop) })
	s.msgBatcher.stop()
	s.offBatcher.stop()
	s.bg.Wait()
	s.fsmMu.Lock()
	defer s.fsmMu.Unlock()
	return errors.Join(nodeErr, s.cq.Close(), s.ix.close())
}
