package dledger_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// syncGate is a commit-log FS whose file syncs can be held: while held, a
// Sync waits for release and then fails if failAfter is set.
type syncGate struct {
	held      atomic.Bool
	failAfter atomic.Bool
	mu        sync.Mutex
	release   chan struct{}
	opened    bool
}

// open lets held syncs go on.
func (g *syncGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened {
		close(g.release)
		g.opened = true
	}
}

// hold holds syncs again, after an open, until the next open.
func (g *syncGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		g.release, g.opened = make(chan struct{}), false
	}
	g.held.Store(true)
}

// wait blocks until the gate is open.
func (g *syncGate) wait() {
	g.mu.Lock()
	ch := g.release
	g.mu.Unlock()
	<-ch
}

// newSyncGates wraps n file systems in gates.
func newSyncGates(base func(i int) vfs.FS, n int) ([]*syncGate, []vfs.FS) {
	gates := make([]*syncGate, n)
	fss := make([]vfs.FS, n)
	for i := range gates {
		g := &syncGate{release: make(chan struct{})}
		gates[i] = g
		fss[i] = vfs.NewErr(base(i), func(op vfs.Op, _ string) error {
			if op != vfs.OpSync || !g.held.Load() {
				return nil
			}
			g.wait()
			if g.failAfter.Load() {
				return vfs.ErrInjected
			}
			return nil
		})
	}
	return gates, fss
}

// openAtEnd opens every gate when the test ends. Call it after newCluster:
// cleanups run last-registered first, and a held sync would block the
// cluster's stop.
func openAtEnd(t *testing.T, gates []*syncGate) {
	t.Cleanup(func() {
		for _, g := range gates {
			g.open()
		}
	})
}

// TestLeaderSyncOverlapsReplication: the leader's StoreLogs returns before
// its sync, so raft counts the leader at once; with the leader's sync held,
// raft's commit index passes the entry, yet no replica applies it and Apply
// does not return until the leader's copy is durable.
func TestLeaderSyncOverlapsReplication(t *testing.T) {
	gates, fss := newSyncGates(func(int) vfs.FS { return vfs.OS }, 3)
	c := newCluster(t, 3, noBackgroundFlush, fss...)
	openAtEnd(t, gates)
	li := c.waitLeader(5 * time.Second)
	leader := c.nodes[li]
	warm, _ := c.apply("warm=up")

	gates[li].held.Store(true)
	done := make(chan error, 1)
	go func() {
		_, _, err := leader.Apply([]byte("held=v"), 5*time.Second)
		done <- err
	}()
	var idx uint64
	waitFor(t, 5*time.Second, "raft to commit the entry on the followers' acknowledgements", func() bool {
		idx = leader.LastIndex()
		return idx > warm && leader.CommitIndex() >= idx
	})
	time.Sleep(300 * time.Millisecond) // many commit timeouts and heartbeats
	select {
	case err := <-done:
		t.Fatalf("Apply returned (%v) while the leader's copy was not durable", err)
	default:
	}
	for _, i := range c.up() {
		if _, ok := c.fsms[i].Get("held"); ok {
			t.Fatalf("n%d applied an entry the leader holds only unsynced", i)
		}
		if i != li && c.nodes[i].CommitIndex() >= idx {
			t.Fatalf("n%d learned commit index %d >= %d before the leader's sync", i, c.nodes[i].CommitIndex(), idx)
		}
	}
	if d := leader.LogStore().DurableIndex(); d >= idx {
		t.Fatalf("leader durable index %d >= %d with its sync held", d, idx)
	}

	gates[li].open()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Apply after the leader's sync: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply did not return after the leader's sync completed")
	}
	gates[li].held.Store(false)
	last, _ := c.apply("after=v")
	c.verify(last)
	for _, i := range c.up() {
		if _, ok := c.fsms[i].Get("held"); !ok {
			t.Fatalf("n%d lacks the entry after the leader's sync", i)
		}
	}
}

// TestLeaderPowerLossBeforeItsSync is the case the overlap must survive:
// raft counted the leader, one follower holds the entry durably, the other
// never got it, and the leader loses power before its own sync. The group
// then elects a leader without the entry and truncates it on the follower
// that held it. That follower must not have applied it, and the client must
// not have been told it was written.
func TestLeaderPowerLossBeforeItsSync(t *testing.T) {
	c, crashes, gates := newGatedCrashCluster(t)
	li := c.waitLeader(5 * time.Second)
	a, b := (li+1)%3, (li+2)%3
	warm, _ := c.apply("warm=up")

	c.nodes[b].StreamLayer().Isolate(true)
	gates[li].held.Store(true)
	gates[li].failAfter.Store(true)
	leader := c.nodes[li]
	done := make(chan error, 1)
	go func() {
		_, _, err := leader.Apply([]byte("held=v"), 5*time.Second)
		done <- err
	}()
	var idx uint64
	waitFor(t, 5*time.Second, "the entry committed by raft on the leader and n"+itoa(a), func() bool {
		idx = leader.LastIndex()
		return idx > warm && leader.CommitIndex() >= idx && c.nodes[a].LastIndex() >= idx
	})
	time.Sleep(200 * time.Millisecond)
	if _, ok := c.fsms[a].Get("held"); ok {
		t.Fatalf("n%d applied the entry before the leader's copy was durable", a)
	}

	// Power cut on the leader with its sync still outstanding: the entry
	// was never durable there.
	c.nodes[li] = nil
	_ = leader.Crash(func() {
		crashes[li].Crash(vfs.DropAll)
		gates[li].open()
	})
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Apply reported success for an entry durable on one replica only")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply did not return after its node stopped")
	}

	// The old leader and the follower that never saw the entry form the
	// majority; the follower holding it is cut off until they have moved on.
	c.nodes[a].StreamLayer().Isolate(true)
	c.nodes[b].StreamLayer().Isolate(false)
	gates[li].held.Store(false)
	c.start(li)
	waitFor(t, 10*time.Second, "a leader among n"+itoa(li)+" and n"+itoa(b), func() bool {
		return c.nodes[li].IsLeader() || c.nodes[b].IsLeader()
	})
	var newLeader *dledger.Node
	for _, i := range []int{li, b} {
		if c.nodes[i].IsLeader() {
			newLeader = c.nodes[i]
		}
	}
	if _, _, err := newLeader.Apply([]byte("after=v"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.nodes[a].StreamLayer().Isolate(false)
	last := c.waitLeaderApply("after2=v")
	c.verify(last)
	for _, i := range c.up() {
		if _, ok := c.fsms[i].Get("held"); ok {
			t.Fatalf("n%d applied an entry no majority ever held durably", i)
		}
		if _, ok := c.fsms[i].Get("after"); !ok {
			t.Fatalf("n%d lacks an acknowledged entry", i)
		}
	}
}

// newGatedCrashCluster starts three nodes on crash file systems whose syncs
// can be held.
func newGatedCrashCluster(t *testing.T) (*cluster, []*vfs.CrashFS, []*syncGate) {
	seed := testSeed(t)
	crashes := make([]*vfs.CrashFS, 3)
	for i := range crashes {
		crashes[i] = vfs.NewCrash(seed + int64(i))
	}
	gates, fss := newSyncGates(func(i int) vfs.FS { return crashes[i] }, 3)
	c := newCluster(t, 3, noBackgroundFlush, fss...)
	openAtEnd(t, gates)
	return c, crashes, gates
}

// waitLeaderApply applies data through the leader once all nodes agree on
// one, and returns the entry's index.
func (c *cluster) waitLeaderApply(data string) uint64 {
	c.t.Helper()
	c.waitLeader(10 * time.Second)
	idx, _ := c.apply(data)
	return idx
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestFollowerAcksOnlyDurableEntries: a follower's StoreLogs returns before
// its sync too (append_transport.go), and its answer waits for the sync.
// With both followers' syncs held, the followers hold the entry yet raft on
// the leader does not count them and Apply waits; a power cut then takes
// the entry from one follower, which cost nothing because it never
// acknowledged it; the other's sync completing commits it.
func TestFollowerAcksOnlyDurableEntries(t *testing.T) {
	c, crashes, gates := newGatedCrashCluster(t)
	li := c.waitLeader(5 * time.Second)
	a, b := (li+1)%3, (li+2)%3
	leader := c.nodes[li]
	warm, _ := c.apply("warm=up")

	gates[a].held.Store(true)
	gates[b].held.Store(true)
	done := make(chan error, 1)
	go func() {
		_, _, err := leader.Apply([]byte("held=v"), 10*time.Second)
		done <- err
	}()
	var idx uint64
	waitFor(t, 5*time.Second, "both followers to write the entry", func() bool {
		idx = leader.LastIndex()
		return idx > warm && c.nodes[a].LastIndex() >= idx && c.nodes[b].LastIndex() >= idx
	})
	time.Sleep(300 * time.Millisecond) // many commit timeouts and heartbeats
	if ci := leader.CommitIndex(); ci >= idx {
		t.Fatalf("leader commit index %d >= %d with no follower's copy durable", ci, idx)
	}
	select {
	case err := <-done:
		t.Fatalf("Apply returned (%v) before any follower's copy was durable", err)
	default:
	}
	for _, i := range []int{a, b} {
		if d := c.nodes[i].LogStore().DurableIndex(); d >= idx {
			t.Fatalf("n%d durable index %d >= %d with its sync held", i, d, idx)
		}
	}

	// n_a loses power before its sync: the entry is gone there.
	node := c.nodes[a]
	c.nodes[a] = nil
	_ = node.Crash(func() {
		crashes[a].Crash(vfs.DropAll)
		gates[a].open()
	})
	gates[b].open()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Apply after n%d's sync: %v", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply did not return after a follower's sync completed")
	}
	gates[a].held.Store(false)
	gates[b].held.Store(false)
	c.start(a)
	last := c.waitLeaderApply("after=v")
	c.verify(last)
	for _, i := range c.up() {
		if _, ok := c.fsms[i].Get("held"); !ok {
			t.Fatalf("n%d lacks an acknowledged entry", i)
		}
	}
}

// TestNewLeaderAppliesEarlierTermsAfterItsOwnEntry: entries of an earlier
// term count as committed only once an entry of the leader's own term is
// durable on a majority (Raft's rule, here with the leader counted before
// its sync). An entry the old leader never committed is durable on both
// followers; one of them wins the next term, and the other's sync of the
// new term's first entry makes raft commit everything on the new leader,
// whose own copy of that entry is not durable yet. Neither replica applies
// the old entry until it is: a power cut could still take that copy, and
// a later leader of a term between the two could then replace the old
// entry (the Raft paper's figure 8).
func TestNewLeaderAppliesEarlierTermsAfterItsOwnEntry(t *testing.T) {
	c, _, gates := newGatedCrashCluster(t)
	old := c.waitLeader(5 * time.Second)
	a, b := (old+1)%3, (old+2)%3
	warm, _ := c.apply("warm=up")

	// The entry reaches both followers, whose acknowledgements wait for
	// held syncs, so it commits nowhere; then its leader dies.
	gates[a].hold()
	gates[b].hold()
	oldNode := c.nodes[old]
	go func() { _, _, _ = oldNode.Apply([]byte("old=v"), 5*time.Second) }()
	var idx uint64
	waitFor(t, 5*time.Second, "both followers to write the entry", func() bool {
		idx = oldNode.LastIndex()
		return idx > warm && c.nodes[a].LastIndex() >= idx && c.nodes[b].LastIndex() >= idx
	})
	c.kill(old)
	gates[a].open()
	gates[b].open()
	waitFor(t, 5*time.Second, "the entry durable on both followers", func() bool {
		return c.nodes[a].LogStore().DurableIndex() >= idx && c.nodes[b].LogStore().DurableIndex() >= idx
	})

	// Next term: both syncs held while the winner writes its first entry,
	// then only the other follower's sync goes on.
	gates[a].hold()
	gates[b].hold()
	lead := c.waitLeader(10 * time.Second)
	other := a + b - lead
	leader := c.nodes[lead]
	waitFor(t, 5*time.Second, "the new leader's first entry on the other node", func() bool {
		return leader.LastIndex() > idx && c.nodes[other].LastIndex() >= leader.LastIndex()
	})
	term, start := leader.LogStore().TermStart()
	if start <= idx || start > leader.LastIndex() {
		t.Fatalf("new leader's term %d starts at %d; old entry %d, last %d", term, start, idx, leader.LastIndex())
	}
	gates[other].open()
	waitFor(t, 5*time.Second, "raft on the new leader to commit its first entry", func() bool {
		return leader.CommitIndex() >= start
	})
	if d := leader.LogStore().DurableIndex(); d >= start {
		t.Fatalf("leader durable %d >= its term's first entry %d with its sync held", d, start)
	}
	time.Sleep(300 * time.Millisecond) // commit timeouts: the other node hears the commit index
	for _, i := range []int{lead, other} {
		if _, ok := c.fsms[i].Get("old"); ok {
			t.Fatalf("n%d applied entry %d of an earlier term before entry %d of the new term was durable on a majority", i, idx, start)
		}
	}

	gates[lead].open()
	waitFor(t, 5*time.Second, "both replicas to apply the old entry", func() bool {
		_, okL := c.fsms[lead].Get("old")
		_, okO := c.fsms[other].Get("old")
		return okL && okO
	})
	gates[a].held.Store(false)
	gates[b].held.Store(false)
	c.start(old)
	last := c.waitLeaderApply("after=v")
	c.verify(last)
}
