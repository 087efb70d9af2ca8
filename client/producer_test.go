package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

func TestSendPullRoundTrip(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacyHeader=%v", legacy), func(t *testing.T) {
			e := newEnv(t, "T", 2, func(c *Config) { c.LegacySendHeader = legacy })
			p := e.c.Producer()
			ctx := ctxT(t, 10*time.Second)
			var results []SendResult
			for i := range 6 {
				m := newMsg("T", fmt.Sprintf("body-%d", i), message.PropTags, "TagA", message.PropKeys, fmt.Sprintf("k%d x", i))
				m.Flag = int32(i)
				before := time.Now().UnixMilli()
				r, err := p.Send(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				if r.Outcome != OutcomeOK || r.Status != SendOK || r.Attempts != 1 || r.MaybeDuplicated {
					t.Fatalf("result %+v", r)
				}
				if _, err := message.ParseUniqID(r.MsgID); err != nil {
					t.Fatalf("MsgID %q: %v", r.MsgID, err)
				}
				id, err := message.ParseOffsetMsgID(r.OffsetMsgID)
				if err != nil || id.Host != e.broker.host {
					t.Fatalf("OffsetMsgID %q → %v %v, want host %v", r.OffsetMsgID, id, err, e.broker.host)
				}
				if m.UniqKey() != "" {
					t.Fatal("Send modified the caller's message")
				}
				stored := e.broker.stored(t, "T", r.Queue.QueueID)[r.QueueOffset]
				if stored.BornTimestamp < before || stored.BornTimestamp > time.Now().UnixMilli() {
					t.Fatalf("born timestamp %d not within the call", stored.BornTimestamp)
				}
				results = append(results, r)
			}
			// Round robin over both queues.
			perQueue := map[int32]int{}
			for _, r := range results {
				perQueue[r.Queue.QueueID]++
			}
			if perQueue[0] != 3 || perQueue[1] != 3 {
				t.Fatalf("queue spread %v", perQueue)
			}
			cs := e.c.Consumer("g")
			for q := int32(0); q < 2; q++ {
				mq := MessageQueue{Topic: "T", BrokerName: "broker-a", QueueID: q}
				got := pullAll(t, cs, mq)
				if len(got) != 3 {
					t.Fatalf("queue %d: %d messages", q, len(got))
				}
				for i, m := range got {
					if m.QueueOffset != int64(i) || m.QueueID != q || m.Topic != "T" {
						t.Fatalf("queue %d message %d: offset %d queue %d topic %q", q, i, m.QueueOffset, m.QueueID, m.Topic)
					}
					j := slices.IndexFunc(results, func(r SendResult) bool { return r.MsgID == m.MsgID() })
					if j < 0 {
						t.Fatalf("pulled unknown MsgID %q", m.MsgID())
					}
					r := results[j]
					if string(m.Body) != fmt.Sprintf("body-%d", j) || m.Flag != int32(j) || m.Tags() != "TagA" ||
						m.Keys() != fmt.Sprintf("k%d x", j) || r.QueueOffset != m.QueueOffset || r.OffsetMsgID != m.OffsetMsgID() {
						t.Fatalf("message %d mismatch: %+v vs %+v", j, m, r)
					}
					if m.BornToConsume() < 0 || m.StoreToConsume() < 0 || m.BornToConsume() > time.Minute {
						t.Fatalf("latencies %v %v", m.BornToConsume(), m.StoreToConsume())
					}
				}
			}
		})
	}
}

func TestSendKeepsCallerUniqKey(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	const id = "0A0000010001000000000000000000AA"
	r, err := e.c.Producer().Send(ctxT(t, 5*time.Second), newMsg("T", "x", message.PropUniqKey, id))
	if err != nil || r.MsgID != id {
		t.Fatalf("%+v %v", r, err)
	}
	if got := e.broker.stored(t, "T", 0)[0].UniqKey(); got != id {
		t.Fatalf("stored UNIQ_KEY %q", got)
	}
}

func TestSendBatch(t *testing.T) {
	e := newEnv(t, "T", 4, nil)
	var msgs []*message.Message
	for i := range 5 {
		msgs = append(msgs, newMsg("T", strings.Repeat("b", 100*i), message.PropKeys, fmt.Sprint("key", i)))
	}
	// A caller-chosen UNIQ_KEY in a batch member is kept.
	msgs[2].Properties.Set(message.PropUniqKey, "0A0000010001000000000000000000BB")
	r, err := e.c.Producer().SendBatch(ctxT(t, 5*time.Second), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if e.broker.batches.Load() != 1 {
		t.Fatalf("%d SEND_BATCH requests", e.broker.batches.Load())
	}
	if len(r.MsgIDs) != 5 || len(r.OffsetMsgIDs) != 5 || r.MsgID != r.MsgIDs[0] || r.MsgIDs[2] != "0A0000010001000000000000000000BB" {
		t.Fatalf("result %+v", r)
	}
	got := pullAll(t, e.c.Consumer("g"), r.Queue)
	if len(got) != 5 {
		t.Fatalf("%d messages in the queue", len(got))
	}
	for i, m := range got {
		if m.QueueOffset != r.QueueOffset+int64(i) || m.UniqKey() != r.MsgIDs[i] || m.OffsetMsgID() != r.OffsetMsgIDs[i] ||
			len(m.Body) != 100*i || m.Keys() != fmt.Sprint("key", i) || m.SysFlag&message.FlagCompressed != 0 {
			t.Fatalf("member %d: %+v", i, m)
		}
	}

	// Validation: mixed topics, empty, too large; nothing is sent.
	p := e.c.Producer()
	ctx := ctxT(t, 5*time.Second)
	if _, err := p.SendBatch(ctx, []*message.Message{newMsg("T", "a"), newMsg("U", "b")}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("mixed topics: %v", err)
	}
	if _, err := p.SendBatch(ctx, nil); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("empty: %v", err)
	}
	big := []*message.Message{newMsg("T", strings.Repeat("x", 3<<20)), newMsg("T", strings.Repeat("y", 2<<20))}
	if res, err := p.SendBatch(ctx, big); !errors.Is(err, ErrBatchTooLarge) || res.Outcome != OutcomeFailed {
		t.Fatalf("too large: %+v %v", res, err)
	}
	if e.broker.sends.Load() != 1 {
		t.Fatalf("%d sends reached the broker", e.broker.sends.Load())
	}
}

// appendBatchEntry must produce exactly message.AppendBatch's bytes for a
// copy of the message with UNIQ_KEY appended (a naive twin).
func TestBatchEncodingMatchesMessagePackage(t *testing.T) {
	var msgs []*message.Message
	var copies []message.Message
	var uniqs []string
	for i := range 20 {
		m := newMsg("T", strings.Repeat("z", i*37), message.PropTags, fmt.Sprint("t", i%3))
		m.Flag = int32(i * 7)
		if i%4 == 0 {
			m.Properties = nil
		}
		u := fmt.Sprintf("%032X", i)
		cp := *m
		cp.Properties = append(m.Properties.Clone(), message.Property{Key: message.PropUniqKey, Value: u})
		msgs, copies, uniqs = append(msgs, m), append(copies, cp), append(uniqs, u)
	}
	var ours []byte
	size := 0
	for i, m := range msgs {
		ours = appendBatchEntry(ours, m, uniqs[i])
		size += batchEntrySize(m, uniqs[i])
	}
	want := message.AppendBatch(nil, copies)
	if !bytes.Equal(ours, want) || size != len(want) {
		t.Fatalf("batch encodings differ (%d/%d vs %d bytes)", len(ours), size, len(want))
	}
	dec, err := message.DecodeBatch(ours, nil)
	if err != nil || len(dec) != len(msgs) {
		t.Fatalf("decode: %d %v", len(dec), err)
	}
}

func TestSendAsyncPipelined(t *testing.T) {
	e := newEnv(t, "T", 4, func(c *Config) { c.MaxAsyncInFlight = 64 })
	p := e.c.Producer()
	ctx := ctxT(t, 20*time.Second)
	const n = 500
	var mu sync.Mutex
	offsets := map[MessageQueue][]int64{}
	ids := map[string]bool{}
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		err := p.SendAsync(ctx, newMsg("T", fmt.Sprint(i)), func(r SendResult, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || r.Outcome != OutcomeOK {
				t.Errorf("async send: %+v %v", r, err)
				return
			}
			offsets[r.Queue] = append(offsets[r.Queue], r.QueueOffset)
			ids[r.MsgID] = true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(ids) != n || e.broker.total("T") != n {
		t.Fatalf("%d distinct ids, %d stored", len(ids), e.broker.total("T"))
	}
	for mq, offs := range offsets {
		slices.Sort(offs)
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("queue %s offsets not 0..n-1: %v", mq, offs)
			}
		}
	}
	if s := e.c.Stats(); s.SendsOK != n || s.MessagesSent != n {
		t.Fatalf("stats %+v", s)
	}
	// An invalid message is refused up front, and the callback never runs.
	if err := p.SendAsync(ctx, newMsg("bad topic!", "x"), func(SendResult, error) { t.Error("callback ran") }); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("invalid: %v", err)
	}
}

func TestRetryOnRetryableCodeThenSuccess(t *testing.T) {
	for _, code := range []remoting.ResponseCode{remoting.SystemError, remoting.SystemBusy, remoting.ServiceNotAvailable,
		remoting.NoPermission, remoting.TopicNotExist} {
		t.Run(code.String(), func(t *testing.T) {
			e := newEnv(t, "T", 2, nil)
			var mu sync.Mutex
			refused := 0
			e.broker.setSendHook(func(req *remoting.Command) (*remoting.Command, bool) {
				mu.Lock()
				defer mu.Unlock()
				if refused < 2 {
					refused++
					return remoting.NewResponse(req, code, "not now"), true
				}
				return nil, false
			})
			ctx := ctxT(t, 10*time.Second)
			if _, err := e.c.Route(ctx, "T"); err != nil {
				t.Fatal(err)
			}
			q0 := e.ns.queries.Load()
			r, err := e.c.Producer().Send(ctx, newMsg("T", "x"))
			// SYSTEM_ERROR may answer a write that was proposed and then
			// lost track of (it may be stored); every other code here means
			// nothing was stored.
			wantMaybeDup := code == remoting.SystemError
			if err != nil || r.Attempts != 3 || r.Outcome != OutcomeOK || r.MaybeDuplicated != wantMaybeDup {
				t.Fatalf("%+v %v (want MaybeDuplicated=%v)", r, err, wantMaybeDup)
			}
			if q := e.ns.queries.Load() - q0; q < 2 {
				t.Fatalf("%d route queries during the retries, want one per retry", q)
			}
			if e.broker.total("T") != 1 {
				t.Fatalf("%d stored", e.broker.total("T"))
			}
		})
	}
}

func TestRetryExhaustedAndNonRetryable(t *testing.T) {
	e := newEnv(t, "T", 2, func(c *Config) { c.Retries = 3 })
	e.broker.setSendHook(func(req *remoting.Command) (*remoting.Command, bool) {
		if strings.Contains(req.Ext("i"), "illegal") {
			return remoting.NewResponse(req, remoting.MessageIllegal, "no"), true
		}
		return remoting.NewResponse(req, remoting.ServiceNotAvailable, "no leader"), true
	})
	ctx := ctxT(t, 10*time.Second)
	p := e.c.Producer()
	r, err := p.Send(ctx, newMsg("T", "x"))
	if code, _ := ResponseCodeOf(err); code != remoting.ServiceNotAvailable || r.Attempts != 4 || r.Outcome != OutcomeFailed ||
		OutcomeOf(err) != OutcomeFailed || errors.Is(err, ErrUnknown) {
		t.Fatalf("exhausted: %+v %v", r, err)
	}
	before := e.broker.sends.Load()
	r, err = p.Send(ctx, newMsg("T", "x", "note", "illegal"))
	if code, _ := ResponseCodeOf(err); code != remoting.MessageIllegal || r.Attempts != 1 || e.broker.sends.Load() != before+1 {
		t.Fatalf("non-retryable: %+v %v", r, err)
	}
}

func TestUnknownOutcomeOnTimeout(t *testing.T) {
	e := newEnv(t, "T", 1, func(c *Config) {
		c.SendTimeout = 150 * time.Millisecond
		c.Retries = 0
	})
	e.broker.setSendHook(func(*remoting.Command) (*remoting.Command, bool) { return nil, true }) // never answers
	ctx := ctxT(t, 10*time.Second)
	p := e.c.Producer()

	start := time.Now()
	r, err := p.Send(ctx, newMsg("T", "x"))
	if !errors.Is(err, ErrUnknown) || !errors.Is(err, context.DeadlineExceeded) || r.Outcome != OutcomeUnknown ||
		OutcomeOf(err) != OutcomeUnknown || r.MsgID == "" {
		t.Fatalf("sync: %+v %v", r, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}

	done := make(chan error, 1)
	if err := p.SendAsync(ctx, newMsg("T", "x"), func(_ SendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; OutcomeOf(err) != OutcomeUnknown {
		t.Fatalf("async: %v", err)
	}

	// The caller's own deadline cutting the attempt short is unknown too.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Send(short, newMsg("T", "x")); OutcomeOf(err) != OutcomeUnknown {
		t.Fatalf("caller deadline: %v", err)
	}
	if s := e.c.Stats(); s.SendsUnknown != 3 || s.Timeouts < 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestUnknownThenRetrySucceedsMaybeDuplicated(t *testing.T) {
	e := newEnv(t, "T", 1, func(c *Config) { c.SendTimeout = 150 * time.Millisecond })
	var mu sync.Mutex
	first := true
	e.broker.setSendHook(func(req *remoting.Command) (*remoting.Command, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			return nil, true // the first attempt is lost (not stored, never answered)
		}
		return nil, false
	})
	r, err := e.c.Producer().Send(ctxT(t, 10*time.Second), newMsg("T", "x"))
	if err != nil || r.Outcome != OutcomeOK || !r.MaybeDuplicated || r.Attempts != 2 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestBrokenConnectionIsUnknownDialFailureIsFailed(t *testing.T) {
	e := newEnv(t, "T", 1, func(c *Config) { c.Retries = 0 })
	e.broker.setSendHook(func(*remoting.Command) (*remoting.Command, bool) { return nil, true }) // never answers
	ctx := ctxT(t, 10*time.Second)
	p := e.c.Producer()
	done := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, newMsg("T", "x"))
		done <- err
	}()
	waitFor(t, 5*time.Second, "the send to reach the broker", func() bool { return e.broker.sends.Load() == 1 })
	_ = e.broker.srv.Close() // drops the connection with the send in flight
	if err := <-done; OutcomeOf(err) != OutcomeUnknown || !errors.Is(err, remoting.ErrClosed) {
		t.Fatalf("in flight on a broken connection: %v", err)
	}
	// Now nothing listens there: the dial fails, so the send certainly failed.
	r, err := p.Send(ctx, newMsg("T", "x"))
	var opErr *net.OpError
	if OutcomeOf(err) != OutcomeFailed || r.Outcome != OutcomeFailed || !errors.As(err, &opErr) {
		t.Fatalf("dial failure: %+v %v", r, err)
	}
}

func TestCompressionRoundTrip(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	p := e.c.Producer()
	ctx := ctxT(t, 10*time.Second)
	bodies := map[int][]byte{}
	for _, n := range []int{4095, 4096, 64 << 10} {
		b := bytes.Repeat([]byte(fmt.Sprintf("payload %d; ", n)), n/10+1)[:n]
		bodies[n] = b
		if _, err := p.Send(ctx, &message.Message{Topic: "T", Body: b}); err != nil {
			t.Fatal(err)
		}
	}
	stored := e.broker.stored(t, "T", 0)
	for i, n := range []int{4095, 4096, 64 << 10} {
		compressed := stored[i].SysFlag&message.FlagCompressed != 0
		if compressed != (n >= 4096) {
			t.Fatalf("%d-byte body: compressed=%v", n, compressed)
		}
		if compressed && len(stored[i].Body) >= n/4 {
			t.Fatalf("%d-byte body stored as %d bytes", n, len(stored[i].Body))
		}
	}
	got := pullAll(t, e.c.Consumer("g"), MessageQueue{"T", "broker-a", 0})
	for i, n := range []int{4095, 4096, 64 << 10} {
		if !bytes.Equal(got[i].Body, bodies[n]) || got[i].SysFlag&message.FlagCompressed != 0 {
			t.Fatalf("%d-byte body came back as %d bytes, sysFlag %d", n, len(got[i].Body), got[i].SysFlag)
		}
	}
}

func TestShardingKeyKeepsPerKeyOrder(t *testing.T) {
	e := newEnv(t, "T", 4, func(c *Config) { c.Selector = ByShardingKey() })
	p := e.c.Producer()
	ctx := ctxT(t, 20*time.Second)
	const keys, per = 8, 40
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				m := newMsg("T", fmt.Sprintf("%d:%d", k, i), message.PropShardingKey, fmt.Sprint("key-", k))
				if _, err := p.Send(ctx, m); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cs := e.c.Consumer("g")
	seen := map[int]int32{} // key → queue
	next := map[int]int{}   // key → next expected sequence
	for q := int32(0); q < 4; q++ {
		for _, m := range pullAll(t, cs, MessageQueue{"T", "broker-a", q}) {
			var k, i int
			if _, err := fmt.Sscanf(string(m.Body), "%d:%d", &k, &i); err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[k]; ok && prev != q {
				t.Fatalf("key %d on queues %d and %d", k, prev, q)
			}
			seen[k] = q
			if int(KeyHash(fmt.Sprint("key-", k))%4) != int(q) {
				t.Fatalf("key %d not on its hash queue", k)
			}
			if i != next[k] {
				t.Fatalf("key %d: got sequence %d, want %d", k, i, next[k])
			}
			next[k]++
		}
	}
	for k := range keys {
		if next[k] != per {
			t.Fatalf("key %d: %d messages", k, next[k])
		}
	}
}

func TestRouteRefreshFollowsLeaderChange(t *testing.T) {
	e := newEnv(t, "T", 2, nil)
	ctx := ctxT(t, 10*time.Second)
	p := e.c.Producer()
	if _, err := p.Send(ctx, newMsg("T", "before")); err != nil {
		t.Fatal(err)
	}
	// The group elects a new leader: the old one refuses, the name server
	// points at the new one.
	newLeader := newFakeBroker(t)
	e.broker.setSendHook(func(req *remoting.Command) (*remoting.Command, bool) {
		return remoting.NewResponse(req, remoting.ServiceNotAvailable, "not leader"), true
	})
	e.ns.setRoute("T", fastjsonRoute("broker-a", newLeader.addr, 2))
	r, err := p.Send(ctx, newMsg("T", "after"))
	if err != nil || r.BrokerAddr != newLeader.addr || r.Attempts != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	if newLeader.total("T") != 1 || e.c.Stats().RouteChanges != 1 {
		t.Fatalf("new leader stored %d, stats %+v", newLeader.total("T"), e.c.Stats())
	}
}

func TestNameServerFallback(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close()
	down := newFakeNamesrv(t)
	down.down.Store(true)
	good := newFakeNamesrv(t)
	b := newFakeBroker(t)
	good.setRoute("T", fastjsonRoute("broker-a", b.addr, 1))
	c := newClient(t, testConfig(deadAddr, down.addr, good.addr))
	ctx := ctxT(t, 10*time.Second)
	if _, err := c.Producer().Send(ctx, newMsg("T", "x")); err != nil {
		t.Fatal(err)
	}
	// The next query starts at the name server that answered.
	q := good.queries.Load()
	if _, err := c.RefreshRoute(ctx, "T"); err != nil || good.queries.Load() != q+1 || down.queries.Load() != 1 {
		t.Fatalf("%v; queries good=%d down=%d", err, good.queries.Load(), down.queries.Load())
	}
	// Unknown topic everywhere that answers: ErrTopicNotExist, not cached.
	if _, err := c.Producer().Send(ctx, newMsg("Nope", "x")); !errors.Is(err, ErrTopicNotExist) || OutcomeOf(err) != OutcomeFailed {
		t.Fatalf("unknown topic: %v", err)
	}
	good.down.Store(true)
	if _, err := c.RefreshRoute(ctx, "T"); !errors.Is(err, ErrNameServer) {
		t.Fatalf("all down: %v", err)
	}
	// A stale route keeps sends going while the name servers are down.
	if _, err := c.Producer().Send(ctx, newMsg("T", "x")); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := DefaultConfig("localhost:9876", "127.0.0.1")
	cfg.ProducerGroup = ""
	cfg.SendTimeout = 0
	cfg.Retries = -1
	cfg.CompressLevel = 10
	cfg.MaxBatchBytes = 5 << 20
	cfg.Selector = nil
	cfg.Logger = nil
	err := cfg.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatal(err)
	}
	for _, want := range []string{"NameServers[0]", "NameServers[1]", "ProducerGroup", "SendTimeout", "Retries",
		"CompressLevel", "MaxBatchBytes", "Selector", "Logger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if err := DefaultConfig("127.0.0.1:9876").Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultConfig().Validate(); err == nil {
		t.Fatal("no name servers accepted")
	}
}

func TestObserverSeesEveryRequest(t *testing.T) {
	var mu sync.Mutex
	codes := map[remoting.RequestCode]int{}
	var sendLat time.Duration
	e := newEnv(t, "T", 1, func(c *Config) {
		c.Observer = ObserverFunc(func(ev *RequestEvent) {
			mu.Lock()
			defer mu.Unlock()
			codes[ev.Code]++
			if ev.Code == remoting.SendMessageV2 {
				sendLat = ev.Latency
				if ev.Messages != 1 || ev.Bytes != 3 || ev.Err != nil || ev.Response != remoting.Success {
					t.Errorf("send event %+v", ev)
				}
			}
		})
	})
	ctx := ctxT(t, 5*time.Second)
	if _, err := e.c.Producer().Send(ctx, newMsg("T", "abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Consumer("g").Pull(ctx, MessageQueue{"T", "broker-a", 0}, 0, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if codes[remoting.GetRouteInfoByTopic] != 1 || codes[remoting.SendMessageV2] != 1 || codes[remoting.PullMessage] != 1 || sendLat <= 0 {
		t.Fatalf("codes %v, send latency %v", codes, sendLat)
	}
}

func TestClosedClient(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	_ = e.c.Close()
	if _, err := e.c.Producer().Send(ctxT(t, time.Second), newMsg("T", "x")); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
}
