package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

func TestPullStatuses(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	ctx := ctxT(t, 10*time.Second)
	mq := MessageQueue{"T", "broker-a", 0}
	cs := e.c.Consumer("g")
	for i := range 3 {
		if _, err := e.c.Producer().Send(ctx, newMsg("T", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cs.Pull(ctx, mq, 1, 1)
	if err != nil || res.Status != PullFound || len(res.Messages) != 1 || res.NextBeginOffset != 2 || res.MaxOffset != 3 ||
		string(res.Messages[0].Body) != "1" || res.Addr != e.broker.addr {
		t.Fatalf("found: %+v %v", res, err)
	}
	if p := *e.broker.lastPull.Load(); p["sysFlag"] != "4" || p["subscription"] != "*" || p["expressionType"] != "TAG" ||
		p["consumerGroup"] != "g" || p["suspendTimeoutMillis"] != "0" || p["maxMsgNums"] != "1" {
		t.Fatalf("request header %v", p)
	}
	res, err = cs.Pull(ctx, mq, 3, 32)
	if err != nil || res.Status != PullNoNewMsg || res.NextBeginOffset != 3 {
		t.Fatalf("caught up: %+v %v", res, err)
	}
	res, err = cs.Pull(ctx, mq, 9, 32)
	if err != nil || res.Status != PullOffsetIllegal || res.NextBeginOffset != 3 {
		t.Fatalf("past the end: %+v %v", res, err)
	}
	// Piggy-backed commit.
	if _, err := cs.PullWith(ctx, PullRequest{Queue: mq, Offset: 0, Commit: true, CommitOffset: 2}); err != nil {
		t.Fatal(err)
	}
	if off, err := cs.QueryOffset(ctx, mq); err != nil || off != 2 {
		t.Fatalf("piggy-backed commit: %d %v", off, err)
	}
}

func TestPullBrokerErrorAndBadResponse(t *testing.T) {
	var mode atomic.Int32
	_, addr := startServer(t, remoting.HandlerFunc(func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		switch mode.Load() {
		case 0:
			return remoting.NewResponse(req, remoting.SubscriptionNotExist, "no subscription")
		case 1: // SUCCESS without nextBeginOffset: must not be read as offset 0
			return remoting.NewResponse(req, remoting.PullNotFound, "")
		default: // a body that is not a message
			r := remoting.NewResponse(req, remoting.Success, "")
			r.SetExtInt("nextBeginOffset", 1)
			r.Body = []byte("garbage that is not a stored message record at all, long enough to parse")
			return r
		}
	}))
	c := newClient(t, testConfig("127.0.0.1:1"))
	cs := c.Consumer("g").OnBroker(addr)
	ctx := ctxT(t, 5*time.Second)
	mq := MessageQueue{"T", "b", 0}
	if _, err := cs.Pull(ctx, mq, 0, 1); !errors.Is(err, ErrBroker) {
		t.Fatalf("broker error: %v", err)
	} else if code, _ := ResponseCodeOf(err); code != remoting.SubscriptionNotExist {
		t.Fatalf("code %v", code)
	}
	mode.Store(1)
	if _, err := cs.Pull(ctx, mq, 5, 1); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("missing nextBeginOffset: %v", err)
	}
	mode.Store(2)
	if _, err := cs.Pull(ctx, mq, 0, 1); !errors.Is(err, ErrBadResponse) || !message.IsCorrupt(err) {
		t.Fatalf("bad body: %v", err)
	}
}

func TestTagFilter(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	ctx := ctxT(t, 10*time.Second)
	for i, tag := range []string{"A", "B", "C", "", "A"} {
		m := newMsg("T", fmt.Sprint(i))
		if tag != "" {
			m.Properties.Set(message.PropTags, tag)
		}
		if _, err := e.c.Producer().Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The fake broker does not filter; the client must.
	res, err := e.c.Consumer("g").PullWith(ctx, PullRequest{Queue: MessageQueue{"T", "broker-a", 0}, MaxMessages: 32, Filter: " A || C "})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range res.Messages {
		bodies = append(bodies, string(m.Body))
	}
	if fmt.Sprint(bodies) != "[0 2 4]" || res.Filtered != 2 || res.NextBeginOffset != 5 {
		t.Fatalf("bodies %v, filtered %d, next %d", bodies, res.Filtered, res.NextBeginOffset)
	}
	if p := *e.broker.lastPull.Load(); p["subscription"] != "A || C" {
		t.Fatalf("subscription sent: %q", p["subscription"])
	}
	for expr, all := range map[string]bool{"": true, "*": true, "A||*": true, "||": true, "A": false} {
		if f := parseFilter(expr); (f.tags == nil) != all {
			t.Errorf("parseFilter(%q) = %+v", expr, f)
		}
	}
}

func TestLongPollWakeUp(t *testing.T) {
	e := newEnv(t, "T", 2, nil)
	ctx := ctxT(t, 20*time.Second)
	opts := DefaultAssignOptions()
	opts.Suspend = 10 * time.Second
	opts.Start = StartFirst
	a, err := e.c.Consumer("g").Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitFor(t, 5*time.Second, "both queues' pulls to be held", func() bool { return e.broker.holding.Load() == 2 })
	pullsBefore := e.broker.pulls.Load()
	sent := time.Now()
	r, err := e.c.Producer().Send(ctx, newMsg("T", "wake"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-a.C:
		lat := time.Since(sent)
		if len(b.Messages) != 1 || string(b.Messages[0].Body) != "wake" || b.Queue != r.Queue || b.NextOffset != 1 {
			t.Fatalf("batch %+v", b)
		}
		if lat > time.Second {
			t.Fatalf("delivered %v after the send: the held pull was not woken", lat)
		}
	case <-ctx.Done():
		t.Fatal("no delivery")
	}
	// One woken pull plus its successor: no spinning.
	time.Sleep(50 * time.Millisecond)
	if n := e.broker.pulls.Load() - pullsBefore; n > 2 {
		t.Fatalf("%d pulls after the wake-up", n)
	}
	if off := a.Offsets()[r.Queue]; off != 1 {
		t.Fatalf("offset %d", off)
	}
	// Close abandons the held pulls promptly.
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, ok := <-a.C; ok {
		t.Fatal("C not closed")
	}
}

func TestOffsetsCommitAndQuery(t *testing.T) {
	e := newEnv(t, "T", 2, nil)
	ctx := ctxT(t, 10*time.Second)
	cs := e.c.Consumer("g")
	mq := MessageQueue{"T", "broker-a", 1}
	if _, err := cs.QueryOffset(ctx, mq); !errors.Is(err, ErrNoOffset) {
		t.Fatalf("fresh group: %v", err)
	}
	if err := cs.CommitOffset(ctx, mq, 42); err != nil {
		t.Fatal(err)
	}
	if off, err := cs.QueryOffset(ctx, mq); err != nil || off != 42 {
		t.Fatalf("query: %d %v", off, err)
	}
	if _, err := e.c.Consumer("other").QueryOffset(ctx, mq); !errors.Is(err, ErrNoOffset) {
		t.Fatalf("other group: %v", err)
	}
	t0 := time.Now()
	for i := range 3 {
		if _, err := e.c.Producer().SendToQueue(ctx, mq, newMsg("T", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if max, err := cs.MaxOffset(ctx, mq); err != nil || max != 3 {
		t.Fatalf("max: %d %v", max, err)
	}
	if min, err := cs.MinOffset(ctx, mq); err != nil || min != 0 {
		t.Fatalf("min: %d %v", min, err)
	}
	if off, err := cs.SearchOffset(ctx, mq, t0.Add(-time.Second)); err != nil || off != 0 {
		t.Fatalf("search past: %d %v", off, err)
	}
	if off, err := cs.SearchOffset(ctx, mq, time.Now().Add(time.Hour)); err != nil || off != 3 {
		t.Fatalf("search future: %d %v", off, err)
	}
}

func TestAssignCommitsAndResumes(t *testing.T) {
	e := newEnv(t, "T", 3, nil)
	ctx := ctxT(t, 20*time.Second)
	p := e.c.Producer()
	for i := range 30 {
		if _, err := p.Send(ctx, newMsg("T", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	opts := DefaultAssignOptions()
	opts.Suspend = 200 * time.Millisecond
	opts.MaxMessages = 4
	opts.CommitInterval = 20 * time.Millisecond
	opts.Handler = func(b Batch) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b.Messages {
			got[string(m.Body)]++
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	cs := e.c.Consumer("g")
	a, err := cs.Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Queues()) != 3 {
		t.Fatalf("queues %v", a.Queues())
	}
	waitFor(t, 10*time.Second, "30 messages", func() bool { return count() == 30 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for q := int32(0); q < 3; q++ {
		if off, err := cs.QueryOffset(ctx, MessageQueue{"T", "broker-a", q}); err != nil || off != 10 {
			t.Fatalf("queue %d committed %d %v", q, off, err)
		}
	}
	// A second assignment of the group resumes after the committed offsets.
	for i := 30; i < 36; i++ {
		if _, err := p.Send(ctx, newMsg("T", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	a2, err := cs.Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	waitFor(t, 10*time.Second, "6 more", func() bool { return count() == 36 })
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for body, n := range got {
		if n != 1 {
			t.Fatalf("%s delivered %d times", body, n)
		}
	}
}

func TestAssignStartLastAndExplicitOffsets(t *testing.T) {
	e := newEnv(t, "T", 1, nil)
	ctx := ctxT(t, 10*time.Second)
	mq := MessageQueue{"T", "broker-a", 0}
	for i := range 5 {
		if _, err := e.c.Producer().Send(ctx, newMsg("T", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	opts := DefaultAssignOptions()
	opts.Suspend = 0
	opts.IdleBackoff = 5 * time.Millisecond
	opts.Start = StartLast
	a, err := e.c.Consumer("g").Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the start offset", func() bool { return a.Offsets()[mq] == 5 })
	_ = a.Close()

	opts.Offsets = map[MessageQueue]int64{mq: 3}
	var moved atomic.Int32
	opts.OnError = func(_ MessageQueue, err error) {
		if errors.Is(err, ErrOffsetMoved) {
			moved.Add(1)
		}
	}
	a, err = e.c.Consumer("g").Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	b := <-a.C
	if b.Messages[0].QueueOffset != 3 || len(b.Messages) != 2 {
		t.Fatalf("explicit start: %+v", b)
	}
	_ = a.Close()

	opts.Offsets = map[MessageQueue]int64{mq: 99} // beyond the end: moved back to 5
	a, err = e.c.Consumer("g").Assign(ctx, "T", opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the offset to be corrected", func() bool { return a.Offsets()[mq] == 5 && moved.Load() == 1 })
	_ = a.Close()

	if _, err := e.c.Consumer("g").Assign(ctx, "T", AssignOptions{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero options: %v", err)
	}
}
