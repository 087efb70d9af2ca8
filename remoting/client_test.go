package remoting

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientReconnectsAfterBrokenConnection(t *testing.T) {
	conns := make(chan *Conn, 4)
	cfg, _ := testServerConfig()
	cfg.OnConnect = func(c *Conn) { conns <- c }
	block := make(chan struct{})
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		if req.RequestCode() == PullMessage {
			select {
			case <-block:
			case <-ctx.Done():
			}
		}
		return NewResponse(req, Success, "")
	}))
	var clientCloses atomic.Int32
	ccfg := testClientConfig()
	ccfg.OnClose = func(*Conn, error) { clientCloses.Add(1) }
	cl := testClient(t, addr, ccfg)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	first, _ := cl.Conn(ctx)
	inflight := make(chan error, 1)
	go func() {
		_, err := cl.Invoke(ctx, NewRequest(PullMessage, nil, nil))
		inflight <- err
	}()
	sc := <-conns
	waitFor(t, 5*time.Second, "the pull to be in flight", func() bool {
		first.mu.Lock()
		defer first.mu.Unlock()
		return len(first.pending) == 1
	})
	_ = sc.Close() // the server drops the connection

	if err := <-inflight; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight call: %v, want ErrClosed", err)
	}
	waitFor(t, 5*time.Second, "the client to notice", first.IsClosed)
	resp, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil))
	if err != nil || resp.ResponseCode() != Success {
		t.Fatalf("after reconnect: %v %v", resp, err)
	}
	second, _ := cl.Conn(ctx)
	if second == first {
		t.Fatal("no new connection")
	}
	<-conns
	if clientCloses.Load() != 1 {
		t.Fatalf("client OnClose ran %d times", clientCloses.Load())
	}
}

func TestInvokeContextTimeout(t *testing.T) {
	release := make(chan struct{})
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		if req.RequestCode() == PullMessage {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return NewResponse(req, Success, "")
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := cl.Invoke(short, NewRequest(PullMessage, nil, nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync: %v, want DeadlineExceeded", err)
	}
	var calls atomic.Int32
	asyncErr := make(chan error, 2)
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if err := cl.InvokeAsync(short2, NewRequest(PullMessage, nil, nil), func(_ *Command, err error) {
		calls.Add(1)
		asyncErr <- err
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-asyncErr; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("async: %v, want DeadlineExceeded", err)
	}
	close(release) // the late responses arrive and are dropped
	for range 3 {
		if resp, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil || resp.ResponseCode() != Success {
			t.Fatalf("after timeouts: %v %v", resp, err)
		}
	}
	c, _ := cl.Conn(ctx)
	waitFor(t, 5*time.Second, "no pending calls", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 0
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("async callback ran %d times", n)
	}
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	done, cancel3 := context.WithCancel(ctx)
	cancel3()
	if err := cl.InvokeAsync(done, NewRequest(HeartBeat, nil, nil), func(*Command, error) { t.Error("callback after an error return") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("async with a done context: %v", err)
	}
}

func TestAsyncPipelining(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, echo)
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	const n = 500
	var wg sync.WaitGroup
	var bad atomic.Int32
	wg.Add(n)
	for i := range n {
		req := NewRequest(SendMessage, nil, []byte{byte(i), byte(i >> 8)})
		if err := cl.InvokeAsync(ctx, req, func(resp *Command, err error) {
			defer wg.Done()
			if err != nil || len(resp.Body) != 2 || int(resp.Body[0])|int(resp.Body[1])<<8 != i {
				bad.Add(1)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d mismatched responses", bad.Load())
	}
}

func TestClientDialFailureAndConcurrentFirstUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err == nil {
		t.Fatal("invoke against a closed port succeeded")
	}

	var dials atomic.Int32
	ccfg := testClientConfig()
	d := &net.Dialer{}
	ccfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		time.Sleep(20 * time.Millisecond)
		return d.DialContext(ctx, network, addr)
	}
	cfg, _ := testServerConfig()
	_, addr = startServer(t, cfg, echo)
	cl = testClient(t, addr, ccfg)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials for 16 concurrent first uses, want 1", n)
	}
	_ = cl.Close()
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestPoolReusesOneClientPerAddress(t *testing.T) {
	cfg, _ := testServerConfig()
	s1, a1 := startServer(t, cfg, echo)
	s2, a2 := startServer(t, cfg, echo)
	p, err := NewPool(testClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := ctxTimeout(t, 10*time.Second)
	for range 3 {
		for _, a := range []string{a1, a2} {
			if _, err := p.Invoke(ctx, a, NewRequest(HeartBeat, nil, nil)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.InvokeOneway(ctx, a1, NewRequest(UpdateConsumerOffset, nil, nil)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := p.InvokeAsync(ctx, a2, NewRequest(HeartBeat, nil, nil), func(_ *Command, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c1, _ := p.Client(a1)
	c1b, _ := p.Client(a1)
	c2, _ := p.Client(a2)
	if c1 != c1b || c1 == c2 || c1.Addr() != a1 {
		t.Fatal("pool does not keep one client per address")
	}
	if s1.NumConns() != 1 || s2.NumConns() != 1 {
		t.Fatalf("connections: %d and %d, want 1 each", s1.NumConns(), s2.NumConns())
	}
	_ = p.Close()
	if _, err := p.Invoke(ctx, a1, NewRequest(HeartBeat, nil, nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
