package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// Bad input against a live group (DESIGN.md decision 7, REMOTING.md §8 item
// 16): every bad frame closes that connection only, every bad message is
// refused with a RocketMQ code and appends nothing, and well-behaved
// clients of the same node keep working throughout. Each input is run
// against the leader and against a follower.

// badInputIdle is the group's serverChannelMaxIdleTimeSeconds.
const badInputIdle = time.Second

// closeLog records why the server closed each connection, keyed by the
// client's address (the raw connection's local address).
type closeLog struct {
	mu sync.Mutex
	m  map[string]error
}

func (cl *closeLog) record(c *remoting.Conn, err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.m[c.RemoteAddr().String()] = err
}

// reason waits (bounded) for the server-side close of nc and returns its
// reason.
func (cl *closeLog) reason(t testing.TB, nc net.Conn) error {
	t.Helper()
	var err error
	waitFor(t, 5*time.Second, "the server's close callback for "+nc.LocalAddr().String(), func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		var ok bool
		err, ok = cl.m[nc.LocalAddr().String()]
		return ok
	})
	return err
}

func rawDial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc.(*net.TCPConn)
}

// expectClosedBy reads from nc until the server closes it (EOF or reset)
// and fails if that takes longer than within.
func expectClosedBy(t testing.TB, nc net.Conn, within time.Duration) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open %v after the bad input", within)
			}
			return
		}
	}
}

// prefixFrame is a frame prefix (frameLen, serialize type, header length)
// followed by rest.
func prefixFrame(frameLen uint32, st byte, headerLen int, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, frameLen)
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|uint32(headerLen)&0xFFFFFF)
	return append(b, rest...)
}

// encodeFrame is the wire form of a request.
func encodeFrame(t testing.TB, req *remoting.Command) []byte {
	t.Helper()
	req.Opaque = 1
	b, err := remoting.AppendFrame(nil, req, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// traffic is a well-behaved client of one node that sends and pulls back
// its own messages in a loop while bad input hits the same node.
type traffic struct {
	stop    chan struct{}
	done    chan struct{}
	started time.Time
	n       int
	err     error
}

func startTraffic(t *testing.T, addr, topic string) *traffic {
	c := dial(t, addr, nil)
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{}), started: time.Now()}
	go func() {
		defer close(tr.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			default:
			}
			if err := sendAndPullBack(ctx, c, topic, []byte("good "+strconv.Itoa(i))); err != nil {
				tr.err = err
				return
			}
			tr.n++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return tr
}

// finish stops the loop once it has run for at least minRun (so its
// connection has lived past the idle deadline) and reports its first
// failure.
func (tr *traffic) finish(t *testing.T, minRun time.Duration) {
	t.Helper()
	if d := minRun - time.Since(tr.started); d > 0 {
		select {
		case <-tr.done:
		case <-time.After(d):
		}
	}
	close(tr.stop)
	select {
	case <-tr.done:
	case <-time.After(15 * time.Second):
		t.Fatal("traffic loop did not stop")
	}
	if tr.err != nil {
		t.Fatalf("a well-behaved client failed after %d round trips: %v", tr.n, tr.err)
	}
	if tr.n == 0 {
		t.Fatal("the well-behaved client completed no round trip")
	}
}

// sendAndPullBack sends one message (retrying SERVICE_NOT_AVAILABLE for a
// bounded time, as a producer does) and long-polls it back from the same
// node, so a follower's replication lag is waited for, not reported.
func sendAndPullBack(ctx context.Context, c *remoting.Client, topic string, body []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	var resp *remoting.Command
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := c.Invoke(cctx, sendReq(topic, 0, nil, body))
		cancel()
		if err != nil {
			return err
		}
		if r.ResponseCode() == remoting.Success {
			resp = r
			break
		}
		if r.ResponseCode() != remoting.ServiceNotAvailable || time.Now().After(deadline) {
			return errors.New("send: " + r.ResponseCode().String() + " " + r.Remark)
		}
		time.Sleep(50 * time.Millisecond)
	}
	off, _, err := resp.ExtInt("queueOffset")
	if err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := c.Invoke(cctx, pullReq("cg-badinput", topic, 0, off, 1, pullFlagSuspend, 2*time.Second))
		cancel()
		if err != nil {
			return err
		}
		if r.ResponseCode() == remoting.Success {
			msgs, err := message.DecodeAll(r.Body, nil)
			if err != nil {
				return err
			}
			if len(msgs) != 1 || string(msgs[0].Body) != string(body) {
				return errors.New("pulled back something else")
			}
			return nil
		}
		if r.ResponseCode() != remoting.PullNotFound || time.Now().After(deadline) {
			return errors.New("pull: " + r.ResponseCode().String() + " " + r.Remark)
		}
	}
}

// replicaState is what "nothing was appended" compares on one node.
type replicaState struct {
	end  int64  // commit-log end
	last uint64 // Raft last index
	max  map[string]int64
}

func (g *group) store(i int) *store.Store {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stores[i]
}

// replicaStates returns each node's state if every node has appended and
// applied the same log.
func (g *group) replicaStates(topics []string) ([]replicaState, bool) {
	var states []replicaState
	for i := range g.brokers {
		st := g.store(i)
		n := st.Node()
		if n.AppliedIndex() != n.LastIndex() {
			return nil, false
		}
		_, end := st.CommitLogBounds()
		s := replicaState{end: end, last: n.LastIndex(), max: map[string]int64{}}
		for _, tp := range topics {
			s.max[tp] = st.MaxOffset(tp, 0)
		}
		states = append(states, s)
	}
	for _, s := range states[1:] {
		if s.end != states[0].end || s.last != states[0].last {
			return nil, false
		}
	}
	return states, true
}

// quiescentStates waits (bounded) until every node has appended and applied
// the same log, and returns each node's state.
func (g *group) quiescentStates(t testing.TB, topics []string) []replicaState {
	t.Helper()
	var states []replicaState
	waitFor(t, 10*time.Second, "replicas to agree on the log", func() bool {
		var ok bool
		states, ok = g.replicaStates(topics)
		return ok
	})
	return states
}

func TestBadInput(t *testing.T) {
	closes := &closeLog{m: map[string]error{}}
	g := newGroup(t, func(i int, c *Config) {
		c.ServerChannelMaxIdleTime = badInputIdle
		c.Server.OnClose = closes.record
	})
	l := g.leader()
	f := g.follower()
	nodes := []struct {
		name string
		i    int
	}{{"leader", l}, {"follower", f}}

	// Idle peers, opened first so they sit through everything else: one
	// that never sends, one that stops inside a frame.
	type idlePeer struct {
		name   string
		nc     net.Conn
		opened time.Time
		closed chan time.Time
	}
	var idlers []*idlePeer
	half := encodeFrame(t, sendReq("IdleTopic", 0, nil, []byte("never finished")))
	for _, n := range nodes {
		for _, kind := range []string{"silent", "half frame"} {
			p := &idlePeer{name: n.name + " " + kind, nc: rawDial(t, g.broker(n.i).Addr()), opened: time.Now(), closed: make(chan time.Time, 1)}
			if kind == "half frame" {
				if _, err := p.nc.Write(half[:len(half)/2]); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				buf := make([]byte, 512)
				_ = p.nc.SetReadDeadline(time.Now().Add(badInputIdle + 20*time.Second))
				for {
					if _, err := p.nc.Read(buf); err != nil {
						p.closed <- time.Now()
						return
					}
				}
			}()
			idlers = append(idlers, p)
		}
	}

	seed := rand.Uint64()
	t.Logf("garbage seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	for _, n := range nodes {
		t.Run(n.name, func(t *testing.T) {
			addr := g.broker(n.i).Addr()
			t.Run("Frames", func(t *testing.T) { testBadFrames(t, g, closes, addr, rng) })
			t.Run("Messages", func(t *testing.T) { testBadMessages(t, g, l, addr) })
		})
	}

	t.Run("Idle", func(t *testing.T) {
		for _, p := range idlers {
			var at time.Time
			select {
			case at = <-p.closed:
			case <-time.After(badInputIdle + 25*time.Second):
				t.Fatalf("%s: never closed", p.name)
			}
			el := at.Sub(p.opened)
			if el < badInputIdle*7/8 {
				t.Errorf("%s: closed after %v, before the idle deadline %v", p.name, el, badInputIdle)
			}
			if el > badInputIdle+1500*time.Millisecond {
				t.Errorf("%s: closed only after %v (deadline %v)", p.name, el, badInputIdle)
			}
			if err := closes.reason(t, p.nc); !errors.Is(err, remoting.ErrIdle) {
				t.Errorf("%s: close reason %v, want ErrIdle", p.name, err)
			}
		}
	})
}

// testBadFrames sends each malformed frame on its own connection to addr
// while a well-behaved client of the same node sends and pulls.
func testBadFrames(t *testing.T, g *group, closes *closeLog, addr string, rng *rand.Rand) {
	tr := startTraffic(t, addr, "BadFrameTraffic")
	frameErrs := []error{remoting.ErrFrameTooLarge, remoting.ErrHeaderTooLarge, remoting.ErrMalformed}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	plausible := make([]byte, 196)
	for i := range plausible {
		plausible[i] = byte(rng.UintN(256))
	}
	good := encodeFrame(t, sendReq("BadFrameTopic", 0, nil, []byte("truncated on the wire")))
	nonString := []byte(`{"code":10,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"",` +
		`"extFields":{"producerGroup":"pg","topic":"BadFrameTopic","queueId":1,"sysFlag":"0","bornTimestamp":"0","flag":"0"}}`)

	cases := []struct {
		name  string
		bytes []byte
		// halfClose: shut our write side after the bytes (a peer gone
		// mid-frame); otherwise keep it open and wait for the server.
		halfClose bool
		want      []error // any of these close reasons
	}{
		{"frame 16 MiB + 1", prefixFrame(16<<20+1, 0, 100, make([]byte, 16<<20-3)), false, []error{remoting.ErrFrameTooLarge}},
		{"negative frame length", prefixFrame(0xFFFFFFF0, 0, 10, nil), false, []error{remoting.ErrFrameTooLarge, remoting.ErrMalformed}},
		{"random bytes", garbage, false, append(frameErrs, remoting.ErrIdle)},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: broker\r\n\r\n"), false, []error{remoting.ErrFrameTooLarge}},
		{"plausible prefix, garbage JSON header", prefixFrame(200, 0, 100, plausible), false, []error{remoting.ErrMalformed}},
		{"header length larger than the frame", prefixFrame(20, 0, 1000, make([]byte, 16)), false, []error{remoting.ErrMalformed}},
		{"header 64 KiB + 1", prefixFrame(4+64<<10+1, 0, 64<<10+1, []byte(strings.Repeat(" ", 64<<10+1))), false, []error{remoting.ErrHeaderTooLarge}},
		{"unknown serialize type", prefixFrame(uint32(4+len(nonString)), 7, len(nonString), nonString), false, []error{remoting.ErrMalformed}},
		{"non-string extFields value", prefixFrame(uint32(4+len(nonString)), 0, len(nonString), nonString), false, []error{remoting.ErrMalformed}},
		{"truncated in the length prefix", good[:2], true, []error{remoting.ErrMalformed}},
		{"truncated in the header", good[:12], true, []error{remoting.ErrMalformed}},
		{"truncated in the body", good[:len(good)-5], true, []error{remoting.ErrMalformed}},
	}
	for _, tc := range cases {
		nc := rawDial(t, addr)
		// The server may close before reading everything (it checks
		// lengths first): write in the background and ignore its error.
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, _ = nc.Write(tc.bytes)
			if tc.halfClose {
				_ = nc.CloseWrite()
			}
		}()
		expectClosedBy(t, nc, 10*time.Second)
		<-wrote
		err := closes.reason(t, nc)
		ok := false
		for _, w := range tc.want {
			ok = ok || errors.Is(err, w)
		}
		if !ok {
			t.Errorf("%s: close reason %v, want one of %v", tc.name, err, tc.want)
		}
	}
	// A peer that vanishes mid-frame without a FIN reaching us first.
	nc := rawDial(t, addr)
	if _, err := nc.Write(good[:len(good)/2]); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetLinger(0)
	_ = nc.Close()
	if err := closes.reason(t, nc); err == nil {
		t.Errorf("reset mid-frame: close reason nil")
	}

	tr.finish(t, 2*badInputIdle) // its connection outlives the idle deadline
	// And afterwards, on a fresh connection.
	if err := sendAndPullBack(t.Context(), dial(t, addr, nil), "BadFrameTraffic", []byte("after")); err != nil {
		t.Fatalf("after the bad frames: %v", err)
	}
}

// testBadMessages sends well-framed but invalid messages to addr (node of
// the group whose leader is l): each is refused MESSAGE_ILLEGAL (13) on the
// same connection, and no replica appends anything.
func testBadMessages(t *testing.T, g *group, l int, addr string) {
	const topic, marker = "BadMessageTopic", "BadMessageMarker"
	lc := g.client(l, nil)
	send(t, lc, topic, 0, nil, []byte("exists"))
	send(t, lc, marker, 0, nil, []byte("exists"))
	batchHeader := func(topic string, props string) map[string]string {
		return map[string]string{"a": "pg", "b": topic, "c": AutoCreateTopicKey, "d": "4", "e": "0", "f": "0",
			"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0", "i": props, "j": "0", "k": "false", "l": "0", "m": "true"}
	}
	validBatch := message.AppendBatch(nil, []message.Message{{Body: []byte("one")}, {Body: []byte("two")}})
	badTotal := append([]byte(nil), validBatch...)
	binary.BigEndian.PutUint32(badTotal, 1<<30) // first member claims 1 GiB
	long := strings.Repeat("t", 128)
	bigProps := message.Properties{{Key: "K", Value: strings.Repeat("v", 32768-3)}}
	cases := []struct {
		name string
		req  *remoting.Command
	}{
		{"body 4 MiB + 1", sendReq(topic, 0, nil, make([]byte, 4<<20+1))},
		{"topic 128 bytes", sendReq(long, 0, nil, []byte("x"))},
		{"topic with illegal characters", sendReq("bad topic!", 0, nil, []byte("x"))},
		{"properties 32768 bytes", sendReq(topic, 0, bigProps, []byte("x"))},
		{"batch body 4 MiB + 1", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(topic, ""), make([]byte, 4<<20+1))},
		{"batch topic 128 bytes (V2 name b)", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(long, ""), validBatch)},
		{"batch properties 32768 bytes (V2 name i)", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(topic, bigProps.String()), validBatch)},
		{"batch body garbage", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(topic, ""), []byte{0, 0, 0, 99, 1, 2, 3})},
		{"batch truncated", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(topic, ""), validBatch[:len(validBatch)-2])},
		{"batch member size lies", remoting.NewRequest(remoting.SendBatchMessage, batchHeader(topic, ""), badTotal)},
	}
	before := g.quiescentStates(t, []string{topic, long, marker})
	c := dial(t, addr, nil)
	for _, tc := range cases {
		resp := invoke(t, c, tc.req)
		if resp.ResponseCode() != remoting.MessageIllegal {
			t.Errorf("%s: %s %q, want MESSAGE_ILLEGAL (13)", tc.name, resp.ResponseCode(), resp.Remark)
		}
	}
	// The connection that carried them is still good.
	if err := sendAndPullBack(t.Context(), c, marker, []byte("marker")); err != nil {
		t.Fatalf("after the refused messages, on the same connection: %v", err)
	}
	// Barrier: the marker is the one entry appended since before, on
	// every replica, and the refused topics did not move.
	var after []replicaState
	waitFor(t, 10*time.Second, "every replica to append the marker", func() bool {
		var ok bool
		after, ok = g.replicaStates([]string{topic, long, marker})
		return ok && after[0].last > before[0].last
	})
	for i := range after {
		b, a := before[i], after[i]
		if a.last != b.last+1 {
			t.Errorf("node %d: Raft log grew by %d entries, want 1 (the marker)", i, a.last-b.last)
		}
		if a.end <= b.end {
			t.Errorf("node %d: commit log end %d -> %d", i, b.end, a.end)
		}
		if a.max[topic] != b.max[topic] || a.max[long] != 0 {
			t.Errorf("node %d: refused messages appended: %s %d -> %d, long topic %d", i, topic, b.max[topic], a.max[topic], a.max[long])
		}
		if a.max[marker] != b.max[marker]+1 {
			t.Errorf("node %d: marker queue %d -> %d", i, b.max[marker], a.max[marker])
		}
	}
	if _, ok := g.store(l).Topic(long); ok {
		t.Errorf("the over-long topic was created")
	}
}
