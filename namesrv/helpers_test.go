package namesrv

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelError}))
	return cfg
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

// startNamesrv serves a name server on a loopback port until cleanup.
func startNamesrv(t testing.TB, mod func(*Config)) (*Server, string) {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, remoting.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return s, ln.Addr().String()
}

func newRemotingClient(t testing.TB, addr string) *remoting.Client {
	t.Helper()
	cfg := remoting.DefaultClientConfig()
	cfg.Conn.Logger = slog.New(slog.NewTextHandler(testWriter{}, nil))
	c, err := remoting.NewClient(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// topics returns normal topic configs (perm 6, 4 queues).
func topics(names ...string) map[string]TopicConfig {
	m := make(map[string]TopicConfig, len(names))
	for _, n := range names {
		m[n] = TopicConfig{TopicName: n, ReadQueueNums: 4, WriteQueueNums: 4, Perm: PermRead | PermWrite, TopicFilterType: "SINGLE_TAG"}
	}
	return m
}

func reg(name, addr string, id, term int64, version int64, topicNames ...string) Registration {
	return Registration{
		ClusterName: "DefaultCluster", BrokerName: name, BrokerAddr: addr, HAServerAddr: "ha-" + addr,
		BrokerID: id, Term: term, Topics: topics(topicNames...), DataVersion: DataVersion{Timestamp: 1, Counter: version},
	}
}

func mustRegister(t testing.TB, c *remoting.Client, r Registration) RegisterResult {
	t.Helper()
	res, err := RegisterBroker(ctxT(t), c, r)
	if err != nil {
		t.Fatalf("register %s/%d %s: %v", r.BrokerName, r.BrokerID, r.BrokerAddr, err)
	}
	return res
}

// rawRoute returns the raw GET_ROUTEINFO_BY_TOPIC response.
func rawRoute(t testing.TB, c *remoting.Client, topic string) *remoting.Command {
	t.Helper()
	resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// goClientRoute parses a route body exactly as rocketmq-client-go v2.1.2
// does (internal/route.go decode): queueDatas with a JSON decoder, and each
// brokerAddrs as raw text: strip the first and last character, split on ",",
// split each piece at the first ":", delete quotes, parse the key as int64.
func goClientRoute(t testing.TB, body []byte) (queues []goQueueData, brokers map[string]map[int64]string) {
	t.Helper()
	var raw struct {
		QueueDatas  json.RawMessage `json:"queueDatas"`
		BrokerDatas []struct {
			BrokerName  string          `json:"brokerName"`
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw.QueueDatas, &queues); err != nil {
		t.Fatalf("queueDatas: %v", err)
	}
	brokers = map[string]map[int64]string{}
	for _, bd := range raw.BrokerDatas {
		addrs := string(bd.BrokerAddrs)
		if len(addrs) < 2 {
			t.Fatalf("brokerAddrs of %s missing: %q (the Go client panics)", bd.BrokerName, addrs)
		}
		m := map[int64]string{}
		for _, s := range strings.Split(addrs[1:len(addrs)-1], ",") {
			i := strings.Index(s, ":")
			if i < 0 {
				continue
			}
			id, _ := strconv.ParseInt(strings.ReplaceAll(s[:i], `"`, ""), 10, 64)
			m[id] = strings.ReplaceAll(s[i+1:], `"`, "")
		}
		brokers[bd.BrokerName] = m
	}
	return queues, brokers
}

// goQueueData is the Go client's QueueData (note its topicSynFlag spelling).
type goQueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int    `json:"readQueueNums"`
	WriteQueueNums int    `json:"writeQueueNums"`
	Perm           int    `json:"perm"`
	TopicSynFlag   int    `json:"topicSynFlag"`
}

// routeAddrs returns brokerName → brokerId → address of topic's route as the
// Go client sees it, or nil if the topic has no route.
func routeAddrs(t testing.TB, c *remoting.Client, topic string) map[string]map[int64]string {
	t.Helper()
	resp := rawRoute(t, c, topic)
	switch resp.ResponseCode() {
	case remoting.TopicNotExist:
		return nil
	case remoting.Success:
		_, b := goClientRoute(t, resp.Body)
		return b
	}
	t.Fatalf("route %s: %v", topic, resp)
	return nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
