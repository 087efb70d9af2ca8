package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"github.com/dledgermq/dledgermq/message"
)

// TestReplaceMember replaces a dead replica by a new one at another
// address, as an operator would: remove the dead one, start the new one
// with Join, add it. Writes go on throughout; the new replica ends with a
// commit log byte-identical to the others', and after a restart the group
// runs on its new membership (a Join node with state resumes from it).
func TestReplaceMember(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.DLedger.Join = i == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := func(prefix string, n int) {
		for k := range n {
			if res, _ := c.put([]*message.MessageExt{msg("MemberTopic", int32(k%2), fmt.Sprintf("%s-%d", prefix, k))}); res == nil {
				t.Fatalf("put %s-%d failed", prefix, k)
			}
		}
	}
	put("before", 40)

	dead := (c.leaderIdx() + 1) % 3 // a follower dies for good
	c.kill(dead)
	l := c.leader()
	if err := l.RemoveMember(ctx, c.peers[dead].ID); err != nil {
		t.Fatalf("remove n%d: %v", dead, err)
	}
	put("degraded", 20)

	// The replacement: a new id at a new address, empty, started with Join.
	addr := testutil.FreeAddrs(t, 1)[0]
	c.peers = append(c.peers, dledger.Peer{ID: "n3", Addr: addr})
	c.dirs = append(c.dirs, t.TempDir())
	c.mu.Lock()
	c.stores = append(c.stores, nil)
	c.mu.Unlock()
	c.start(3)
	if got := c.store(3).Node().LastIndex(); got != 0 {
		t.Fatalf("a Join node bootstrapped: last index %d", got)
	}
	if err := c.leader().AddVoter(ctx, "n3", addr); err != nil {
		t.Fatalf("add n3: %v", err)
	}
	put("after", 40)

	members, err := c.leader().Members()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
		if !m.Voter {
			t.Errorf("member %s is not a voter", m.ID)
		}
	}
	slices.Sort(ids)
	want := []string{"n0", "n1", "n2", "n3"}
	want = slices.DeleteFunc(want, func(id string) bool { return id == c.peers[dead].ID })
	if !slices.Equal(ids, want) {
		t.Fatalf("members %v, want %v", ids, want)
	}
	views := c.checkReplicas() // byte-identical commit logs, same queues
	if n := len(uniqueBodies(t, views)); n != 100 {
		t.Fatalf("%d messages stored, want 100", n)
	}

	// Every member restarts: the new membership holds without --peers.
	for _, i := range c.up() {
		c.stop(i)
	}
	for i := range c.peers {
		if i != dead {
			c.start(i)
		}
	}
	put("restarted", 10)
	views = c.checkReplicas()
	if n := len(uniqueBodies(t, views)); n != 110 {
		t.Fatalf("%d messages stored after the restart, want 110", n)
	}

	// Changes are the leader's: a follower refuses them.
	for _, i := range c.up() {
		if s := c.store(i); !s.IsLeader() {
			if err := s.AddVoter(ctx, "n9", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
				t.Errorf("AddVoter on follower n%d: %v, want ErrNotLeader", i, err)
			}
			break
		}
	}
}

// TestVerifyLeaderCutOff: a leader cut off from the others still believes
// it leads until its lease runs out; VerifyLeader does not take its word
// for it (the consumer-offset query path relies on that).
func TestVerifyLeaderCutOff(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) {
		// A lease long enough to look at the leader inside it.
		cfg.DLedger.HeartbeatTimeout, cfg.DLedger.ElectionTimeout = 2*time.Second, 2*time.Second
		cfg.DLedger.LeaderLeaseTimeout = 2 * time.Second
	})
	l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.VerifyLeader(ctx); err != nil {
		t.Fatalf("connected leader: %v", err)
	}
	l.Node().StreamLayer().Isolate(true)
	defer l.Node().StreamLayer().Isolate(false)
	if !l.IsLeader() {
		t.Skip("the leader stepped down before it could be asked (lease expired on a slow machine)")
	}
	err := l.VerifyLeader(ctx)
	if err == nil {
		t.Fatal("a leader cut off from every follower confirmed its leadership")
	}
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("VerifyLeader: %v, want ErrNotLeader", err)
	}
}
