package dledger_test

import (
	"errors"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/dledger/kvfsm"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// cluster is an in-process raft group over real TCP on 127.0.0.1.
type cluster struct {
	t     testing.TB
	peers []dledger.Peer
	dirs  []string
	fs    []vfs.FS
	nodes []*dledger.Node // nil while a node is down
	fsms  []*kvfsm.FSM
	mod   func(i int, c *dledger.Config)
	logs  *testutil.LogBuffer
}

// newCluster starts n nodes. mod adjusts each node's config (may be nil);
// fss gives each node's commit-log FS (nil: the OS).
func newCluster(t testing.TB, n int, mod func(i int, c *dledger.Config), fss ...vfs.FS) *cluster {
	t.Helper()
	c := &cluster{t: t, mod: mod, logs: &testutil.LogBuffer{}}
	for i, addr := range testutil.FreeAddrs(t, n) {
		c.peers = append(c.peers, dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: addr})
		c.dirs = append(c.dirs, t.TempDir())
		fsys := vfs.OS
		if i < len(fss) && fss[i] != nil {
			fsys = fss[i]
		}
		c.fs = append(c.fs, fsys)
	}
	c.nodes = make([]*dledger.Node, n)
	c.fsms = make([]*kvfsm.FSM, n)
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
		if t.Failed() {
			t.Logf("cluster log tail:\n%s", c.logs.Tail(300))
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	return c
}

func (c *cluster) config(i int) dledger.Config {
	cfg := dledger.DefaultConfig()
	cfg.ID, cfg.Peers, cfg.Dir, cfg.FS = c.peers[i].ID, c.peers, c.dirs[i], c.fs[i]
	cfg.SegmentSize = 256 << 10
	cfg.IndexSlotsPerFile = 256
	cfg.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if c.mod != nil {
		c.mod(i, &cfg)
	}
	return cfg
}

func (c *cluster) start(i int) {
	c.t.Helper()
	fsm := kvfsm.New()
	n, err := dledger.NewNode(c.config(i), fsm)
	if err != nil {
		c.t.Fatalf("start n%d: %v", i, err)
	}
	c.nodes[i], c.fsms[i] = n, fsm
}

// stop shuts node i down gracefully (a leader transfers leadership first).
func (c *cluster) stop(i int) {
	if n := c.nodes[i]; n != nil {
		c.nodes[i] = nil
		if err := n.Shutdown(); err != nil {
			c.t.Logf("shutdown n%d: %v", i, err)
		}
	}
}

// kill stops node i as a process crash would.
func (c *cluster) kill(i int) {
	if n := c.nodes[i]; n != nil {
		c.nodes[i] = nil
		_ = n.Kill()
	}
}

// powerLoss stops node i and makes its crash FS lose what was not synced.
func (c *cluster) powerLoss(i int, mode vfs.CrashMode) {
	cfs, ok := c.fs[i].(*vfs.CrashFS)
	if !ok {
		c.t.Fatalf("n%d has no crash FS", i)
	}
	if n := c.nodes[i]; n != nil {
		c.nodes[i] = nil
		_ = n.Crash(func() { cfs.Crash(mode) })
	} else {
		cfs.Crash(mode)
	}
}

// wipe deletes node i's data (it must be down).
func (c *cluster) wipe(i int) {
	if c.nodes[i] != nil {
		c.t.Fatalf("wipe of running n%d", i)
	}
	if err := os.RemoveAll(c.dirs[i]); err != nil {
		c.t.Fatal(err)
	}
	if c.fs[i] != vfs.OS {
		c.t.Fatalf("wipe only supports the OS FS")
	}
}

func (c *cluster) up() []int {
	var out []int
	for i, n := range c.nodes {
		if n != nil {
			out = append(out, i)
		}
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
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

// leaderIdx returns the node every running node agrees is leader, or -1.
func (c *cluster) leaderIdx() int {
	lead := -1
	for _, i := range c.up() {
		if c.nodes[i].IsLeader() {
			if lead >= 0 {
				return -1
			}
			lead = i
		}
	}
	if lead < 0 {
		return -1
	}
	for _, i := range c.up() {
		if id, _ := c.nodes[i].Leader(); id != c.peers[lead].ID {
			return -1
		}
	}
	return lead
}

func (c *cluster) waitLeader(timeout time.Duration) int {
	c.t.Helper()
	lead := -1
	waitFor(c.t, timeout, "a leader all nodes agree on", func() bool { lead = c.leaderIdx(); return lead >= 0 })
	return lead
}

// apply proposes data through whichever node is leader, retrying across
// leader changes, and returns the entry's index and the FSM result.
func (c *cluster) apply(data string) (uint64, kvfsm.Result) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lead := c.leaderIdx()
		if lead >= 0 {
			res, idx, err := c.nodes[lead].Apply([]byte(data), 2*time.Second)
			if err == nil {
				return idx, res.(kvfsm.Result)
			}
			if !retryable(err) {
				c.t.Fatalf("apply %q: %v", data, err)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("apply %q: no leader accepted it in time", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrEnqueueTimeout) || errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrRaftShutdown)
}

// applyN applies n commands "prefix-k=<value>" and returns the last index.
func (c *cluster) applyN(prefix string, n, size int) uint64 {
	c.t.Helper()
	var last uint64
	for k := 0; k < n; k++ {
		last, _ = c.apply(cmd(prefix, k, size))
	}
	return last
}

func cmd(prefix string, k, size int) string {
	key := fmt.Sprintf("%s-%d=", prefix, k)
	if pad := size - len(key); pad > 0 {
		return key + strings.Repeat(string(rune('a'+k%26)), pad)
	}
	return key + "v"
}

// waitCaughtUp waits until every running node has applied index.
func (c *cluster) waitCaughtUp(index uint64, timeout time.Duration) {
	c.t.Helper()
	waitFor(c.t, timeout, fmt.Sprintf("all nodes applied %d", index), func() bool {
		for _, i := range c.up() {
			if c.nodes[i].AppliedIndex() < index || c.nodes[i].LastIndex() < index {
				return false
			}
		}
		return true
	})
}

// verify checks that the running nodes hold byte-identical logs at identical
// offsets, that each holds every entry up to committed, and that their
// state machines agree. It returns the number of entries compared per pair.
func (c *cluster) verify(committed uint64) int {
	c.t.Helper()
	c.waitCaughtUp(committed, 10*time.Second)
	up := c.up()
	minCompared := -1
	for _, i := range up {
		s := c.nodes[i].LogStore()
		_, _, next := s.Bounds()
		if next <= committed {
			c.t.Fatalf("n%d log ends at %d, committed %d", i, next-1, committed)
		}
		for _, j := range up {
			if j <= i {
				continue
			}
			n, err := dledger.CompareLogs(s, c.nodes[j].LogStore(), 0, 0)
			if err != nil {
				c.t.Fatalf("n%d vs n%d: %v", i, j, err)
			}
			if minCompared < 0 || n < minCompared {
				minCompared = n
			}
		}
	}
	// The state machines converge once every node applied the same prefix.
	waitFor(c.t, 10*time.Second, "state machines to agree", func() bool {
		var ref map[string]string
		var refLast uint64
		for k, i := range up {
			kv, _, last := c.fsms[i].State()
			if k == 0 {
				ref, refLast = kv, last
				continue
			}
			if last != refLast || len(kv) != len(ref) {
				return false
			}
			for key, v := range ref {
				if kv[key] != v {
					return false
				}
			}
		}
		return true
	})
	return minCompared
}
