package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
)

// cluster is an in-process group of stores over loopback TCP. Its logs are
// printed when a test fails, or always with STORE_TEST_LOGS=1.
type cluster struct {
	t      testing.TB
	peers  []dledger.Peer
	dirs   []string
	mu     sync.Mutex
	stores []*Store // nil while down; guarded by mu
	mod    func(i int, c *Config)
	logs   *testutil.LogBuffer
}

func newCluster(t testing.TB, n int, mod func(i int, c *Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, mod: mod, logs: &testutil.LogBuffer{}}
	for i, addr := range testutil.FreeAddrs(t, n) {
		c.peers = append(c.peers, dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: addr})
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.stores = make([]*Store, n)
	t.Cleanup(func() {
		for i := range c.stores {
			c.kill(i)
		}
		if t.Failed() || os.Getenv("STORE_TEST_LOGS") != "" {
			t.Logf("cluster log tail:\n%s", c.logs.Tail(150))
		}
	})
	for i := range c.stores {
		c.start(i)
	}
	return c
}

func (c *cluster) config(i int) Config {
	cfg := DefaultConfig()
	cfg.Dir = c.dirs[i]
	cfg.DLedger.ID, cfg.DLedger.Peers = c.peers[i].ID, c.peers
	cfg.DLedger.SegmentSize = 1 << 20
	cfg.DLedger.IndexSlotsPerFile = 512
	cfg.DLedger.HeartbeatTimeout = 200 * time.Millisecond
	cfg.DLedger.ElectionTimeout = 200 * time.Millisecond
	cfg.DLedger.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.DLedger.CommitTimeout = 5 * time.Millisecond
	cfg.DLedger.SnapshotThreshold = 1 << 40 // snapshots only when asked
	cfg.DLedger.SnapshotInterval = time.Hour
	cfg.StoreHost = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(10911+i))
	cfg.ConsumeQueueEntriesPerFile = 64
	cfg.Index = IndexConfig{SlotCount: 512, EntriesPerFile: 2048}
	cfg.FlushInterval = 50 * time.Millisecond
	cfg.MaxBatchBytes = 256 << 10
	cfg.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if c.mod != nil {
		c.mod(i, &cfg)
	}
	return cfg
}

func (c *cluster) start(i int) {
	c.t.Helper()
	s, err := Open(c.config(i))
	if err != nil {
		c.t.Fatalf("open n%d: %v", i, err)
	}
	c.mu.Lock()
	c.stores[i] = s
	c.mu.Unlock()
}

// store returns store i (nil while down).
func (c *cluster) store(i int) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores[i]
}

// running returns the running stores.
func (c *cluster) running() []*Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Store
	for _, s := range c.stores {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (c *cluster) take(i int) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stores[i]
	c.stores[i] = nil
	return s
}

func (c *cluster) stop(i int) {
	if s := c.take(i); s != nil {
		if err := s.Close(); err != nil {
			c.t.Logf("close n%d: %v", i, err)
		}
	}
}

func (c *cluster) kill(i int) {
	if s := c.take(i); s != nil {
		_ = s.Kill()
	}
}

func (c *cluster) up() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, s := range c.stores {
		if s != nil {
			out = append(out, i)
		}
	}
	return out
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader returns the running store that is leader and ready.
func (c *cluster) leader() *Store {
	c.t.Helper()
	var lead *Store
	waitFor(c.t, 15*time.Second, "a ready leader", func() bool {
		for _, s := range c.running() {
			if s.LeaderReady() {
				lead = s
				return true
			}
		}
		return false
	})
	return lead
}

func (c *cluster) leaderIdx() int {
	l := c.leader()
	for i := range c.stores {
		if c.store(i) == l {
			return i
		}
	}
	return -1
}

// waitApplied waits until every running replica has applied the leader's
// last index.
func (c *cluster) waitApplied() {
	c.t.Helper()
	l := c.leader()
	if err := l.Barrier(5 * time.Second); err != nil {
		c.t.Fatalf("barrier: %v", err)
	}
	target := l.AppliedIndex()
	waitFor(c.t, 15*time.Second, fmt.Sprintf("all replicas applied index %d", target), func() bool {
		for _, s := range c.running() {
			if s.AppliedIndex() < target {
				return false
			}
		}
		return true
	})
}

// put writes msgs through whichever store is leader, retrying while there
// is none (or it changes). It returns the results and whether an earlier
// attempt may have stored them too.
func (c *cluster) put(msgs []*message.MessageExt) ([]PutResult, bool) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	maybe := false
	for {
		for _, s := range c.running() {
			if !s.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := s.PutMessages(ctx, msgs)
			cancel()
			if err == nil {
				return res, maybe
			}
			// The contract the broker's answers rest on (errors.go): only
			// ErrLeadershipLost and a timeout leave the outcome open; ErrClosed
			// and ErrNotLeader alone mean nothing was written.
			if errors.Is(err, ErrLeadershipLost) || errors.Is(err, context.DeadlineExceeded) {
				maybe = true
			} else if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrClosed) {
				c.t.Errorf("put: %v", err)
				return nil, maybe
			}
		}
		if time.Now().After(deadline) {
			c.t.Errorf("put: no leader accepted the write in time")
			return nil, maybe
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// msg builds a test message.
func msg(topic string, qid int32, body string, props ...string) *message.MessageExt {
	m := &message.MessageExt{QueueID: qid, BornTimestamp: 1700000000000,
		BornHost: netip.MustParseAddrPort("192.0.2.7:40000")}
	m.Topic = topic
	m.Body = []byte(body)
	for i := 0; i+1 < len(props); i += 2 {
		m.Properties.Set(props[i], props[i+1])
	}
	return m
}

func removeDirOS(t testing.TB, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}
