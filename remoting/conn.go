package remoting

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIdle is the close reason of a connection from which no frame was read
// within ConnConfig.IdleTimeout.
var ErrIdle = errors.New("remoting: connection idle")

// connEnv is what all connections of one Server or Client share.
type connEnv struct {
	cfg       ConnConfig
	handler   Handler
	executors map[RequestCode]Executor
	onClose   func(*Conn, error)
	side      string // "server" or "client", for logs
}

var connIDs atomic.Uint64

// writerYield enables the writer's yield before a flush (see writeLoop); a
// switch for BenchmarkWriterYield's A/B comparison, always true otherwise.
var writerYield = true

// Conn is one remoting connection, accepted by a Server or dialed by a
// Client. Both ends are symmetric: either may send requests (Invoke,
// InvokeOneway, InvokeAsync) and serve the other's requests with its Handler.
//
// Goroutines: one reader (decodes frames, completes calls, dispatches
// requests), one writer (encodes queued frames into a bufio.Writer and
// flushes when the queue drains), and one per running request handler.
//
// Locking: mu guards pending and reason only; it is never held while calling
// out (callbacks, channel sends that may block, I/O).
type Conn struct {
	nc     net.Conn
	env    *connEnv
	log    *slog.Logger
	id     uint64
	ctx    context.Context
	cancel context.CancelFunc

	out    chan *Command // write queue
	closed chan struct{} // closed when the connection closes
	sem    chan struct{} // handler slots (MaxConcurrent)
	opaque atomic.Int32

	mu      sync.Mutex
	pending map[int32]*call // nil once closed
	reason  error           // why it closed; set before closed is closed

	closeOnce sync.Once
	wg        sync.WaitGroup // reader, writer, handlers
}

// call is one outstanding request waiting for its response.
type call struct {
	ch   chan *Command         // sync Invoke; nil Command = failed with err
	err  error                 // set before a nil send on ch
	cb   func(*Command, error) // InvokeAsync
	stop func() bool           // stops the context.AfterFunc of an async call
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan *Command, 1)} }}

// complete hands the call its outcome; called by exactly one party, the one
// that removed the call from pending.
func (cl *call) complete(resp *Command, err error) {
	if cl.cb != nil {
		if cl.stop != nil {
			cl.stop()
		}
		cl.cb(resp, err)
		return
	}
	if resp == nil {
		cl.err = err
	}
	cl.ch <- resp
}

func newConn(nc net.Conn, env *connEnv) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		nc:      nc,
		env:     env,
		id:      connIDs.Add(1),
		ctx:     ctx,
		cancel:  cancel,
		out:     make(chan *Command, env.cfg.SendQueue),
		closed:  make(chan struct{}),
		sem:     make(chan struct{}, env.cfg.MaxConcurrent),
		pending: make(map[int32]*call),
	}
	c.log = env.cfg.Logger.With("side", env.side, "conn", c.id, "remote", nc.RemoteAddr().String())
	return c
}

// start launches the reader and the writer.
func (c *Conn) start() {
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
}

// ID returns a process-unique number for the connection.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Context returns a context cancelled when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// Done returns a channel closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// IsClosed reports whether the connection is closed.
func (c *Conn) IsClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Err returns why the connection closed: nil while open and after Close,
// io.EOF when the peer closed it between frames, ErrIdle, a frame error, or
// an I/O error.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Close closes the connection. Outstanding calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.closeWith(nil)
	return nil
}

// wait blocks until the reader, the writer and every handler have returned.
func (c *Conn) wait() { c.wg.Wait() }

func closedError(reason error) error {
	if reason == nil {
		return ErrClosed
	}
	return fmt.Errorf("%w: %w", ErrClosed, reason)
}

func (c *Conn) closeWith(reason error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.reason = reason
		pend := c.pending
		c.pending = nil
		c.mu.Unlock()
		close(c.closed)
		c.cancel()
		_ = c.nc.Close()
		err := closedError(reason)
		for _, cl := range pend {
			cl.complete(nil, err)
		}
	})
}

// register assigns an opaque to cl and records it as pending.
func (c *Conn) register(cl *call) (int32, error) {
	var op int32
	c.mu.Lock()
	err := c.registerLocked(cl, &op)
	c.mu.Unlock()
	return op, err
}

func (c *Conn) registerLocked(cl *call, op *int32) error {
	if c.pending == nil {
		return closedError(c.reason)
	}
	o := c.opaque.Add(1)
	for c.pending[o] != nil { // only after 2^32 calls with one still outstanding
		o = c.opaque.Add(1)
	}
	c.pending[o] = cl
	*op = o
	return nil
}

// unregister removes the pending call op; false if someone else already took
// it (and so will complete it).
func (c *Conn) unregister(op int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[op] == nil {
		return false
	}
	delete(c.pending, op)
	return true
}

// take removes and returns the pending call op.
// awaitingResponses reports whether requests sent on c await answers.
func (c *Conn) awaitingResponses() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

func (c *Conn) take(op int32) *call {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.pending[op]
	if cl != nil {
		delete(c.pending, op)
	}
	return cl
}

// enqueue queues cmd for the writer.
func (c *Conn) enqueue(ctx context.Context, cmd *Command) error {
	select {
	case c.out <- cmd:
		return nil
	default:
	}
	select {
	case c.out <- cmd:
		return nil
	case <-c.closed:
		return closedError(c.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Invoke sends req and waits for its response, until ctx is done or the
// connection closes. It sets req's opaque and clears its flags. Requests are
// pipelined: any number may be outstanding on one connection.
func (c *Conn) Invoke(ctx context.Context, req *Command) (*Command, error) {
	cl := callPool.Get().(*call)
	op, err := c.register(cl)
	if err != nil {
		callPool.Put(cl)
		return nil, err
	}
	req.Opaque = op
	req.Flag = 0
	if err := c.enqueue(ctx, req); err != nil {
		if c.unregister(op) {
			callPool.Put(cl)
		} else {
			<-cl.ch // the close path completed it
			cl.err = nil
			callPool.Put(cl)
		}
		return nil, err
	}
	var resp *Command
	select {
	case resp = <-cl.ch:
	case <-ctx.Done():
		if c.unregister(op) {
			callPool.Put(cl)
			return nil, ctx.Err()
		}
		resp = <-cl.ch // completed concurrently: take the outcome
	}
	err = cl.err
	cl.err = nil
	callPool.Put(cl)
	if resp == nil {
		return nil, err
	}
	return resp, nil
}

// InvokeAsync sends req and calls cb exactly once with the response or an
// error (ctx done, connection closed), unless it returns an error itself, in
// which case cb is never called. cb runs on the connection's reader goroutine
// (or the goroutine that observed the failure) and must not block.
func (c *Conn) InvokeAsync(ctx context.Context, req *Command, cb func(*Command, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cl := &call{cb: cb}
	var op int32 // guarded by c.mu: written by registerLocked, read by the AfterFunc
	if ctx.Done() != nil {
		cl.stop = context.AfterFunc(ctx, func() {
			c.mu.Lock()
			mine := c.pending != nil && c.pending[op] == cl
			if mine {
				delete(c.pending, op)
			}
			c.mu.Unlock()
			if mine {
				cb(nil, ctx.Err())
			}
		})
	}
	c.mu.Lock()
	err := c.registerLocked(cl, &op)
	o := op
	c.mu.Unlock()
	if err != nil {
		if cl.stop != nil {
			cl.stop()
		}
		return err
	}
	req.Opaque = o
	req.Flag = 0
	if err := c.enqueue(ctx, req); err != nil {
		if c.unregister(o) {
			if cl.stop != nil {
				cl.stop()
			}
			return err
		}
		return nil // already being completed (closed or ctx done): cb reports it
	}
	return nil
}

// InvokeOneway sends req with the oneway flag; no response is expected. It
// returns once req is queued for writing.
func (c *Conn) InvokeOneway(ctx context.Context, req *Command) error {
	if c.IsClosed() {
		return closedError(c.Err())
	}
	req.Opaque = c.opaque.Add(1)
	req.Flag = FlagOneway
	return c.enqueue(ctx, req)
}

// Respond sends resp as the response to req: it sets resp's opaque, the
// response flag and req's serialization type. Nothing is sent for a oneway
// req. Use it to answer a request after the handler returned nil.
func (c *Conn) Respond(req, resp *Command) error {
	if req.IsOneway() {
		return nil
	}
	resp.Opaque = req.Opaque
	resp.Flag = resp.Flag&^FlagOneway | FlagResponse
	resp.SerializeType = req.SerializeType
	return c.enqueue(context.Background(), resp)
}

// readLoop decodes frames until the connection fails or closes.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	cfg := &c.env.cfg
	fr := NewFrameReader(bufio.NewReaderSize(c.nc, cfg.ReadBufferSize), cfg.Limits)
	idle := cfg.IdleTimeout
	var deadlineSet time.Time
	var reason error
	for {
		if idle > 0 {
			// Refreshing the deadline at most every idle/8 keeps the timer
			// off the per-frame path; a connection is closed after between
			// 7/8 and 1 times idle without a complete frame.
			if now := time.Now(); now.Sub(deadlineSet) > idle/8 {
				_ = c.nc.SetReadDeadline(now.Add(idle))
				deadlineSet = now
			}
		}
		cmd, err := fr.Next()
		if err != nil {
			if errors.Is(err, errBetweenFrames) && c.awaitingResponses() {
				// Idle means nothing is going on: while this end waits for
				// answers, the requests' own timeouts bound the wait.
				deadlineSet = time.Time{}
				continue
			}
			if cmd != nil && errors.Is(err, ErrIllegalRequest) {
				c.refuse(cmd, err)
				continue
			}
			reason = err
			break
		}
		if cmd.IsResponse() {
			if cl := c.take(cmd.Opaque); cl != nil {
				cl.complete(cmd, nil)
			} else {
				c.log.Debug("remoting: response for no outstanding request", "cmd", cmd)
			}
			continue
		}
		c.dispatch(cmd)
	}
	if errors.Is(reason, os.ErrDeadlineExceeded) {
		reason = fmt.Errorf("%w: no complete frame for %v", ErrIdle, idle)
	}
	c.closeWith(reason)
	c.logClose()
	if c.env.onClose != nil {
		c.env.onClose(c, c.Err())
	}
}

func (c *Conn) logClose() {
	reason := c.Err()
	switch {
	case reason == nil:
		c.log.Debug("remoting: connection closed")
	case errors.Is(reason, io.EOF):
		c.log.Debug("remoting: connection closed by peer")
	case errors.Is(reason, ErrFrameTooLarge), errors.Is(reason, ErrHeaderTooLarge), errors.Is(reason, ErrMalformed):
		c.log.Warn("remoting: closing connection after a bad frame", "err", reason)
	default:
		c.log.Info("remoting: connection closed", "err", reason)
	}
}

// refuse answers a request that exceeds a request limit with MESSAGE_ILLEGAL.
func (c *Conn) refuse(req *Command, err error) {
	c.log.Warn("remoting: refusing request", "code", RequestCode(req.Code), "opaque", req.Opaque, "err", err)
	_ = c.Respond(req, NewResponse(req, MessageIllegal, err.Error()))
}

// dispatch runs the handler for req on its executor or in a handler slot.
func (c *Conn) dispatch(req *Command) {
	if ex, ok := c.env.executors[RequestCode(req.Code)]; ok {
		c.wg.Add(1)
		if !ex.Execute(func() { defer c.wg.Done(); c.serve(req) }) {
			c.wg.Done()
			_ = c.Respond(req, NewResponse(req, SystemBusy,
				fmt.Sprintf("too many requests: the executor for %s is saturated", RequestCode(req.Code))))
		}
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.closed:
		return
	}
	c.wg.Add(1)
	go func() {
		defer func() { <-c.sem; c.wg.Done() }()
		c.serve(req)
	}()
}

func (c *Conn) serve(req *Command) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("remoting: handler panic", "code", RequestCode(req.Code), "panic", r, "stack", string(debug.Stack()))
			_ = c.Respond(req, NewResponse(req, SystemError, fmt.Sprintf("handler panic: %v", r)))
		}
	}()
	var resp *Command
	if h := c.env.handler; h != nil {
		resp = h.ServeRemoting(c.ctx, c, req)
	} else {
		resp = NotSupported(req)
	}
	if resp != nil {
		_ = c.Respond(req, resp)
	}
}

// writeLoop writes queued frames, flushing whenever the queue is empty.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	cfg := &c.env.cfg
	bw := bufio.NewWriterSize(c.nc, cfg.WriteBufferSize)
	buf := make([]byte, 0, 1024)
	wt := cfg.WriteTimeout
	var deadlineSet time.Time
	batch := 0 // frames in the last flush
	for {
		var cmd *Command
		select {
		case cmd = <-c.out:
		case <-c.closed:
			return
		}
		if wt > 0 {
			if now := time.Now(); now.Sub(deadlineSet) > wt/8 {
				_ = c.nc.SetWriteDeadline(now.Add(wt))
				deadlineSet = now
			}
		}
		// Yield once before flushing when the previous batch held several
		// frames (callers are concurrent): the runnable handlers and callers
		// queue their frames first and share one write syscall. A lone
		// caller (batches of one) is not delayed.
		yield := writerYield && batch > 1
		batch = 0
		for cmd != nil {
			var err error
			if buf, err = c.writeFrame(bw, buf, cmd); err != nil {
				c.closeWith(fmt.Errorf("write: %w", err))
				return
			}
			batch++
			select {
			case cmd = <-c.out:
			default:
				cmd = nil
				if yield {
					yield = false
					runtime.Gosched()
					select {
					case cmd = <-c.out:
					default:
					}
				}
			}
		}
		if err := bw.Flush(); err != nil {
			c.closeWith(fmt.Errorf("write: %w", err))
			return
		}
		if cap(buf) > 64<<10 {
			buf = make([]byte, 0, 1024) // do not keep a rare huge header's buffer
		}
	}
}

// writeFrame encodes cmd into bw. A command that cannot be encoded does not
// break the connection: a request's call fails with the error, a response is
// replaced by SYSTEM_ERROR.
func (c *Conn) writeFrame(bw *bufio.Writer, buf []byte, cmd *Command) ([]byte, error) {
	maxFrame := c.env.cfg.Limits.MaxFrame
	buf, err := appendPrefixAndHeader(buf[:0], cmd, maxFrame)
	if err != nil {
		c.log.Error("remoting: cannot encode command", "cmd", cmd, "err", err)
		if !cmd.IsResponse() {
			if cmd.Flag&FlagOneway == 0 {
				if cl := c.take(cmd.Opaque); cl != nil {
					cl.complete(nil, err)
				}
			}
			return buf, nil
		}
		cmd = &Command{
			Code: int32(SystemError), Language: LanguageJava, Version: ProtocolVersion,
			Opaque: cmd.Opaque, Flag: FlagResponse, Remark: err.Error(),
		}
		if buf, err = appendPrefixAndHeader(buf[:0], cmd, maxFrame); err != nil {
			return buf, err
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return buf, err
	}
	if len(cmd.Body) > 0 {
		if _, err := bw.Write(cmd.Body); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
