package bench

import (
	"context"
	"sync/atomic"
	"time"
)

// Pacer hands out operations to the goroutines of a run: their sequence
// numbers, the number of messages each carries, and, in an open-loop run,
// the time each is scheduled to start.
//
// The schedule is fixed when the run starts: operation k is due at
// start + k × (batch / rate). It does not move when responses are slow, so
// an operation that starts late (because every in-flight slot was busy, or
// the tool was descheduled) is measured from its due time, not from when
// it actually left: the queueing a real open-loop client would see stays
// in the latency (no coordinated omission). A closed-loop pacer has no
// schedule; each operation is due when it is claimed.
//
// Go's timers on Linux wake about 1 ms late under load, so operations due
// closer together than that leave in small bursts; the delay is reported
// as start lag and is part of the latency.
type Pacer struct {
	start    time.Time
	interval float64 // ns between operations; 0 = closed loop
	batch    int64   // messages per operation
	limit    int64   // messages in the run; 0 = unbounded
	ops      int64   // operations in the run (limit rounded up to batches); 0 = unbounded
	next     atomic.Int64
}

// NewPacer returns a pacer for operations of batch messages, limit
// messages in all (0: unbounded), at rate messages per second (0: closed
// loop), scheduled from start.
func NewPacer(start time.Time, rate float64, batch int, limit int64) *Pacer {
	p := &Pacer{start: start, batch: int64(batch), limit: limit}
	if rate > 0 {
		p.interval = float64(time.Second) * float64(batch) / rate
	}
	if limit > 0 {
		p.ops = (limit + p.batch - 1) / p.batch
	}
	return p
}

// OpenLoop reports whether the pacer schedules operations.
func (p *Pacer) OpenLoop() bool { return p.interval > 0 }

// Due returns when operation k is scheduled (the pacer's start for a
// closed loop).
func (p *Pacer) Due(k int64) time.Time {
	return p.start.Add(time.Duration(float64(k) * p.interval))
}

// Claimed returns the number of operations handed out so far.
func (p *Pacer) Claimed() int64 {
	n := p.next.Load()
	if p.ops > 0 {
		n = min(n, p.ops)
	}
	return n
}

// Next claims the next operation, waits until it is due (open loop), and
// returns its sequence number, its message count and its due time
// (closed loop: now). ok is false when the run has handed out every
// operation or ctx is done.
func (p *Pacer) Next(ctx context.Context) (k int64, msgs int, due time.Time, ok bool) {
	if ctx.Err() != nil {
		return 0, 0, time.Time{}, false
	}
	k = p.next.Add(1) - 1
	if p.ops > 0 && k >= p.ops {
		return 0, 0, time.Time{}, false
	}
	msgs = int(p.batch)
	if p.limit > 0 && (k+1)*p.batch > p.limit {
		msgs = int(p.limit - k*p.batch)
	}
	if p.interval == 0 {
		return k, msgs, time.Now(), true
	}
	due = p.Due(k)
	if d := time.Until(due); d > 0 && !sleepCtx(ctx, d) {
		return 0, 0, time.Time{}, false
	}
	return k, msgs, due, true
}

// sleepCtx sleeps d or until ctx is done; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d < 2*time.Millisecond {
		time.Sleep(d)
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
