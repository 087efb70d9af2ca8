package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Client owns what producers, consumers and admin helpers share: one
// pipelined connection per broker or name-server address, the route cache
// and its refresh loop, the UNIQ_KEY generator, counters and the Observer.
// Give each simulated process (jepsen) its own Client to get its own
// connections. Safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	pool     *remoting.Pool
	routes   *routeCache
	ids      *message.IDGenerator
	clientID string
	asyncSem chan struct{} // MaxAsyncInFlight tokens
	stats    counters
	producer *Producer

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	bgMu   sync.Mutex     // orders wg.Add against Close
	wg     sync.WaitGroup // background loops and retry goroutines
	closed atomic.Bool
}

// New validates cfg, fills ClientID and IDs when empty, and starts the
// route refresh loop. It does not connect anywhere yet.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IDs == nil {
		ids, err := message.NewIDGenerator(message.DefaultIDGeneratorConfig())
		if err != nil {
			return nil, fmt.Errorf("client: UNIQ_KEY generator: %w", err)
		}
		cfg.IDs = ids
	}
	if cfg.ClientID == "" {
		inst := cfg.InstanceName
		if inst == "" {
			inst = "DEFAULT"
		}
		cfg.ClientID = cfg.IDs.NextID().IP.String() + "@" + inst
	}
	pool, err := remoting.NewPool(cfg.Remoting)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("client", cfg.ClientID),
		pool:     pool,
		ids:      cfg.IDs,
		clientID: cfg.ClientID,
		asyncSem: make(chan struct{}, cfg.MaxAsyncInFlight),
		ctx:      ctx,
		cancel:   cancel,
	}
	c.routes = newRouteCache(c)
	c.producer = &Producer{c: c}
	c.wg.Add(1)
	go c.routes.refreshLoop()
	return c, nil
}

// Close stops the refresh loop and closes every connection; requests in
// flight fail (sends with an unknown outcome). It waits for background
// goroutines. Close is idempotent.
func (c *Client) Close() error {
	c.bgMu.Lock()
	already := c.closed.Swap(true)
	c.bgMu.Unlock()
	if already {
		return nil
	}
	c.cancel()
	err := c.pool.Close()
	c.wg.Wait()
	return err
}

// ClientID returns the id this client presents to brokers.
func (c *Client) ClientID() string { return c.clientID }

// Config returns the effective configuration (defaults filled in).
func (c *Client) Config() Config { return c.cfg }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats { return c.stats.snapshot() }

// Producer returns the client's producer (one per Client; it is stateless
// apart from the shared route cache).
func (c *Client) Producer() *Producer { return c.producer }

// Route returns the cached route of topic, querying the name servers when
// it is not cached yet.
func (c *Client) Route(ctx context.Context, topic string) (*TopicRoute, error) {
	s, err := c.routes.get(ctx, topic)
	if err != nil {
		return nil, err
	}
	return s.route, nil
}

// RefreshRoute queries the name servers for topic now and updates the
// cache.
func (c *Client) RefreshRoute(ctx context.Context, topic string) (*TopicRoute, error) {
	s, err := c.routes.refresh(ctx, topic)
	if err != nil {
		return nil, err
	}
	return s.route, nil
}

// goBackground runs f on a goroutine Close waits for; false (f not run)
// when the client is closed.
func (c *Client) goBackground(f func()) bool {
	c.bgMu.Lock()
	if c.closed.Load() {
		c.bgMu.Unlock()
		return false
	}
	c.wg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// invoke sends req to addr and waits up to timeout for the response,
// reporting the request to the counters and the Observer.
func (c *Client) invoke(ctx context.Context, addr string, req *remoting.Command, timeout time.Duration) (*remoting.Command, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	ev := RequestEvent{Code: req.RequestCode(), Addr: addr, Bytes: len(req.Body)}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ev.Start = time.Now()
	resp, err := c.pool.Invoke(ctx, addr, req)
	c.observe(&ev, resp, err)
	if err != nil && c.closed.Load() {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return resp, err
}

// observe completes ev with the outcome and reports it.
func (c *Client) observe(ev *RequestEvent, resp *remoting.Command, err error) {
	ev.Latency = time.Since(ev.Start)
	ev.Err = err
	c.stats.requests.Add(1)
	if err != nil {
		c.stats.requestErrors.Add(1)
		if errors.Is(err, context.DeadlineExceeded) {
			c.stats.timeouts.Add(1)
		}
	} else {
		ev.Response = resp.ResponseCode()
		ev.RespBytes = len(resp.Body)
	}
	if o := c.cfg.Observer; o != nil {
		o.ObserveRequest(ev)
	}
}
