package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

func TestBatchingProducerCoalesces(t *testing.T) {
	e := newEnv(t, "T", 2, func(c *Config) { c.Selector = ByShardingKey() })
	// Slow the broker down a little so batches form behind the one in flight.
	e.broker.setSendHook(func(*remoting.Command) (*remoting.Command, bool) {
		time.Sleep(2 * time.Millisecond)
		return nil, false
	})
	opts := DefaultBatchOptions()
	opts.MaxMessages = 50
	bp, err := e.c.NewBatchingProducer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	const keys, per = 20, 50
	var mu sync.Mutex
	results := map[string]SendResult{}
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() { // each key: sequential sends, so its order must survive batching
			defer wg.Done()
			for i := range per {
				r, err := bp.Send(ctx, newMsg("T", fmt.Sprintf("%d:%d", k, i), message.PropShardingKey, fmt.Sprint(k)))
				if err != nil || r.Outcome != OutcomeOK {
					t.Errorf("send: %+v %v", r, err)
					return
				}
				mu.Lock()
				results[r.MsgID] = r
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := bp.Close(); err != nil {
		t.Fatal(err)
	}
	n := keys * per
	if len(results) != n || e.broker.total("T") != n {
		t.Fatalf("%d results, %d stored", len(results), e.broker.total("T"))
	}
	if b := int(e.broker.batches.Load()); b >= n/2 {
		t.Fatalf("%d SEND_BATCH requests for %d messages: no coalescing", b, n)
	}
	// Every result names its own stored message; per-key order holds.
	cs := e.c.Consumer("g")
	next := map[int]int{}
	for q := int32(0); q < 2; q++ {
		mq := MessageQueue{"T", "broker-a", q}
		for _, m := range pullAll(t, cs, mq) {
			r, ok := results[m.UniqKey()]
			if !ok || r.Queue != mq || r.QueueOffset != m.QueueOffset || r.OffsetMsgID != m.OffsetMsgID() {
				t.Fatalf("message %s at %d: result %+v", m.UniqKey(), m.QueueOffset, r)
			}
			var k, i int
			_, _ = fmt.Sscanf(string(m.Body), "%d:%d", &k, &i)
			if i != next[k] {
				t.Fatalf("key %d: sequence %d, want %d", k, i, next[k])
			}
			next[k]++
		}
	}
	if _, err := bp.Send(ctx, newMsg("T", "late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestBatchingProducerLingerAndLimits(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	var mu sync.Mutex
	var sizes []int
	e.broker.setSendHook(func(req *remoting.Command) (*remoting.Command, bool) {
		msgs, err := message.DecodeBatch(req.Body, nil)
		if err != nil {
			return remoting.NewResponse(req, remoting.MessageIllegal, err.Error()), true
		}
		mu.Lock()
		sizes = append(sizes, len(msgs))
		mu.Unlock()
		return nil, false
	})
	opts := BatchOptions{MaxMessages: 10, MaxBytes: 1 << 20, Linger: 300 * time.Millisecond, MaxInFlight: 1}
	bp, err := e.c.NewBatchingProducer(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close()
	ctx := ctxT(t, 10*time.Second)
	// 25 async messages at once: two full batches of 10, then 5 after the linger.
	done := make(chan SendResult, 25)
	start := time.Now()
	for i := range 25 {
		if err := bp.SendAsync(ctx, newMsg("T", fmt.Sprint(i)), func(r SendResult, err error) {
			if err != nil {
				t.Error(err)
			}
			done <- r
		}); err != nil {
			t.Fatal(err)
		}
	}
	var offs []int64
	for range 25 {
		offs = append(offs, (<-done).QueueOffset)
	}
	slices.Sort(offs)
	for i, o := range offs {
		if o != int64(i) {
			t.Fatalf("offsets %v", offs)
		}
	}
	mu.Lock()
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("batch sizes %v", sizes)
	}
	mu.Unlock()
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("the partial batch did not linger (%v)", d)
	}

	// A lone message waits for the linger, unless flushed.
	res := make(chan time.Duration, 1)
	start = time.Now()
	if err := bp.SendAsync(ctx, newMsg("T", "lone"), func(SendResult, error) { res <- time.Since(start) }); err != nil {
		t.Fatal(err)
	}
	bp.Flush()
	if d := <-res; d >= 300*time.Millisecond {
		t.Fatalf("Flush did not send at once (%v)", d)
	}

	// Withdrawal: a message still waiting when its ctx ends is not sent.
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	before := e.broker.total("T")
	r, err := bp.Send(short, newMsg("T", "withdrawn"))
	if !errors.Is(err, context.DeadlineExceeded) || r.Outcome != OutcomeFailed {
		t.Fatalf("withdrawn: %+v %v", r, err)
	}
	bp.Flush()
	time.Sleep(50 * time.Millisecond)
	if e.broker.total("T") != before {
		t.Fatal("a withdrawn message was stored")
	}

	if _, err := e.c.NewBatchingProducer(BatchOptions{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero options: %v", err)
	}
}

func TestBatchingProducerFailureReachesEveryMessage(t *testing.T) {
	e := newEnv(t, "T", 1, func(c *Config) {
		c.Retries = 1
		c.SendTimeout = 100 * time.Millisecond
	})
	e.broker.setSendHook(func(*remoting.Command) (*remoting.Command, bool) { return nil, true }) // black hole
	bp, err := e.c.NewBatchingProducer(DefaultBatchOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	errs := make(chan error, 5)
	for i := range 5 {
		if err := bp.SendAsync(ctx, newMsg("T", fmt.Sprint(i)), func(_ SendResult, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := <-errs; OutcomeOf(err) != OutcomeUnknown {
			t.Fatalf("got %v, want unknown", err)
		}
	}
	_ = bp.Close()
}
