package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
)

// TestPutReplicated writes from many goroutines (single messages and
// batches, several topics and queues) and checks that every replica holds
// the same queues, offsets and bytes, and that every acknowledged message
// sits where its PutResult says.
func TestPutReplicated(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()

	var arrived atomic.Int64
	follower := c.store((c.leaderIdx() + 1) % 3)
	follower.OnArrive(func(topic string, qid int32, max int64) { arrived.Add(1) })

	const writers, calls = 16, 25
	var mu sync.Mutex
	acked := map[string]PutResult{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				topic := []string{"TopicA", "TopicB"}[(w+i)%2]
				qid := int32((w*7 + i) % 3)
				n := 1 + (w+i)%4 // 1..4 messages: SEND or SEND_BATCH
				var msgs []*message.MessageExt
				for j := 0; j < n; j++ {
					body := fmt.Sprintf("w%02d-c%03d-m%d", w, i, j)
					msgs = append(msgs, msg(topic, qid, body, message.PropTags, "Tag"+string(rune('A'+j%2)),
						message.PropKeys, "key-"+body, message.PropUniqKey, "U"+body))
				}
				res, err := lead.PutMessages(context.Background(), msgs)
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				mu.Lock()
				for j, r := range res {
					if j > 0 && (r.QueueOffset != res[j-1].QueueOffset+1 || r.Phys <= res[j-1].Phys) {
						t.Errorf("batch not consecutive: %+v after %+v", r, res[j-1])
					}
					if len(r.MsgID) != 32 {
						t.Errorf("msg id %q", r.MsgID)
					}
					acked[string(msgs[j].Body)] = r
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	b := lead.msgBatcher
	t.Logf("group commit: %d calls in %d entries", b.packed.Load(), b.entries.Load())

	views := c.checkReplicas()
	stored := uniqueBodies(t, views)
	if len(stored) != len(acked) {
		t.Fatalf("%d messages stored, %d acknowledged", len(stored), len(acked))
	}
	for body, r := range acked {
		got, ok := stored[body]
		if !ok || got.QueueOffset != r.QueueOffset || got.Phys != r.Phys || got.QueueID != r.QueueID {
			t.Fatalf("%q acknowledged at %+v, stored at %+v (found %v)", body, r, got, ok)
		}
		id := message.OffsetMsgID{Host: lead.cfg.StoreHost, Offset: r.Phys}.String()
		if id != r.MsgID {
			t.Fatalf("msg id %s, want %s", r.MsgID, id)
		}
	}
	waitFor(t, 5*time.Second, "arrival notifications on a follower", func() bool { return arrived.Load() > 0 })

	// Every replica resolves every message id to the same bytes.
	for body, r := range acked {
		var ref []byte
		for _, i := range c.up() {
			got, err := c.store(i).LookupMessageByID(r.MsgID)
			if err != nil {
				t.Fatalf("n%d lookup %s: %v", i, r.MsgID, err)
			}
			m, _, err := message.Decode(got)
			if err != nil || string(m.Body) != body || m.QueueOffset != r.QueueOffset || m.CommitLogOffset != r.Phys {
				t.Fatalf("n%d lookup %s: %+v %v", i, r.MsgID, m, err)
			}
			if ref != nil && string(ref) != string(got) {
				t.Fatalf("lookup differs between replicas")
			}
			ref = got
		}
		break
	}
}

// TestNotLeader checks that followers refuse writes with ErrNotLeader.
func TestNotLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	li := c.leaderIdx()
	f := c.store((li + 1) % 3)
	ctx := context.Background()
	if _, err := f.PutMessages(ctx, []*message.MessageExt{msg("T", 0, "x")}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("put on follower: %v", err)
	}
	if err := f.CreateTopic(ctx, DefaultTopicConfig("T")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("create topic on follower: %v", err)
	}
	if err := f.CommitOffset(ctx, "g", "T", 0, 5); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("commit offset on follower: %v", err)
	}
	if _, err := c.store(li).PutMessages(ctx, []*message.MessageExt{msg("T", -1, "x")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative queue id: %v", err)
	}
	if _, err := c.store(li).PutMessages(ctx, []*message.MessageExt{msg("bad topic", 0, "x")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad topic: %v", err)
	}
}
