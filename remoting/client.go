package remoting

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Client is a pipelined connection to one address. It dials lazily on first
// use and again on the next use after the connection broke; calls in flight
// on a broken connection fail with ErrClosed (they are not retried: requests
// are not idempotent in general). Safe for concurrent use.
type Client struct {
	addr string
	cfg  ClientConfig
	env  *connEnv

	conn atomic.Pointer[Conn] // current connection, possibly closed

	mu      sync.Mutex
	dialing chan struct{} // non-nil while a dial is in progress
	dialErr error         // outcome of the last dial, read after dialing closes
	closed  bool
}

// NewClient returns a client for addr ("ip:port"). It does not dial.
func NewClient(addr string, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newClient(addr, cfg), nil
}

func newClient(addr string, cfg ClientConfig) *Client {
	return &Client{
		addr: addr,
		cfg:  cfg,
		env: &connEnv{
			cfg:       cfg.Conn,
			handler:   cfg.Handler,
			executors: cfg.Executors,
			onClose:   cfg.OnClose,
			side:      "client",
		},
	}
}

// Addr returns the address the client dials.
func (cl *Client) Addr() string { return cl.addr }

// Conn returns the open connection, dialing one if needed.
func (cl *Client) Conn(ctx context.Context) (*Conn, error) {
	if c := cl.conn.Load(); c != nil && !c.IsClosed() {
		return c, nil
	}
	for {
		cl.mu.Lock()
		if cl.closed {
			cl.mu.Unlock()
			return nil, fmt.Errorf("%w: client for %s", ErrClosed, cl.addr)
		}
		if c := cl.conn.Load(); c != nil && !c.IsClosed() {
			cl.mu.Unlock()
			return c, nil
		}
		if ch := cl.dialing; ch != nil {
			cl.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			cl.mu.Lock()
			err := cl.dialErr
			cl.mu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		}
		ch := make(chan struct{})
		cl.dialing = ch
		cl.mu.Unlock()

		c, err := cl.dial(ctx)

		cl.mu.Lock()
		cl.dialing = nil
		cl.dialErr = err
		if err == nil {
			if cl.closed {
				err = fmt.Errorf("%w: client for %s", ErrClosed, cl.addr)
				cl.dialErr = err
				_ = c.Close()
			} else {
				cl.conn.Store(c)
			}
		}
		close(ch)
		cl.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

func (cl *Client) dial(ctx context.Context) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cl.cfg.DialTimeout)
	defer cancel()
	nc, err := cl.cfg.Dial(dctx, "tcp", cl.addr)
	if err != nil {
		return nil, fmt.Errorf("remoting: dial %s: %w", cl.addr, err)
	}
	c := newConn(nc, cl.env)
	c.start()
	return c, nil
}

// Invoke sends req and waits for the response; see Conn.Invoke.
func (cl *Client) Invoke(ctx context.Context, req *Command) (*Command, error) {
	c, err := cl.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return c.Invoke(ctx, req)
}

// InvokeAsync sends req and calls cb with the outcome; see Conn.InvokeAsync.
func (cl *Client) InvokeAsync(ctx context.Context, req *Command, cb func(*Command, error)) error {
	c, err := cl.Conn(ctx)
	if err != nil {
		return err
	}
	return c.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req as a oneway request; see Conn.InvokeOneway.
func (cl *Client) InvokeOneway(ctx context.Context, req *Command) error {
	c, err := cl.Conn(ctx)
	if err != nil {
		return err
	}
	return c.InvokeOneway(ctx, req)
}

// Close closes the connection and makes every later call fail with
// ErrClosed. It waits for the connection's goroutines.
func (cl *Client) Close() error {
	cl.mu.Lock()
	cl.closed = true
	c := cl.conn.Load()
	cl.mu.Unlock()
	if c != nil {
		_ = c.Close()
		c.wait()
	}
	return nil
}

// Pool holds one Client per address, all with one configuration.
type Pool struct {
	cfg ClientConfig

	mu      sync.Mutex
	clients map[string]*Client
	closed  bool
}

// NewPool returns an empty pool.
func NewPool(cfg ClientConfig) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Pool{cfg: cfg, clients: make(map[string]*Client)}, nil
}

// Client returns the client for addr, creating it on first use.
func (p *Pool) Client(addr string) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("%w: pool", ErrClosed)
	}
	cl := p.clients[addr]
	if cl == nil {
		cl = newClient(addr, p.cfg)
		p.clients[addr] = cl
	}
	return cl, nil
}

// Invoke sends req to addr and waits for the response.
func (p *Pool) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	cl, err := p.Client(addr)
	if err != nil {
		return nil, err
	}
	return cl.Invoke(ctx, req)
}

// InvokeAsync sends req to addr and calls cb with the outcome.
func (p *Pool) InvokeAsync(ctx context.Context, addr string, req *Command, cb func(*Command, error)) error {
	cl, err := p.Client(addr)
	if err != nil {
		return err
	}
	return cl.InvokeAsync(ctx, req, cb)
}

// InvokeOneway sends req to addr as a oneway request.
func (p *Pool) InvokeOneway(ctx context.Context, addr string, req *Command) error {
	cl, err := p.Client(addr)
	if err != nil {
		return err
	}
	return cl.InvokeOneway(ctx, req)
}

// Close closes every client.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	clients := p.clients
	p.clients = nil
	p.mu.Unlock()
	for _, cl := range clients {
		_ = cl.Close()
	}
	return nil
}
