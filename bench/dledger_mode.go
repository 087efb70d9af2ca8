package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/freeport"
)

// countFSM is the dledger mode's state machine: it only counts, so the
// run measures replication (raft, the log store, the transport), not an
// application.
type countFSM struct{ applied atomic.Uint64 }

var _ dledger.FSM = (*countFSM)(nil)

func (f *countFSM) ApplyBatch(es []dledger.Entry) []any {
	f.applied.Add(uint64(len(es)))
	return make([]any, len(es))
}

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return emptySnapshot{}, nil }

func (f *countFSM) Restore(rc io.ReadCloser) error {
	_, err := io.Copy(io.Discard, rc)
	return err
}

type emptySnapshot struct{}

func (emptySnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (emptySnapshot) Release()                             {}

// leaderWait bounds how long a fresh group may take to elect a leader.
const leaderWait = 30 * time.Second

// raftGroup is three dledger nodes in this process on loopback TCP.
type raftGroup struct {
	nodes []*dledger.Node
}

// startRaftGroup starts a three-node group in dir/n0..n2 with the run's
// log store, flush mode and segment size and otherwise default settings,
// and waits for a leader.
func startRaftGroup(ctx context.Context, cfg Config, dir string, logger *slog.Logger) (*raftGroup, error) {
	addrs, err := freeport.Loopback(3)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCluster, err)
	}
	peers := make([]dledger.Peer, len(addrs))
	for i, a := range addrs {
		peers[i] = dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: a}
	}
	g := &raftGroup{}
	for i := range peers {
		nc := dledger.DefaultConfig()
		nc.ID, nc.Peers, nc.Dir = peers[i].ID, peers, filepath.Join(dir, peers[i].ID)
		nc.LogStore, nc.Flush, nc.SegmentSize = cfg.LogStore, cfg.Flush, cfg.SegmentSize
		nc.WarmSegments = cfg.WarmSegments
		if cfg.Retain > 0 {
			nc.SnapshotInterval, nc.SnapshotThreshold, nc.TrailingLogs = 500*time.Millisecond, 8192, 4096
		}
		nc.Logger = logger
		n, err := dledger.NewNode(nc, &countFSM{})
		if err != nil {
			g.close()
			return nil, fmt.Errorf("%w: start %s: %w", ErrCluster, peers[i].ID, err)
		}
		g.nodes = append(g.nodes, n)
	}
	if _, err := g.waitLeader(ctx, leaderWait); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// waitLeader polls until a node is leader.
func (g *raftGroup) waitLeader(ctx context.Context, timeout time.Duration) (*dledger.Node, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range g.nodes {
			if n.IsLeader() {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: no raft leader within %v", ErrCluster, timeout)
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return nil, fmt.Errorf("%w: %w", ErrCluster, ctx.Err())
		}
	}
}

// close stops every node (concurrently, as crashes: the data is a
// benchmark's and a leader's transfer would only slow the teardown).
func (g *raftGroup) close() {
	var wg sync.WaitGroup
	for _, n := range g.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = n.Kill()
		}()
	}
	wg.Wait()
}

// applyTimeout bounds how long one Apply may wait for raft to take it.
const applyTimeout = 10 * time.Second

// dledgerLoad starts the group and returns the load: Concurrency
// goroutines, each applying one Size-byte entry at a time on the leader
// and waiting until it is committed on a majority and applied.
func dledgerLoad(ctx context.Context, cfg Config, dir string, logger *slog.Logger) (load, func() error, []string, error) {
	g, err := startRaftGroup(ctx, cfg, dir, logger)
	if err != nil {
		return load{}, nil, nil, err
	}
	leader, err := g.waitLeader(ctx, leaderWait)
	if err != nil {
		g.close()
		return load{}, nil, nil, err
	}
	var cur atomic.Pointer[dledger.Node]
	cur.Store(leader)
	data := payload(cfg.Size)
	ld := load{
		workers:  cfg.Concurrency(),
		msgBytes: cfg.Size,
		sync: func(_ context.Context, _, _ int, _ time.Time) (Outcome, error) {
			n := cur.Load()
			_, _, err := n.Apply(data, applyTimeout)
			if err == nil {
				return OK, nil
			}
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				if l, werr := g.waitLeader(context.Background(), 5*time.Second); werr == nil {
					cur.CompareAndSwap(n, l)
				}
			}
			return SendFailed, err
		},
	}
	setup := []string{fmt.Sprintf("raft group %s..%s in %s, leader %s", g.nodes[0].ID(), g.nodes[len(g.nodes)-1].ID(), dir, leader.ID())}
	stopRetention := func() {}
	if cfg.Retain > 0 {
		stopRetention = g.retain(cfg.Retain)
	}
	return ld, func() error { stopRetention(); g.close(); return nil }, setup, nil
}

// retain drops, every 200 ms on every node, the commit-log segments more
// than keep bytes behind its end (LogStore.DropBefore keeps whatever raft
// has not compacted yet) until the returned stop is called.
func (g *raftGroup) retain(keep int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			for _, n := range g.nodes {
				if ls := n.LogStore(); ls != nil {
					if target := ls.CommitLog().End() - keep; target > ls.CommitLog().Start() {
						_, _ = ls.DropBefore(target) // a failure shows as a growing log, not a wrong result
					}
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
