package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/indexfile"
	"github.com/dledgermq/dledgermq/message"
)

// putMany writes n messages spread over two topics and three queues, in
// batches of batch.
func putMany(c *cluster, prefix string, n, batch, size int) {
	c.t.Helper()
	pad := strings.Repeat("x", size)
	for i := 0; i < n; i += batch {
		var msgs []*message.MessageExt
		topic, qid := []string{"RA", "RB"}[i/batch%2], int32(i/batch%3)
		for j := i; j < i+batch && j < n; j++ {
			msgs = append(msgs, msg(topic, qid, fmt.Sprintf("%s-%d-%s", prefix, j, pad),
				message.PropKeys, fmt.Sprintf("%s-key-%d", prefix, j)))
		}
		if res, _ := c.put(msgs); res == nil {
			c.t.Fatalf("put %s %d failed", prefix, i)
		}
	}
}

func cqDir(c *cluster, i int) string { return filepath.Join(c.dirs[i], "consumequeue") }

// TestRebuildConsumeQueue damages a follower's consume queues in several
// ways while it is down and checks that it serves exactly what the others
// serve afterwards.
func TestRebuildConsumeQueue(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.ConsumeQueueEntriesPerFile = 16 })
	putMany(c, "a", 150, 5, 16)
	c.checkReplicas()

	// No snapshot: Raft replays the whole log into empty queues.
	f := (c.leaderIdx() + 1) % 3
	c.stop(f)
	removeDirOS(t, cqDir(c, f))
	c.start(f)
	c.checkReplicas()

	// With a snapshot the queues are rebuilt from the commit log at open,
	// before Raft replays what follows the snapshot.
	for _, s := range c.running() {
		if err := s.Snapshot(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	putMany(c, "b", 30, 5, 16)
	f = (c.leaderIdx() + 1) % 3
	c.stop(f)
	removeDirOS(t, cqDir(c, f))
	removeDirOS(t, filepath.Join(c.dirs[f], "index"))
	c.start(f)
	if !strings.Contains(c.logs.String(), "rebuilt=true") {
		t.Fatalf("no rebuild logged")
	}
	c.checkReplicas()
	// The key index was rebuilt too: keys from before and after the
	// snapshot are found (putMany's batch 0 goes to RA, batch 1 to RB).
	for _, key := range []string{"a-key-2", "b-key-3"} {
		r, err := c.store(f).QueryMessages("RA", key, 4, 0, 1<<62)
		if err != nil || r.Count != 1 {
			t.Fatalf("query %s on the rebuilt replica: %d messages, %v", key, r.Count, err)
		}
	}

	// Queues and index behind the snapshot (a crash before their last
	// flush): caught up from the commit log, not rebuilt.
	for _, s := range c.running() {
		if err := s.Snapshot(); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	c.stop(f)
	v := readQueueOffline(t, c, f)
	cut := v.Entries[len(v.Entries)/2].Phys
	truncateDerived(t, c, f, cut)
	c.start(f)
	if !strings.Contains(c.logs.String(), fmt.Sprintf("rebuilt=false cq_from=%d index_from=%d", cut, cut)) {
		t.Fatalf("no catch-up from %d logged", cut)
	}
	c.checkReplicas()

	// A damaged file header: the consume queues are discarded and rebuilt.
	c.stop(f)
	hdr := filepath.Join(cqDir(c, f), "RA", "0", fmt.Sprintf("%020d", 0))
	corruptFile(t, hdr, 20)
	c.start(f)
	if !strings.Contains(c.logs.String(), "consume queues corrupt") {
		t.Fatalf("header damage not detected")
	}
	c.checkReplicas()

	// An entry damaged on disk is found at open.
	c.stop(f)
	q0 := filepath.Join(cqDir(c, f), "RA", "0", fmt.Sprintf("%020d", 0))
	corruptFile(t, q0, 64+32*3+8)
	c.start(f)
	if !strings.Contains(c.logs.String(), "offset 3: checksum mismatch") {
		t.Fatalf("entry damage not detected at open")
	}
	c.checkReplicas()

	// An entry damaged while the replica runs is found by a read; the
	// store rebuilds in the background and serves correct data again.
	s := c.store(f)
	corruptFile(t, q0, 64+32*2+8)
	if _, err := s.GetMessages("g", "RA", 0, 0, 32, nil); err == nil {
		t.Fatalf("read of a damaged entry succeeded")
	}
	waitFor(t, 10*time.Second, "the repair", func() bool {
		r, err := s.GetMessages("g", "RA", 0, 0, 32, nil)
		return err == nil && r.Status == GetFound
	})
	c.checkReplicas()
}

// readQueueOffline reads queue RA/0 of a stopped replica's consume queues.
func readQueueOffline(t testing.TB, c *cluster, i int) queueView {
	t.Helper()
	cq, err := consumequeue.Open(consumequeue.Options{Dir: cqDir(c, i), EntriesPerFile: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	q := cq.Queue("RA", 0)
	es, err := q.Range(q.MinOffset(), int(q.MaxOffset()-q.MinOffset()))
	if err != nil || len(es) < 2 {
		t.Fatalf("offline read: %d entries, %v", len(es), err)
	}
	return queueView{Min: q.MinOffset(), Max: q.MaxOffset(), Entries: es}
}

// truncateDerived cuts a stopped replica's consume queues and index back
// to phys, as a crash before their flush would leave them.
func truncateDerived(t testing.TB, c *cluster, i int, phys int64) {
	t.Helper()
	cq, err := consumequeue.Open(consumequeue.Options{Dir: cqDir(c, i), EntriesPerFile: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(cq.TruncatePhys(phys), cq.Close()); err != nil {
		t.Fatal(err)
	}
	ix, err := indexfile.Open(indexfile.Options{Dir: filepath.Join(c.dirs[i], "index"), SlotCount: 512, EntriesPerFile: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(ix.TruncatePhys(phys), ix.Close()); err != nil {
		t.Fatal(err)
	}
}

func corruptFile(t testing.TB, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5A
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestMetadataSurvivesRestart: topics, groups and offsets written before
// and after a snapshot survive a restart of the whole group.
func TestMetadataSurvivesRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := context.Background()
	lead := c.leader()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(lead.CreateTopic(ctx, DefaultTopicConfig("Keep")))
	must(lead.CreateTopic(ctx, TopicConfig{Name: "Gone", ReadQueueNums: 2, WriteQueueNums: 2, Perm: PermRead}))
	must(lead.UpdateSubscriptionGroup(ctx, DefaultSubscriptionGroupConfig("g1")))
	must(lead.CommitOffsets(ctx, []OffsetCommit{{"g1", "Keep", 0, 10}, {"g1", "Keep", 1, 20}}))
	putMany(c, "m", 20, 4, 8)
	for _, s := range c.running() {
		must(s.Snapshot())
	}
	// After the snapshot: replayed from the log on restart.
	must(lead.DeleteTopic(ctx, "Gone"))
	order := TopicConfig{Name: "Ordered", ReadQueueNums: 4, WriteQueueNums: 2, Perm: PermRead | PermWrite, Order: true, TopicSysFlag: 3, FilterType: MultiTag}
	must(lead.CreateTopic(ctx, order))
	must(lead.CommitOffset(ctx, "g1", "Keep", 0, 5)) // an update sets the offset, even backwards
	g2 := DefaultSubscriptionGroupConfig("g2")
	g2.ConsumeBroadcastEnable, g2.RetryMaxTimes = false, 3
	must(lead.UpdateSubscriptionGroup(ctx, g2))
	must(lead.DeleteSubscriptionGroup(ctx, "g1"))
	c.waitApplied()
	want := c.store(c.leaderIdx())
	wantTopics, wantGroups, wantOffsets := want.Topics(), want.SubscriptionGroups(), want.ConsumerOffsets("g1")
	if len(wantTopics) != 2 || len(wantGroups) != 1 || len(wantOffsets) != 2 || wantOffsets[0].Offset != 5 {
		t.Fatalf("before restart: topics %+v groups %+v offsets %+v", wantTopics, wantGroups, wantOffsets)
	}
	for i := range c.stores {
		c.stop(i)
	}
	for i := range c.stores {
		c.start(i)
	}
	c.checkReplicas()
	for _, s := range c.running() {
		if got := s.Topics(); fmt.Sprint(got) != fmt.Sprint(wantTopics) {
			t.Fatalf("topics after restart %+v, want %+v", got, wantTopics)
		}
		if got, ok := s.Topic("Ordered"); !ok || got != order {
			t.Fatalf("topic Ordered %+v %v", got, ok)
		}
		if got := s.SubscriptionGroups(); fmt.Sprint(got) != fmt.Sprint(wantGroups) {
			t.Fatalf("groups after restart %+v, want %+v", got, wantGroups)
		}
		if got := s.ConsumerOffsets("g1"); fmt.Sprint(got) != fmt.Sprint(wantOffsets) {
			t.Fatalf("offsets after restart %+v, want %+v", got, wantOffsets)
		}
	}
}

// TestConsumerOffsetsFailover: offset commits (many, concurrently) are
// replicated and a new leader serves them.
func TestConsumerOffsetsFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	type report struct {
		id   string
		term uint64
	}
	reports := make(chan report, 64)
	for _, s := range c.running() {
		id := s.cfg.DLedger.ID
		s.OnLeaderChange(func(ch dledger.LeaderChange) {
			if ch.IsLeader {
				reports <- report{id, ch.Term}
			}
		})
	}
	lead := c.leader()
	ctx := context.Background()
	errs := make(chan error, 20)
	for g := 0; g < 20; g++ {
		go func() {
			var cs []OffsetCommit
			for q := int32(0); q < 4; q++ {
				cs = append(cs, OffsetCommit{Group: fmt.Sprintf("grp%d", g), Topic: "OT", QueueID: q, Offset: int64(100*g) + int64(q)})
			}
			errs <- lead.CommitOffsets(ctx, cs)
		}()
	}
	for g := 0; g < 20; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := lead.CommitOffset(ctx, "grp0", "OT", 0, -1); err == nil {
		t.Fatalf("negative offset accepted")
	}
	old := c.leaderIdx()
	c.kill(old)
	nl := c.leader()
	// The new leader was reported (after its barrier) with its term.
	waitFor(t, 5*time.Second, "the new leader's report", func() bool {
		for {
			select {
			case r := <-reports:
				if r.id == nl.cfg.DLedger.ID && r.term == nl.node.Term() {
					return true
				}
			default:
				return false
			}
		}
	})
	for g := 0; g < 20; g++ {
		for q := int32(0); q < 4; q++ {
			if v, ok := nl.ConsumerOffset(fmt.Sprintf("grp%d", g), "OT", q); !ok || v != int64(100*g)+int64(q) {
				t.Fatalf("new leader: grp%d/%d = %d %v", g, q, v, ok)
			}
		}
	}
	if err := nl.CommitOffset(ctx, "grp1", "OT", 0, 7); err != nil {
		t.Fatal(err)
	}
	c.start(old)
	c.waitApplied()
	for _, s := range c.running() {
		if v, _ := s.ConsumerOffset("grp1", "OT", 0); v != 7 {
			t.Fatalf("%s: grp1/0 = %d, want 7", s.cfg.DLedger.ID, v)
		}
	}
}

// TestWipedReplicaRestoresSnapshot: after snapshots, compaction and
// retention, a replica that lost all its data gets a snapshot (with the
// retained commit log) from the leader and rebuilds its queues from it,
// starting at the retained queue offsets.
func TestWipedReplicaRestoresSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.DLedger.TrailingLogs = 4 })
	ctx := context.Background()
	if err := c.leader().CreateTopic(ctx, DefaultTopicConfig("RA")); err != nil {
		t.Fatal(err)
	}
	putMany(c, "w", 3000, 50, 1000) // ~3 MiB over 1 MiB segments
	c.waitApplied()
	var start int64
	for _, s := range c.running() {
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
		st, err := s.DropBefore(1 << 62)
		if err != nil {
			t.Fatal(err)
		}
		if start != 0 && st != start {
			t.Fatalf("replicas retained from %d and %d", start, st)
		}
		start = st
	}
	if start < 1<<20 {
		t.Fatalf("retention kept everything (start %d)", start)
	}
	views := c.checkReplicas()
	moved := 0
	for _, v := range views {
		if v.Min > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("no queue lost its head to retention")
	}

	f := (c.leaderIdx() + 1) % 3
	c.stop(f)
	removeDirOS(t, c.dirs[f])
	c.start(f)
	waitFor(t, 20*time.Second, "the wiped replica to restore", func() bool {
		return c.store(f).AppliedIndex() >= c.leader().AppliedIndex()
	})
	putMany(c, "after", 60, 6, 100)
	views2 := c.checkReplicas()
	for k, v := range views {
		if views2[k].Min != v.Min {
			t.Fatalf("%v: min offset %d after the restore, %d before", k, views2[k].Min, v.Min)
		}
	}
	if _, ok := c.store(f).Topic("RA"); !ok {
		t.Fatalf("restored replica lacks the topic")
	}
}
