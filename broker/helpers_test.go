package broker

import (
	"context"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shortDelayLevels are short delay levels for tests (level 3 = 300ms).
const shortDelayLevels = "100ms 200ms 300ms 400ms 500ms 600ms"

// group is a namesrv plus a three-node broker group on loopback.
type group struct {
	t       testing.TB
	logs    *testutil.LogBuffer
	ns      *namesrv.Server
	nsAddr  string
	peers   []dledger.Peer
	dirs    []string
	mu      sync.Mutex
	brokers []*Broker
	stores  []*store.Store
	mod     func(i int, c *Config)

	electedMu sync.Mutex
	elected   map[int]time.Time // node -> when its store reported leadership
}

func newGroup(t testing.TB, mod func(i int, c *Config)) *group {
	t.Helper()
	g := &group{t: t, logs: &testutil.LogBuffer{}, mod: mod, elected: map[int]time.Time{}}
	logger := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nscfg := namesrv.DefaultConfig()
	nscfg.ListenAddr = "127.0.0.1:0"
	nscfg.Logger = logger.With("node", "namesrv")
	ns, err := namesrv.New(nscfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ns.Serve(ln) }()
	g.ns, g.nsAddr = ns, ln.Addr().String()
	for i, addr := range testutil.FreeAddrs(t, 3) {
		g.peers = append(g.peers, dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: addr})
		g.dirs = append(g.dirs, t.TempDir())
	}
	g.brokers = make([]*Broker, 3)
	g.stores = make([]*store.Store, 3)
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for i := range g.brokers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.crash(i)
			}()
		}
		wg.Wait()
		_ = ns.Close()
		if t.Failed() {
			t.Logf("log tail:\n%s", g.logs.Tail(200))
		}
	})
	for i := range g.brokers {
		g.start(i, logger)
	}
	return g
}

func (g *group) start(i int, logger *slog.Logger) {
	g.t.Helper()
	cfg := DefaultConfig()
	cfg.BrokerName = "broker-a"
	cfg.BrokerIP1 = "127.0.0.1"
	cfg.ListenPort = 0
	cfg.NamesrvAddr = g.nsAddr
	cfg.DLedgerSelfID = g.peers[i].ID
	cfg.MessageDelayLevel = shortDelayLevels
	cfg.MaxLongPollingTime = 2 * time.Second
	cfg.ScheduleIdleInterval = 200 * time.Millisecond
	cfg.TransactionTimeOut = 300 * time.Millisecond
	cfg.TransactionCheckInterval = 200 * time.Millisecond
	cfg.TransactionCheckMax = 3
	cfg.Logger = logger.With("node", g.peers[i].ID)
	if g.mod != nil {
		g.mod(i, &cfg)
	}
	// What a binary does: listen first, so the store stamps the address
	// clients use.
	ln, addr, err := Listen(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	cfg.Listener = ln

	scfg := store.DefaultConfig()
	scfg.Dir = g.dirs[i]
	scfg.DLedger.ID, scfg.DLedger.Peers = g.peers[i].ID, g.peers
	scfg.DLedger.SegmentSize = 8 << 20 // a 4 MiB message fits one record
	scfg.DLedger.IndexSlotsPerFile = 512
	// Generous timeouts: the machine is shared and -race is slow; a
	// flapping leader would make exact-count assertions meaningless.
	scfg.DLedger.HeartbeatTimeout = time.Second
	scfg.DLedger.ElectionTimeout = time.Second
	scfg.DLedger.LeaderLeaseTimeout = 500 * time.Millisecond
	scfg.DLedger.CommitTimeout = 5 * time.Millisecond
	scfg.DLedger.SnapshotThreshold = 1 << 40
	scfg.DLedger.SnapshotInterval = time.Hour
	scfg.DLedger.ShutdownTransferTimeout = time.Second
	scfg.StoreHost = addr
	scfg.ConsumeQueueEntriesPerFile = 64
	scfg.Index = store.IndexConfig{SlotCount: 1024, EntriesPerFile: 4096}
	scfg.FlushInterval = 50 * time.Millisecond
	scfg.Logger = logger.With("node", g.peers[i].ID)
	st, err := store.Open(scfg)
	if err != nil {
		_ = ln.Close()
		g.t.Fatalf("open store n%d: %v", i, err)
	}
	st.OnLeaderChange(func(ch dledger.LeaderChange) {
		if ch.IsLeader {
			g.electedMu.Lock()
			g.elected[i] = time.Now()
			g.electedMu.Unlock()
		}
	})
	b, err := New(cfg, st)
	if err != nil {
		_ = st.Kill()
		g.t.Fatalf("new broker n%d: %v", i, err)
	}
	if b.Addr() != addr.String() {
		g.t.Fatalf("broker address %s, listener %s", b.Addr(), addr)
	}
	if err := b.Start(); err != nil {
		g.t.Fatalf("start broker n%d: %v", i, err)
	}
	g.mu.Lock()
	g.brokers[i], g.stores[i] = b, st
	g.mu.Unlock()
}

// broker returns broker i (nil while down).
func (g *group) broker(i int) *Broker {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.brokers[i]
}

// crash stops node i the way a dying process does: no leadership transfer,
// no unregistration; its connections just close.
func (g *group) crash(i int) {
	g.mu.Lock()
	b, st := g.brokers[i], g.stores[i]
	g.brokers[i], g.stores[i] = nil, nil
	g.mu.Unlock()
	if b == nil {
		return
	}
	b.mu.Lock()
	b.shutdown = true
	b.mu.Unlock()
	b.stopLeaderServices()
	_ = st.Kill()
	b.releaseGroupAddr("crash") // a dying process's sockets close at once
	b.cancel()
	_ = b.server.Close()
	_ = b.metricsSrv.close()
	b.lp.wakeAll()
	b.wg.Wait()
	b.stopLeaderServices()
	_ = b.reg.close()
	_ = b.fwd.close()
}

// leader waits for a node whose store is the ready leader and which has
// registered as brokerId 0 (with a group address: holds it, and the
// namesrv names it as brokerId 0); it returns its index.
func (g *group) leader() int {
	g.t.Helper()
	idx := -1
	waitFor(g.t, 15*time.Second, "a registered leader", func() bool {
		for i := range g.brokers {
			b := g.broker(i)
			if b == nil || !b.store.LeaderReady() {
				continue
			}
			if m := g.masterAddr(); m == b.Addr() || b.vip != nil && b.vip.held() && m == b.vip.addr {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// follower returns the index of a running non-leader node.
func (g *group) follower() int {
	l := g.leader()
	for i := range g.brokers {
		if i != l && g.broker(i) != nil {
			return i
		}
	}
	g.t.Fatal("no follower")
	return -1
}

// masterAddr is the brokerId-0 address the namesrv has for broker-a.
func (g *group) masterAddr() string {
	rd, ok := g.ns.Route(AutoCreateTopicKey)
	if !ok {
		return ""
	}
	for _, bd := range rd.BrokerDatas {
		if bd.BrokerName == "broker-a" {
			return bd.BrokerAddrs[namesrv.MasterID]
		}
	}
	return ""
}

// client dials broker i (closed at cleanup).
func (g *group) client(i int, h remoting.Handler) *remoting.Client {
	g.t.Helper()
	return dial(g.t, g.broker(i).Addr(), h)
}

func dial(t testing.TB, addr string, h remoting.Handler) *remoting.Client {
	t.Helper()
	cfg := remoting.DefaultClientConfig()
	cfg.Handler = h
	cfg.Conn.Logger = slog.New(slog.DiscardHandler)
	c, err := remoting.NewClient(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func invoke(t testing.TB, c *remoting.Client, req *remoting.Command) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, req)
	if err != nil {
		t.Fatalf("invoke %s: %v", req.RequestCode(), err)
	}
	return resp
}

// sendReq builds a SEND_MESSAGE (10) the way the Go client does.
func sendReq(topic string, queueID int, props message.Properties, body []byte) *remoting.Command {
	return remoting.NewRequest(remoting.SendMessage, map[string]string{
		"producerGroup": "pg", "topic": topic, "defaultTopic": AutoCreateTopicKey, "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "7", "properties": props.String(), "reconsumeTimes": "0", "unitMode": "false",
		"maxReconsumeTimes": "0", "batch": "false",
	}, body)
}

// send sends and requires SUCCESS. SERVICE_NOT_AVAILABLE (nothing stored:
// no leader at the moment) is retried, as a producer does.
func send(t testing.TB, c *remoting.Client, topic string, queueID int, props message.Properties, body []byte) *remoting.Command {
	t.Helper()
	resp := invoke(t, c, sendReq(topic, queueID, props, body))
	for deadline := time.Now().Add(15 * time.Second); resp.ResponseCode() == remoting.ServiceNotAvailable && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		resp = invoke(t, c, sendReq(topic, queueID, props, body))
	}
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("send to %s: %s %q", topic, resp.ResponseCode(), resp.Remark)
	}
	return resp
}

func pullReq(group, topic string, queueID int, offset int64, maxNums int, sysFlag int, suspend time.Duration) *remoting.Command {
	return remoting.NewRequest(remoting.PullMessage, map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queueID),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": strconv.Itoa(maxNums),
		"sysFlag": strconv.Itoa(sysFlag), "commitOffset": "0",
		"suspendTimeoutMillis": strconv.FormatInt(suspend.Milliseconds(), 10),
		"subscription":         "", "subVersion": "0", "expressionType": "TAG",
	}, nil)
}

// pullAll pulls queue from offset without suspending and decodes the body.
func pullAll(t testing.TB, c *remoting.Client, topic string, queueID int, offset int64) ([]message.MessageExt, *remoting.Command) {
	t.Helper()
	resp := invoke(t, c, pullReq("cg-test", topic, queueID, offset, 32, 0, 0))
	for _, k := range []string{"nextBeginOffset", "minOffset", "maxOffset", "suggestWhichBrokerId"} {
		if _, ok := resp.ExtFields[k]; !ok {
			t.Fatalf("pull response %s lacks %s", resp.ResponseCode(), k)
		}
	}
	if resp.ResponseCode() != remoting.Success {
		return nil, resp
	}
	msgs, err := message.DecodeAll(resp.Body, nil)
	if err != nil {
		t.Fatalf("decode pull body: %v", err)
	}
	return msgs, resp
}

func extInt(t testing.TB, c *remoting.Command, key string) int64 {
	t.Helper()
	v, ok, err := c.ExtInt(key)
	if !ok || err != nil {
		t.Fatalf("%s: ext %s missing or bad (%v): %v", c.ResponseCode(), key, err, c.ExtFields)
	}
	return v
}

// recorder is a client-side handler that records server requests.
type recorder struct {
	mu   sync.Mutex
	reqs []*remoting.Command
}

func (r *recorder) ServeRemoting(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(code remoting.RequestCode) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		if q.RequestCode() == code {
			n++
		}
	}
	return n
}
