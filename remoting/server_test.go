package remoting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestInvokeRoundTrip(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, echo)
	cl := testClient(t, addr, testClientConfig())
	req := NewRequest(SendMessage, map[string]string{"topic": "T", "properties": "A\x01B\x02"}, []byte("payload"))
	resp, err := cl.Invoke(ctxTimeout(t, 5*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.IsResponse() || resp.Opaque != req.Opaque || resp.ResponseCode() != Success ||
		resp.Ext("properties") != "A\x01B\x02" || string(resp.Body) != "payload" || resp.SerializeType != SerializeJSON {
		t.Fatalf("bad response %v %q", resp, resp.ExtFields)
	}
}

func TestRequestAnsweredInItsSerialization(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, echo)
	nc := rawConn(t, addr)
	for i, st := range []SerializeType{SerializeRocketMQ, SerializeJSON, SerializeRocketMQ} {
		req := &Command{Code: int32(HeartBeat), Language: LanguageJava, Opaque: int32(100 + i), SerializeType: st,
			ExtFields: map[string]string{"k": "v"}, Body: []byte("{}")}
		if _, err := nc.Write(mustFrame(t, req)); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := NewFrameReader(nc, DefaultLimits()).Next()
		if err != nil {
			t.Fatal(err)
		}
		if resp.SerializeType != st || resp.Opaque != req.Opaque || !resp.IsResponse() || resp.Ext("k") != "v" {
			t.Fatalf("request in %s answered with %v", st, resp)
		}
	}
}

func TestResponseExtFieldsAreStringsOnTheWire(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		resp := NewResponse(req, Success, "")
		resp.SetExtInt("queueId", 1)
		resp.SetExtInt("queueOffset", 1<<40)
		return resp
	}))
	nc := rawConn(t, addr)
	if _, err := nc.Write(mustFrame(t, NewRequest(SendMessage, nil, nil))); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	hl := int(buf[5])<<16 | int(buf[6])<<8 | int(buf[7])
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(nc, hdr); err != nil {
		t.Fatal(err)
	}
	s := string(hdr)
	for _, want := range []string{`"queueId":"1"`, `"queueOffset":"1099511627776"`, `"flag":1`} {
		if !strings.Contains(s, want) {
			t.Errorf("header %s lacks %s", s, want)
		}
	}
	if strings.ContainsAny(s, " \n\t") {
		t.Errorf("header is not compact: %s", s)
	}
}

func TestSlowHandlerDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		if req.RequestCode() == PullMessage {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return echo(ctx, c, req)
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)

	var order []string
	var mu sync.Mutex
	slowDone := make(chan error, 1)
	if err := cl.InvokeAsync(ctx, NewRequest(PullMessage, map[string]string{"n": "slow"}, nil), func(resp *Command, err error) {
		mu.Lock()
		order = append(order, "slow")
		mu.Unlock()
		if err == nil && resp.Ext("n") != "slow" {
			err = fmt.Errorf("slow call got %q", resp.Ext("n"))
		}
		slowDone <- err
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		n := strconv.Itoa(i)
		resp, err := cl.Invoke(ctx, NewRequest(SendMessage, map[string]string{"n": n}, nil))
		if err != nil || resp.Ext("n") != n {
			t.Fatalf("fast call %d behind a slow one: %v %v", i, resp, err)
		}
	}
	mu.Lock()
	order = append(order, "fast")
	mu.Unlock()
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	if order[0] != "fast" {
		t.Fatalf("order %v: the slow call finished first", order)
	}
}

func TestOutOfOrderResponsesMatchedByOpaque(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		d, _, _ := req.ExtInt("sleepMicros")
		time.Sleep(time.Duration(d) * time.Microsecond)
		return echo(ctx, c, req)
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 20*time.Second)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				n := fmt.Sprintf("%d-%d", g, i)
				req := NewRequest(SendMessage, map[string]string{"n": n}, []byte(n))
				req.SetExtInt("sleepMicros", rand.Int64N(2000))
				resp, err := cl.Invoke(ctx, req)
				if err != nil || resp.Ext("n") != n || string(resp.Body) != n {
					failed.Add(1)
					t.Errorf("call %s: %v %v", n, resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestExecutorKeepsHeldPullsOffTheSharedSlots(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int32
	cfg, _ := testServerConfig()
	cfg.Conn.MaxConcurrent = 2
	cfg.Executors = map[RequestCode]Executor{PullMessage: NewGoExecutor(20)}
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		if req.RequestCode() == PullMessage {
			held.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return NewResponse(req, PullNotFound, "")
		}
		return NewResponse(req, Success, "")
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	codes := make(chan ResponseCode, 30)
	for range 21 { // one more than the executor takes
		if err := cl.InvokeAsync(ctx, NewRequest(PullMessage, nil, nil), func(r *Command, err error) {
			if err != nil {
				t.Error(err)
				codes <- -1
				return
			}
			codes <- r.ResponseCode()
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "20 held pulls", func() bool { return held.Load() == 20 })
	select {
	case c := <-codes:
		if c != SystemBusy {
			t.Fatalf("21st pull answered %v, want SYSTEM_BUSY", c)
		}
	case <-ctx.Done():
		t.Fatal("saturated executor did not answer SYSTEM_BUSY")
	}
	for i := range 10 {
		resp, err := cl.Invoke(ctx, NewRequest(SendMessage, nil, nil))
		if err != nil || resp.ResponseCode() != Success {
			t.Fatalf("send %d while 20 pulls are held: %v %v", i, resp, err)
		}
	}
	close(release)
	for range 20 {
		if c := <-codes; c != PullNotFound {
			t.Fatalf("released pull answered %v", c)
		}
	}
}

func TestOnewayGetsNoReply(t *testing.T) {
	var seen sync.Map
	cfg, logs := testServerConfig()
	s, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		seen.Store(req.Opaque, req.IsOneway())
		return NewResponse(req, Success, "")
	}))
	nc := rawConn(t, addr)
	// Opaques far from the client's own counter (which starts at 1).
	oneway := &Command{Code: int32(UpdateConsumerOffset), Opaque: 1001, Flag: FlagOneway}
	normal := &Command{Code: int32(UpdateConsumerOffset), Opaque: 1002}
	if _, err := nc.Write(append(mustFrame(t, oneway), mustFrame(t, normal)...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	fr := NewFrameReader(nc, DefaultLimits())
	resp, err := fr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Opaque != 1002 {
		t.Fatalf("got a reply for opaque %d, want only opaque 1002", resp.Opaque)
	}
	waitFor(t, 5*time.Second, "the oneway request to be handled", func() bool { _, ok := seen.Load(int32(1001)); return ok })
	if ow, _ := seen.Load(int32(1001)); ow != true {
		t.Fatal("handler did not see the oneway flag")
	}
	// No reply for the oneway request shows up later either.
	_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if extra, err := fr.Next(); err == nil {
		t.Fatalf("unexpected frame %v", extra)
	}

	// The client's InvokeOneway sets the flag.
	cl := testClient(t, addr, testClientConfig())
	req := NewRequest(UpdateConsumerOffset, nil, nil)
	if err := cl.InvokeOneway(ctxTimeout(t, 5*time.Second), req); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the client's oneway request", func() bool {
		ow, ok := seen.Load(req.Opaque)
		return ok && ow == true
	})
	if s.NumConns() != 2 {
		t.Fatalf("%d connections, want 2\n%s", s.NumConns(), logs)
	}
}

func TestServerInvokesClient(t *testing.T) {
	conns := make(chan *Conn, 1)
	cfg, _ := testServerConfig()
	cfg.OnConnect = func(c *Conn) { conns <- c }
	_, addr := startServer(t, cfg, echo)

	notified := make(chan string, 4)
	ccfg := testClientConfig()
	mux := NewServeMux()
	mux.HandleFunc(NotifyConsumerIDsChanged, func(ctx context.Context, c *Conn, req *Command) *Command {
		notified <- req.Ext("consumerGroup")
		return NewResponse(req, Success, "")
	})
	ccfg.Handler = mux
	cl := testClient(t, addr, ccfg)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
	sc := <-conns

	resp, err := sc.Invoke(ctx, NewRequest(NotifyConsumerIDsChanged, map[string]string{"consumerGroup": "g1"}, nil))
	if err != nil || resp.ResponseCode() != Success {
		t.Fatalf("server → client invoke: %v %v", resp, err)
	}
	if g := <-notified; g != "g1" {
		t.Fatalf("client saw group %q", g)
	}
	if err := sc.InvokeOneway(ctx, NewRequest(NotifyConsumerIDsChanged, map[string]string{"consumerGroup": "g2"}, nil)); err != nil {
		t.Fatal(err)
	}
	if g := <-notified; g != "g2" {
		t.Fatalf("client saw group %q", g)
	}
	resp, err = sc.Invoke(ctx, NewRequest(CheckTransactionState, nil, nil))
	if err != nil || resp.ResponseCode() != RequestCodeNotSupported {
		t.Fatalf("unhandled code on the client: %v %v, want REQUEST_CODE_NOT_SUPPORTED", resp, err)
	}
	// Client requests still work alongside.
	if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	cfg, logs := testServerConfig()
	closed := make(chan error, 4)
	cfg.OnClose = func(c *Conn, err error) { closed <- err }
	_, addr := startServer(t, cfg, echo)
	ctx := ctxTimeout(t, 10*time.Second)
	good := testClient(t, addr, testClientConfig())
	if _, err := good.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
		t.Fatal(err)
	}

	bad := rawConn(t, addr)
	hdr := appendJSONHeader(nil, NewRequest(SendMessage, nil, nil))
	if _, err := bad.Write(rawFrame(16<<20+1, 0, len(hdr), hdr)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, bad, 5*time.Second)
	if err := <-closed; !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("close reason %v, want ErrFrameTooLarge", err)
	}
	if !strings.Contains(logs.String(), "frame too large") {
		t.Fatalf("no clear log line:\n%s", logs)
	}
	for range 3 {
		if _, err := good.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
			t.Fatalf("other connection broken: %v", err)
		}
	}

	// Exactly 16 MiB is accepted as a frame (the body is then refused as a
	// request over MaxBody, with the connection kept).
	c := NewRequest(SendMessage, nil, nil)
	hdr = appendJSONHeader(nil, c)
	c.Body = make([]byte, 16<<20-4-len(hdr))
	resp, err := good.Invoke(ctx, c)
	if err != nil || resp.ResponseCode() != MessageIllegal {
		t.Fatalf("16 MiB frame: %v %v", resp, err)
	}
}

func TestGarbageAndTruncatedFramesCloseTheConnection(t *testing.T) {
	hdr := appendJSONHeader(nil, NewRequest(SendMessage, nil, nil))
	for _, tc := range []struct {
		name  string
		bytes []byte
		hang  bool // the client keeps the socket open after writing
		want  error
	}{
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true, ErrFrameTooLarge},
		{"bad JSON", rawFrame(9, 0, 5, []byte("{nope")), true, ErrMalformed},
		{"header longer than frame", rawFrame(20, 0, 40, make([]byte, 20)), true, ErrMalformed},
		{"unknown serialize type", rawFrame(uint32(4+len(hdr)), 7, len(hdr), hdr), true, ErrMalformed},
		{"truncated body", rawFrame(uint32(4+len(hdr)+100), 0, len(hdr), append(hdr, 1, 2, 3)), false, ErrMalformed},
		{"truncated prefix", []byte{0, 0, 1}, false, ErrMalformed},
		{"clean close", nil, false, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := testServerConfig()
			closed := make(chan error, 1)
			cfg.OnClose = func(c *Conn, err error) { closed <- err }
			_, addr := startServer(t, cfg, echo)
			nc := rawConn(t, addr)
			if _, err := nc.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if tc.hang {
				expectClosed(t, nc, 5*time.Second)
			} else {
				_ = nc.Close()
			}
			select {
			case err := <-closed:
				if !errors.Is(err, tc.want) {
					t.Fatalf("close reason %v, want %v", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no close callback")
			}
		})
	}
}

func TestIdleConnectionDropped(t *testing.T) {
	const idle = 300 * time.Millisecond
	cfg, _ := testServerConfig()
	cfg.Conn.IdleTimeout = idle
	closed := make(chan error, 4)
	cfg.OnClose = func(c *Conn, err error) { closed <- err }
	s, addr := startServer(t, cfg, echo)

	// A half-open peer: connected, never sends.
	start := time.Now()
	silent := rawConn(t, addr)
	expectClosed(t, silent, 5*time.Second)
	if el := time.Since(start); el < idle*7/8 {
		t.Fatalf("closed after %v, before the idle deadline %v", el, idle)
	}
	if err := <-closed; !errors.Is(err, ErrIdle) {
		t.Fatalf("close reason %v, want ErrIdle", err)
	}

	// A peer that keeps talking stays connected well past the deadline.
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	c0, err := cl.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(idle / 6) {
		if _, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if c1, _ := cl.Conn(ctx); c1 != c0 || s.NumConns() != 1 {
		t.Fatal("an active connection was dropped")
	}
}

// TestIdleDeadlineWaitsForAnswers: a client whose idle deadline is shorter
// than a request's answer keeps the connection and gets the answer; idle
// again afterwards, it closes the connection.
func TestIdleDeadlineWaitsForAnswers(t *testing.T) {
	const idle = 200 * time.Millisecond
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		time.Sleep(3 * idle)
		return NewResponse(req, Success, "")
	}))
	ccfg := testClientConfig()
	ccfg.Conn.IdleTimeout = idle
	cl := testClient(t, addr, ccfg)
	ctx := ctxTimeout(t, 10*time.Second)
	c0, err := cl.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil))
	if err != nil || resp.Code != int32(Success) {
		t.Fatalf("slow answer: %v, %v", resp, err)
	}
	if c1, _ := cl.Conn(ctx); c1 != c0 {
		t.Fatal("the connection was dropped while it waited for an answer")
	}
	select {
	case <-c0.Done():
	case <-time.After(5 * idle):
		t.Fatal("an idle connection with nothing outstanding stayed open")
	}
	if err := c0.Err(); !errors.Is(err, ErrIdle) {
		t.Fatalf("close reason %v, want ErrIdle", err)
	}
}

func TestRequestOverLimitAnsweredMessageIllegal(t *testing.T) {
	var handled atomic.Int32
	cfg, logs := testServerConfig()
	cfg.Conn.Limits.MaxBody = 1024
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		handled.Add(1)
		return NewResponse(req, Success, "")
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	c0, _ := cl.Conn(ctx)
	for _, tc := range []struct {
		req  *Command
		want string
	}{
		{NewRequest(SendMessage, nil, make([]byte, 1025)), "body too large"},
		{NewRequest(SendMessage, map[string]string{"topic": strings.Repeat("t", 128)}, nil), "topic too long"},
		{NewRequest(SendMessage, map[string]string{"properties": strings.Repeat("p", 32768)}, nil), "properties too large"},
		{NewRequest(SendBatchMessage, map[string]string{"b": strings.Repeat("t", 200)}, nil), "topic too long"},
	} {
		resp, err := cl.Invoke(ctx, tc.req)
		if err != nil || resp.ResponseCode() != MessageIllegal || !strings.Contains(resp.Remark, tc.want) {
			t.Fatalf("%v: got %v %v, want MESSAGE_ILLEGAL %q", tc.req, resp, err, tc.want)
		}
	}
	if n := handled.Load(); n != 0 {
		t.Fatalf("the handler saw %d requests over the limits", n)
	}
	resp, err := cl.Invoke(ctx, NewRequest(SendMessage, map[string]string{"topic": "T"}, make([]byte, 1024)))
	if err != nil || resp.ResponseCode() != Success {
		t.Fatalf("request at the limit: %v %v", resp, err)
	}
	if c1, _ := cl.Conn(ctx); c1 != c0 {
		t.Fatal("the connection was replaced")
	}
	if !strings.Contains(logs.String(), "refusing request") {
		t.Fatal("refusals are not logged")
	}
}

func TestHandlerPanicAnswersSystemError(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		if req.RequestCode() == PullMessage {
			panic("boom")
		}
		return NewResponse(req, Success, "")
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	resp, err := cl.Invoke(ctx, NewRequest(PullMessage, nil, nil))
	if err != nil || resp.ResponseCode() != SystemError || !strings.Contains(resp.Remark, "boom") {
		t.Fatalf("got %v %v", resp, err)
	}
	if resp, err := cl.Invoke(ctx, NewRequest(SendMessage, nil, nil)); err != nil || resp.ResponseCode() != Success {
		t.Fatalf("after panic: %v %v", resp, err)
	}
}

func TestServeMuxAnswersUnknownCodes(t *testing.T) {
	mux := NewServeMux()
	mux.Handle(HeartBeat, echo)
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, mux)
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	resp, err := cl.Invoke(ctx, NewRequest(999, nil, nil))
	if err != nil || resp.ResponseCode() != RequestCodeNotSupported {
		t.Fatalf("got %v %v", resp, err)
	}
	if resp, err := cl.Invoke(ctx, NewRequest(HeartBeat, nil, nil)); err != nil || resp.ResponseCode() != Success {
		t.Fatalf("got %v %v", resp, err)
	}
}

func TestUnencodableCommandsDoNotBreakTheConnection(t *testing.T) {
	cfg, _ := testServerConfig()
	_, addr := startServer(t, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		resp := NewResponse(req, Success, "")
		if req.RequestCode() == PullMessage {
			resp.SetExt(strings.Repeat("k", 40000), "v") // too long a key for a binary header
		}
		return resp
	}))
	cl := testClient(t, addr, testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)

	req := NewRequest(40000, nil, nil) // does not fit int16
	req.SerializeType = SerializeRocketMQ
	if _, err := cl.Invoke(ctx, req); !errors.Is(err, ErrEncode) {
		t.Fatalf("unencodable request: %v, want ErrEncode", err)
	}
	req = NewRequest(PullMessage, nil, nil)
	req.SerializeType = SerializeRocketMQ
	resp, err := cl.Invoke(ctx, req)
	if err != nil || resp.ResponseCode() != SystemError || !strings.Contains(resp.Remark, "int16") {
		t.Fatalf("unencodable response: %v %v, want SYSTEM_ERROR", resp, err)
	}
	if resp, err := cl.Invoke(ctx, NewRequest(SendMessage, nil, nil)); err != nil || resp.ResponseCode() != Success {
		t.Fatalf("afterwards: %v %v", resp, err)
	}
}

func TestServerCloseStopsEverything(t *testing.T) {
	cfg, _ := testServerConfig()
	handlerStarted, handlerDone := make(chan struct{}), make(chan struct{})
	s, err := NewServer(cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		close(handlerStarted)
		<-ctx.Done()
		close(handlerDone)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	cl := testClient(t, ln.Addr().String(), testClientConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	result := make(chan error, 1)
	if err := cl.InvokeAsync(ctx, NewRequest(PullMessage, nil, nil), func(_ *Command, err error) { result <- err }); err != nil {
		t.Fatal(err)
	}
	<-handlerStarted
	if s.NumConns() != 1 {
		t.Fatalf("%d connections", s.NumConns())
	}
	if s.Addr().String() != ln.Addr().String() {
		t.Fatalf("Addr %v", s.Addr())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-handlerDone:
	default:
		t.Fatal("Close returned before the handler")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if err := <-result; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending call: %v, want ErrClosed", err)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	if err := DefaultServerConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultClientConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ServerConfig{Conn: ConnConfig{IdleTimeout: -1, WriteTimeout: -1}, Executors: map[RequestCode]Executor{PullMessage: nil}}
	err := bad.Validate()
	for _, f := range []string{"MaxFrame", "IdleTimeout", "WriteTimeout", "MaxConcurrent", "SendQueue", "ReadBufferSize", "WriteBufferSize", "Logger", "PULL_MESSAGE"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("server config error does not mention %s: %v", f, err)
		}
	}
	cerr := ClientConfig{Conn: DefaultConnConfig()}.Validate()
	for _, f := range []string{"DialTimeout", "Dial is nil"} {
		if cerr == nil || !strings.Contains(cerr.Error(), f) {
			t.Errorf("client config error does not mention %s: %v", f, cerr)
		}
	}
	if _, err := NewServer(DefaultServerConfig(), nil); err == nil {
		t.Error("NewServer accepted a nil handler")
	}
}
