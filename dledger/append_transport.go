package dledger

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Followers acknowledge after a group sync.
//
// raft's NetworkTransport serves one RPC per connection at a time: it reads
// a request, waits for raft's answer, writes it, and only then reads the
// next. With a log that syncs inside StoreLogs a follower therefore runs
// receive, decode, write, sync, answer strictly in series, and syncs once
// per request. appendTransport replaces it for AppendEntries (votes,
// snapshots and TimeoutNow stay on NetworkTransport, over the same
// listener): a reader goroutine per connection decodes requests and hands
// them to raft as they arrive, the follower's StoreLogs returns once the
// batch is written (like the leader's, durability.go), and a responder
// goroutine sends each success only once the log is durable up to the
// request's last entry and still holds that entry (same index and term).
// The store's syncer covers every batch written during one sync with the
// next, so a follower takes in new requests while it syncs and pays one
// sync for all of them, and the leader keeps several requests in flight.
//
// An acknowledgement is therefore still a durability promise, only sent
// later: to raft a delayed answer is a slow network. The entry check makes
// sure the promise is about the entries the leader sent: if a newer
// leader's entries replaced them meanwhile, the answer is dropped with the
// connection (the old leader's pipeline fails, as it would on a follower
// that moved on to a newer term). A vote a follower grants counts entries
// it has written but not yet synced; losing them in a crash only makes its
// log shorter, which cannot make an earlier vote unsafe (the entries were
// never acknowledged, so no commit depended on them).
//
// AppendEntries that arrive over NetworkTransport (a peer that does not
// speak this protocol) are held the same way before raft's answer is
// passed back.

// appendGate is what the transport's server needs from the log store.
type appendGate interface {
	// ackDurable blocks until entry index is durable and reports whether
	// the log still holds it with term.
	ackDurable(index, term uint64) error
	// DurableIndex and TermStart cap the commit index a leader sends.
	DurableIndex() uint64
	TermStart() (term, start uint64)
}

// appendTransport is raft's transport for a node on the commit-log store.
type appendTransport struct {
	*raft.NetworkTransport
	layer       *StreamLayer
	gate        appendGate
	timeout     time.Duration
	maxInFlight int
	maxPool     int
	logger      *slog.Logger

	consumeCh chan raft.RPC
	shutdown  chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	hbMu sync.Mutex
	hb   func(raft.RPC)

	poolMu sync.Mutex
	pool   map[raft.ServerAddress][]*appendConn
}

var (
	_ raft.Transport   = (*appendTransport)(nil)
	_ raft.WithClose   = (*appendTransport)(nil)
	_ raft.WithPreVote = (*appendTransport)(nil)
)

// newAppendTransport builds the transport over layer. cfg as for
// NewTransport; cfg.MaxInFlight bounds pipelined AppendEntries per follower.
func newAppendTransport(layer *StreamLayer, cfg TransportConfig, gate appendGate, logger *slog.Logger) *appendTransport {
	cfg = cfg.withDefaults()
	t := &appendTransport{
		layer:       layer,
		gate:        gate,
		timeout:     cfg.Timeout,
		maxInFlight: cfg.MaxInFlight,
		maxPool:     cfg.MaxPool,
		logger:      logger.With("component", "raft-append"),
		consumeCh:   make(chan raft.RPC),
		shutdown:    make(chan struct{}),
		pool:        make(map[raft.ServerAddress][]*appendConn),
	}
	mux := newMuxLayer(layer, t.serve, cfg.Timeout, t.logger)
	t.NetworkTransport = newNetworkTransport(mux, cfg, logger)
	t.wg.Add(1)
	go t.forward()
	return t
}

// Consumer implements raft.Transport: RPCs from both protocols.
func (t *appendTransport) Consumer() <-chan raft.RPC { return t.consumeCh }

// SetHeartbeatHandler implements raft.Transport.
func (t *appendTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	t.hbMu.Lock()
	t.hb = cb
	t.hbMu.Unlock()
	t.NetworkTransport.SetHeartbeatHandler(cb)
}

func (t *appendTransport) heartbeatHandler() func(raft.RPC) {
	t.hbMu.Lock()
	defer t.hbMu.Unlock()
	return t.hb
}

// Close implements raft.WithClose.
func (t *appendTransport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.shutdown)
		err = t.NetworkTransport.Close() // closes the mux and the layer
		t.poolMu.Lock()
		for _, conns := range t.pool {
			for _, c := range conns {
				_ = c.conn.Close()
			}
		}
		clear(t.pool)
		t.poolMu.Unlock()
		t.wg.Wait()
	})
	return err
}

// clamp caps the commit index a leader sends at its durable index, and
// sends none (0: the follower keeps its own) while that cap would fall
// short of the first entry of the leader's term but the commit index does
// not (durability.go, "Entries of earlier terms").
func (t *appendTransport) clamp(args *raft.AppendEntriesRequest) {
	c := args.LeaderCommitIndex
	if c == 0 {
		return
	}
	term, start := t.gate.TermStart()
	d := t.gate.DurableIndex()
	switch {
	case term != args.Term:
		// The log's last entry is not of the sender's term: a leader
		// before storing its first entry, or one that has just lost its
		// term. Nothing is known about this term's commits.
		c = 0
	case c >= start && d < start:
		c = 0
	default:
		c = min(c, d)
	}
	args.LeaderCommitIndex = c
}

// forward passes NetworkTransport's RPCs on to raft, holding the answer to
// an AppendEntries with entries until they are durable.
func (t *appendTransport) forward() {
	defer t.wg.Done()
	in := t.NetworkTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-t.shutdown:
			return
		}
		if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok && len(req.Entries) > 0 {
			orig := rpc.RespChan
			ch := make(chan raft.RPCResponse, 1)
			rpc.RespChan = ch
			go func() {
				select {
				case res := <-ch:
					if err := t.hold(req, res); err != nil {
						res = raft.RPCResponse{Response: res.Response, Error: err}
					}
					orig <- res
				case <-t.shutdown:
				}
			}()
		}
		select {
		case t.consumeCh <- rpc:
		case <-t.shutdown:
			return
		}
	}
}

// hold waits until a successful answer to req may be sent.
func (t *appendTransport) hold(req *raft.AppendEntriesRequest, res raft.RPCResponse) error {
	resp, _ := res.Response.(*raft.AppendEntriesResponse)
	if res.Error != nil || resp == nil || !resp.Success || len(req.Entries) == 0 {
		return nil
	}
	last := req.Entries[len(req.Entries)-1]
	return t.gate.ackDurable(last.Index, last.Term)
}

// --- client side ---

// appendConn is one outgoing append-protocol connection.
type appendConn struct {
	target raft.ServerAddress
	conn   net.Conn
	w      wireWriter
	r      wireReader
}

func (t *appendTransport) dial(target raft.ServerAddress) (*appendConn, error) {
	conn, err := t.layer.Dial(target, t.timeout)
	if err != nil {
		return nil, err
	}
	c := &appendConn{target: target, conn: conn}
	c.w.w = bufio.NewWriterSize(conn, 64<<10)
	c.r.r = bufio.NewReaderSize(conn, 16<<10)
	c.w.buf = append(c.w.buf, appendMagic, appendVersion)
	return c, nil
}

func (t *appendTransport) getConn(target raft.ServerAddress) (*appendConn, error) {
	t.poolMu.Lock()
	if conns := t.pool[target]; len(conns) > 0 {
		c := conns[len(conns)-1]
		t.pool[target] = conns[:len(conns)-1]
		t.poolMu.Unlock()
		return c, nil
	}
	t.poolMu.Unlock()
	return t.dial(target)
}

func (t *appendTransport) putConn(c *appendConn) {
	t.poolMu.Lock()
	defer t.poolMu.Unlock()
	select {
	case <-t.shutdown:
	default:
		if conns := t.pool[c.target]; len(conns) < t.maxPool {
			t.pool[c.target] = append(conns, c)
			return
		}
	}
	_ = c.conn.Close()
}

// send writes one request and flushes it.
func (c *appendConn) send(req *raft.AppendEntriesRequest) error {
	if err := c.w.writeRequest(req); err != nil {
		return err
	}
	return c.w.w.Flush()
}

// AppendEntries implements raft.Transport: one request on a pooled
// connection.
func (t *appendTransport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	t.clamp(args)
	c, err := t.getConn(target)
	if err != nil {
		return err
	}
	_ = c.conn.SetDeadline(time.Now().Add(t.timeout))
	if err := c.send(args); err != nil {
		_ = c.conn.Close()
		return err
	}
	err = c.r.readResponse(resp)
	if err != nil && !isRemote(err) {
		_ = c.conn.Close()
		return err
	}
	_ = c.conn.SetDeadline(time.Time{})
	t.putConn(c)
	return err
}

// AppendEntriesPipeline implements raft.Transport.
func (t *appendTransport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	c, err := t.dial(target)
	if err != nil {
		return nil, err
	}
	p := &appendPipeline{
		t: t,
		c: c,
		// The decoder holds one answered-for request and the request being
		// sent waits for a slot: maxInFlight on the wire at most, as in
		// NetworkTransport.
		inflight: make(chan *appendFuture, t.maxInFlight-2),
		doneCh:   make(chan raft.AppendFuture, t.maxInFlight),
		stop:     make(chan struct{}),
	}
	t.wg.Add(1)
	go p.decode()
	return p, nil
}

// appendPipeline sends requests without waiting and decodes the answers,
// which arrive in request order, on its own goroutine.
type appendPipeline struct {
	t        *appendTransport
	c        *appendConn
	inflight chan *appendFuture
	doneCh   chan raft.AppendFuture
	stop     chan struct{}
	once     sync.Once
}

var _ raft.AppendPipeline = (*appendPipeline)(nil)

// AppendEntries implements raft.AppendPipeline. It blocks while
// maxInFlight requests await their answers.
func (p *appendPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	f := &appendFuture{start: time.Now(), req: args, resp: resp}
	p.t.clamp(args)
	_ = p.c.conn.SetWriteDeadline(time.Now().Add(p.t.timeout))
	if err := p.c.send(args); err != nil {
		_ = p.Close()
		return nil, err
	}
	select {
	case p.inflight <- f:
		return f, nil
	case <-p.stop:
		return nil, raft.ErrPipelineShutdown
	}
}

// Consumer implements raft.AppendPipeline.
func (p *appendPipeline) Consumer() <-chan raft.AppendFuture { return p.doneCh }

// Close implements raft.AppendPipeline.
func (p *appendPipeline) Close() error {
	p.once.Do(func() {
		close(p.stop)
		_ = p.c.conn.Close()
	})
	return nil
}

func (p *appendPipeline) decode() {
	defer p.t.wg.Done()
	for {
		var f *appendFuture
		select {
		case f = <-p.inflight:
		case <-p.stop:
			return
		case <-p.t.shutdown:
			_ = p.Close()
			return
		}
		_ = p.c.conn.SetReadDeadline(time.Now().Add(p.t.timeout))
		f.err = p.c.r.readResponse(f.resp)
		select {
		case p.doneCh <- f:
		case <-p.stop:
			return
		}
		if f.err != nil && !isRemote(f.err) {
			// The stream is unusable; raft sees the failed answer (not a
			// success) and falls back to plain AppendEntries.
			_ = p.Close()
			return
		}
	}
}

// appendFuture is a pipelined request's raft.AppendFuture; it reaches
// raft only once answered.
type appendFuture struct {
	start time.Time
	req   *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
}

func (f *appendFuture) Error() error                          { return f.err }
func (f *appendFuture) Start() time.Time                      { return f.start }
func (f *appendFuture) Request() *raft.AppendEntriesRequest   { return f.req }
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }

// --- server side ---

// pendingAppend is a request handed to raft whose answer is not sent yet.
type pendingAppend struct {
	req    *raft.AppendEntriesRequest
	respCh chan raft.RPCResponse
}

// serve runs an accepted append-protocol connection (after the magic and
// version bytes): this goroutine reads, a second one answers in order.
// Neither goroutine outlives the connection, which closing the transport
// closes.
func (t *appendTransport) serve(conn net.Conn, br *bufio.Reader) {
	pending := make(chan pendingAppend, 256)
	done := make(chan struct{})
	go t.respond(conn, pending, done)
	defer close(pending)
	r := wireReader{r: br}
	for {
		req := new(raft.AppendEntriesRequest)
		if err := r.readRequest(req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.logger.Debug("dledger: append connection closed", "remote", conn.RemoteAddr(), "err", err)
			}
			_ = conn.Close()
			return
		}
		ch := make(chan raft.RPCResponse, 1)
		rpc := raft.RPC{Command: req, RespChan: ch}
		select {
		case pending <- pendingAppend{req: req, respCh: ch}:
		case <-done:
			return
		case <-t.shutdown:
			return
		}
		if isHeartbeat(req) {
			if hb := t.heartbeatHandler(); hb != nil {
				hb(rpc)
				continue
			}
		}
		select {
		case t.consumeCh <- rpc:
		case <-done:
			return
		case <-t.shutdown:
			return
		}
	}
}

// isHeartbeat matches raft's own test for its heartbeat fast path.
func isHeartbeat(req *raft.AppendEntriesRequest) bool {
	return req.Term != 0 && req.Addr != nil && req.PrevLogEntry == 0 && req.PrevLogTerm == 0 &&
		len(req.Entries) == 0 && req.LeaderCommitIndex == 0
}

// respond answers the connection's requests in order, each success only
// once its entries are durable (see the comment at the top).
func (t *appendTransport) respond(conn net.Conn, pending <-chan pendingAppend, done chan<- struct{}) {
	defer close(done)
	w := wireWriter{w: bufio.NewWriterSize(conn, 4<<10)}
	// Answers are buffered while the next one is ready at once and flushed
	// before any wait, so a held answer never holds up earlier ones.
	flush := func() bool {
		if w.w.Buffered() == 0 {
			return true
		}
		if err := w.w.Flush(); err != nil {
			_ = conn.Close()
			return false
		}
		return true
	}
	for {
		var p pendingAppend
		var ok bool
		select {
		case p, ok = <-pending:
		default:
			if !flush() {
				return
			}
			p, ok = <-pending
		}
		if !ok {
			flush()
			return
		}
		var res raft.RPCResponse
		select {
		case res = <-p.respCh:
		default:
			if !flush() {
				return
			}
			select {
			case res = <-p.respCh:
			case <-t.shutdown:
				_ = conn.Close()
				return
			}
		}
		if n := len(p.req.Entries); n > 0 && t.gate.DurableIndex() < p.req.Entries[n-1].Index && !flush() {
			return
		}
		if err := t.hold(p.req, res); err != nil {
			t.logger.Debug("dledger: append not acknowledged", "remote", conn.RemoteAddr(), "err", err)
			flush()
			_ = conn.Close()
			return
		}
		resp, _ := res.Response.(*raft.AppendEntriesResponse)
		if err := w.writeResponse(resp, res.Error); err != nil {
			_ = conn.Close()
			return
		}
	}
}

// --- listener ---

// muxLayer is the raft.StreamLayer NetworkTransport accepts from: it peeks
// at each accepted connection's first byte and hands append-protocol
// connections to their server instead.
type muxLayer struct {
	*StreamLayer
	serve   func(net.Conn, *bufio.Reader)
	timeout time.Duration
	logger  *slog.Logger

	legacy chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMuxLayer(layer *StreamLayer, serve func(net.Conn, *bufio.Reader), timeout time.Duration, logger *slog.Logger) *muxLayer {
	m := &muxLayer{
		StreamLayer: layer, serve: serve, timeout: timeout, logger: logger,
		legacy: make(chan net.Conn), closed: make(chan struct{}),
	}
	go m.acceptLoop()
	return m
}

func (m *muxLayer) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		c, err := m.StreamLayer.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.logger.Warn("dledger: accept failed", "err", err)
			select {
			case <-time.After(backoff):
			case <-m.closed:
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		go m.route(c)
	}
}

// route reads the first two bytes (bounded by the timeout) and dispatches.
// Every raft RPC NetworkTransport sends is longer than that.
func (m *muxLayer) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(m.timeout))
	br := bufio.NewReaderSize(c, 64<<10)
	b, err := br.Peek(2)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if b[0] == appendMagic {
		if b[1] != appendVersion {
			m.logger.Warn("dledger: append protocol version not supported", "remote", c.RemoteAddr(), "version", b[1], "want", appendVersion)
			_ = c.Close()
			return
		}
		_, _ = br.Discard(2)
		m.serve(c, br)
		return
	}
	select {
	case m.legacy <- &peekedConn{Conn: c, r: br}:
	case <-m.closed:
		_ = c.Close()
	}
}

// Accept implements net.Listener for NetworkTransport.
func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.legacy:
		return c, nil
	case <-m.closed:
		return nil, fmt.Errorf("dledger: listener: %w", net.ErrClosed)
	}
}

// Close implements net.Listener: closes the layer and every connection.
func (m *muxLayer) Close() error {
	m.once.Do(func() { close(m.closed) })
	return m.StreamLayer.Close()
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
