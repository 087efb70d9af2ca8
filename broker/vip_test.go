package broker

import (
	"context"
	"fmt"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
)

// maxVIPGap bounds the longest pause between two acknowledged sends of a
// client that keeps using the group address across a failover: election
// (1 s timeouts in these tests) plus slack for -race on a loaded machine.
const maxVIPGap = 5 * time.Second

// newVIPGroup starts a group whose nodes share a free loopback group
// address.
func newVIPGroup(t *testing.T) (*group, string) {
	t.Helper()
	vip := testutil.FreeAddrs(t, 1)[0]
	return newGroup(t, func(_ int, c *Config) { c.BrokerVIP = vip }), vip
}

// holders returns the running nodes that serve the group address.
func (g *group) holders() []int {
	var out []int
	for i := range g.brokers {
		if b := g.broker(i); b != nil && b.vip != nil && b.vip.held() {
			out = append(out, i)
		}
	}
	return out
}

// nsMasterTerm asks the namesrv for broker-a's master and its term the way
// a follower learns them: a REGISTER_BROKER of a throwaway follower address
// (id 99), unregistered at once.
func nsMasterTerm(t *testing.T, g *group) (string, int64) {
	t.Helper()
	cl := dial(t, g.nsAddr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const probe = "127.0.0.1:1"
	res, err := namesrv.RegisterBroker(ctx, cl, namesrv.Registration{ClusterName: "DefaultCluster",
		BrokerName: "broker-a", BrokerAddr: probe, HAServerAddr: probe, BrokerID: 99})
	if err != nil {
		t.Fatalf("probe registration: %v", err)
	}
	if err := namesrv.UnregisterBroker(ctx, cl, "DefaultCluster", "broker-a", probe, 99); err != nil {
		t.Fatalf("probe unregistration: %v", err)
	}
	return res.MasterAddr, res.Term
}

// checkVIPRoute requires the route of broker-a to be: the group address as
// brokerId 0, every running follower under its own address and id, and
// neither the leader's own address nor any dead node's.
func checkVIPRoute(g *group, vip string, leader int) error {
	rd, ok := g.ns.Route(AutoCreateTopicKey)
	if !ok || len(rd.BrokerDatas) != 1 {
		return fmt.Errorf("route %+v", rd)
	}
	addrs := rd.BrokerDatas[0].BrokerAddrs
	want := map[int64]string{namesrv.MasterID: vip}
	for i := range g.brokers {
		if b := g.broker(i); b != nil && i != leader {
			want[b.followID] = b.Addr()
		}
	}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		return fmt.Errorf("brokerAddrs %v, want %v", addrs, want)
	}
	return nil
}

// servedBy pulls queue 0 of topic through addr and returns the STOREHOST
// of the first message: the serving node's own address (storehost.go).
func servedBy(t *testing.T, addr, topic string) string {
	t.Helper()
	msgs, resp := pullAll(t, dial(t, addr, nil), topic, 0, 0)
	if len(msgs) == 0 {
		t.Fatalf("pull %s through %s: %s, no messages", topic, addr, resp.ResponseCode())
	}
	return msgs[0].StoreHost.String()
}

// vipSender sends unique bodies to queue 0 of a topic over one client of
// the group address, like a producer whose route names it, and records
// every acknowledgement.
type vipSender struct {
	mu      sync.Mutex
	acked   []string
	ackAt   []time.Time
	retried map[string]bool
	fails   int
	lastErr error
	stop    chan struct{}
	done    chan struct{}
}

func startVIPSender(t *testing.T, vip, topic string) *vipSender {
	t.Helper()
	c := dial(t, vip, nil)
	s := &vipSender{retried: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for seq := 0; ; {
			select {
			case <-s.stop:
				return
			default:
			}
			body := "vip-" + strconv.Itoa(seq)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := c.Invoke(ctx, sendReq(topic, 0, nil, []byte(body)))
			cancel()
			if err == nil && resp.ResponseCode() != remoting.Success {
				err = fmt.Errorf("%s %q", resp.ResponseCode(), resp.Remark)
			}
			s.mu.Lock()
			if err != nil {
				s.fails++
				s.lastErr = err
				s.retried[body] = true // the same body goes again
			} else {
				s.acked = append(s.acked, body)
				s.ackAt = append(s.ackAt, time.Now())
				seq++
			}
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(s.halt)
	return s
}

func (s *vipSender) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// acksSince counts acknowledgements after t0.
func (s *vipSender) acksSince(t0 time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.ackAt {
		if at.After(t0) {
			n++
		}
	}
	return n
}

// longestGap is the longest pause between two acknowledgements from the
// last one before t0 on, with the time the pause ended.
func (s *vipSender) longestGap(t0 time.Time) (time.Duration, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gap time.Duration
	var end time.Time
	for i := 1; i < len(s.ackAt); i++ {
		if !s.ackAt[i].After(t0) {
			continue
		}
		if d := s.ackAt[i].Sub(s.ackAt[i-1]); d > gap {
			gap, end = d, s.ackAt[i]
		}
	}
	return gap, end
}

// across runs the sender across event (a crash, a transfer) and returns
// the longest gap. It waits for 20 acknowledgements after the event.
func (s *vipSender) across(t *testing.T, what string, event func()) time.Duration {
	t.Helper()
	waitFor(t, 10*time.Second, "sends before "+what, func() bool { return s.acksSince(time.Time{}) >= 20 })
	at := time.Now()
	event()
	waitFor(t, 20*time.Second, "sends through the group address after "+what, func() bool { return s.acksSince(at) >= 20 })
	gap, end := s.longestGap(at)
	s.mu.Lock()
	t.Logf("%s: longest gap between acknowledged sends %v (ended %v after the %s); %d acked, %d failed attempts (last error %v)",
		what, gap.Round(time.Millisecond), end.Sub(at).Round(time.Millisecond), what, len(s.acked), s.fails, s.lastErr)
	s.mu.Unlock()
	if gap > maxVIPGap {
		t.Errorf("%s: sends through the group address paused %v, want < %v", what, gap, maxVIPGap)
	}
	return gap
}

// checkAcked requires every acknowledged body in queue 0 of topic (read
// through addr), and a body twice only if its send was retried.
func (s *vipSender) checkAcked(t *testing.T, addr, topic string) {
	t.Helper()
	c := dial(t, addr, nil)
	got := map[string]int{}
	for off := int64(0); ; {
		msgs, _ := pullAll(t, c, topic, 0, off)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			got[string(m.Body)]++
		}
		off = msgs[len(msgs)-1].QueueOffset + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.acked {
		if got[b] == 0 {
			t.Errorf("acknowledged body %s lost", b)
		}
	}
	for b, n := range got {
		if n > 1 && !s.retried[b] {
			t.Errorf("body %s stored %d times, never retried", b, n)
		}
	}
}

// TestGroupAddrLeaderCrash: the leader serves the group address, which the
// namesrv names as brokerId 0; after a crash of the leader the new leader
// holds it and registers it with its term, and a client that keeps using
// the group address resumes within maxVIPGap, with nothing acknowledged
// lost.
func TestGroupAddrLeaderCrash(t *testing.T) {
	g, vip := newVIPGroup(t)
	l := g.leader()
	lb := g.broker(l)
	const topic = "VIPTopic"
	resp := send(t, dial(t, vip, nil), topic, 0, nil, []byte("first"))
	// SEND replies keep the writer's own address in the msg id.
	id, err := message.ParseOffsetMsgID(resp.Ext("msgId"))
	if err != nil || id.Host.String() != lb.Addr() {
		t.Fatalf("msgId %q (%v) names %v, want the leader's own address %s", resp.Ext("msgId"), err, id.Host, lb.Addr())
	}
	if got := servedBy(t, vip, topic); got != lb.Addr() {
		t.Fatalf("the group address is served by %s, want the leader %s", got, lb.Addr())
	}
	if h := g.holders(); len(h) != 1 || h[0] != l {
		t.Fatalf("group address held by %v, want only the leader n%d", h, l)
	}
	waitFor(t, 3*time.Second, "route: group address as 0, followers' own addresses", func() bool { return checkVIPRoute(g, vip, l) == nil })
	master, oldTerm := nsMasterTerm(t, g)
	if master != vip || oldTerm != int64(lb.term.Load()) || oldTerm == 0 {
		t.Fatalf("namesrv master %s term %d, want %s term %d", master, oldTerm, vip, lb.term.Load())
	}

	s := startVIPSender(t, vip, topic)
	s.across(t, "leader crash", func() { g.crash(l) })
	s.halt()

	nl := g.leader()
	nb := g.broker(nl)
	if h := g.holders(); len(h) != 1 || h[0] != nl {
		t.Fatalf("group address held by %v after the crash, want only the new leader n%d", h, nl)
	}
	if got := servedBy(t, vip, topic); got != nb.Addr() {
		t.Fatalf("the group address is served by %s after the crash, want the new leader %s", got, nb.Addr())
	}
	master, newTerm := nsMasterTerm(t, g)
	if master != vip || newTerm != int64(nb.term.Load()) || newTerm <= oldTerm {
		t.Fatalf("namesrv master %s term %d after the crash, want %s term %d > %d", master, newTerm, vip, nb.term.Load(), oldTerm)
	}
	waitFor(t, 3*time.Second, "route after the crash", func() bool { return checkVIPRoute(g, vip, nl) == nil })
	s.checkAcked(t, vip, topic)
}

// TestGroupAddrTransfer: a graceful leadership transfer, then a graceful
// shutdown of the new leader, each move the group address; the node that
// stepped down no longer accepts connections on it.
func TestGroupAddrTransfer(t *testing.T) {
	g, vip := newVIPGroup(t)
	l := g.leader()
	const topic = "VIPTransferTopic"
	s := startVIPSender(t, vip, topic)
	s.across(t, "leadership transfer", func() {
		if err := g.stores[l].Node().TransferLeadership(); err != nil {
			t.Fatalf("transfer: %v", err)
		}
	})
	nl := g.leader()
	if nl == l {
		t.Fatal("leadership did not move")
	}
	if g.broker(l).vip.held() {
		t.Fatalf("n%d stepped down but still holds the group address", l)
	}
	waitFor(t, 3*time.Second, "route after the transfer", func() bool { return checkVIPRoute(g, vip, nl) == nil })

	s.across(t, "leader shutdown", func() {
		b := g.broker(nl)
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		g.mu.Lock()
		g.brokers[nl], g.stores[nl] = nil, nil
		g.mu.Unlock()
	})
	third := g.leader()
	waitFor(t, 3*time.Second, "route after the shutdown", func() bool { return checkVIPRoute(g, vip, third) == nil })
	s.halt()
	s.checkAcked(t, vip, topic)
}

// TestGroupAddrNoLeader: followers never accept connections on the group
// address, and a leader that loses its quorum releases it, so nothing
// accepts there while the group has no leader.
func TestGroupAddrNoLeader(t *testing.T) {
	g, vip := newVIPGroup(t)
	l := g.leader()
	for i := range g.brokers {
		if b := g.broker(i); i != l && (b.vip.held() || b.vip.server() != nil) {
			t.Fatalf("follower n%d serves the group address", i)
		}
	}
	conn, err := net.DialTimeout("tcp", vip, time.Second)
	if err != nil {
		t.Fatalf("dial the group address with a leader: %v", err)
	}
	_ = conn.Close()
	for i := range g.brokers {
		if i != l {
			g.crash(i)
		}
	}
	// The leader steps down once its lease (500 ms) runs out.
	waitFor(t, 10*time.Second, "the lone node to release the group address", func() bool {
		return !g.broker(l).store.LeaderReady() && len(g.holders()) == 0
	})
	for range 3 {
		if conn, err := net.DialTimeout("tcp", vip, time.Second); err == nil {
			_ = conn.Close()
			t.Fatal("something accepts on the group address without a leader")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(g.logs.Tail(1000), "released group address "+vip) {
		t.Error(`no "released group address" log`)
	}
}

// TestGroupAddrBusy: while another socket holds the group address the
// leader keeps trying (registering as a follower, then, after
// vipFallbackAfter, its own address as brokerId 0); once the address is
// free it binds within the retry interval, registers it as brokerId 0 and
// unregisters its own address.
func TestGroupAddrBusy(t *testing.T) {
	vip := testutil.FreeAddrs(t, 1)[0]
	squatter, err := net.Listen("tcp4", vip)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	g := newGroup(t, func(_ int, c *Config) { c.BrokerVIP = vip })
	l := -1
	waitFor(t, 15*time.Second, "a ready leader", func() bool {
		for i := range g.brokers {
			if b := g.broker(i); b != nil && b.store.LeaderReady() {
				l = i
				return true
			}
		}
		return false
	})
	lb := g.broker(l)
	if m := g.masterAddr(); m == vip {
		t.Fatal("the group address is registered while another socket holds it")
	}
	waitFor(t, vipFallbackAfter+5*time.Second, "fallback: own address as brokerId 0", func() bool { return g.masterAddr() == lb.Addr() })
	if lb.vip.held() {
		t.Fatal("holds the group address while another socket does")
	}
	_ = squatter.Close()
	freed := time.Now()
	waitFor(t, 5*time.Second, "group address bound and registered", func() bool {
		return lb.vip.held() && g.masterAddr() == vip
	})
	t.Logf("group address bound and registered %v after it was freed", time.Since(freed).Round(time.Millisecond))
	waitFor(t, 3*time.Second, "route without the leader's own address", func() bool { return checkVIPRoute(g, vip, l) == nil })
	if !strings.Contains(g.logs.Tail(2000), "holding group address "+vip) {
		t.Error(`no "holding group address" log`)
	}
}
