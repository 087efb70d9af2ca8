package integration_test

import (
	"bytes"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/broker"
	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// Integration tests against the real thing: an in-process name server and
// one three-node broker group (one Raft group) on 127.0.0.1. They live in
// their own package so the client's unit tests never depend on the broker
// and store packages building.

type realNode struct {
	b    *broker.Broker
	st   *store.Store
	addr string
}

type realGroup struct {
	t      testing.TB
	logs   *testutil.LogBuffer
	nsAddr string
	mu     sync.Mutex
	nodes  []*realNode // nil entries are stopped nodes
}

func startRealGroup(t testing.TB) *realGroup {
	t.Helper()
	g := &realGroup{t: t, logs: &testutil.LogBuffer{}}
	logger := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	nscfg := namesrv.DefaultConfig()
	nscfg.ListenAddr = "127.0.0.1:0"
	nscfg.Logger = logger.With("node", "namesrv")
	ns, err := namesrv.New(nscfg)
	if err != nil {
		t.Fatal(err)
	}
	nsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ns.Serve(nsLn) }()
	g.nsAddr = nsLn.Addr().String()

	var peers []dledger.Peer
	var raftLns []net.Listener
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		raftLns = append(raftLns, l)
		peers = append(peers, dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: l.Addr().String()})
	}
	for _, l := range raftLns {
		_ = l.Close()
	}
	// Before the Cleanup below: cleanups run last-registered first, so the
	// nodes stop before their directories are removed (removing them under
	// a running node failed when it created a file meanwhile).
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); g.stop(i) }()
		}
		wg.Wait()
		_ = ns.Close()
		if t.Failed() {
			t.Logf("server log tail:\n%s", g.logs.Tail(150))
		}
	})
	g.nodes = make([]*realNode, 3)
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		scfg := store.DefaultConfig()
		scfg.Dir = dirs[i]
		scfg.DLedger.ID, scfg.DLedger.Peers = peers[i].ID, peers
		scfg.DLedger.SegmentSize = 8 << 20
		scfg.DLedger.IndexSlotsPerFile = 512
		scfg.DLedger.HeartbeatTimeout = time.Second
		scfg.DLedger.ElectionTimeout = time.Second
		scfg.DLedger.LeaderLeaseTimeout = 500 * time.Millisecond
		scfg.DLedger.CommitTimeout = 5 * time.Millisecond
		scfg.DLedger.SnapshotThreshold = 1 << 40
		scfg.DLedger.SnapshotInterval = time.Hour
		scfg.DLedger.ShutdownTransferTimeout = time.Second
		scfg.StoreHost = netip.MustParseAddrPort(ln.Addr().String())
		scfg.FlushInterval = 50 * time.Millisecond
		scfg.Logger = logger.With("node", peers[i].ID)
		st, err := store.Open(scfg)
		if err != nil {
			_ = ln.Close()
			t.Fatalf("open store n%d: %v", i, err)
		}
		bcfg := broker.DefaultConfig()
		bcfg.BrokerName = "broker-a"
		bcfg.BrokerIP1 = "127.0.0.1"
		bcfg.Listener = ln
		bcfg.NamesrvAddr = g.nsAddr
		bcfg.DLedgerSelfID = peers[i].ID
		bcfg.MaxLongPollingTime = 3 * time.Second
		bcfg.Logger = logger.With("node", peers[i].ID)
		b, err := broker.New(bcfg, st)
		if err != nil {
			_ = st.Kill()
			t.Fatalf("new broker n%d: %v", i, err)
		}
		if err := b.Start(); err != nil {
			t.Fatalf("start broker n%d: %v", i, err)
		}
		g.nodes[i] = &realNode{b: b, st: st, addr: b.Addr()}
	}
	return g
}

func (g *realGroup) addrs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, n := range g.nodes {
		if n != nil {
			out = append(out, n.addr)
		}
	}
	return out
}

func (g *realGroup) index(addr string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, n := range g.nodes {
		if n != nil && n.addr == addr {
			return i
		}
	}
	return -1
}

// stop shuts node i down gracefully (leadership transfer first).
func (g *realGroup) stop(i int) {
	g.mu.Lock()
	n := g.nodes[i]
	g.nodes[i] = nil
	g.mu.Unlock()
	if n != nil {
		_ = n.b.Close()
	}
}

// crash kills node i's store without a leadership transfer, then closes
// the broker (its connections drop).
func (g *realGroup) crash(i int) {
	g.mu.Lock()
	n := g.nodes[i]
	g.nodes[i] = nil
	g.mu.Unlock()
	if n == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.st.Kill()
		_ = n.b.Close()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		g.t.Fatalf("crashing node %d did not finish within 20 s (store Kill or broker Close hung)", i)
	}
}

func TestRealBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node broker group")
	}
	g := startRealGroup(t)
	cfg := testConfig(g.nsAddr)
	cfg.Retries = 20
	cfg.RetryBackoff = 50 * time.Millisecond
	cfg.MaxRetryBackoff = 500 * time.Millisecond
	cfg.Selector = client.ByShardingKey()
	c := newClient(t, cfg)
	ctx := ctxT(t, 60*time.Second)
	const topic = "ClientIT"

	// Admin: the leader is unknown, so offer every node; followers forward.
	if _, err := c.Admin().CreateTopic(ctx, client.NewTopicConfig(topic, 4), g.addrs()...); err != nil {
		t.Fatal(err)
	}
	route, err := c.Admin().WaitForRoute(ctx, topic, 4)
	if err != nil {
		t.Fatal(err)
	}
	master, _ := route.MasterAddr("broker-a")
	if g.index(master) < 0 {
		t.Fatalf("master %q is not a node of the group %v", master, g.addrs())
	}

	t.Run("name server route is Go-client compatible", func(t *testing.T) {
		rc, err := remoting.NewClient(g.nsAddr, cfg.Remoting)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		resp, err := rc.Invoke(ctx, remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
		if err != nil || resp.ResponseCode() != remoting.Success {
			t.Fatalf("%v %v", resp, err)
		}
		if err := client.CheckGoClientCompat(topic, resp.Body); err != nil {
			t.Fatalf("%v\nbody: %s", err, resp.Body)
		}
	})

	acked := map[string]string{} // UNIQ_KEY → body, every acknowledged message
	var ackMu sync.Mutex
	ack := func(r client.SendResult, body string) {
		ackMu.Lock()
		acked[r.MsgID] = body
		ackMu.Unlock()
	}

	t.Run("send and pull round trip", func(t *testing.T) {
		p := c.Producer()
		big := bytes.Repeat([]byte("compressible "), 1000) // 13 KB
		m := &message.Message{Topic: topic, Body: big}
		m.Properties.Set(message.PropTags, "big")
		m.Properties.Set(message.PropKeys, "k1 k2")
		m.Properties.Set(message.PropShardingKey, "s1")
		r, err := p.Send(ctx, m)
		if err != nil || r.Status != client.SendOK || r.BrokerAddr != master {
			t.Fatalf("%+v %v", r, err)
		}
		ack(r, string(big))
		id, err := message.ParseOffsetMsgID(r.OffsetMsgID)
		if err != nil || id.Host.String() != master {
			t.Fatalf("offset msg id %q: %v %v", r.OffsetMsgID, id, err)
		}
		res, err := c.Consumer("it").Pull(ctx, r.Queue, r.QueueOffset, 1)
		if err != nil || len(res.Messages) != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		got := res.Messages[0]
		if !bytes.Equal(got.Body, big) || got.MsgID() != r.MsgID || got.OffsetMsgID() != r.OffsetMsgID ||
			got.Tags() != "big" || got.Keys() != "k1 k2" || got.CommitLogOffset != id.Offset {
			t.Fatalf("pulled %+v", got.MessageExt)
		}
		// The legacy header (SEND_MESSAGE, 10) works too.
		lcfg := cfg
		lcfg.LegacySendHeader = true
		lc := newClient(t, lcfg)
		r, err = lc.Producer().Send(ctx, newMsg(topic, "legacy", message.PropShardingKey, "s2"))
		if err != nil {
			t.Fatal(err)
		}
		ack(r, "legacy")
	})

	t.Run("batch, async and batching producer", func(t *testing.T) {
		p := c.Producer()
		var batch []*message.Message
		for i := range 10 {
			batch = append(batch, newMsg(topic, fmt.Sprint("batch-", i), message.PropShardingKey, "b"))
		}
		r, err := p.SendBatch(ctx, batch)
		if err != nil || len(r.MsgIDs) != 10 {
			t.Fatalf("%+v %v", r, err)
		}
		for i, id := range r.MsgIDs {
			ack(client.SendResult{MsgID: id}, fmt.Sprint("batch-", i))
		}
		var wg sync.WaitGroup
		for i := range 200 {
			body := fmt.Sprint("async-", i)
			wg.Add(1)
			if err := p.SendAsync(ctx, newMsg(topic, body), func(r client.SendResult, err error) {
				defer wg.Done()
				if err != nil {
					t.Error(err)
					return
				}
				ack(r, body)
			}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		bp, err := c.NewBatchingProducer(client.DefaultBatchOptions())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 500 {
			body := fmt.Sprint("coalesced-", i)
			wg.Add(1)
			if err := bp.SendAsync(ctx, newMsg(topic, body, message.PropShardingKey, fmt.Sprint(i%7)), func(r client.SendResult, err error) {
				defer wg.Done()
				if err != nil {
					t.Error(err)
					return
				}
				ack(r, body)
			}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		_ = bp.Close()
	})

	// readAll reads every queue of the topic from one broker address.
	readAll := func(t *testing.T, addr string) map[string]message.MessageExt {
		cs := c.Consumer("it").OnBroker(addr)
		out := map[string]message.MessageExt{}
		for q := range int32(4) {
			for _, m := range pullAll(t, cs, client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: q}) {
				out[m.UniqKey()] = m.MessageExt
			}
		}
		return out
	}

	t.Run("every replica holds every acknowledged message at the same place", func(t *testing.T) {
		ackMu.Lock()
		want := len(acked)
		ackMu.Unlock()
		var views []map[string]message.MessageExt
		for _, addr := range g.addrs() {
			var got map[string]message.MessageExt
			waitFor(t, 10*time.Second, "replica "+addr+" to catch up", func() bool {
				got = readAll(t, addr)
				return len(got) >= want
			})
			for id, body := range acked {
				m, ok := got[id]
				if !ok || string(m.Body) != body {
					t.Fatalf("replica %s: message %s missing or wrong", addr, id)
				}
			}
			views = append(views, got)
		}
		for id, m := range views[0] {
			for i, v := range views[1:] {
				o := v[id]
				if o.QueueID != m.QueueID || o.QueueOffset != m.QueueOffset || o.CommitLogOffset != m.CommitLogOffset ||
					o.StoreTimestamp != m.StoreTimestamp {
					t.Fatalf("replica %d disagrees on %s: %+v vs %+v", i+1, id, o, m)
				}
			}
		}
	})

	t.Run("offsets", func(t *testing.T) {
		mq := client.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: 2}
		cs := c.Consumer("it-offsets")
		if _, err := cs.QueryOffset(ctx, mq); err == nil {
			t.Fatal("a fresh group has an offset")
		}
		if err := cs.CommitOffset(ctx, mq, 3); err != nil {
			t.Fatal(err)
		}
		if off, err := cs.QueryOffset(ctx, mq); err != nil || off != 3 {
			t.Fatalf("%d %v", off, err)
		}
		// Through a follower (forwarded to the leader), read back from each replica.
		for _, addr := range g.addrs() {
			if addr == master {
				continue
			}
			if err := cs.OnBroker(addr).CommitOffset(ctx, mq, 5); err != nil {
				t.Fatal(err)
			}
		}
		for _, addr := range g.addrs() {
			waitFor(t, 5*time.Second, "the offset on "+addr, func() bool {
				off, err := cs.OnBroker(addr).QueryOffset(ctx, mq)
				return err == nil && off == 5
			})
		}
		max, err := cs.MaxOffset(ctx, mq)
		if err != nil || max <= 0 {
			t.Fatalf("max %d %v", max, err)
		}
		if min, err := cs.MinOffset(ctx, mq); err != nil || min != 0 {
			t.Fatalf("min %d %v", min, err)
		}
		if off, err := cs.SearchOffset(ctx, mq, time.Now().Add(-time.Hour)); err != nil || off != 0 {
			t.Fatalf("search %d %v", off, err)
		}
	})

	t.Run("long poll wake-up", func(t *testing.T) {
		opts := client.DefaultAssignOptions()
		opts.Start = client.StartLast
		opts.Suspend = 10 * time.Second
		a, err := c.Consumer("it-lp").Assign(ctx, topic, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		waitFor(t, 5*time.Second, "start offsets", func() bool {
			for _, o := range a.Offsets() {
				if o < 0 {
					return false
				}
			}
			return true
		})
		time.Sleep(100 * time.Millisecond) // let the pulls be parked
		sent := time.Now()
		r, err := c.Producer().Send(ctx, newMsg(topic, "wake-up", message.PropShardingKey, "lp"))
		if err != nil {
			t.Fatal(err)
		}
		ack(r, "wake-up")
		select {
		case b := <-a.C:
			if b.Messages[0].MsgID() != r.MsgID {
				t.Fatalf("got %s", b.Messages[0].MsgID())
			}
			if d := time.Since(sent); d > 1500*time.Millisecond {
				t.Fatalf("delivered after %v", d)
			}
		case <-ctx.Done():
			t.Fatal("not delivered")
		}
	})

	t.Run("leader crash: sends resume, no acknowledged message lost", func(t *testing.T) {
		p := c.Producer()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[client.Outcome]int{}
		afterCrash := 0
		crashed := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					body := fmt.Sprintf("failover-%d-%d", w, i)
					r, err := p.Send(ctx, newMsg(topic, body, message.PropShardingKey, fmt.Sprint(w)))
					mu.Lock()
					outcomes[client.OutcomeOf(err)]++
					select {
					case <-crashed:
						if err == nil {
							afterCrash++
						}
					default:
					}
					mu.Unlock()
					if err == nil {
						ack(r, body)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		g.crash(g.index(master))
		close(crashed)
		waitFor(t, 30*time.Second, "sends to resume on a new leader", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return afterCrash >= 50
		})
		close(stop)
		wg.Wait()
		newRoute, err := c.RefreshRoute(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		newMaster, _ := newRoute.MasterAddr("broker-a")
		if newMaster == master || g.index(newMaster) < 0 {
			t.Fatalf("master %q after the crash of %q", newMaster, master)
		}
		got := readAll(t, newMaster)
		ackMu.Lock()
		defer ackMu.Unlock()
		var lost []string
		for id, body := range acked {
			if m, ok := got[id]; !ok || string(m.Body) != body {
				lost = append(lost, body)
			}
		}
		slices.Sort(lost)
		mu.Lock()
		t.Logf("outcomes %v, %d acknowledged in total, %d stored on the new leader", outcomes, len(acked), len(got))
		mu.Unlock()
		if len(lost) > 0 {
			t.Fatalf("%d acknowledged messages lost: %v", len(lost), lost[:min(10, len(lost))])
		}
	})
}

// TestRealBrokerFollowerPaths: a producer whose route is stale (it
// points at a follower) still gets its message stored, through the
// follower's forwarding; reads through that follower see it.
func TestRealBrokerFollowerPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node broker group")
	}
	g := startRealGroup(t)
	c := newClient(t, testConfig(g.nsAddr))
	ctx := ctxT(t, 40*time.Second)
	const topic = "ClientIT2"
	if _, err := c.Admin().CreateTopic(ctx, client.NewTopicConfig(topic, 2), g.addrs()...); err != nil {
		t.Fatal(err)
	}
	route, err := c.Admin().WaitForRoute(ctx, topic, 2)
	if err != nil {
		t.Fatal(err)
	}
	master, _ := route.MasterAddr("broker-a")
	var follower string
	for _, a := range g.addrs() {
		if a != master {
			follower = a
			break
		}
	}
	// Point a second client at a fake name server that names the follower
	// as master: a producer with a stale route after a leader change.
	ns := newFakeNamesrv(t)
	ns.setRoute(topic, fastjsonRoute("broker-a", follower, 2))
	stale := newClient(t, testConfig(ns.addr))
	r, err := stale.Producer().Send(ctx, newMsg(topic, "via follower"))
	if err != nil || r.BrokerAddr != follower {
		t.Fatalf("%+v %v", r, err)
	}
	waitFor(t, 5*time.Second, "the message on the follower", func() bool {
		res, err := c.Consumer("f").OnBroker(follower).Pull(ctx, r.Queue, r.QueueOffset, 1)
		return err == nil && len(res.Messages) == 1 && res.Messages[0].MsgID() == r.MsgID
	})
}
