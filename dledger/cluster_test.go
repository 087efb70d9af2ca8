package dledger_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
)

// TestClusterReplicate: entries applied on the leader reach every replica
// at the same physical offset with the same bytes, and the offset the FSM
// sees is where the command's bytes really are.
func TestClusterReplicate(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.waitLeader(5 * time.Second)
	var results []struct {
		data string
		off  int64
	}
	var last uint64
	for k := 0; k < 300; k++ { // ~300 KiB over 256 KiB segments: rolls at least once
		data := cmd("r", k, 1024)
		idx, res := c.apply(data)
		if res.Index != idx || res.DataOffset < 0 {
			t.Fatalf("result %+v for index %d", res, idx)
		}
		results = append(results, struct {
			data string
			off  int64
		}{data, res.DataOffset})
		last = idx
	}
	if n := c.verify(last); n < 300 {
		t.Fatalf("compared only %d entries", n)
	}
	// The command bytes are at DataOffset in every replica's commit log.
	for _, i := range c.up() {
		cl := c.nodes[i].LogStore().CommitLog()
		for _, r := range results {
			got := make([]byte, len(r.data))
			if _, err := cl.ReadAt(got, r.off); err != nil || string(got) != r.data {
				t.Fatalf("n%d: bytes at %d = %q..., %v", i, r.off, got[:min(16, len(got))], err)
			}
		}
	}
	if got, _ := c.fsms[lead].Get("r-7"); got != cmd("r", 7, 1024)[len("r-7="):] {
		t.Fatalf("FSM value for r-7 wrong")
	}
}

// TestClusterFailover: killing the leader elects a new one within about a
// second; all committed entries survive byte-identical; the killed node
// catches up when restarted.
func TestClusterFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitLeader(5 * time.Second)
	last := c.applyN("a", 50, 256)
	var failovers []time.Duration
	for round := 0; round < 3; round++ {
		old := c.waitLeader(5 * time.Second)
		start := time.Now()
		c.kill(old)
		lead := c.waitLeader(5 * time.Second)
		failovers = append(failovers, time.Since(start))
		if lead == old {
			t.Fatal("killed node still leader")
		}
		last = c.applyN(fmt.Sprintf("b%d", round), 30, 256)
		c.verify(last) // the two survivors
		c.start(old)
		c.verify(last) // the restarted node caught up
	}
	slices.Sort(failovers)
	t.Logf("failover (kill leader → new leader agreed by survivors), 3 rounds: min %v median %v max %v",
		failovers[0], failovers[1], failovers[2])
	if failovers[1] > 2*time.Second {
		t.Errorf("median failover %v, want about 1 s", failovers[1])
	}
	for k := 0; k < 50; k++ {
		for _, i := range c.up() {
			if _, ok := c.fsms[i].Get(fmt.Sprintf("a-%d", k)); !ok {
				t.Fatalf("n%d lost committed key a-%d", i, k)
			}
		}
	}
	if n := c.logs.Count("bootstrapped group"); n != 3 {
		t.Fatalf("%d bootstraps; restarts must resume, not bootstrap again", n)
	}
}

// TestClusterShutdownTransfersLeadership: a graceful leader shutdown hands
// leadership over instead of leaving the group to time out.
func TestClusterShutdownTransfersLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader(5 * time.Second)
	var mu sync.Mutex
	became := map[string]int{} // node → times it observed itself becoming leader
	for _, i := range c.up() {
		id := c.peers[i].ID
		c.nodes[i].OnLeaderChange(func(ch dledger.LeaderChange) {
			if ch.IsLeader {
				mu.Lock()
				became[id]++
				mu.Unlock()
			}
		})
	}
	last := c.applyN("s", 20, 64)

	// Explicit transfer.
	if err := c.nodes[old].TransferLeadership(); err != nil {
		t.Fatal(err)
	}
	mid := c.waitLeader(5 * time.Second)
	if mid == old {
		t.Fatal("TransferLeadership kept the leader")
	}

	// Graceful shutdown of the new leader transfers again.
	term := c.nodes[mid].Term()
	start := time.Now()
	c.stop(mid)
	lead := c.waitLeader(5 * time.Second)
	took := time.Since(start)
	t.Logf("graceful leader shutdown → new leader in %v", took)
	if c.nodes[lead].Term() != term+1 {
		t.Errorf("term went %d → %d; a transfer takes exactly one election", term, c.nodes[lead].Term())
	}
	if took > 2*time.Second {
		t.Errorf("handover took %v", took)
	}
	waitFor(t, 2*time.Second, "leader callbacks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return became[c.peers[mid].ID] >= 1 && became[c.peers[lead].ID] >= 1
	})
	c.verify(last)
}

// TestClusterOldLeaderTailTruncated: a partitioned leader accepts entries
// that never commit; after the partition heals, raft replaces that tail with
// the new leader's entries and every replica ends identical.
func TestClusterOldLeaderTailTruncated(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader(5 * time.Second)
	committed := c.applyN("pre", 20, 128)
	c.waitCaughtUp(committed, 5*time.Second)

	c.nodes[old].StreamLayer().Isolate(true)
	var futs []raft.ApplyFuture
	for k := 0; k < 5; k++ {
		futs = append(futs, c.nodes[old].ApplyAsync([]byte(cmd("lost", k, 128)), time.Second))
	}
	waitFor(t, 2*time.Second, "the isolated leader to append its tail", func() bool {
		return c.nodes[old].LastIndex() >= committed+5
	})
	oldTail := c.nodes[old].LastIndex()

	// The others elect a leader and move on.
	var lead int
	waitFor(t, 5*time.Second, "a new leader among the majority", func() bool {
		for _, i := range c.up() {
			if i != old && c.nodes[i].IsLeader() {
				lead = i
				return true
			}
		}
		return false
	})
	var last uint64
	for k := 0; k < 10; k++ {
		_, idx, err := c.nodes[lead].Apply([]byte(cmd("post", k, 128)), 2*time.Second)
		if err != nil {
			t.Fatalf("apply on new leader: %v", err)
		}
		last = idx
	}
	for _, f := range futs {
		if err := f.Error(); err == nil {
			t.Fatalf("an entry proposed on the isolated leader committed (index %d)", f.Index())
		}
	}
	if last < oldTail {
		t.Fatalf("new history (%d) does not cover the old tail (%d)", last, oldTail)
	}

	c.nodes[old].StreamLayer().Isolate(false)
	c.verify(last)
	for _, i := range c.up() {
		for k := 0; k < 5; k++ {
			if _, ok := c.fsms[i].Get(fmt.Sprintf("lost-%d", k)); ok {
				t.Fatalf("n%d applied an uncommitted entry lost-%d", i, k)
			}
		}
		for idx := committed + 1; idx <= oldTail; idx++ {
			_, data, err := c.nodes[i].LogStore().ReadEntryRecord(idx)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("lost-")) {
				t.Fatalf("n%d still holds the old leader's entry at %d", i, idx)
			}
		}
	}
}

// TestClusterWipeRejoin: a wiped node rejoins and ends with the same log,
// first by plain replication, then — after the leader snapshotted,
// compacted and let retention drop old segments — by InstallSnapshot, which
// must carry the retained records so the node holds every message the
// others do, at the same offsets. Restarts then restore from the local
// snapshots without disturbing the logs.
func TestClusterWipeRejoin(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *dledger.Config) {
		cfg.SegmentSize = 64 << 10
		cfg.IndexSlotsPerFile = 64
		cfg.TrailingLogs = 20
		cfg.SnapshotThreshold = 1 << 40 // snapshots only when asked
	})
	lead := c.waitLeader(5 * time.Second)
	last := c.applyN("w", 100, 512)
	c.verify(last)

	// 1. Wipe a follower; the leader still has the whole log.
	f1 := (lead + 1) % 3
	c.stop(f1)
	c.wipe(f1)
	c.start(f1)
	last = c.applyN("x", 10, 512)
	if n := c.verify(last); n < int(last)-1 {
		t.Fatalf("compared %d entries, want %d", n, last-1)
	}

	// 2. Snapshot + prefix compaction + retention on the leader.
	lead = c.waitLeader(5 * time.Second)
	last = c.applyN("y", 200, 512) // ~150 KiB more
	if err := c.nodes[lead].Snapshot(); err != nil {
		t.Fatal(err)
	}
	ls := c.nodes[lead].LogStore()
	phys, first, next := ls.Bounds()
	if first <= phys || next-first > 25 {
		t.Fatalf("after snapshot: phys %d first %d next %d, want compaction to ~20 trailing", phys, first, next)
	}
	mid, _, err := ls.EntryOffset(first - 50)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.DropBefore(mid); err != nil {
		t.Fatal(err)
	}
	phys, _, _ = ls.Bounds()
	if phys <= 1 {
		t.Fatalf("retention dropped nothing (phys first %d)", phys)
	}
	// The dropped segment's file is the spare for the next segment
	// (commitlog, "Recycled segments"); the log rolls into it.
	spares := func() []string {
		m, _ := filepath.Glob(filepath.Join(c.dirs[lead], "commitlog", "*.warm"))
		return m
	}
	if len(spares()) != 1 {
		t.Fatalf("spares after retention: %v, want one recycled segment", spares())
	}
	last = c.applyN("r", 300, 512) // ~170 KiB: past the next roll
	c.verify(last)
	if len(spares()) != 0 {
		t.Fatalf("the roll did not use the recycled segment: %v", spares())
	}

	f2 := (lead + 2) % 3
	c.stop(f2)
	c.wipe(f2)
	installs := c.logs.Count("Installed remote snapshot")
	c.start(f2)
	last = c.applyN("z", 10, 512)
	c.verify(last)
	if c.logs.Count("Installed remote snapshot") != installs+1 || c.logs.Count("commit log restored from snapshot") != 1 {
		t.Fatalf("the wiped node did not catch up through InstallSnapshot + log restore")
	}
	got, _, _ := c.nodes[f2].LogStore().Bounds()
	if got != phys {
		t.Fatalf("wiped node's log starts at %d, leader's at %d: the snapshot did not carry the retained records", got, phys)
	}
	n, err := dledger.CompareLogs(ls, c.nodes[f2].LogStore(), 0, 0)
	if err != nil || n < int(last-phys) {
		t.Fatalf("leader vs restored node: %d compared, %v", n, err)
	}
	if _, applied, _ := c.fsms[f2].State(); applied < 320 {
		t.Fatalf("restored FSM has %d commands, want all", applied)
	}

	// 3. Restart everybody once; each restores from its own snapshot store.
	for i := 0; i < 3; i++ {
		if err := c.nodes[i].Snapshot(); err != nil && !strings.Contains(err.Error(), "nothing new") {
			t.Fatalf("snapshot n%d: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		c.stop(i)
		c.start(i)
		c.waitLeader(5 * time.Second)
	}
	last = c.applyN("after", 5, 512)
	c.verify(last)
}

// TestClusterMembership: a member can be removed and added back.
func TestClusterMembership(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.waitLeader(5 * time.Second)
	victim := (lead + 1) % 3
	if err := c.nodes[lead].RemoveServer(c.peers[victim].ID, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	c.stop(victim)
	c.wipe(victim)
	last := c.applyN("m", 10, 64)
	members, err := c.nodes[lead].Members()
	if err != nil || len(members) != 2 {
		t.Fatalf("members after remove: %v %v", members, err)
	}
	c.start(victim)
	if err := c.nodes[lead].AddVoter(c.peers[victim].ID, c.peers[victim].Addr, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	last = c.applyN("m2", 10, 64)
	c.verify(last)
	members, _ = c.nodes[lead].Members()
	if len(members) != 3 {
		t.Fatalf("members after add: %v", members)
	}
}
