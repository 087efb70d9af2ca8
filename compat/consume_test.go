package compat

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// sendKeyed sends n messages with keys prefix-0..n-1 (SendSync), optionally
// to explicit queues (queueOf, with a producer using the manual selector) and
// with tags (tagOf); it returns the keys.
func sendKeyed(t *testing.T, p interface {
	SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
}, topic, prefix string, n int, tagOf func(int) string, queueOf func(int) int) []string {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	keys := make([]string, 0, n)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		m := primitive.NewMessage(topic, []byte("body of "+key))
		m.WithKeys([]string{key})
		if tagOf != nil {
			m.WithTag(tagOf(i))
		}
		if queueOf != nil {
			m.Queue = &primitive.MessageQueue{Topic: topic, BrokerName: brokerName, QueueId: queueOf(i)}
		}
		res, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatalf("send %s: %v", key, err)
		}
		if res.Status != primitive.SendOK {
			t.Fatalf("send %s: status %v", key, res.Status)
		}
		if queueOf != nil && res.MessageQueue.QueueId != queueOf(i) {
			t.Fatalf("send %s: went to queue %d, asked for %d", key, res.MessageQueue.QueueId, queueOf(i))
		}
		keys = append(keys, key)
	}
	return keys
}

// queuesOf returns the sorted queue ids of msgs.
func queuesOf(msgs []*primitive.MessageExt) []int {
	set := map[int]bool{}
	for _, m := range msgs {
		set[m.Queue.QueueId] = true
	}
	out := make([]int, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	sort.Ints(out)
	return out
}

// testTagFilterSharing: two push consumers of one group (distinct instance
// names) subscribed with "TagA || TagB" to a 4-queue topic split the queues
// 2+2 (disjoint, seen through MessageExt.Queue) and together receive every
// TagA/TagB message exactly once and no TagC.
func testTagFilterSharing(t *testing.T, c *cluster) {
	const queues, n = 4, 48
	topic := uniqueName("TagT")
	group := uniqueName("tag_cg")
	c.createTopic(topic, queues)
	sel := consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA || TagB"}
	col1, col2 := &collector{}, &collector{}
	startPushConsumer(t, c, group, topic, sel, col1.fn())
	startPushConsumer(t, c, group, topic, sel, col2.fn())

	// Both members known to the broker; then give the rebalance that the
	// second member's heartbeat triggers (NOTIFY_CONSUMER_IDS_CHANGED) time
	// to settle before anything is sent, so no queue changes hands with
	// messages in it.
	eventually(t, 30*time.Second, "both consumers in GET_CONSUMER_LIST_BY_GROUP", func() (bool, string) {
		ids, err := c.consumerIDs(group)
		return err == nil && len(ids) == 2, fmt.Sprintf("ids %v err %v", ids, err)
	})
	time.Sleep(3 * time.Second)

	p := newProducer(t, c, uniqueName("tag_pg"), producer.WithQueueSelector(producer.NewManualQueueSelector()))
	tags := []string{"TagA", "TagB", "TagC"}
	tagOf := func(i int) string { return tags[i%3] }
	keys := sendKeyed(t, p, topic, "tag", n, tagOf, func(i int) int { return i % queues })
	var matching []string
	for i, k := range keys {
		if tagOf(i) != "TagC" {
			matching = append(matching, k)
		}
	}

	both := func() map[string][]*primitive.MessageExt {
		out := col1.byKey()
		for k, ms := range col2.byKey() {
			out[k] = append(out[k], ms...)
		}
		return out
	}
	eventually(t, 60*time.Second, "every TagA/TagB message", func() (bool, string) {
		got := both()
		missing := 0
		for _, k := range matching {
			if len(got[k]) == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(matching))
	})
	time.Sleep(time.Second) // room for a stray TagC or duplicate to arrive

	for k, ms := range both() {
		if len(ms) != 1 {
			t.Errorf("%s consumed %d times", k, len(ms))
		}
		if tag := ms[0].GetTags(); tag != "TagA" && tag != "TagB" {
			t.Errorf("%s with tag %q delivered to a \"TagA || TagB\" subscriber", k, tag)
		}
	}
	q1, q2 := queuesOf(col1.snapshot()), queuesOf(col2.snapshot())
	t.Logf("consumer 1 got %d messages from queues %v, consumer 2 got %d from queues %v",
		len(col1.snapshot()), q1, len(col2.snapshot()), q2)
	if len(q1) != queues/2 || len(q2) != queues/2 {
		t.Errorf("queues not shared 2+2: %v and %v", q1, q2)
	}
	for _, a := range q1 {
		for _, b := range q2 {
			if a == b {
				t.Errorf("queue %d consumed by both members", a)
			}
		}
	}
}

// testBroadcasting: two BROADCASTING consumers of one group both receive
// every message.
func testBroadcasting(t *testing.T, c *cluster) {
	const n = 24
	topic := uniqueName("BcastT")
	group := uniqueName("bcast_cg")
	c.createTopic(topic, 4)
	col1, col2 := &collector{}, &collector{}
	startPushConsumer(t, c, group, topic, all, col1.fn(), consumer.WithConsumerModel(consumer.BroadCasting))
	startPushConsumer(t, c, group, topic, all, col2.fn(), consumer.WithConsumerModel(consumer.BroadCasting))

	p := newProducer(t, c, uniqueName("bcast_pg"))
	keys := sendKeyed(t, p, topic, "bcast", n, nil, nil)
	for i, col := range []*collector{col1, col2} {
		eventually(t, 60*time.Second, fmt.Sprintf("consumer %d to see every message", i+1), func() (bool, string) { return col.hasKeys(keys) })
	}
	time.Sleep(time.Second)
	for i, col := range []*collector{col1, col2} {
		got := col.byKey()
		if len(got) != n {
			t.Errorf("consumer %d: %d distinct keys, want %d", i+1, len(got), n)
		}
		for k, ms := range got {
			if len(ms) != 1 {
				t.Errorf("consumer %d: %s consumed %d times", i+1, k, len(ms))
			}
		}
		if qs := queuesOf(col.snapshot()); len(qs) != 4 {
			t.Errorf("consumer %d: saw queues %v, want all 4", i+1, qs)
		}
	}
}

// testOffsetsSurviveRestart: consume N, wait until the client has committed
// them (UPDATE_CONSUMER_OFFSET, every 5 s) as seen by QUERY_CONSUMER_OFFSET,
// shut down, send M more, start a new consumer of the same group: it
// receives exactly the M new ones, none of the first N.
func testOffsetsSurviveRestart(t *testing.T, c *cluster) {
	const queues, n, m = 4, 20, 12
	topic := uniqueName("OffT")
	group := uniqueName("off_cg")
	c.createTopic(topic, queues)
	p := newProducer(t, c, uniqueName("off_pg"))
	first := sendKeyed(t, p, topic, "first", n, nil, nil)

	col1 := &collector{}
	start := time.Now()
	c1 := startPushConsumer(t, c, group, topic, all, col1.fn())
	eventually(t, 60*time.Second, "the first consumer to see the first batch", func() (bool, string) { return col1.hasKeys(first) })

	// The broker's view: committed offsets reach every queue's end.
	eventually(t, 45*time.Second, "committed offsets to reach the queue ends", func() (bool, string) {
		var committed, maxSum int64
		for q := 0; q < queues; q++ {
			off, found, err := c.consumerOffset(group, topic, q)
			if err != nil {
				return false, err.Error()
			}
			max, err := c.maxOffset(topic, q)
			if err != nil {
				return false, err.Error()
			}
			if !found || off != max {
				return false, fmt.Sprintf("queue %d: committed %d (found %v), max %d", q, off, found, max)
			}
			committed += off
			maxSum += max
		}
		return committed == n && maxSum == n, fmt.Sprintf("committed %d, max %d, want %d", committed, maxSum, n)
	})
	t.Logf("offsets of %d messages committed %v after the consumer started", n, time.Since(start).Round(time.Millisecond))
	_ = c1.Shutdown()
	waitGroupEmpty(t, c, group)

	second := sendKeyed(t, p, topic, "second", m, nil, nil)
	col2 := &collector{}
	startPushConsumer(t, c, group, topic, all, col2.fn())
	eventually(t, 60*time.Second, "the restarted group to see the new messages", func() (bool, string) { return col2.hasKeys(second) })
	time.Sleep(2 * time.Second) // room for a redelivery to show up

	got := col2.byKey()
	for _, k := range first {
		if len(got[k]) > 0 {
			t.Errorf("%s redelivered after the restart (offset was committed)", k)
		}
	}
	for _, k := range second {
		if len(got[k]) != 1 {
			t.Errorf("%s consumed %d times after the restart, want once", k, len(got[k]))
		}
	}
	if len(got) != m {
		t.Errorf("restarted consumer saw %d distinct keys, want %d", len(got), m)
	}
}
