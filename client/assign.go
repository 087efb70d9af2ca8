package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// StartPosition says where an Assignment starts reading a queue that has
// no entry in AssignOptions.Offsets.
type StartPosition uint8

const (
	// StartCommitted: the group's committed offset; the queue's first
	// offset when the group has none. The default.
	StartCommitted StartPosition = iota
	// StartFirst: the queue's first stored offset (GET_MIN_OFFSET).
	StartFirst
	// StartLast: the queue's end (GET_MAX_OFFSET): only new messages.
	StartLast
)

// AssignOptions configures Consumer.Assign.
type AssignOptions struct {
	// Queues to read. Default nil: every subscribe queue of the topic's
	// route at the time of Assign (later route changes are not followed).
	Queues []MessageQueue
	// Start applies to queues without an entry in Offsets. Default
	// StartCommitted.
	Start StartPosition
	// Offsets gives explicit start offsets per queue. Default nil.
	Offsets map[MessageQueue]int64
	// Filter is a tag expression ("TagA || TagB"); "" or "*" for all.
	Filter string
	// MaxMessages per pull. Default 32.
	MaxMessages int
	// Suspend is the long-poll hold asked of the broker. 0 disables long
	// polling: an empty queue is then re-polled every IdleBackoff. Default
	// 15 s (the broker caps it; REMOTING.md §3.5).
	Suspend time.Duration
	// IdleBackoff is the pause after an empty pull when Suspend is 0, and
	// after a failed request. Default 100 ms.
	IdleBackoff time.Duration
	// CommitInterval: when positive, each queue's position is committed
	// (UPDATE_CONSUMER_OFFSET) this often when it moved, and once more on
	// Close. 0 never commits (jepsen and bench reads). Default 0.
	CommitInterval time.Duration
	// Handler, if set, receives every non-empty batch, in offset order per
	// queue, on that queue's goroutine (queues run concurrently). The
	// queue's position advances when Handler returns. If nil, batches are
	// delivered on Assignment.C instead and the position advances when the
	// batch is handed over.
	Handler func(Batch)
	// ChannelSize is the capacity of Assignment.C. Default 64.
	ChannelSize int
	// OnError, if set, sees pull and offset errors (the loop retries after
	// IdleBackoff) and ErrOffsetMoved (the loop continues at the broker's
	// nextBeginOffset). It runs on the queue's goroutine.
	OnError func(MessageQueue, error)
}

// DefaultAssignOptions returns the defaults documented on AssignOptions.
func DefaultAssignOptions() AssignOptions {
	return AssignOptions{MaxMessages: 32, Suspend: 15 * time.Second, IdleBackoff: 100 * time.Millisecond, ChannelSize: 64}
}

// Validate reports every invalid field.
func (o AssignOptions) Validate() error {
	var errs []error
	if o.Start > StartLast {
		errs = append(errs, fmt.Errorf("Start %d unknown", o.Start))
	}
	if o.MaxMessages < 1 {
		errs = append(errs, fmt.Errorf("MaxMessages %d < 1", o.MaxMessages))
	}
	if o.Suspend < 0 {
		errs = append(errs, fmt.Errorf("Suspend %v is negative", o.Suspend))
	}
	if o.IdleBackoff <= 0 {
		errs = append(errs, fmt.Errorf("IdleBackoff %v must be positive", o.IdleBackoff))
	}
	if o.CommitInterval < 0 {
		errs = append(errs, fmt.Errorf("CommitInterval %v is negative", o.CommitInterval))
	}
	if o.ChannelSize < 0 {
		errs = append(errs, fmt.Errorf("ChannelSize %d is negative", o.ChannelSize))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: assign options: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Batch is what one pull delivered for one queue.
type Batch struct {
	Queue    MessageQueue
	Addr     string // broker address that answered
	Messages []ConsumedMessage
	// NextOffset is the queue position after this batch; MaxOffset the
	// queue's end as the broker saw it (lag = MaxOffset - NextOffset).
	NextOffset int64
	MaxOffset  int64
}

// Assignment pulls a fixed set of queues, one goroutine per queue, until
// Close.
type Assignment struct {
	cs    *Consumer
	topic string
	opts  AssignOptions

	// C delivers batches when AssignOptions.Handler is nil; it is closed
	// by Close.
	C  <-chan Batch
	ch chan Batch

	queues []*queueState
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type queueState struct {
	mq        MessageQueue
	next      atomic.Int64 // next offset to read; -1 until resolved
	committed int64        // last committed offset, owned by the commit path (commitMu)
}

// Assign starts reading topic's queues as opts says. ctx bounds the
// initial route lookup only; the Assignment runs until Close.
func (cs *Consumer) Assign(ctx context.Context, topic string, opts AssignOptions) (*Assignment, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	qs := opts.Queues
	if qs == nil {
		snap, err := cs.c.routes.get(ctx, topic)
		if err != nil {
			return nil, err
		}
		qs = snap.subscribe
		if len(qs) == 0 {
			return nil, fmt.Errorf("%w: topic %q has no readable queue", ErrNoRoute, topic)
		}
	}
	a := &Assignment{cs: cs, topic: topic, opts: opts}
	a.ctx, a.cancel = context.WithCancel(cs.c.ctx)
	if opts.Handler == nil {
		a.ch = make(chan Batch, opts.ChannelSize)
		a.C = a.ch
	}
	for _, mq := range qs {
		q := &queueState{mq: mq, committed: -1}
		q.next.Store(-1)
		a.queues = append(a.queues, q)
	}
	for _, q := range a.queues {
		a.wg.Add(1)
		go a.run(q)
	}
	if opts.CommitInterval > 0 {
		a.wg.Add(1)
		go a.commitLoop()
	}
	return a, nil
}

// Queues returns the assigned queues.
func (a *Assignment) Queues() []MessageQueue {
	out := make([]MessageQueue, len(a.queues))
	for i, q := range a.queues {
		out[i] = q.mq
	}
	return out
}

// Offsets returns each queue's next offset to read (-1 while its start
// offset is not resolved yet).
func (a *Assignment) Offsets() map[MessageQueue]int64 {
	m := make(map[MessageQueue]int64, len(a.queues))
	for _, q := range a.queues {
		m[q.mq] = q.next.Load()
	}
	return m
}

// Close stops the pulls (a held long poll is abandoned), waits for the
// queue goroutines, commits the final positions when CommitInterval is
// set, and closes C. The returned error is the final commit's.
func (a *Assignment) Close() error {
	var err error
	a.once.Do(func() {
		a.cancel()
		a.wg.Wait()
		if a.opts.CommitInterval > 0 && !a.cs.c.closed.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), a.cs.c.cfg.SendTimeout)
			err = a.commitAll(ctx)
			cancel()
		}
		if a.ch != nil {
			close(a.ch)
		}
	})
	return err
}

func (a *Assignment) report(mq MessageQueue, err error) {
	if a.opts.OnError != nil {
		a.opts.OnError(mq, err)
	} else {
		a.cs.c.log.Debug("client: assignment", "queue", mq.String(), "err", err)
	}
}

// sleep waits d or until the assignment stops; false when stopped.
func (a *Assignment) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// start resolves the first offset of q.
func (a *Assignment) start(q *queueState) (int64, error) {
	if off, ok := a.opts.Offsets[q.mq]; ok {
		return off, nil
	}
	cs := a.cs
	switch a.opts.Start {
	case StartLast:
		return cs.MaxOffset(a.ctx, q.mq)
	case StartCommitted:
		off, err := cs.QueryOffset(a.ctx, q.mq)
		if err == nil {
			return off, nil
		}
		if !errors.Is(err, ErrNoOffset) {
			return 0, err
		}
	}
	return cs.MinOffset(a.ctx, q.mq)
}

// run is one queue's pull loop.
func (a *Assignment) run(q *queueState) {
	defer a.wg.Done()
	var offset int64
	for {
		off, err := a.start(q)
		if err == nil {
			offset = off
			break
		}
		if a.ctx.Err() != nil {
			return
		}
		a.report(q.mq, fmt.Errorf("start offset: %w", err))
		if !a.sleep(a.opts.IdleBackoff) {
			return
		}
	}
	q.next.Store(offset)
	req := PullRequest{Queue: q.mq, MaxMessages: a.opts.MaxMessages, Suspend: a.opts.Suspend, Filter: a.opts.Filter}
	for a.ctx.Err() == nil {
		req.Offset = offset
		res, err := a.cs.PullWith(a.ctx, req)
		if err != nil {
			if a.ctx.Err() != nil {
				return
			}
			a.report(q.mq, err)
			if !a.sleep(a.opts.IdleBackoff) {
				return
			}
			continue
		}
		switch res.Status {
		case PullFound:
			if len(res.Messages) > 0 {
				b := Batch{Queue: q.mq, Addr: res.Addr, Messages: res.Messages, NextOffset: res.NextBeginOffset, MaxOffset: res.MaxOffset}
				if !a.deliver(b) {
					return
				}
			}
		case PullOffsetIllegal:
			a.report(q.mq, fmt.Errorf("%w: offset %d, queue [%d, %d), continuing at %d",
				ErrOffsetMoved, offset, res.MinOffset, res.MaxOffset, res.NextBeginOffset))
		case PullNoNewMsg:
			if a.opts.Suspend == 0 && !a.sleep(a.opts.IdleBackoff) {
				return
			}
		}
		offset = res.NextBeginOffset
		q.next.Store(offset)
	}
}

// deliver hands b to the Handler or the channel; false when stopped
// first.
func (a *Assignment) deliver(b Batch) bool {
	if a.opts.Handler != nil {
		a.opts.Handler(b)
		return true
	}
	select {
	case a.ch <- b:
		return true
	case <-a.ctx.Done():
		return false
	}
}

func (a *Assignment) commitLoop() {
	defer a.wg.Done()
	t := time.NewTicker(a.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		if err := a.commitAll(a.ctx); err != nil && a.ctx.Err() == nil {
			a.cs.c.log.Debug("client: periodic offset commit", "topic", a.topic, "err", err)
		}
	}
}

// commitAll commits every queue whose position moved since its last
// commit. Called by the commit loop, then once by Close after the loop
// ended, so never concurrently.
func (a *Assignment) commitAll(ctx context.Context) error {
	var errs []error
	for _, q := range a.queues {
		off := q.next.Load()
		if off < 0 || off == q.committed {
			continue
		}
		if err := a.cs.CommitOffset(ctx, q.mq, off); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.mq, err))
			a.report(q.mq, fmt.Errorf("commit offset %d: %w", off, err))
			continue
		}
		q.committed = off
	}
	return errors.Join(errs...)
}
