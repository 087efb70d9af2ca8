package compat

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// compressThreshold is the client's CompressMsgBodyOverHowmuch default:
// single-message bodies of at least this many bytes go out zlib-compressed
// with sysFlag bit 0 (REMOTING.md §3.1).
const compressThreshold = 4096

// allBytes returns every byte value 0..255 once.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// testBodies are the bodies every send path carries: small text, all 256
// byte values, and three over 4 KiB (compressible text, incompressible
// random bytes, repeated binary).
func testBodies() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 20<<10)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	var text strings.Builder
	for i := 0; text.Len() < 64<<10; i++ {
		fmt.Fprintf(&text, "line %05d: the quick brown fox jumps over the lazy dog\n", i)
	}
	return map[string][]byte{
		"small":     []byte("hello, dledgermq"),
		"binary256": allBytes(),
		"bigText":   []byte(text.String()),
		"bigRandom": random,
		"bigBinary": bytes.Repeat(allBytes(), 40),
	}
}

// sentMsg is what the test expects a consumer to see for one key.
type sentMsg struct {
	via      string // sync, async, oneway, batch
	tag      string
	body     []byte
	res      *primitive.SendResult // nil for oneway
	batchIdx int
}

// testSendVariants: SendSync, SendAsync, SendOneWay and a 3-message batch,
// with small, binary (all 256 byte values) and > 4 KiB bodies; a push
// consumer must receive every message exactly once, byte-exact, with the
// ids, queue and offsets the send results named.
func testSendVariants(t *testing.T, c *cluster) {
	topic := uniqueName("SendT")
	c.createTopic(topic, 4)
	col := &collector{}
	startPushConsumer(t, c, uniqueName("send_cg"), topic, all, col.fn())
	p := newProducer(t, c, uniqueName("send_pg"))
	ctx := ctxFor(t, 2*time.Minute)
	start := time.Now()

	bodies := testBodies()
	names := []string{"small", "binary256", "bigText", "bigRandom", "bigBinary"}
	var mu sync.Mutex
	want := map[string]*sentMsg{}
	newMsg := func(via, name string, i int) (*primitive.Message, string) {
		key := fmt.Sprintf("%s-%s-%d", via, name, i)
		tag := []string{"TagA", "TagB", "TagC"}[i%3]
		m := primitive.NewMessage(topic, append([]byte(nil), bodies[name]...))
		m.WithTag(tag)
		m.WithKeys([]string{key})
		mu.Lock()
		want[key] = &sentMsg{via: via, tag: tag, body: bodies[name]}
		mu.Unlock()
		return m, key
	}
	checkResult := func(what string, res *primitive.SendResult, err error) bool {
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return false
		}
		if res.Status != primitive.SendOK {
			t.Errorf("%s: status %v, want SendOK", what, res.Status)
			return false
		}
		return true
	}

	// SendSync, one message per call.
	for i, name := range names {
		m, key := newMsg("sync", name, i)
		res, err := p.SendSync(ctx, m)
		if checkResult("SendSync "+key, res, err) {
			if res.MsgID == "" || len(res.OffsetMsgID) < 32 {
				t.Errorf("SendSync %s: MsgID %q OffsetMsgID %q", key, res.MsgID, res.OffsetMsgID)
			}
			want[key].res = res
		}
	}

	// SendAsync: all in flight at once, every callback must come.
	// The callbacks only record: t must not be used from the client's
	// goroutines once the test may have ended.
	type asyncResult struct {
		res *primitive.SendResult
		err error
	}
	asyncResults := map[string]asyncResult{}
	var wg sync.WaitGroup
	for i, name := range names {
		m, key := newMsg("async", name, i)
		wg.Add(1)
		err := p.SendAsync(ctx, func(_ context.Context, res *primitive.SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			asyncResults[key] = asyncResult{res, err}
			mu.Unlock()
		}, m)
		if err != nil {
			wg.Done()
			t.Errorf("SendAsync %s: %v", key, err)
		}
	}
	waitGroup(t, &wg, 20*time.Second, "SendAsync callbacks")
	for key, r := range asyncResults {
		if checkResult("SendAsync "+key, r.res, r.err) {
			want[key].res = r.res
		}
	}

	// SendOneWay: no result; the consumer is the only witness.
	for i, name := range names {
		m, key := newMsg("oneway", name, i)
		if err := p.SendOneWay(ctx, m); err != nil {
			t.Errorf("SendOneWay %s: %v", key, err)
		}
	}

	// A batch of 3 (SEND_BATCH_MESSAGE, 320); batch members are never
	// compressed by the client, whatever their size.
	var batch []*primitive.Message
	var batchKeys []string
	for i, name := range []string{"small", "binary256", "bigText"} {
		m, key := newMsg("batch", name, i)
		want[key].batchIdx = i
		batch = append(batch, m)
		batchKeys = append(batchKeys, key)
	}
	res, err := p.SendSync(ctx, batch...)
	var batchIDs []string
	if checkResult("SendSync(batch of 3)", res, err) {
		batchIDs = strings.Split(res.OffsetMsgID, ",")
		if len(batchIDs) != 3 {
			t.Errorf("batch OffsetMsgID %q: want 3 comma-separated ids", res.OffsetMsgID)
		}
		for _, k := range batchKeys {
			want[k].res = res
		}
	}
	sendDone := time.Now()

	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	eventually(t, 90*time.Second, "every sent message to be consumed", func() (bool, string) { return col.hasKeys(keys) })
	consumed := time.Now()
	time.Sleep(time.Second) // room for a duplicate to show up

	leader, _ := c.masterAddr(ctxFor(t, 3*time.Second))
	got := col.byKey()
	for key, w := range want {
		ms := got[key]
		if len(ms) != 1 {
			t.Errorf("%s: consumed %d times, want once", key, len(ms))
			continue
		}
		m := ms[0]
		if !bytes.Equal(m.Body, w.body) {
			t.Errorf("%s: body differs: got %d bytes (first diff at %d), want %d bytes", key, len(m.Body), firstDiff(m.Body, w.body), len(w.body))
		}
		if m.Topic != topic || m.GetTags() != w.tag || m.ReconsumeTimes != 0 {
			t.Errorf("%s: topic %q tags %q reconsumeTimes %d, want %q %q 0", key, m.Topic, m.GetTags(), m.ReconsumeTimes, topic, w.tag)
		}
		compressed := m.SysFlag&primitive.FlagCompressed != 0
		if wantCompressed := w.via != "batch" && len(w.body) >= compressThreshold; compressed != wantCompressed {
			t.Errorf("%s (%s, %d bytes): stored compressed=%v, want %v", key, w.via, len(w.body), compressed, wantCompressed)
		}
		if m.BornTimestamp < start.Add(-time.Minute).UnixMilli() || m.BornTimestamp > sendDone.Add(time.Minute).UnixMilli() {
			t.Errorf("%s: bornTimestamp %d outside the test", key, m.BornTimestamp)
		}
		if leader != "" && m.StoreHost != leader {
			t.Errorf("%s: storeHost %q, want the leader %q", key, m.StoreHost, leader)
		}
		r := w.res
		if r == nil {
			continue // oneway, or the send already failed
		}
		if w.via == "batch" {
			if len(batchIDs) == 3 && m.OffsetMsgId != batchIDs[w.batchIdx] {
				t.Errorf("%s: OffsetMsgId %s, want batch id #%d %s", key, m.OffsetMsgId, w.batchIdx, batchIDs[w.batchIdx])
			}
			if m.QueueOffset != r.QueueOffset+int64(w.batchIdx) || m.Queue.QueueId != r.MessageQueue.QueueId {
				t.Errorf("%s: queue %d offset %d, want queue %d offset %d", key, m.Queue.QueueId, m.QueueOffset, r.MessageQueue.QueueId, r.QueueOffset+int64(w.batchIdx))
			}
			continue
		}
		if m.MsgId != r.MsgID || m.OffsetMsgId != r.OffsetMsgID {
			t.Errorf("%s: consumed MsgId %s OffsetMsgId %s, send result said %s %s", key, m.MsgId, m.OffsetMsgId, r.MsgID, r.OffsetMsgID)
		}
		if m.Queue.QueueId != r.MessageQueue.QueueId || m.QueueOffset != r.QueueOffset {
			t.Errorf("%s: queue %d offset %d, send result said queue %d offset %d", key, m.Queue.QueueId, m.QueueOffset, r.MessageQueue.QueueId, r.QueueOffset)
		}
	}
	for key := range got {
		if want[key] == nil {
			t.Errorf("consumed a message nobody sent: keys %q", key)
		}
	}
	t.Logf("%d messages (sync/async/oneway/batch) sent in %v, all consumed %v after the last send",
		len(want), sendDone.Sub(start).Round(time.Millisecond), consumed.Sub(sendDone).Round(time.Millisecond))
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// waitGroup waits for wg, failing the test after d.
func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// testAutoCreateTopic: SendSync to a topic nobody created goes through the
// TBW102 route (the client asks the NameServer for TBW102, sends with
// defaultTopic=TBW102, defaultTopicQueueNums=4); the broker creates the
// topic and registers it, and a consumer started afterwards reads the
// message.
func testAutoCreateTopic(t *testing.T, c *cluster) {
	topic := uniqueName("AutoT")
	ctx := ctxFor(t, time.Minute)
	if _, err := c.route(ctx, topic); err == nil {
		t.Fatalf("route of %s exists before the first send", topic)
	}
	p := newProducer(t, c, uniqueName("auto_pg"))
	m := primitive.NewMessage(topic, allBytes())
	m.WithKeys([]string{"auto-0"})
	res, err := p.SendSync(ctx, m)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("first send to an unknown topic: %v %v", res, err)
	}
	rd := c.waitRoute(topic, 0, 30*time.Second)
	for _, qd := range rd.QueueDatas {
		if qd.WriteQueueNums != 4 || qd.Perm&6 != 6 {
			t.Errorf("auto-created %s: %+v, want 4 queues (the client's defaultTopicQueueNums) with read|write perm", topic, qd)
		}
	}
	col := &collector{}
	startPushConsumer(t, c, uniqueName("auto_cg"), topic, all, col.fn())
	eventually(t, 60*time.Second, "the message sent to the auto-created topic", func() (bool, string) { return col.hasKeys([]string{"auto-0"}) })
	if got := col.byKey()["auto-0"][0]; !bytes.Equal(got.Body, allBytes()) || got.MsgId != res.MsgID {
		t.Errorf("auto-created topic delivered MsgId %s body %x, want %s and all 256 byte values", got.MsgId, got.Body, res.MsgID)
	}
	t.Logf("auto-created %s (route %+v) on the first send; its message consumed", topic, rd.QueueDatas)
}
