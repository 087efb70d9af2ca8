package store

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
)

func put1(t *testing.T, s *Store, m *message.MessageExt) PutResult {
	t.Helper()
	res, err := s.PutMessages(context.Background(), []*message.MessageExt{m})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return res[0]
}

type getCase struct {
	name      string
	topic     string
	qid       int32
	offset    int64
	maxNums   int
	filter    MessageFilter
	status    GetStatus
	next      int64
	count     int
	min, max  int64
	firstBody string
}

func runGetCases(t *testing.T, s *Store, cases []getCase) {
	t.Helper()
	for _, tc := range cases {
		r, err := s.GetMessages("g", tc.topic, tc.qid, tc.offset, tc.maxNums, tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Status != tc.status || r.NextBeginOffset != tc.next || r.Count != tc.count || r.MinOffset != tc.min || r.MaxOffset != tc.max {
			t.Errorf("%s: got %v next %d count %d [%d,%d), want %v next %d count %d [%d,%d)", tc.name,
				r.Status, r.NextBeginOffset, r.Count, r.MinOffset, r.MaxOffset, tc.status, tc.next, tc.count, tc.min, tc.max)
			continue
		}
		msgs, err := message.DecodeAll(r.Body, nil)
		if err != nil || len(msgs) != r.Count {
			t.Errorf("%s: body decodes to %d messages (%v)", tc.name, len(msgs), err)
			continue
		}
		if tc.firstBody != "" && (len(msgs) == 0 || !strings.HasPrefix(string(msgs[0].Body), tc.firstBody)) {
			t.Errorf("%s: first body %q, want prefix %q", tc.name, msgs[0].Body, tc.firstBody)
		}
	}
}

// TestGetMessagesStatus checks GetMessages' statuses and next-begin offsets
// against RocketMQ's DefaultMessageStore.getMessage, including filtering,
// the count and byte limits and retention.
func TestGetMessagesStatus(t *testing.T) {
	c := newCluster(t, 1, func(i int, cfg *Config) {
		cfg.DLedger.SegmentSize = 16 << 10
		cfg.DLedger.TrailingLogs = 1
		cfg.MaxGetBytes = 1100
	})
	s := c.leader()
	var wPhys []int64
	for i := 0; i < 6; i++ { // W/0: big messages in the first segments
		wPhys = append(wPhys, put1(t, s, msg("W", 0, "w"+strings.Repeat("w", 3000))).Phys)
	}
	var fPhys []int64
	for i := 0; i < 3; i++ { // fillers: one per segment, so retention can take every W
		fPhys = append(fPhys, put1(t, s, msg("F", 0, strings.Repeat("f", 10000))).Phys)
	}
	var sPhys []int64
	for i := 0; i < 10; i++ { // S/0: tags A B A B ...
		tag := []string{"A", "B"}[i%2]
		sPhys = append(sPhys, put1(t, s, msg("S", 0, "s"+string(rune('0'+i)), message.PropTags, tag)).Phys)
	}
	put1(t, s, msg("S", 2, "x"+strings.Repeat("x", 600)))
	put1(t, s, msg("S", 2, "y"+strings.Repeat("y", 600)))
	put1(t, s, msg("S", 3, "z"+strings.Repeat("z", 1500)))

	tagA := ParseTagFilter("A")
	runGetCases(t, s, []getCase{
		{"empty queue at 0", "S", 1, 0, 32, nil, GetNoMessageInQueue, 0, 0, 0, 0, ""},
		{"empty queue at 7", "S", 1, 7, 32, nil, GetNoMessageInQueue, 0, 0, 0, 0, ""},
		{"unknown topic", "Nope", 0, 3, 32, nil, GetNoMessageInQueue, 0, 0, 0, 0, ""},
		{"caught up", "S", 0, 10, 32, nil, GetOffsetOverflowOne, 10, 0, 0, 10, ""},
		{"past the end", "S", 0, 25, 32, nil, GetOffsetOverflowBadly, 10, 0, 0, 10, ""},
		{"found, count limit", "S", 0, 0, 4, nil, GetFound, 4, 4, 0, 10, "s0"},
		{"found, to the end", "S", 0, 8, 32, nil, GetFound, 10, 2, 0, 10, "s8"},
		{"nothing matches", "S", 0, 0, 32, ParseTagFilter("C"), GetNoMatchedMessage, 10, 0, 0, 10, ""},
		{"tag A", "S", 0, 0, 32, tagA, GetFound, 10, 5, 0, 10, "s0"},
		{"tag A from 1", "S", 0, 1, 32, tagA, GetFound, 10, 4, 0, 10, "s2"},
		{"tag A, two", "S", 0, 0, 2, tagA, GetFound, 3, 2, 0, 10, "s0"},
		{"A or B", "S", 0, 0, 32, ParseTagFilter("A || B"), GetFound, 10, 10, 0, 10, "s0"},
		{"codes", "S", 0, 0, 32, NewTagFilter(int32(message.TagsHash("B"))), GetFound, 10, 5, 0, 10, "s1"},
		{"byte limit", "S", 2, 0, 32, nil, GetFound, 1, 1, 0, 2, "x"},
		{"first message over the byte limit", "S", 3, 0, 32, nil, GetFound, 1, 1, 0, 1, "z"},
	})

	// Commit-log retention ahead of the consume queue: entries whose
	// messages are gone read as MESSAGE_WAS_REMOVING.
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	start, err := s.ls.DropBefore(fPhys[2])
	if err != nil || start <= wPhys[5] {
		t.Fatalf("commit-log retention: start %d (W at %v), %v", start, wPhys, err)
	}
	runGetCases(t, s, []getCase{
		{"removed", "W", 0, 0, 32, nil, GetMessageWasRemoving, 6, 0, 0, 6, ""},
		{"removed then filtered", "F", 0, 0, 32, tagA, GetNoMatchedMessage, 3, 0, 0, 3, ""},
	})
	if _, err := s.LookupMessage(wPhys[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup of a removed message: %v", err)
	}

	// Consume-queue retention: offsets below the new min are too small.
	if err := s.cq.DropBeforePhys(sPhys[3]); err != nil {
		t.Fatal(err)
	}
	runGetCases(t, s, []getCase{
		{"too small", "S", 0, 1, 32, nil, GetOffsetTooSmall, 3, 0, 3, 10, ""},
		{"at the new min", "S", 0, 3, 1, nil, GetFound, 4, 1, 3, 10, "s3"},
	})
	if _, err := s.GetMessages("g", "S", 0, 0, 0, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("maxNums 0: %v", err)
	}
}

// TestSearchOffsetByTime uses an injected clock for the store timestamps.
func TestSearchOffsetByTime(t *testing.T) {
	var now atomic.Int64
	c := newCluster(t, 1, func(i int, cfg *Config) {
		cfg.Clock = func() time.Time { return time.UnixMilli(now.Load()) }
	})
	s := c.leader()
	for _, ts := range []int64{1000, 2000, 2000, 3000} {
		now.Store(ts)
		put1(t, s, msg("TS", 0, "m"))
	}
	for _, tc := range []struct{ ts, want int64 }{{0, 0}, {1000, 0}, {1500, 1}, {2000, 1}, {2001, 3}, {3000, 3}, {9999, 4}} {
		got, err := s.SearchOffsetByTime("TS", 0, tc.ts)
		if err != nil || got != tc.want {
			t.Errorf("search %d: %d %v, want %d", tc.ts, got, err, tc.want)
		}
	}
	if got, err := s.SearchOffsetByTime("TS", 5, 1000); err != nil || got != 0 {
		t.Errorf("unknown queue: %d %v", got, err)
	}
	r, err := s.GetMessages("g", "TS", 0, 3, 1, nil)
	if err != nil || r.Count != 1 {
		t.Fatalf("get: %+v %v", r, err)
	}
	if m, _, _ := message.Decode(r.Body); m.StoreTimestamp != 3000 || m.StoreHost != s.cfg.StoreHost {
		t.Fatalf("stamped store time %d host %v", m.StoreTimestamp, m.StoreHost)
	}
}

// TestQueryMessages looks messages up by KEYS and UNIQ_KEY, scoped by topic
// and time.
func TestQueryMessages(t *testing.T) {
	var now atomic.Int64
	now.Store(5000)
	c := newCluster(t, 1, func(i int, cfg *Config) {
		cfg.Clock = func() time.Time { return time.UnixMilli(now.Load()) }
	})
	s := c.leader()
	a := put1(t, s, msg("QA", 0, "a", message.PropKeys, "order-1 order-2", message.PropUniqKey, "UNIQ-A"))
	now.Store(6000)
	b := put1(t, s, msg("QA", 1, "b", message.PropKeys, "order-2"))
	put1(t, s, msg("QB", 0, "other topic", message.PropKeys, "order-1"))

	query := func(topic, key string, max int, begin, end int64) []string {
		t.Helper()
		r, err := s.QueryMessages(topic, key, max, begin, end)
		if err != nil {
			t.Fatalf("query %s %s: %v", topic, key, err)
		}
		msgs, err := message.DecodeAll(r.Body, nil)
		if err != nil || len(msgs) != r.Count || len(r.Phys) != r.Count {
			t.Fatalf("query body: %d msgs, %v", len(msgs), err)
		}
		var out []string
		for i, m := range msgs {
			if m.CommitLogOffset != r.Phys[i] {
				t.Fatalf("query: phys %d vs %d", m.CommitLogOffset, r.Phys[i])
			}
			out = append(out, string(m.Body))
		}
		return out
	}
	if got := query("QA", "order-1", 10, 0, 1<<62); len(got) != 1 || got[0] != "a" {
		t.Fatalf("order-1 in QA: %v", got)
	}
	if got := query("QA", "order-2", 10, 0, 1<<62); len(got) != 2 {
		t.Fatalf("order-2 in QA: %v", got)
	}
	if got := query("QA", "order-2", 1, 0, 1<<62); len(got) != 1 {
		t.Fatalf("order-2 max 1: %v", got)
	}
	if got := query("QA", "order-2", 10, 5500, 7000); len(got) != 1 || got[0] != "b" {
		t.Fatalf("order-2 after 5500: %v", got)
	}
	if got := query("QA", "UNIQ-A", 10, 0, 1<<62); len(got) != 1 || got[0] != "a" {
		t.Fatalf("by unique key: %v", got)
	}
	if got := query("QB", "order-2", 10, 0, 1<<62); len(got) != 0 {
		t.Fatalf("order-2 in QB: %v", got)
	}
	// Lookups by physical offset accept only message starts.
	if _, err := s.LookupMessage(a.Phys + 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup inside a message: %v", err)
	}
	if _, err := s.LookupMessage(b.Phys + 1<<30); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup past the end: %v", err)
	}
	raw, err := s.LookupMessage(b.Phys)
	if err != nil {
		t.Fatal(err)
	}
	if m, _, err := message.Decode(raw); err != nil || m.QueueOffset != b.QueueOffset || m.CommitLogOffset != b.Phys || m.QueueID != 1 {
		t.Fatalf("lookup: %+v %v", m, err)
	}
}

// TestTopicLifecycle: deleting a topic keeps its queues, so a topic
// created again continues its offsets; oversized writes are refused.
func TestTopicLifecycle(t *testing.T) {
	c := newCluster(t, 1, func(i int, cfg *Config) { cfg.DLedger.SegmentSize = 64 << 10 })
	s := c.leader()
	ctx := context.Background()
	if err := s.CreateTopic(ctx, DefaultTopicConfig("Life")); err != nil {
		t.Fatal(err)
	}
	if r := put1(t, s, msg("Life", 0, "one")); r.QueueOffset != 0 {
		t.Fatalf("first offset %d", r.QueueOffset)
	}
	if err := s.DeleteTopic(ctx, "Life"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Topic("Life"); ok {
		t.Fatalf("deleted topic still configured")
	}
	if err := s.CreateTopic(ctx, DefaultTopicConfig("Life")); err != nil {
		t.Fatal(err)
	}
	if r := put1(t, s, msg("Life", 0, "two")); r.QueueOffset != 1 {
		t.Fatalf("offset after re-creation %d, want 1", r.QueueOffset)
	}
	if err := s.CreateTopic(ctx, TopicConfig{Name: "Bad", ReadQueueNums: 0, WriteQueueNums: 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid topic config: %v", err)
	}
	big := msg("Life", 0, strings.Repeat("x", 70<<10))
	if _, err := s.PutMessages(ctx, []*message.MessageExt{big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized write: %v", err)
	}
}

// TestLookupWhileItsEntryDispatches: the FSM makes a message pullable (its
// consume-queue entry) before it advances the dispatch position past the
// raft entry holding it, so a consumer can send back a message it just
// pulled while the entry is still being dispatched; the lookup by physical
// offset must find it then (found by TestBroker/SendBackRetryDLQ).
func TestLookupWhileItsEntryDispatches(t *testing.T) {
	c := newCluster(t, 1, nil)
	s := c.leader()
	r := put1(t, s, msg("Lookup", 0, "pulled before its entry finished dispatching"))
	// Hold the FSM and put the dispatch position back to the start of the
	// message, as it is while the FSM is still inside the entry.
	s.fsmMu.Lock()
	saved := s.qs.dispatched.Load()
	s.qs.dispatched.Store(r.Phys)
	_, err := s.LookupMessage(r.Phys)
	_, errInside := s.LookupMessage(r.Phys + 1)
	s.qs.dispatched.Store(saved)
	s.fsmMu.Unlock()
	if err != nil {
		t.Fatalf("lookup of a pullable message: %v", err)
	}
	if !errors.Is(errInside, ErrNotFound) {
		t.Fatalf("lookup inside a message: %v", errInside)
	}
}
