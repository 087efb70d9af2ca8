package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// watchMaster polls the namesrv every millisecond until its brokerId-0
// address for broker-a is neither "" nor old, and returns it with the time
// it was first seen.
func watchMaster(g *group, old string, deadline time.Duration) (string, time.Time) {
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if a := g.masterAddr(); a != "" && a != old {
			return a, time.Now()
		}
		time.Sleep(time.Millisecond)
	}
	return "", time.Time{}
}

func (g *group) indexOf(addr string) int {
	for i := range g.brokers {
		if b := g.broker(i); b != nil && b.Addr() == addr {
			return i
		}
	}
	return -1
}

func TestLeaderCrash(t *testing.T) {
	g := newGroup(t, nil)
	l := g.leader()
	oldAddr := g.broker(l).Addr()
	c := g.client(l, nil)
	const topic, grp = "FailoverTopic", "cg-failover"
	for i := 0; i < 5; i++ {
		send(t, c, topic, 0, nil, []byte("m"+strconv.Itoa(i)))
	}
	resp := invoke(t, c, remoting.NewRequest(remoting.UpdateConsumerOffset, map[string]string{
		"consumerGroup": grp, "topic": topic, "queueId": "0", "commitOffset": "4"}, nil))
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("commit offset: %s", resp.ResponseCode())
	}
	// Delayed messages due after the crash (level 6 = 600 ms).
	const delayed = 4
	for i := 0; i < delayed; i++ {
		props := message.Properties{{Key: message.PropDelayTimeLevel, Value: "6"}}
		send(t, c, topic, 1, props, []byte("late"+strconv.Itoa(i)))
	}

	crashAt := time.Now()
	g.crash(l)
	newAddr, seenAt := watchMaster(g, oldAddr, 10*time.Second)
	if newAddr == "" {
		t.Fatal("no new brokerId 0 at the namesrv within 10 s of the crash")
	}
	nl := g.indexOf(newAddr)
	g.electedMu.Lock()
	electedAt := g.elected[nl]
	g.electedMu.Unlock()
	if electedAt.Before(crashAt) {
		t.Fatalf("node %d's leadership predates the crash", nl)
	}
	regLag := seenAt.Sub(electedAt)
	t.Logf("crash -> store reports new leader n%d: %v; leader report -> namesrv brokerId 0: %v (crash -> route: %v)",
		nl, electedAt.Sub(crashAt).Round(time.Millisecond), regLag.Round(time.Microsecond), seenAt.Sub(crashAt).Round(time.Millisecond))
	if regLag > time.Second {
		t.Fatalf("new leader registered as brokerId 0 %v after its election, want < 1 s", regLag)
	}

	// The route: the new leader as 0, the surviving follower under its
	// follower id, the crashed node gone (its namesrv connection closed).
	waitFor(t, 3*time.Second, "route with leader and follower ids", func() bool {
		rd, ok := g.ns.Route(AutoCreateTopicKey)
		if !ok || len(rd.BrokerDatas) != 1 {
			return false
		}
		addrs := rd.BrokerDatas[0].BrokerAddrs
		for i := range g.brokers {
			b := g.broker(i)
			if b == nil || i == nl {
				continue
			}
			if addrs[b.followID] != b.Addr() || b.followID != int64(i+1) {
				return false
			}
		}
		for _, a := range addrs {
			if a == oldAddr {
				return false
			}
		}
		return addrs[0] == newAddr && len(addrs) == 2
	})
	// The committed offset survived, on the new leader and the follower.
	for i := range g.brokers {
		if g.broker(i) == nil {
			continue
		}
		ci := g.client(i, nil)
		waitFor(t, 3*time.Second, "committed offset on node "+strconv.Itoa(i), func() bool {
			r := invoke(t, ci, remoting.NewRequest(remoting.QueryConsumerOffset, map[string]string{
				"consumerGroup": grp, "topic": topic, "queueId": "0"}, nil))
			return r.ResponseCode() == remoting.Success && extInt(t, r, "offset") == 4
		})
	}
	// Delayed messages are delivered by the new leader, once each.
	st := g.broker(nl).store
	waitFor(t, 5*time.Second, "delayed messages after failover", func() bool { return st.MaxOffset(topic, 1) >= delayed })
	time.Sleep(700 * time.Millisecond) // a duplicate would show up within one more delay period
	if n := st.MaxOffset(topic, 1); n != delayed {
		t.Fatalf("%d delayed messages delivered, want %d", n, delayed)
	}
	if !g.broker(nl).sched.running() {
		t.Fatal("schedule service not running on the new leader")
	}
	for i := range g.brokers {
		if b := g.broker(i); b != nil && i != nl && b.sched.running() {
			t.Fatalf("schedule service running on follower n%d", i)
		}
	}
	// STOREHOST after failover (REMOTING.md §8 item 15): messages the dead
	// leader wrote are served naming the live node that serves them, and a
	// CONSUMER_SEND_MSG_BACK sent to that address (what the Go client's
	// consume-timeout and orderly paths do) is stored, via the leader when
	// the address is the follower's.
	const sbGroup = "cg-failover-sendback"
	for i := range g.brokers {
		b := g.broker(i)
		if b == nil {
			continue
		}
		msgs, _ := pullAll(t, g.client(i, nil), topic, 0, 0)
		if len(msgs) < 1 {
			t.Fatalf("node %d serves %d messages of queue 0", i, len(msgs))
		}
		m := msgs[0]
		if m.StoreHost.String() != b.Addr() || m.StoreHost.String() == oldAddr {
			t.Fatalf("node %d serves store host %v, want itself %s (the writer %s is dead)", i, m.StoreHost, b.Addr(), oldAddr)
		}
		sendBack(t, dial(t, m.StoreHost.String(), nil), sbGroup, m.CommitLogOffset, 0, 16)
	}
	retrySt := g.broker(nl).store
	waitFor(t, 5*time.Second, "both send-backs in the retry topic", func() bool {
		return retrySt.MaxOffset(RetryTopic(sbGroup), 0) == 2
	})
	if res, err := retrySt.GetMessages("", RetryTopic(sbGroup), 0, 0, 2, nil); err != nil || res.Count != 2 {
		t.Fatalf("retry topic read: %v %v", res.Status, err)
	} else if ms, err := message.DecodeAll(res.Body, nil); err != nil || string(ms[0].Body) != "m0" || string(ms[1].Body) != "m0" {
		t.Fatalf("retried messages %v (%v)", ms, err)
	}

	// Writes go on: directly and through the surviving follower.
	nc := g.client(nl, nil)
	send(t, nc, topic, 0, nil, []byte("after"))
	for i := range g.brokers {
		if g.broker(i) != nil && i != nl {
			send(t, g.client(i, nil), topic, 0, nil, []byte("after via follower"))
		}
	}
	msgs, _ := pullAll(t, nc, topic, 0, 0)
	if len(msgs) != 7 {
		t.Fatalf("queue 0 holds %d messages after failover, want 7", len(msgs))
	}
	for i, m := range msgs {
		if m.QueueOffset != int64(i) {
			t.Fatalf("message %d has queue offset %d", i, m.QueueOffset)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	g := newGroup(t, nil)
	l := g.leader()
	old := g.broker(l)
	oldAddr := old.Addr()
	send(t, g.client(l, nil), "ShutdownTopic", 0, nil, []byte("x"))
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- old.Close() }()
	newAddr, seenAt := watchMaster(g, oldAddr, 10*time.Second)
	if newAddr == "" {
		t.Fatal("no new brokerId 0 after the leader's shutdown")
	}
	t.Logf("leader shutdown -> successor registered as brokerId 0: %v", seenAt.Sub(start).Round(time.Millisecond))
	if err := <-done; err != nil {
		t.Fatalf("close: %v", err)
	}
	g.mu.Lock()
	g.brokers[l], g.stores[l] = nil, nil
	g.mu.Unlock()
	// The old leader unregistered: its address is gone from the route.
	waitFor(t, 3*time.Second, "old leader gone from the route", func() bool {
		rd, ok := g.ns.Route("ShutdownTopic")
		if !ok {
			return false
		}
		for _, a := range rd.BrokerDatas[0].BrokerAddrs {
			if a == oldAddr {
				return false
			}
		}
		return true
	})
	if err := old.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	send(t, g.client(g.indexOf(newAddr), nil), "ShutdownTopic", 0, nil, []byte("y"))
}
