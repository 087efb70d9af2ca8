package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/remoting"
)

// stampMagic marks an e2e message body: magic, then the operation's
// scheduled send time in Unix nanoseconds (big endian), then filler.
var stampMagic = [8]byte{'D', 'L', 'M', 'Q', 'B', 'N', 'C', 'H'}

// stamp writes the e2e header into body (at least MinE2ESize bytes).
func stamp(body []byte, due time.Time) {
	copy(body, stampMagic[:])
	binary.BigEndian.PutUint64(body[8:16], uint64(due.UnixNano()))
}

// unstamp reads the scheduled send time of an e2e body.
func unstamp(body []byte) (time.Time, bool) {
	if len(body) < MinE2ESize || [8]byte(body[:8]) != stampMagic {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(body[8:16]))), true
}

// consumeWindow is the consuming side over some period. Messages counted
// are b2c.OK; the other windows hold only their latency histograms.
type consumeWindow struct {
	b2c, s2c, e2e, pull *Window
	bytes               int64
	pulls, pullErrs     int64
}

func newConsumeWindow() *consumeWindow {
	w := func() *Window { x := newWindow(); return &x }
	return &consumeWindow{b2c: w(), s2c: w(), e2e: w(), pull: w()}
}

func (c *consumeWindow) msgs() int64 { return c.b2c.OK }

func (c *consumeWindow) add(o *consumeWindow) {
	c.b2c.add(o.b2c)
	c.s2c.add(o.s2c)
	c.e2e.add(o.e2e)
	c.pull.add(o.pull)
	c.bytes += o.bytes
	c.pulls += o.pulls
	c.pullErrs += o.pullErrs
}

func (c *consumeWindow) reset() {
	c.b2c.reset()
	c.s2c.reset()
	c.e2e.reset()
	c.pull.reset()
	c.bytes, c.pulls, c.pullErrs = 0, 0, 0
}

// consumerSide is the consuming half of consume and e2e runs: one client
// pulling every queue of the topic (one goroutine per queue), recording
// born/store-to-consume and, for e2e, produce-to-consume latency of each
// message, and the round trip of each pull that returned messages.
type consumerSide struct {
	cfg    Config
	e2e    bool
	target int64 // stop once this many messages arrived (0: never)

	start   atomic.Int64 // measured start, Unix ns; 0 = not measuring yet
	stopped atomic.Bool  // set before the assignment closes: its cancelled pulls are not failures
	b2c     *Recorder
	s2c     *Recorder
	e2eLat  *Recorder
	pullRT  *Recorder
	bytes   atomic.Int64
	pulls   atomic.Int64
	errs    atomic.Int64
	count   atomic.Int64 // measured messages so far
	lastAt  atomic.Int64 // arrival of the latest measured message, Unix ns
	reached chan struct{}
	once    sync.Once

	mu    sync.Mutex // guards total (reporter and final read)
	total *consumeWindow
}

func newConsumerSide(cfg Config, shards int, target int64) *consumerSide {
	return &consumerSide{
		cfg: cfg, e2e: cfg.Mode == ModeE2E, target: target,
		b2c: NewRecorder(shards, nil), s2c: NewRecorder(shards, nil), e2eLat: NewRecorder(shards, nil), pullRT: NewRecorder(shards, nil),
		reached: make(chan struct{}), total: newConsumeWindow(),
	}
}

// begin starts measuring: messages are counted from now on (e2e: those
// scheduled from now on).
func (c *consumerSide) begin(start time.Time) { c.start.Store(start.UnixNano()) }

// observer records pull round trips (client.Config.Observer).
func (c *consumerSide) observer() client.Observer {
	return client.ObserverFunc(func(ev *client.RequestEvent) {
		if ev.Code != remoting.PullMessage || c.start.Load() == 0 || c.stopped.Load() {
			return
		}
		if ev.Err != nil {
			c.errs.Add(1)
			return
		}
		c.pulls.Add(1)
		if ev.RespBytes > 0 {
			c.pullRT.Shard(int(ev.Start.UnixNano()>>10)).RecordValue(ev.Latency, 1)
		}
	})
}

// handle is the assignment's handler: it runs on queue q's goroutine.
func (c *consumerSide) handle(q int, b client.Batch) {
	startNS := c.start.Load()
	if startNS == 0 || c.stopped.Load() {
		return
	}
	var n, bytes int64
	var last time.Time
	for i := range b.Messages {
		m := &b.Messages[i]
		if c.e2e {
			due, ok := unstamp(m.Body)
			if !ok || due.UnixNano() < startNS {
				continue // not ours, or sent during warmup
			}
			c.e2eLat.Shard(q).RecordValue(m.ReceivedAt.Sub(due), 1)
		}
		c.b2c.Shard(q).RecordValue(m.BornToConsume(), 1)
		c.s2c.Shard(q).RecordValue(m.StoreToConsume(), 1)
		n++
		bytes += int64(len(m.Body))
		last = m.ReceivedAt
	}
	if n == 0 {
		return
	}
	c.bytes.Add(bytes)
	for {
		prev := c.lastAt.Load()
		if last.UnixNano() <= prev || c.lastAt.CompareAndSwap(prev, last.UnixNano()) {
			break
		}
	}
	if got := c.count.Add(n); c.target > 0 && got >= c.target {
		c.once.Do(func() { close(c.reached) })
	}
}

// drain moves everything recorded since the last drain into w (and into
// the running total).
func (c *consumerSide) drain(w *consumeWindow) {
	c.b2c.Drain(w.b2c)
	c.s2c.Drain(w.s2c)
	c.e2eLat.Drain(w.e2e)
	c.pullRT.Drain(w.pull)
	w.bytes = c.bytes.Swap(0)
	w.pulls = c.pulls.Swap(0)
	w.pullErrs = c.errs.Swap(0)
	c.mu.Lock()
	c.total.add(w)
	c.mu.Unlock()
}

// progress describes how far a consume run is.
func (c *consumerSide) progress() string {
	if c.target <= 0 {
		return ""
	}
	got := c.count.Load()
	return fmt.Sprintf("Progress: %d/%d (%.0f%%)", got, c.target, 100*float64(got)/float64(c.target))
}

// result summarises the consuming side (call after the final drain).
func (c *consumerSide) result(end time.Time) *ConsumeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.total
	r := &ConsumeResult{
		Consumed: t.msgs(), Bytes: t.bytes, Pulls: t.pulls, PullErrors: t.pullErrs,
		Pull: PercentilesOf(t.pull.Lat), B2C: PercentilesOf(t.b2c.Lat), S2C: PercentilesOf(t.s2c.Lat),
		E2E: PercentilesOf(t.e2e.Lat),
	}
	if s := c.start.Load(); s != 0 {
		r.Elapsed = end.Sub(time.Unix(0, s))
	}
	return r
}

// stop ends measuring; call before closing the assignment.
func (c *consumerSide) stop() { c.stopped.Store(true) }

// lastArrival is when the latest measured message arrived (zero if none).
func (c *consumerSide) lastArrival() time.Time {
	if ns := c.lastAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// assign starts pulling every queue of the topic with cs's handler.
func (c *consumerSide) assign(ctx context.Context, cl *client.Client, topic string, start client.StartPosition) (*client.Assignment, error) {
	route, err := cl.Route(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("%w: route of %q: %w", ErrSetup, topic, err)
	}
	qs := route.SubscribeQueues()
	index := make(map[client.MessageQueue]int, len(qs))
	for i, q := range qs {
		index[q] = i
	}
	opts := client.DefaultAssignOptions()
	opts.Queues, opts.Start, opts.MaxMessages = qs, start, c.cfg.PullBatch
	opts.Suspend = c.cfg.PullSuspend
	opts.Handler = func(b client.Batch) { c.handle(index[b.Queue], b) }
	opts.OnError = func(q client.MessageQueue, err error) {}
	a, err := cl.Consumer("BenchmarkConsumer").Assign(ctx, topic, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: assign %q: %w", ErrSetup, topic, err)
	}
	return a, nil
}

// waitPositions waits until every queue of a has its start offset.
func waitPositions(ctx context.Context, a *client.Assignment, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := true
		for _, off := range a.Offsets() {
			ready = ready && off >= 0
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: consumer start offsets not resolved within %v", ErrSetup, timeout)
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// catchUpIdle is how long the e2e consumer may go without a new message
// before the run stops waiting for the rest.
const catchUpIdle = 5 * time.Second

// catchUp waits (e2e) until the consumer has seen acked measured messages
// or stops making progress; it returns how many are missing.
func (c *consumerSide) catchUp(ctx context.Context, acked int64) int64 {
	last, lastChange := c.count.Load(), time.Now()
	for {
		got := c.count.Load()
		if got >= acked {
			return 0
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		if time.Since(lastChange) > catchUpIdle || !sleepCtx(ctx, 10*time.Millisecond) {
			return acked - got
		}
	}
}
