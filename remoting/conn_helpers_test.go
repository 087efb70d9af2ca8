package remoting

import (
	"context"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"net"
	"testing"
	"time"
)

func newTestLogger() (*slog.Logger, *testutil.LogBuffer) {
	lb := &testutil.LogBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func testServerConfig() (ServerConfig, *testutil.LogBuffer) {
	cfg := DefaultServerConfig()
	var lb *testutil.LogBuffer
	cfg.Conn.Logger, lb = newTestLogger()
	return cfg, lb
}

func testClientConfig() ClientConfig {
	cfg := DefaultClientConfig()
	cfg.Conn.Logger, _ = newTestLogger()
	return cfg
}

// startServer serves h on a loopback port and closes it at cleanup.
func startServer(t testing.TB, cfg ServerConfig, h Handler) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

func testClient(t testing.TB, addr string, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// echo answers SUCCESS with the request's extFields and body.
var echo = HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
	resp := NewResponse(req, Success, "")
	resp.ExtFields = req.ExtFields
	resp.Body = req.Body
	return resp
})

// waitFor polls cond until it holds or d passes.
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

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// rawConn dials addr for hand-made frames.
func rawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// expectClosed reads from nc until the server closes it (EOF or reset).
func expectClosed(t testing.TB, nc net.Conn, within time.Duration) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after %v", within)
			}
			return
		}
	}
}
