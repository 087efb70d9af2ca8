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
	// sends: the client's 30 s route poll, plus election and slack for a
	// loaded machine.
	maxSendGap = 45 * time.Second
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

// TestFailoverLeaderKill: a producer loop sends unique bodies with SendSync;
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
//     refresh on a failed send, so after a hard kill it keeps dialing the
//     dead address until its next route poll; the longest gap is logged
//     and bounded by maxSendGap. (Forwarding by followers, broker/forward.go,
//     covers a leader that is still alive, e.g. a graceful handover.)
//
// The producer runs with WithRetry(0): every SendSync is exactly one attempt
// on the wire, and the loop itself re-sends the same body after a failure,
// so the test knows precisely which bodies were retried.
func TestFailoverLeaderKill(t *testing.T) {
	checkNoPanics(t)
	c := startCluster(t, clusterOptions{electionTimeout: failoverElection})
	topic := uniqueName("FailT")
	c.createTopic(topic, 4)
	oldLeader := c.waitLeader(10*time.Second, "")
	victim := c.nodeByAddr(oldLeader)

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
		probeDone <- probeFailover(c, topic, oldLeader, kt)
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
	newLeader := c.waitLeader(30*time.Second, oldLeader)
	t.Logf("killed leader %s (%s) at +%v; NameServer names %s (%s) as brokerId 0",
		victim.id, oldLeader, kt.Sub(start).Round(time.Millisecond), newLeader, c.nodeByAddr(newLeader).id)
	t.Logf("send loop: %d attempts, %d acked, %d failed (first error: %v), %d bodies re-sent",
		attempts, len(acked), failures, firstErr, len(retried))
	t.Logf("longest gap between acknowledged sends: %v (ended at +%v); first ack after the kill at +%v (%v after the kill)",
		longestGap.Round(time.Millisecond), gapEnd.Sub(start).Round(time.Millisecond),
		resumedAt.Sub(start).Round(time.Millisecond), resumedAt.Sub(kt).Round(time.Millisecond))
	if longestGap > maxSendGap {
		t.Errorf("longest gap between acknowledged sends %v > %v", longestGap, maxSendGap)
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
func probeFailover(c *cluster, topic, oldLeader string, killedAt time.Time) (pr failoverProbe) {
	deadline := killedAt.Add(probeTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		addr, err := c.masterAddr(ctx)
		cancel()
		if err == nil && addr != "" && addr != oldLeader {
			pr.nsAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			pr.err = fmt.Errorf("the NameServer still names %q (%v) %v after the kill", addr, err, probeTimeout)
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
