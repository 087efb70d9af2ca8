package compat

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/dledgermq/dledgermq/message"
)

// delivery is one callback invocation of the retry test.
type delivery struct {
	key            string
	msgID          string
	topic          string
	reconsumeTimes int32
	at             time.Time
}

// testRetryThenDLQ: with WithMaxReconsumeTimes(1), ConsumeRetryLater sends
// a message back (CONSUMER_SEND_MSG_BACK); it is redelivered once with
// ReconsumeTimes 1, the same MsgId and its original topic, and after the
// second failure it lands in %DLQ%<group>. The DLQ is write-only (perm 2,
// as in RocketMQ), so it is inspected with QUERY_MESSAGE by the message's
// UNIQ_KEY and GET_MAX_OFFSET over our own remoting client.
//
// Key "ok" fails once and succeeds on the retry; key "dead" always fails.
func testRetryThenDLQ(t *testing.T, c *cluster) {
	topic := uniqueName("RetryT")
	group := uniqueName("retry_cg")
	dlq := "%DLQ%" + group
	c.createTopic(topic, 4)
	warmUpGroup(t, c, group, topic)

	var mu sync.Mutex
	var deliveries []delivery
	fn := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		result := consumer.ConsumeSuccess
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			deliveries = append(deliveries, delivery{key: m.GetKeys(), msgID: m.MsgId, topic: m.Topic, reconsumeTimes: m.ReconsumeTimes, at: time.Now()})
			if m.GetKeys() == "dead" || m.ReconsumeTimes == 0 {
				result = consumer.ConsumeRetryLater
			}
		}
		return result, nil
	}
	startPushConsumer(t, c, group, topic, all, fn, consumer.WithMaxReconsumeTimes(1))

	p := newProducer(t, c, uniqueName("retry_pg"))
	bodies := map[string][]byte{"ok": []byte("retried once, then fine"), "dead": allBytes()}
	ids := map[string]string{}
	sent := time.Now()
	for _, key := range []string{"ok", "dead"} {
		m := primitive.NewMessage(topic, bodies[key])
		m.WithKeys([]string{key})
		m.WithTag("TagR")
		res, err := p.SendSync(ctxFor(t, 10*time.Second), m)
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %s: %v %v", key, res, err)
		}
		ids[key] = res.MsgID
	}

	// The dead message in the DLQ is the end of the story.
	var dlqMsgs []message.MessageExt
	eventually(t, 90*time.Second, "the always-failing message in "+dlq, func() (bool, string) {
		raw, err := c.queryMessage(dlq, ids["dead"])
		if err != nil || raw == nil {
			mu.Lock()
			n := len(deliveries)
			mu.Unlock()
			return false, fmt.Sprintf("not there yet (%v); %d deliveries so far", err, n)
		}
		dlqMsgs, err = message.DecodeAll(raw, nil)
		return err == nil, fmt.Sprint(err)
	})
	inDLQ := time.Now()
	time.Sleep(2 * time.Second) // a third delivery would show up now

	mu.Lock()
	got := append([]delivery(nil), deliveries...)
	mu.Unlock()
	perKey := map[string][]delivery{}
	for _, d := range got {
		perKey[d.key] = append(perKey[d.key], d)
	}
	for _, key := range []string{"ok", "dead"} {
		ds := perKey[key]
		if len(ds) != 2 {
			t.Errorf("%s delivered %d times, want 2 (first try + one retry): %+v", key, len(ds), ds)
			continue
		}
		for i, d := range ds {
			if d.reconsumeTimes != int32(i) {
				t.Errorf("%s delivery %d: ReconsumeTimes %d, want %d", key, i, d.reconsumeTimes, i)
			}
			if d.msgID != ids[key] {
				t.Errorf("%s delivery %d: MsgId %s, want %s (the send result's)", key, i, d.msgID, ids[key])
			}
			if d.topic != topic {
				t.Errorf("%s delivery %d: topic %q, want the original %q", key, i, d.topic, topic)
			}
		}
		t.Logf("%s: delivered %v and %v after the send", key, ds[0].at.Sub(sent).Round(time.Millisecond), ds[1].at.Sub(sent).Round(time.Millisecond))
	}
	for key := range perKey {
		if bodies[key] == nil {
			t.Errorf("unexpected delivery with keys %q", key)
		}
	}

	if len(dlqMsgs) != 1 {
		t.Fatalf("%s holds %d messages with UNIQ_KEY %s, want 1", dlq, len(dlqMsgs), ids["dead"])
	}
	d := dlqMsgs[0]
	if d.Topic != dlq || !bytes.Equal(d.Body, bodies["dead"]) || d.Keys() != "dead" {
		t.Errorf("DLQ message: topic %q keys %q body %x", d.Topic, d.Keys(), d.Body)
	}
	if rt := d.Properties.Get(message.PropRetryTopic); rt != topic {
		t.Errorf("DLQ message RETRY_TOPIC %q, want %q", rt, topic)
	}
	if om := d.Properties.Get(message.PropOriginMessageID); om != ids["dead"] {
		t.Errorf("DLQ message ORIGIN_MESSAGE_ID %q, want %q", om, ids["dead"])
	}
	if d.ReconsumeTimes != 2 {
		t.Errorf("DLQ message reconsumeTimes %d, want 2 (RocketMQ adds one on every send-back)", d.ReconsumeTimes)
	}
	if raw, err := c.queryMessage(dlq, ids["ok"]); err != nil || raw != nil {
		t.Errorf("the message that succeeded on its retry is in the DLQ too (%d bytes, %v)", len(raw), err)
	}
	if max, err := c.maxOffset(dlq, 0); err != nil || max != 1 {
		t.Errorf("%s queue 0 max offset %d (%v), want 1", dlq, max, err)
	}
	if rd, err := c.route(ctxFor(t, 5*time.Second), dlq); err != nil || len(rd.QueueDatas) != 1 || rd.QueueDatas[0].Perm != 2 {
		t.Errorf("%s route %+v (%v): want one queue data with perm 2 (write-only)", dlq, rd, err)
	}
	t.Logf("dead message reached %s %v after the send", dlq, inDLQ.Sub(sent).Round(time.Millisecond))
}
