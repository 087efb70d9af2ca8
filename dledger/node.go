package dledger

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Node is one member of a raft group whose log is the commit log.
type Node struct {
	cfg    Config
	logger *slog.Logger

	raft   *raft.Raft
	stream *StreamLayer
	trans  transport
	store  *LogStore             // commit-log kind
	bolt   *raftboltdb.BoltStore // bolt kind: log + stable
	stable *raftboltdb.BoltStore // commit-log kind: stable only
	snaps  *snapshotStore
	fsm    *fsmAdapter

	obsCh    chan raft.Observation
	observer *raft.Observer
	obsDone  chan struct{}

	mu        sync.Mutex
	callbacks []func(LeaderChange)
	down      bool
	// stopped is closed once raft has shut down (see Apply).
	stopped chan struct{}
}

// transport is raft's transport as the Node owns it.
type transport interface {
	raft.Transport
	Close() error
}

// LeaderChange is what leadership callbacks receive.
type LeaderChange struct {
	// LeaderID and LeaderAddr name the new leader ("" when there is none).
	LeaderID, LeaderAddr string
	// IsLeader reports whether this node is the leader now.
	IsLeader bool
	// Term is the node's current term when the change was observed.
	Term uint64
}

// NewNode opens the node's storage, starts its transport and raft. A node
// without any raft state (no term, no log, no snapshot) bootstraps the group
// from cfg.Peers; a node with state resumes from it and never bootstraps.
// A wiped node therefore bootstraps with the same configuration as the
// others, which raft allows: its index-1 entry is identical to theirs and
// the leader brings it up to date. With cfg.Join a node without state does
// not bootstrap; it waits for the leader to add it (membership changes).
func NewNode(cfg Config, fsm FSM) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fsm == nil {
		return nil, fmt.Errorf("%w: nil FSM", ErrConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", cfg.ID)
	// node, not the named result: `return nil, err` sets n to nil before
	// the deferred cleanup runs (a corrupt commit log once crashed the
	// process here instead of reporting the corruption).
	node := &Node{cfg: cfg, logger: logger, stopped: make(chan struct{})}
	n = node
	defer func() {
		if err != nil {
			node.closeResources(false)
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dledger: create %s: %w", cfg.Dir, err)
	}

	var logs raft.LogStore
	var stable raft.StableStore
	switch cfg.LogStore {
	case LogStoreBolt:
		n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
		if err != nil {
			return nil, fmt.Errorf("dledger: open bolt store: %w", err)
		}
		logs, stable = n.bolt, n.bolt
		if cfg.LogCacheEntries > 0 {
			if logs, err = raft.NewLogCache(cfg.LogCacheEntries, n.bolt); err != nil {
				return nil, fmt.Errorf("dledger: log cache: %w", err)
			}
		}
	case LogStoreMemory:
		logs, stable = newMemoryLogStore(), raft.NewInmemStore()
	default:
		o := DefaultLogStoreOptions(cfg.Dir)
		o.FS, o.SegmentSize, o.Flush, o.FlushInterval = cfg.FS, cfg.SegmentSize, cfg.Flush, cfg.FlushInterval
		o.CacheEntries, o.IndexSlotsPerFile, o.Logger = cfg.LogCacheEntries, cfg.IndexSlotsPerFile, logger
		o.CacheWindow, o.WarmSegments = cfg.CacheWindow, cfg.WarmSegments
		if n.store, err = OpenLogStore(o); err != nil {
			return nil, err
		}
		if n.stable, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "stable.db")}); err != nil {
			return nil, fmt.Errorf("dledger: open stable store: %w", err)
		}
		logs, stable = n.store, n.stable
	}

	inner, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, NewHCLogger(logger, "raft-snap"))
	if err != nil {
		return nil, fmt.Errorf("dledger: snapshot store: %w", err)
	}
	n.snaps = &snapshotStore{inner: inner, store: n.store}
	n.fsm = newFSMAdapter(fsm, n.store)

	self := cfg.self()
	if n.stream, err = NewStreamLayer(self.Addr, nil); err != nil {
		return nil, err
	}
	tc := TransportConfig{MaxPool: cfg.TransportMaxPool, Timeout: cfg.TransportTimeout, MaxInFlight: cfg.TransportMaxInFlight}
	if n.store != nil {
		n.trans = newAppendTransport(n.stream, tc, n.store, logger)
	} else {
		// The baselines run on stock hashicorp/raft: NetworkTransport.
		n.trans = NewTransport(n.stream, tc, logger)
	}

	rc := n.raftConfig()
	has, err := raft.HasExistingState(logs, stable, n.snaps)
	if err != nil {
		return nil, fmt.Errorf("dledger: inspect state: %w", err)
	}
	switch {
	case !has && cfg.Join:
		logger.Info("dledger: no state; waiting for the group's leader to add this node", "addr", cfg.self().Addr)
	case !has:
		servers := make([]raft.Server, len(cfg.Peers))
		for i, p := range cfg.Peers {
			servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)}
		}
		if err := raft.BootstrapCluster(rc, logs, stable, n.snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("dledger: bootstrap: %w", err)
		}
		logger.Info("dledger: bootstrapped group", "peers", FormatPeers(cfg.Peers))
	}

	n.snaps.startup.Store(true)
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, stable, n.snaps, n.trans)
	n.snaps.startup.Store(false)
	if err != nil {
		return nil, fmt.Errorf("dledger: start raft: %w", err)
	}
	if n.store != nil {
		// From now on every batch raft stores is acknowledged only once
		// durable: by the leader's FSM gate and commit-index cap, and by
		// the append transport's server on a follower (durability.go).
		n.store.SetDeferProbe(func() bool { return true })
	}

	n.obsCh = make(chan raft.Observation, 16)
	n.obsDone = make(chan struct{})
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	go n.observe()
	return n, nil
}

func (n *Node) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.ID)
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.NoLegacyTelemetry = true
	rc.Logger = NewHCLogger(n.logger, "raft")
	return rc
}

func (n *Node) observe() {
	defer close(n.obsDone)
	for o := range n.obsCh {
		lo, ok := o.Data.(raft.LeaderObservation)
		if !ok {
			continue
		}
		ch := LeaderChange{
			LeaderID: string(lo.LeaderID), LeaderAddr: string(lo.LeaderAddr),
			IsLeader: lo.LeaderID == raft.ServerID(n.cfg.ID), Term: n.raft.CurrentTerm(),
		}
		n.logger.Info("dledger: leader changed", "leader", ch.LeaderID, "term", ch.Term, "self", ch.IsLeader)
		n.mu.Lock()
		cbs := slices.Clone(n.callbacks)
		n.mu.Unlock()
		for _, cb := range cbs {
			cb(ch)
		}
	}
}

// OnLeaderChange registers a callback run (on one goroutine, in order) for
// every leadership change this node observes, including losing the leader.
// Callbacks must not block for long.
func (n *Node) OnLeaderChange(cb func(LeaderChange)) {
	n.mu.Lock()
	n.callbacks = append(n.callbacks, cb)
	n.mu.Unlock()
}

// LeaderCh is raft's leadership channel: true when this node becomes
// leader, false when it stops; a pending value is overwritten by a newer one.
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// ID returns the node's server ID.
func (n *Node) ID() string { return n.cfg.ID }

// Addr returns the node's raft address.
func (n *Node) Addr() string { return n.cfg.self().Addr }

// Leader returns the current leader's ID and address ("" if unknown).
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// State returns the raft state (Follower, Candidate, Leader, Shutdown).
func (n *Node) State() raft.RaftState { return n.raft.State() }

// Term returns the current term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// CommitIndex returns the latest commit index this node knows.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// AppliedIndex returns the index of the last entry raft handed to the FSM
// goroutine (commands, configuration changes, no-ops and barriers alike).
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// FSMIndex returns the index of the last entry the application FSM has
// applied, or of the snapshot it restored.
func (n *Node) FSMIndex() uint64 { return n.fsm.lastApplied.Load() }

// LastIndex returns the last index in the node's log (or snapshot).
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }

// LogStore returns the commit-log store (nil for the bolt kind).
func (n *Node) LogStore() *LogStore { return n.store }

// StreamLayer returns the node's stream layer (for fault injection).
func (n *Node) StreamLayer() *StreamLayer { return n.stream }

// Raft returns the underlying raft instance, for what Node does not wrap.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Stats returns raft's statistics.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Apply proposes data as a command entry and waits until it is applied on
// this node (the leader). It returns the FSM's result for the entry and the
// entry's raft index. timeout bounds the wait for raft to accept the entry
// (0: no bound); errors include raft.ErrNotLeader.
//
// If the node stops first, Apply returns an error wrapping ErrClosed and
// raft.ErrLeadershipLost: the entry may still commit on the others, so its
// outcome is unknown. (With BatchApplyCh, hashicorp/raft never answers a
// future still queued in its apply channel when it shuts down; waiting on
// the future alone would block for ever.)
func (n *Node) Apply(data []byte, timeout time.Duration) (any, uint64, error) {
	f := applyFuture{n.raft.Apply(data, timeout)}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-n.stopped:
		select {
		case err = <-done: // answered as raft stopped
		default:
			return nil, 0, fmt.Errorf("%w with an entry proposed, outcome unknown: %w", ErrClosed, raft.ErrLeadershipLost)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return f.Response(), f.Index(), nil
}

// ApplyAsync proposes data and returns raft's future without waiting. The
// future may never be answered if the node stops (see Apply); wait on
// Stopped as well.
func (n *Node) ApplyAsync(data []byte, timeout time.Duration) raft.ApplyFuture {
	return applyFuture{n.raft.Apply(data, timeout)}
}

// Stopped is closed once the node's raft instance has shut down.
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// Barrier waits until every entry committed before it is applied to the FSM
// on this node (the leader).
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return err
	}
	if n.store == nil {
		return nil
	}
	// raft answers a barrier without the FSM, so its own entry may not be
	// durable on the leader yet (durability.go); the entries before it are.
	return n.store.WaitWritten()
}

// VerifyLeader confirms with a majority that this node is still the
// leader (a heartbeat round; raft's VerifyLeader). The future may go
// unanswered if the node stops: bound the wait (see store.VerifyLeader).
func (n *Node) VerifyLeader() error { return n.raft.VerifyLeader().Error() }

// TransferLeadership hands leadership to the most up-to-date follower.
func (n *Node) TransferLeadership() error { return n.raft.LeadershipTransfer().Error() }

// TransferLeadershipTo hands leadership to the given peer.
func (n *Node) TransferLeadershipTo(id, addr string) error {
	return n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
}

// AddVoter adds (or promotes) a voting member.
func (n *Node) AddVoter(id, addr string, timeout time.Duration) error {
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
}

// RemoveServer removes a member.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// Members returns the latest configuration.
func (n *Node) Members() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// Snapshot takes a snapshot now (raft compacts the log behind it, keeping
// TrailingLogs entries).
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Shutdown stops the node gracefully: a leader first hands leadership to a
// follower (bounded by ShutdownTransferTimeout), so a SIGTERM does not cost
// the group an election timeout; then raft stops and storage is closed.
func (n *Node) Shutdown() error {
	if n.raft != nil && n.raft.State() == raft.Leader {
		if err := n.transferBounded(); err != nil {
			n.logger.Warn("dledger: leadership transfer before shutdown failed", "err", err)
		}
	}
	return n.stop(true, nil)
}

// Kill stops the node the way a process crash looks to its peers: no
// leadership transfer, connections dropped, the index not flushed.
func (n *Node) Kill() error { return n.Crash(nil) }

// Crash is Kill with a power cut: powerCut, if not nil, runs after raft
// has stopped writing and before the node's files are released, so a test
// can make a crash FS lose everything unsynced at that moment. The commit
// log's background flusher must not be due then (tests set a long
// FlushInterval; under FlushSync it only refreshes a header slot).
func (n *Node) Crash(powerCut func()) error { return n.stop(false, powerCut) }

func (n *Node) transferBounded() error {
	done := make(chan error, 1)
	go func() { done <- n.raft.LeadershipTransfer().Error() }()
	t := time.NewTimer(n.cfg.ShutdownTransferTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("dledger: leadership transfer did not finish in %v", n.cfg.ShutdownTransferTimeout)
	}
}

func (n *Node) stop(clean bool, powerCut func()) error {
	n.mu.Lock()
	if n.down {
		n.mu.Unlock()
		return nil
	}
	n.down = true
	n.mu.Unlock()
	var errs []error
	if n.raft != nil {
		if n.store != nil {
			// An apply waiting for a sync must not hold raft's shutdown up.
			n.store.interruptWaits()
		}
		errs = append(errs, n.raft.Shutdown().Error())
		close(n.stopped)
		n.raft.DeregisterObserver(n.observer)
		close(n.obsCh)
		<-n.obsDone
	}
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
		n.trans = nil
	}
	if powerCut != nil {
		powerCut()
	}
	errs = append(errs, n.closeResources(clean))
	if !clean {
		return nil // a crash reports nothing
	}
	return errors.Join(errs...)
}

func (n *Node) closeResources(clean bool) error {
	var errs []error
	if n.trans != nil {
		errs = append(errs, n.trans.Close())
	} else if n.stream != nil {
		errs = append(errs, n.stream.Close())
	}
	if n.store != nil {
		if clean {
			errs = append(errs, n.store.Close())
		} else {
			n.store.abandon()
		}
	}
	if n.stable != nil {
		errs = append(errs, n.stable.Close())
	}
	if n.bolt != nil {
		errs = append(errs, n.bolt.Close())
	}
	return errors.Join(errs...)
}
