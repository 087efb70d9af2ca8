package compat

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

var nameSeq atomic.Int64

// uniqueName returns a process-unique name: instance names key the client's
// process-global instance map (ClientID = ip@instance), so every client
// object gets its own; groups and topics are unique per test too.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), nameSeq.Add(1))
}

// newProducer starts a producer of a fresh instance; it is shut down in
// t.Cleanup (Shutdown is idempotent, so tests may call it earlier).
func newProducer(t *testing.T, c *cluster, group string, opts ...producer.Option) rocketmq.Producer {
	t.Helper()
	all := append([]producer.Option{
		producer.WithNameServer(c.nsAddrs()),
		producer.WithGroupName(group),
		producer.WithInstanceName(uniqueName("prod")),
	}, opts...)
	p, err := rocketmq.NewProducer(all...)
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatalf("producer start: %v", err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}

// consumeFunc is the push consumer's callback type.
type consumeFunc func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)

// startPushConsumer starts a push consumer of a fresh instance subscribed
// to topic (whose route must exist); it is shut down in t.Cleanup.
func startPushConsumer(t *testing.T, c *cluster, group, topic string, sel consumer.MessageSelector, fn consumeFunc, opts ...consumer.Option) rocketmq.PushConsumer {
	t.Helper()
	all := append([]consumer.Option{
		consumer.WithNameServer(c.nsAddrs()),
		consumer.WithGroupName(group),
		consumer.WithInstance(uniqueName("cons")),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumeMessageBatchMaxSize(1),
	}, opts...)
	pc, err := rocketmq.NewPushConsumer(all...)
	if err != nil {
		t.Fatalf("new push consumer: %v", err)
	}
	if err := pc.Subscribe(topic, sel, fn); err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	if err := pc.Start(); err != nil {
		t.Fatalf("consumer start (group %s, topic %s): %v", group, topic, err)
	}
	t.Cleanup(func() { _ = pc.Shutdown() })
	return pc
}

// all is the "*" subscription.
var all = consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}

// collector records every message a consumer callback sees.
type collector struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
}

// fn returns a callback that records and acknowledges.
func (col *collector) fn() consumeFunc {
	return func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}
}

func (col *collector) add(msgs ...*primitive.MessageExt) {
	col.mu.Lock()
	col.msgs = append(col.msgs, msgs...)
	col.mu.Unlock()
}

func (col *collector) snapshot() []*primitive.MessageExt {
	col.mu.Lock()
	defer col.mu.Unlock()
	return append([]*primitive.MessageExt(nil), col.msgs...)
}

// byKey counts the collected messages per KEYS property.
func (col *collector) byKey() map[string][]*primitive.MessageExt {
	out := map[string][]*primitive.MessageExt{}
	for _, m := range col.snapshot() {
		out[m.GetKeys()] = append(out[m.GetKeys()], m)
	}
	return out
}

// hasKeys reports whether every key was collected, and what is missing.
func (col *collector) hasKeys(keys []string) (bool, string) {
	got := col.byKey()
	var missing []string
	for _, k := range keys {
		if len(got[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return true, ""
	}
	if len(missing) > 8 {
		return false, fmt.Sprintf("%d of %d keys missing, e.g. %v", len(missing), len(keys), missing[:8])
	}
	return false, fmt.Sprintf("missing %v", missing)
}

// eventually polls cond until it holds or d passes (then fails with the
// last explanation cond gave).
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", d, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ctxFor is a context bounded by d and by the end of the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// warmUpGroup makes the broker create the group's %RETRY% topic (it does
// on the group's first heartbeat) and waits for its route. A consumer only
// fetches routes at Start and then every 30 s, so a group's very first
// consumer would not pull its retries for up to 30 s; this throwaway
// consumer takes that hit instead.
func warmUpGroup(t *testing.T, c *cluster, group, topic string) {
	t.Helper()
	pc := startPushConsumer(t, c, group, topic, all, func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		return consumer.ConsumeRetryLater, nil // never reached: nothing was sent yet
	})
	c.waitRoute("%RETRY%"+group, 0, 30*time.Second)
	_ = pc.Shutdown()
	waitGroupEmpty(t, c, group)
}

// waitGroupEmpty waits until the leader lists no member of group, so the
// next consumer of the group does not share the queues with one that was
// just shut down. That takes up to the broker's 10 s client scan when the
// shutdown raced a heartbeat (TestReproGhostMemberAfterClose); it is logged.
func waitGroupEmpty(t *testing.T, c *cluster, group string) {
	t.Helper()
	start := time.Now()
	eventually(t, 30*time.Second, "every consumer to leave "+group, func() (bool, string) {
		ids, err := c.consumerIDs(group)
		return err == nil && len(ids) == 0, fmt.Sprint(ids, err)
	})
	if d := time.Since(start); d > time.Second {
		t.Logf("a shut-down consumer stayed a member of %s for %v (ghost member, see TestReproGhostMemberAfterClose)", group, d.Round(time.Millisecond))
	}
}
