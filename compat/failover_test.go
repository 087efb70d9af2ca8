package compat

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// Failover timing of the test cluster and the send loop.
const (
	failoverElection = 500 * time.Millisecond
	killAfter        = 3 * time.Second
	sendFor          = 10 * time.Second
	// sendHardStop bounds the send loop: the Go client keeps sending to the
	// dead master's address until its next route poll (every 30 s,
	// hard-coded), so sends can only resume after that.
	sendHardStop = 75 * time.Second
	// maxSendGap is the longest acceptable pause between two acknowledged
	// sends without a group address: it is not the broker's failover but
	// the client's 30 s route poll (after which it learns the new master),
	// plus election and slack for a loaded machine.
	maxSendGap = 45 * time.Second
	// maxVIPSendGap is the longest acceptable pause with a group address
	// (brokerVIP): the route never changes, so the running producer's
	// reconnect reaches the new leader once it has bound the address.
	maxVIPSendGap = 5 * time.Second
	// maxFreshRouteResume bounds the broker-side failover as a client sees
	// it when its route is fresh: from the kill until a newly started
	// producer's send is acknowledged.
	maxFreshRouteResume = 10 * time.Second
	// probeTimeout bounds the failover probe.
	probeTimeout = 30 * time.Second
	// resumedFor is how long sends must have worked again before the loop
	// stops.
	resumedFor = 2 * time.Second
)

// TestFailoverLeaderKill is the failover without a group address; see
// failoverLeaderKill.
func TestFailoverLeaderKill(t *testing.T) { failoverLeaderKill(t, false) }

// TestFailoverLeaderKillVIP is the failover with a group address
// (brokerVIP in broker.conf): the NameServer names the group address as
// brokerId 0 before and after the kill, the new leader takes it over, and
// the running producer, unmodified, resumes within maxVIPSendGap.
func TestFailoverLeaderKillVIP(t *testing.T) { failoverLeaderKill(t, true) }

// failoverLeaderKill: a producer loop sends unique bodies with SendSync;
// after ~3 s the leader process gets SIGKILL. Every acknowledged body must
// be consumed afterwards (no loss), sends must resume, and a body may be
// consumed twice only if its send was retried.
//
// How fast sends resume has two parts, measured separately:
//   - broker side (probeFailover): the NameServer names the new leader and
//     a producer with a fresh route is acknowledged within a few seconds
//     (asserted <= maxFreshRouteResume);
//   - the running producer: rocketmq-client-go v2.1.2 sends only to the
//     brokerId-0 address of its cached route, refreshes routes every 30 s
//     (hard-coded, internal/client.go _PullNameServerInterval) and does not
//     refresh on a failed send. Without a group address it keeps dialing
//     the dead address until its next route poll: the longest gap measures
//     that poll, not the broker, and is bounded by maxSendGap. (Forwarding
//     by followers, broker/forward.go, covers a leader that is still alive,
//     e.g. a graceful handover.) With a group address the cached brokerId-0
//     address stays right: the longest gap is the broker's failover and
//     must stay below maxVIPSendGap.
//
// The producer runs with WithRetry(0): every SendSync is exactly one attempt
// on the wire, and the loop itself re-sends the same body after a failure,
// so the test knows precisely which bodies were retried.
func failoverLeaderKill(t *testing.T, vip bool) {
	checkNoPanics(t)
	c := startCluster(t, clusterOptions{electionTimeout: failoverElection, vip: vip})
	topic := uniqueName("FailT")
	c.createTopic(topic, 4)
	victim := c.waitLeaderNode(10*time.Second, nil)
	maxGap, gapCause := maxSendGap, "the client's 30 s route poll, not the broker's failover"
	if vip {
		maxGap, gapCause = maxVIPSendGap, "the broker's failover: the route names the group address throughout"
	}

	p := newProducer(t, c, uniqueName("fail_pg"), producer.WithRetry(0))
	// One send before the clock starts: the first send fetches the route.
	if _, err := p.SendSync(ctxFor(t, 10*time.Second), primitive.NewMessage(topic, []byte("warm-up"))); err != nil {
		t.Fatalf("warm-up send: %v", err)
	}

	var (
		killMu   sync.Mutex
		killedAt time.Time
	)
	start := time.Now()
	probeDone := make(chan failoverProbe, 1)
	killTimer := time.AfterFunc(killAfter, func() {
		killMu.Lock()
		killedAt = time.Now()
		_ = victim.proc.kill() // checked below
		kt := killedAt
		killMu.Unlock()
		probeDone <- probeFailover(c, topic, victim, kt)
	})
	defer killTimer.Stop()
	killTime := func() time.Time {
		killMu.Lock()
		defer killMu.Unlock()
		return killedAt
	}

	acked := map[string]bool{}
	retried := map[string]bool{}
	var (
		attempts, failures int
		lastOK, resumedAt  time.Time
		longestGap         time.Duration
		gapEnd             time.Time
		firstErr, lastErr  error
	)
	lastOK = start
	seq := 0
	body := fmt.Sprintf("fo-%06d", seq)
	for {
		now := time.Now()
		kt := killTime()
		if !kt.IsZero() && !resumedAt.IsZero() && now.Sub(start) >= sendFor && now.Sub(resumedAt) >= resumedFor {
			break
		}
		if now.Sub(start) >= sendHardStop {
			t.Errorf("sends did not resume within %v of the start (kill at %v): last error %v",
				sendHardStop, kt.Sub(start).Round(time.Millisecond), lastErr)
			break
		}
		attempts++
		sendStart := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
		cancel()
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", res.Status)
		}
		if err != nil {
			failures++
			if firstErr == nil {
				firstErr = err
			}
			lastErr = err
			retried[body] = true
			time.Sleep(20 * time.Millisecond)
			continue
		}
		done := time.Now()
		if gap := done.Sub(lastOK); gap > longestGap {
			longestGap, gapEnd = gap, done
		}
		lastOK = done
		// Resumed: acknowledged a send that began after the kill (one in
		// flight at the kill may still have been answered by the victim).
		if kt := killTime(); !kt.IsZero() && sendStart.After(kt) && resumedAt.IsZero() {
			resumedAt = done
		}
		acked[body] = true
		seq++
		body = fmt.Sprintf("fo-%06d", seq)
	}
	if gap := time.Since(lastOK); gap > longestGap { // an outage the loop ended in
		longestGap, gapEnd = gap, time.Now()
	}
	_ = p.Shutdown()
	kt := killTime()
	if kt.IsZero() {
		t.Fatal("the leader was never killed")
	}
	if ok, _ := victim.proc.exited(); !ok {
		t.Fatalf("leader %s still running after SIGKILL", victim.id)
	}
	newLeader := c.waitLeaderNode(30*time.Second, victim)
	master, _ := c.masterAddr(ctxFor(t, 3*time.Second))
	t.Logf("killed leader %s (%s) at +%v; new leader %s (%s); NameServer brokerId 0: %s (group address %q)",
		victim.id, victim.listen, kt.Sub(start).Round(time.Millisecond), newLeader.id, newLeader.listen, master, c.vip)
	if vip && master != c.vip {
		t.Errorf("NameServer names %s as brokerId 0 after the failover, want the group address %s", master, c.vip)
	}
	t.Logf("send loop: %d attempts, %d acked, %d failed (first error: %v), %d bodies re-sent",
		attempts, len(acked), failures, firstErr, len(retried))
	t.Logf("running producer: longest gap between acknowledged sends %v (ended at +%v; measures %s); first ack after the kill at +%v (%v after the kill)",
		longestGap.Round(time.Millisecond), gapEnd.Sub(start).Round(time.Millisecond), gapCause,
		resumedAt.Sub(start).Round(time.Millisecond), resumedAt.Sub(kt).Round(time.Millisecond))
	if longestGap > maxGap {
		t.Errorf("longest gap between acknowledged sends %v > %v (%s)", longestGap, maxGap, gapCause)
	}
	var probe failoverProbe
	select {
	case probe = <-probeDone:
	case <-time.After(probeTimeout + 10*time.Second):
		t.Fatal("failover probe did not finish")
	}
	if probe.body != "" && (probe.err != nil || probe.tries > 1) {
		retried[probe.body] = true // attempted, maybe stored
	}
	if probe.err != nil {
		t.Errorf("failover probe: %v", probe.err)
	} else {
		t.Logf("broker side: new brokerId 0 at the NameServer %v after the kill; a producer with a fresh route had its first send acknowledged %v after the kill (%d producers tried)",
			probe.nsAt.Sub(kt).Round(time.Millisecond), probe.ackAt.Sub(kt).Round(time.Millisecond), probe.tries)
		if d := probe.ackAt.Sub(kt); d > maxFreshRouteResume {
			t.Errorf("writes with a fresh route resumed %v after the kill, want <= %v", d, maxFreshRouteResume)
		}
		acked[probe.body] = true
	}

	// Everything acknowledged must be there, read through the new leader.
	col := &collector{}
	startPushConsumer(t, c, uniqueName("fail_cg"), topic, all, col.fn())
	count := func() map[string]int {
		out := map[string]int{}
		for _, m := range col.snapshot() {
			out[string(m.Body)]++
		}
		return out
	}
	consumeStart := time.Now()
	eventually(t, 90*time.Second, "every acknowledged body to be consumed", func() (bool, string) {
		got := count()
		missing := 0
		var example string
		for b := range acked {
			if got[b] == 0 {
				missing++
				example = b
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d acknowledged bodies missing (e.g. %s)", missing, len(acked), example)
	})
	time.Sleep(time.Second)
	got := count()
	dups, unackedDelivered := 0, 0
	for b, n := range got {
		switch {
		case b == "warm-up":
		case !acked[b] && !retried[b]:
			t.Errorf("consumed %q, which was never sent", b)
		case !acked[b]:
			unackedDelivered++ // stored, but its answer was lost with the leader
		}
		if n > 1 {
			dups++
			if !retried[b] {
				t.Errorf("%q consumed %d times but its send was never retried", b, n)
			}
		}
	}
	t.Logf("consumed %d distinct bodies in %v: all %d acknowledged present, %d duplicates (all of retried sends), %d failed-but-stored",
		len(got), time.Since(consumeStart).Round(time.Millisecond), len(acked), dups, unackedDelivered)
}

// failoverProbe is what probeFailover measured.
type failoverProbe struct {
	nsAt  time.Time // the NameServer first named another brokerId 0
	ackAt time.Time // a fresh producer's send was acknowledged
	tries int       // producers started until one succeeded
	body  string
	err   error
}

// probeFailover measures the failover from the broker side, in the
// client's terms: when the NameServer names a new master, and when a
// producer started after the kill (so with a fresh route) gets a send
// acknowledged. A new producer is started per attempt because a producer
// whose first route named the dead master keeps it for 30 s. It runs on the
// kill timer's goroutine, so it reports instead of failing the test.
func probeFailover(c *cluster, topic string, victim *node, killedAt time.Time) (pr failoverProbe) {
	deadline := killedAt.Add(probeTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var why string
		if c.vip == "" {
			addr, err := c.masterAddr(ctx)
			if err == nil && addr != "" && addr != victim.listen {
				pr.nsAt = time.Now()
			}
			why = fmt.Sprintf("names %q (%v)", addr, err)
		} else if n, w := c.vipLeader(ctx); n != nil && n != victim {
			pr.nsAt = time.Now()
		} else {
			why = w
		}
		cancel()
		if !pr.nsAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			pr.err = fmt.Errorf("the NameServer shows no new master %v after the kill: %s", probeTimeout, why)
			return pr
		}
		time.Sleep(10 * time.Millisecond)
	}
	pr.body = "probe-after-kill"
	for {
		pr.tries++
		if ok, err := probeSend(c, topic, pr.body); ok {
			pr.ackAt = time.Now()
			return pr
		} else if time.Now().After(deadline) {
			pr.err = fmt.Errorf("no acknowledged send with a fresh route within %v of the kill (%d tries, last error %v)", probeTimeout, pr.tries, err)
			return pr
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probeSend starts a producer, sends body once (no client retries) and
// shuts the producer down.
func probeSend(c *cluster, topic, body string) (bool, error) {
	p, err := rocketmq.NewProducer(producer.WithNameServer(c.nsAddrs()), producer.WithGroupName(uniqueName("probe_pg")),
		producer.WithInstanceName(uniqueName("probe")), producer.WithRetry(0))
	if err != nil {
		return false, err
	}
	if err := p.Start(); err != nil {
		return false, err
	}
	defer p.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)))
	if err == nil && res.Status != primitive.SendOK {
		err = fmt.Errorf("status %v", res.Status)
	}
	return err == nil, err
}
