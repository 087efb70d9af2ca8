package integration_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig(ns ...string) client.Config {
	cfg := client.DefaultConfig(ns...)
	cfg.Logger = discard
	cfg.Remoting.Conn.Logger = discard
	cfg.RetryBackoff = 5 * time.Millisecond
	cfg.MaxRetryBackoff = 20 * time.Millisecond
	cfg.PullTimeoutMargin = 2 * time.Second
	cfg.InstanceName = "it"
	return cfg
}

func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

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

func pullAll(t testing.TB, cs *client.Consumer, mq client.MessageQueue) []client.ConsumedMessage {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	var out []client.ConsumedMessage
	off := int64(0)
	for {
		res, err := cs.Pull(ctx, mq, off, 32)
		if err != nil {
			t.Fatalf("pull %s@%d: %v", mq, off, err)
		}
		if res.Status != client.PullFound {
			return out
		}
		out = append(out, res.Messages...)
		off = res.NextBeginOffset
	}
}

// fakeNamesrv answers GET_ROUTEINFO_BY_TOPIC from a table of raw bodies
// (a stale route on purpose).
type fakeNamesrv struct {
	addr   string
	mu     sync.Mutex
	routes map[string][]byte
}

func newFakeNamesrv(t testing.TB) *fakeNamesrv {
	ns := &fakeNamesrv{routes: map[string][]byte{}}
	cfg := remoting.DefaultServerConfig()
	cfg.Conn.Logger = discard
	srv, err := remoting.NewServer(cfg, remoting.HandlerFunc(func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		ns.mu.Lock()
		body, ok := ns.routes[req.Ext("topic")]
		ns.mu.Unlock()
		if req.RequestCode() != remoting.GetRouteInfoByTopic || !ok {
			return remoting.NewResponse(req, remoting.TopicNotExist, "no route")
		}
		r := remoting.NewResponse(req, remoting.Success, "")
		r.Body = body
		return r
	}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ns.addr = ln.Addr().String()
	return ns
}

func (ns *fakeNamesrv) setRoute(topic, body string) {
	ns.mu.Lock()
	ns.routes[topic] = []byte(body)
	ns.mu.Unlock()
}

func fastjsonRoute(brokerName, masterAddr string, queues int) string {
	return fmt.Sprintf(`{"brokerDatas":[{"brokerAddrs":{0:"%s"},"brokerName":"%s","cluster":"DefaultCluster"}],`+
		`"filterServerTable":{},"queueDatas":[{"brokerName":"%s","perm":6,"readQueueNums":%d,"topicSysFlag":0,"writeQueueNums":%d}]}`,
		masterAddr, brokerName, brokerName, queues, queues)
}
