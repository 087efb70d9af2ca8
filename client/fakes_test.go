package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// This file holds the test doubles: a name server answering
// GET_ROUTEINFO_BY_TOPIC from a table of raw bodies, and a broker keeping
// queues in memory that serves SEND (10/310/320), PULL (11, with long
// polling), offsets (14/15/29/30/31) and UPDATE_AND_CREATE_TOPIC (17). The
// real broker replaces the fake in integration_test.go; the fake stays for
// error paths the real one cannot be made to produce.

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func testServerConfig() remoting.ServerConfig {
	cfg := remoting.DefaultServerConfig()
	cfg.Conn.Logger = discard
	cfg.Executors = map[remoting.RequestCode]remoting.Executor{remoting.PullMessage: remoting.NewGoExecutor(0)}
	return cfg
}

func startServer(t testing.TB, h remoting.Handler) (*remoting.Server, string) {
	t.Helper()
	srv, err := remoting.NewServer(testServerConfig(), h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, ln.Addr().String()
}

// ---- name server ----

type fakeNamesrv struct {
	addr    string
	mu      sync.Mutex
	routes  map[string][]byte
	queries atomic.Int32
	down    atomic.Bool // answer SYSTEM_ERROR to everything
}

func newFakeNamesrv(t testing.TB) *fakeNamesrv {
	ns := &fakeNamesrv{routes: make(map[string][]byte)}
	_, ns.addr = startServer(t, remoting.HandlerFunc(ns.serve))
	return ns
}

func (ns *fakeNamesrv) serve(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	if req.RequestCode() != remoting.GetRouteInfoByTopic {
		return remoting.NotSupported(req)
	}
	ns.queries.Add(1)
	if ns.down.Load() {
		return remoting.NewResponse(req, remoting.SystemError, "down")
	}
	ns.mu.Lock()
	body, ok := ns.routes[req.Ext("topic")]
	ns.mu.Unlock()
	if !ok {
		return remoting.NewResponse(req, remoting.TopicNotExist, "No topic route info in name server for the topic: "+req.Ext("topic"))
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

func (ns *fakeNamesrv) setRoute(topic string, body string) {
	ns.mu.Lock()
	ns.routes[topic] = []byte(body)
	ns.mu.Unlock()
}

// fastjsonRoute is a route body as a Java 4.x name server writes it for a
// Go client: compact, brokerAddrs keys unquoted.
func fastjsonRoute(brokerName, masterAddr string, queues int) string {
	return fmt.Sprintf(`{"brokerDatas":[{"brokerAddrs":{0:"%s"},"brokerName":"%s","cluster":"DefaultCluster"}],`+
		`"filterServerTable":{},"queueDatas":[{"brokerName":"%s","perm":6,"readQueueNums":%d,"topicSysFlag":0,"writeQueueNums":%d}]}`,
		masterAddr, brokerName, brokerName, queues, queues)
}

// ---- broker ----

type qkey struct {
	topic string
	queue int32
}

type fakeQueue struct {
	msgs [][]byte      // stored records
	wake chan struct{} // closed and replaced on every append
}

type sendHookFunc func(req *remoting.Command) (resp *remoting.Command, handled bool)

// setSendHook installs (nil: removes) the send hook.
func (b *fakeBroker) setSendHook(f sendHookFunc) {
	if f == nil {
		b.sendHook.Store(nil)
		return
	}
	b.sendHook.Store(&f)
}

type fakeBroker struct {
	addr string
	host netip.AddrPort
	srv  *remoting.Server

	mu       sync.Mutex
	queues   map[qkey]*fakeQueue
	physical int64
	offsets  map[string]int64 // group/topic/queue → committed
	created  []map[string]string

	// sendHook, if set, sees every send request first; handled=true means
	// it decided: resp is the answer, nil for none (the request hangs).
	sendHook  atomic.Pointer[sendHookFunc]
	createErr atomic.Int32 // when nonzero, UPDATE_AND_CREATE_TOPIC answers this code
	maxHold   time.Duration

	sends    atomic.Int32 // send requests received
	batches  atomic.Int32 // ... of which SEND_BATCH
	pulls    atomic.Int32 // pull requests received
	holding  atomic.Int32 // pulls currently held
	lastPull atomic.Pointer[map[string]string]
	sysFlags sync.Map // UNIQ_KEY → sysFlag of the send that stored it
}

func newFakeBroker(t testing.TB) *fakeBroker {
	b := &fakeBroker{queues: make(map[qkey]*fakeQueue), offsets: make(map[string]int64), maxHold: 10 * time.Second}
	b.srv, b.addr = startServer(t, remoting.HandlerFunc(b.serve))
	b.host = netip.MustParseAddrPort(b.addr)
	return b
}

func (b *fakeBroker) queue(k qkey) *fakeQueue {
	q := b.queues[k]
	if q == nil {
		q = &fakeQueue{wake: make(chan struct{})}
		b.queues[k] = q
	}
	return q
}

func (b *fakeBroker) serve(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	switch req.RequestCode() {
	case remoting.SendMessage, remoting.SendMessageV2, remoting.SendBatchMessage:
		b.sends.Add(1)
		if req.RequestCode() == remoting.SendBatchMessage {
			b.batches.Add(1)
		}
		if h := b.sendHook.Load(); h != nil {
			if resp, handled := (*h)(req); handled {
				return resp
			}
		}
		return b.send(c, req)
	case remoting.PullMessage:
		return b.pull(ctx, req)
	case remoting.QueryConsumerOffset, remoting.UpdateConsumerOffset, remoting.GetMaxOffset,
		remoting.GetMinOffset, remoting.SearchOffsetByTimestamp:
		return b.offset(req)
	case remoting.UpdateAndCreateTopic:
		if code := b.createErr.Load(); code != 0 {
			return remoting.NewResponse(req, remoting.ResponseCode(code), "not the leader")
		}
		b.mu.Lock()
		b.created = append(b.created, req.ExtFields)
		b.mu.Unlock()
		return remoting.NewResponse(req, remoting.Success, "")
	}
	return remoting.NotSupported(req)
}

// sendFields reads a send header in either naming.
func sendFields(req *remoting.Command) (topic string, queueID, sysFlag int64, born int64, flag int64, props string) {
	k := map[string]string{"topic": "topic", "queueId": "queueId", "sysFlag": "sysFlag", "born": "bornTimestamp", "flag": "flag", "props": "properties"}
	if req.RequestCode() != remoting.SendMessage {
		k = map[string]string{"topic": "b", "queueId": "e", "sysFlag": "f", "born": "g", "flag": "h", "props": "i"}
	}
	num := func(key string) int64 { v, _ := strconv.ParseInt(req.Ext(k[key]), 10, 64); return v }
	return req.Ext(k["topic"]), num("queueId"), num("sysFlag"), num("born"), num("flag"), req.Ext(k["props"])
}

func (b *fakeBroker) send(c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, qid, sysFlag, born, flag, props := sendFields(req)
	var msgs []message.Message
	if req.RequestCode() == remoting.SendBatchMessage {
		var err error
		if msgs, err = message.DecodeBatch(req.Body, nil); err != nil {
			return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
		}
	} else {
		msgs = []message.Message{{Flag: int32(flag), Properties: message.ParseProperties(props), Body: req.Body}}
	}
	bornHost, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	b.mu.Lock()
	q := b.queue(qkey{topic, int32(qid)})
	first := int64(len(q.msgs))
	ids := make([]string, len(msgs))
	for i := range msgs {
		m := message.MessageExt{
			Message: msgs[i], QueueID: int32(qid), SysFlag: int32(sysFlag), BornTimestamp: born, BornHost: bornHost,
			StoreTimestamp: time.Now().UnixMilli(), StoreHost: b.host, QueueOffset: int64(len(q.msgs)), CommitLogOffset: b.physical,
		}
		m.Topic = topic
		m.BodyCRC = message.BodyCRC(m.Body)
		rec := message.Encode(nil, &m)
		q.msgs = append(q.msgs, rec)
		ids[i] = m.OffsetMsgID()
		b.physical += int64(len(rec))
		b.sysFlags.Store(m.UniqKey(), sysFlag)
	}
	close(q.wake)
	q.wake = make(chan struct{})
	b.mu.Unlock()
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExt("msgId", strings.Join(ids, ","))
	resp.SetExtInt("queueId", qid)
	resp.SetExtInt("queueOffset", first)
	return resp
}

func (b *fakeBroker) pull(ctx context.Context, req *remoting.Command) *remoting.Command {
	b.pulls.Add(1)
	ext := req.ExtFields
	b.lastPull.Store(&ext)
	num := func(key string) int64 { v, _ := strconv.ParseInt(req.Ext(key), 10, 64); return v }
	k := qkey{req.Ext("topic"), int32(num("queueId"))}
	offset, max, sysFlag := num("queueOffset"), num("maxMsgNums"), num("sysFlag")
	if sysFlag&pullFlagCommitOffset != 0 {
		b.mu.Lock()
		b.offsets[req.Ext("consumerGroup")+"/"+k.topic+"/"+strconv.Itoa(int(k.queue))] = num("commitOffset")
		b.mu.Unlock()
	}
	hold := time.Duration(num("suspendTimeoutMillis")) * time.Millisecond
	if sysFlag&pullFlagSuspend == 0 {
		hold = 0
	}
	deadline := time.Now().Add(min(hold, b.maxHold))
	for {
		b.mu.Lock()
		q := b.queue(k)
		n := int64(len(q.msgs))
		wake := q.wake
		var body []byte
		count := int64(0)
		for i := offset; i >= 0 && i < n && count < max; i++ {
			body = append(body, q.msgs[i]...)
			count++
		}
		b.mu.Unlock()
		resp := func(code remoting.ResponseCode, next int64) *remoting.Command {
			r := remoting.NewResponse(req, code, "")
			r.SetExtInt("nextBeginOffset", next)
			r.SetExtInt("minOffset", 0)
			r.SetExtInt("maxOffset", n)
			r.SetExtInt("suggestWhichBrokerId", 0)
			return r
		}
		switch {
		case count > 0:
			r := resp(remoting.Success, offset+count)
			r.Body = body
			return r
		case offset > n || offset < 0:
			return resp(remoting.PullOffsetMoved, n)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return resp(remoting.PullNotFound, offset)
		}
		b.holding.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		b.holding.Add(-1)
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (b *fakeBroker) offset(req *remoting.Command) *remoting.Command {
	num := func(key string) int64 { v, _ := strconv.ParseInt(req.Ext(key), 10, 64); return v }
	k := qkey{req.Ext("topic"), int32(num("queueId"))}
	gk := req.Ext("consumerGroup") + "/" + k.topic + "/" + strconv.Itoa(int(k.queue))
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue(k)
	ok := func(v int64) *remoting.Command {
		r := remoting.NewResponse(req, remoting.Success, "")
		r.SetExtInt("offset", v)
		return r
	}
	switch req.RequestCode() {
	case remoting.QueryConsumerOffset:
		if v, found := b.offsets[gk]; found {
			return ok(v)
		}
		return remoting.NewResponse(req, remoting.QueryNotFound, "Not found")
	case remoting.UpdateConsumerOffset:
		b.offsets[gk] = num("commitOffset")
		return remoting.NewResponse(req, remoting.Success, "")
	case remoting.GetMaxOffset:
		return ok(int64(len(q.msgs)))
	case remoting.GetMinOffset:
		return ok(0)
	default: // SEARCH_OFFSET_BY_TIMESTAMP: first message stored at or after ts
		ts := num("timestamp")
		for i, rec := range q.msgs {
			v, _ := message.ParseView(rec)
			if v.StoreTimestamp() >= ts {
				return ok(int64(i))
			}
		}
		return ok(int64(len(q.msgs)))
	}
}

// stored returns the decoded records of one queue.
func (b *fakeBroker) stored(t testing.TB, topic string, queue int32) []message.MessageExt {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []message.MessageExt
	for _, rec := range b.queue(qkey{topic, queue}).msgs {
		m, _, err := message.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (b *fakeBroker) total(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for k, q := range b.queues {
		if k.topic == topic {
			n += len(q.msgs)
		}
	}
	return n
}

// ---- environment ----

type env struct {
	ns     *fakeNamesrv
	broker *fakeBroker
	c      *Client
}

func testConfig(ns ...string) Config {
	cfg := DefaultConfig(ns...)
	cfg.Logger = discard
	cfg.Remoting.Conn.Logger = discard
	cfg.SendTimeout = 3 * time.Second
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.MaxRetryBackoff = 20 * time.Millisecond
	cfg.PullTimeoutMargin = 2 * time.Second
	cfg.InstanceName = "test"
	return cfg
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newEnv starts a name server and a broker "broker-a" serving topic with
// queues queues, and a client configured by tweak.
func newEnv(t testing.TB, topic string, queues int, tweak func(*Config)) *env {
	t.Helper()
	e := &env{ns: newFakeNamesrv(t), broker: newFakeBroker(t)}
	e.ns.setRoute(topic, fastjsonRoute("broker-a", e.broker.addr, queues))
	cfg := testConfig(e.ns.addr)
	if tweak != nil {
		tweak(&cfg)
	}
	e.c = newClient(t, cfg)
	return e
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newMsg(topic, body string, props ...string) *message.Message {
	m := &message.Message{Topic: topic, Body: []byte(body)}
	for i := 0; i+1 < len(props); i += 2 {
		m.Properties.Set(props[i], props[i+1])
	}
	return m
}

// pullAll reads a queue from offset 0 to its end.
func pullAll(t testing.TB, cs *Consumer, mq MessageQueue) []ConsumedMessage {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	var out []ConsumedMessage
	off := int64(0)
	for {
		res, err := cs.Pull(ctx, mq, off, 32)
		if err != nil {
			t.Fatalf("pull %s@%d: %v", mq, off, err)
		}
		if res.Status != PullFound {
			return out
		}
		out = append(out, res.Messages...)
		off = res.NextBeginOffset
	}
}
