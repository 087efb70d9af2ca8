package dledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func testRequest() *raft.AppendEntriesRequest {
	big := bytes.Repeat([]byte("x"), slabEntryMax+1000)
	return &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n0"), Addr: []byte("127.0.0.1:1")},
		Term:              7,
		Leader:            []byte("127.0.0.1:1"),
		PrevLogEntry:      41,
		PrevLogTerm:       6,
		LeaderCommitIndex: 40,
		Entries: []*raft.Log{
			{Index: 42, Term: 7, Type: raft.LogCommand, Data: []byte("a=1"), AppendedAt: time.Unix(0, 1_700_000_000_123_456_789)},
			{Index: 43, Term: 7, Type: raft.LogConfiguration, Data: big, Extensions: []byte{1, 2, 3}},
			{Index: 44, Term: 7, Type: raft.LogNoop, AppendedAt: time.Unix(5, 0)},
		},
	}
}

// sameLog compares entries the way replicas must agree on them.
func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data) &&
		bytes.Equal(a.Extensions, b.Extensions) && encodeTime(a.AppendedAt) == encodeTime(b.AppendedAt) &&
		a.AppendedAt.IsZero() == b.AppendedAt.IsZero()
}

func encodeMsg(t *testing.T, f func(*wireWriter) error) []byte {
	t.Helper()
	var out bytes.Buffer
	w := wireWriter{w: bufio.NewWriter(&out)}
	if err := f(&w); err != nil {
		t.Fatal(err)
	}
	if err := w.w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestAppendCodecRoundTrip(t *testing.T) {
	req := testRequest()
	b := encodeMsg(t, func(w *wireWriter) error { return w.writeRequest(req) })
	var got raft.AppendEntriesRequest
	r := wireReader{r: bufio.NewReader(bytes.NewReader(b))}
	if err := r.readRequest(&got); err != nil {
		t.Fatal(err)
	}
	if got.ProtocolVersion != req.ProtocolVersion || string(got.ID) != "n0" || string(got.Addr) != string(req.Addr) ||
		got.Term != 7 || string(got.Leader) != string(req.Leader) || got.PrevLogEntry != 41 || got.PrevLogTerm != 6 ||
		got.LeaderCommitIndex != 40 || len(got.Entries) != len(req.Entries) {
		t.Fatalf("request header: got %+v", got)
	}
	for i := range req.Entries {
		if !sameLog(got.Entries[i], req.Entries[i]) {
			t.Fatalf("entry %d: got %+v want %+v", i, got.Entries[i], req.Entries[i])
		}
	}
	if !got.Entries[1].AppendedAt.IsZero() {
		t.Fatal("zero AppendedAt did not stay zero")
	}

	resp := &raft.AppendEntriesResponse{RPCHeader: raft.RPCHeader{ID: []byte("n1")}, Term: 7, LastLog: 44, Success: true, NoRetryBackoff: true}
	b = encodeMsg(t, func(w *wireWriter) error {
		if err := w.writeResponse(resp, nil); err != nil {
			return err
		}
		return w.writeResponse(&raft.AppendEntriesResponse{Term: 8}, errors.New("boom"))
	})
	r = wireReader{r: bufio.NewReader(bytes.NewReader(b))}
	var r1, r2 raft.AppendEntriesResponse
	if err := r.readResponse(&r1); err != nil {
		t.Fatal(err)
	}
	if r1.Term != 7 || r1.LastLog != 44 || !r1.Success || !r1.NoRetryBackoff || string(r1.ID) != "n1" {
		t.Fatalf("response: %+v", r1)
	}
	var remote remoteError
	if err := r.readResponse(&r2); !errors.As(err, &remote) || err.Error() != "boom" || r2.Term != 8 {
		t.Fatalf("error response: %v %+v", err, r2)
	}
}

// TestAppendCodecRejectsMalformed: truncations and bad counts are errors,
// never panics or allocations sized by the claim.
func TestAppendCodecRejectsMalformed(t *testing.T) {
	b := encodeMsg(t, func(w *wireWriter) error { return w.writeRequest(testRequest()) })
	for cut := 0; cut < len(b); cut += 97 {
		var req raft.AppendEntriesRequest
		r := wireReader{r: bufio.NewReader(bytes.NewReader(b[:cut]))}
		if err := r.readRequest(&req); err == nil {
			t.Fatalf("request cut at %d of %d decoded", cut, len(b))
		}
	}
	bad := map[string]func([]byte){
		"kind":        func(b []byte) { b[0] = wireKindResponse },
		"field len":   func(b []byte) { copy(b[9:], []byte{0xff, 0xff, 0xff, 0x7f}) },
		"entry count": func(b []byte) { copy(b[entryCountAt(b):], []byte{0xff, 0xff, 0xff, 0xff}) },
	}
	for name, mutate := range bad {
		m := bytes.Clone(b)
		mutate(m)
		var req raft.AppendEntriesRequest
		r := wireReader{r: bufio.NewReader(bytes.NewReader(m))}
		if err := r.readRequest(&req); !errors.Is(err, errWire) {
			t.Errorf("%s: err %v, want errWire", name, err)
		}
	}
}

// entryCountAt is the offset of the entry count in an encoded testRequest.
func entryCountAt(b []byte) int {
	off := 1 + 8  // kind, ProtocolVersion
	for range 2 { // ID, Addr
		off += 4 + int(b[off])
	}
	off += 8               // Term
	off += 4 + int(b[off]) // Leader
	return off + 8 + 8 + 8 // PrevLogEntry, PrevLogTerm, LeaderCommitIndex
}

func FuzzAppendDecode(f *testing.F) {
	f.Add([]byte{wireKindRequest})
	var out bytes.Buffer
	w := wireWriter{w: bufio.NewWriter(&out)}
	_ = w.writeRequest(testRequest())
	_ = w.writeResponse(&raft.AppendEntriesResponse{Term: 1, Success: true}, nil)
	_ = w.w.Flush()
	f.Add(out.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r := wireReader{r: bufio.NewReader(bytes.NewReader(b))}
		var req raft.AppendEntriesRequest
		if r.readRequest(&req) == nil {
			var resp raft.AppendEntriesResponse
			_ = r.readResponse(&resp)
		}
	})
}

// testGate is a log whose durability the test controls.
type testGate struct {
	mu          sync.Mutex
	cond        *sync.Cond
	durable     uint64
	term, start uint64 // the log's last term and where it began
	replaced    map[uint64]bool
}

// newTestGate returns a gate whose log is all of term 3 (entriesReq's).
func newTestGate(durable uint64) *testGate {
	g := &testGate{durable: durable, term: 3, start: 1, replaced: map[uint64]bool{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *testGate) ackDurable(index, term uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.durable < index {
		g.cond.Wait()
	}
	if g.replaced[index] {
		return fmt.Errorf("entry %d replaced", index)
	}
	return nil
}

func (g *testGate) DurableIndex() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.durable
}

func (g *testGate) TermStart() (uint64, uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.term, g.start
}

func (g *testGate) setDurable(idx uint64) {
	g.mu.Lock()
	g.durable = idx
	g.cond.Broadcast()
	g.mu.Unlock()
}

// newTestTransport starts an append transport on a loopback port whose
// raft side answers every AppendEntries with success (and records it).
func newTestTransport(t *testing.T, gate appendGate) (*appendTransport, <-chan *raft.AppendEntriesRequest) {
	t.Helper()
	layer, err := NewStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newAppendTransport(layer, TransportConfig{Timeout: 5 * time.Second, MaxInFlight: 4}, gate, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = tr.Close() })
	seen := make(chan *raft.AppendEntriesRequest, 64)
	go func() {
		for rpc := range tr.Consumer() {
			req, ok := rpc.Command.(*raft.AppendEntriesRequest)
			if !ok {
				rpc.Respond(nil, errors.New("unexpected rpc"))
				continue
			}
			seen <- req
			last := req.PrevLogEntry
			if n := len(req.Entries); n > 0 {
				last = req.Entries[n-1].Index
			}
			rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term, LastLog: last, Success: true}, nil)
		}
	}()
	return tr, seen
}

func entriesReq(first, n uint64) *raft.AppendEntriesRequest {
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ID: []byte("n0"), Addr: []byte("127.0.0.1:1")}, Term: 3,
		PrevLogEntry: first - 1, PrevLogTerm: 3, LeaderCommitIndex: first + n,
	}
	for i := range n {
		req.Entries = append(req.Entries, &raft.Log{Index: first + i, Term: 3, Type: raft.LogCommand, Data: []byte("v")})
	}
	return req
}

// TestAppendPipelineHoldsAnswersUntilDurable: requests reach raft at once,
// their answers come back in order and only once the follower's log is
// durable past each request's last entry; the commit index the leader sends
// is capped at its own durable index.
func TestAppendPipelineHoldsAnswersUntilDurable(t *testing.T) {
	follower := newTestGate(0)
	srv, seen := newTestTransport(t, follower)
	leaderGate := newTestGate(2)
	cli, _ := newTestTransport(t, leaderGate)

	p, err := cli.AppendEntriesPipeline("n1", srv.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range uint64(3) {
		if _, err := p.AppendEntries(entriesReq(1+2*i, 2), new(raft.AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case req := <-seen:
			if req.LeaderCommitIndex > 2 {
				t.Fatalf("request %d carried commit index %d past the leader's durable 2", i, req.LeaderCommitIndex)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d did not reach raft while earlier answers were held", i)
		}
	}
	select {
	case f := <-p.Consumer():
		t.Fatalf("answer for entries up to %d before any was durable", f.Request().Entries[1].Index)
	case <-time.After(200 * time.Millisecond):
	}
	follower.setDurable(4) // covers the first two requests
	for _, want := range []uint64{2, 4} {
		select {
		case f := <-p.Consumer():
			if f.Error() != nil || !f.Response().Success || f.Request().Entries[1].Index != want {
				t.Fatalf("answer: err %v success %v last %d, want success for %d", f.Error(), f.Response().Success, f.Request().Entries[1].Index, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no answer for entries up to %d once durable", want)
		}
	}
	select {
	case f := <-p.Consumer():
		t.Fatalf("answer for entries up to %d, durable only to 4", f.Request().Entries[1].Index)
	case <-time.After(200 * time.Millisecond):
	}
	follower.setDurable(6)
	select {
	case f := <-p.Consumer():
		if !f.Response().Success {
			t.Fatal("third answer not a success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no third answer")
	}
}

// TestClampCommitIndex: the commit index a leader sends never exceeds its
// durable index, and is withheld (0) where it would count entries of
// earlier terms as committed before the first entry of the leader's term is
// durable on the leader.
func TestClampCommitIndex(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		term, start, durable, sent uint64 // the leader's log; the commit index raft sends
		reqTerm, want              uint64
	}{
		{"heartbeat carries none", 5, 10, 20, 0, 5, 0},
		{"durable past commit", 5, 10, 20, 15, 5, 15},
		{"commit past durable", 5, 10, 12, 15, 5, 12},
		{"term's first entry not durable", 5, 10, 9, 15, 5, 0},
		{"commit learned from an earlier leader", 5, 10, 6, 8, 5, 6},
		{"commit learned, all durable", 5, 10, 9, 8, 5, 8},
		{"leader has not stored its first entry", 4, 3, 9, 8, 5, 0},
		{"log moved on to a newer term", 6, 30, 40, 25, 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGate(tc.durable)
			g.term, g.start = tc.term, tc.start
			tr := &appendTransport{gate: g}
			req := &raft.AppendEntriesRequest{Term: tc.reqTerm, LeaderCommitIndex: tc.sent}
			tr.clamp(req)
			if req.LeaderCommitIndex != tc.want {
				t.Fatalf("commit index sent %d, want %d", req.LeaderCommitIndex, tc.want)
			}
		})
	}
}

// TestAppendReplacedEntriesNotAcknowledged: if the entries a request
// carried were replaced before they became durable, no success is sent;
// the connection is dropped instead.
func TestAppendReplacedEntriesNotAcknowledged(t *testing.T) {
	follower := newTestGate(10)
	follower.replaced[5] = true
	srv, _ := newTestTransport(t, follower)
	cli, _ := newTestTransport(t, newTestGate(10))
	var resp raft.AppendEntriesResponse
	if err := cli.AppendEntries("n1", srv.LocalAddr(), entriesReq(4, 2), &resp); err == nil {
		t.Fatalf("AppendEntries of replaced entries answered %+v", resp)
	}
	if err := cli.AppendEntries("n1", srv.LocalAddr(), entriesReq(6, 2), &resp); err != nil || !resp.Success {
		t.Fatalf("next AppendEntries: %v %+v", err, resp)
	}
}

// TestAppendLegacyClientHeld: an AppendEntries arriving over raft's
// NetworkTransport is held the same way.
func TestAppendLegacyClientHeld(t *testing.T) {
	follower := newTestGate(0)
	srv, _ := newTestTransport(t, follower)
	layer, err := NewStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	legacy := NewTransport(layer, TransportConfig{Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	defer legacy.Close()
	done := make(chan error, 1)
	var resp raft.AppendEntriesResponse
	go func() { done <- legacy.AppendEntries("n1", srv.LocalAddr(), entriesReq(1, 3), &resp) }()
	select {
	case err := <-done:
		t.Fatalf("legacy AppendEntries answered (%v) before the entries were durable", err)
	case <-time.After(200 * time.Millisecond):
	}
	follower.setDurable(3)
	select {
	case err := <-done:
		if err != nil || !resp.Success {
			t.Fatalf("legacy AppendEntries: %v %+v", err, resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("legacy AppendEntries not answered once durable")
	}
}

// TestAppendHeartbeatFastPath: heartbeats go to the heartbeat handler, not
// through raft's RPC channel.
func TestAppendHeartbeatFastPath(t *testing.T) {
	srv, seen := newTestTransport(t, newTestGate(0))
	hb := make(chan struct{}, 1)
	srv.SetHeartbeatHandler(func(rpc raft.RPC) {
		hb <- struct{}{}
		rpc.Respond(&raft.AppendEntriesResponse{Term: 9, Success: true}, nil)
	})
	cli, _ := newTestTransport(t, newTestGate(0))
	var resp raft.AppendEntriesResponse
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("n0"), Addr: []byte("127.0.0.1:1")}, Term: 9}
	if err := cli.AppendEntries("n1", srv.LocalAddr(), req, &resp); err != nil || !resp.Success || resp.Term != 9 {
		t.Fatalf("heartbeat: %v %+v", err, resp)
	}
	select {
	case <-hb:
	default:
		t.Fatal("heartbeat handler not called")
	}
	select {
	case <-seen:
		t.Fatal("heartbeat went through raft's RPC channel")
	default:
	}
}

// TestAppendBadStreamsCostOneConnection: garbage after the preamble, a
// wrong version, or silence close that connection; the listener serves on.
func TestAppendBadStreamsCostOneConnection(t *testing.T) {
	srv, _ := newTestTransport(t, newTestGate(100))
	for name, payload := range map[string][]byte{
		"garbage":     append([]byte{appendMagic, appendVersion}, bytes.Repeat([]byte{0xee}, 64)...),
		"version":     {appendMagic, appendVersion + 1, wireKindRequest},
		"huge fields": append([]byte{appendMagic, appendVersion, wireKindRequest, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff),
	} {
		c, err := net.Dial("tcp", string(srv.LocalAddr()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: server answered %d bytes instead of closing", name, n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: connection still open", name)
		}
		_ = c.Close()
	}
	cli, _ := newTestTransport(t, newTestGate(100))
	var resp raft.AppendEntriesResponse
	if err := cli.AppendEntries("n1", srv.LocalAddr(), entriesReq(1, 1), &resp); err != nil || !resp.Success {
		t.Fatalf("AppendEntries after bad streams: %v %+v", err, resp)
	}
}

// TestAppendCodecLargeEntry: an entry larger than one allocation step
// arrives whole; one that ends early is an error.
func TestAppendCodecLargeEntry(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (wireAllocStep+1000)/16)
	req := &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: big}}}
	b := encodeMsg(t, func(w *wireWriter) error { return w.writeRequest(req) })
	var got raft.AppendEntriesRequest
	r := wireReader{r: bufio.NewReader(bytes.NewReader(b))}
	if err := r.readRequest(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || !bytes.Equal(got.Entries[0].Data, big) {
		t.Fatal("large entry changed in transit")
	}
	r = wireReader{r: bufio.NewReader(bytes.NewReader(b[:len(b)-10]))}
	if err := r.readRequest(&got); err == nil {
		t.Fatal("truncated large entry decoded")
	}
}
