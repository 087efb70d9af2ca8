package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/message"
)

// BatchOptions configures a BatchingProducer.
type BatchOptions struct {
	// MaxMessages is the most messages in one SEND_BATCH. Default 128.
	MaxMessages int
	// MaxBytes is the most encoded bytes in one SEND_BATCH; a single
	// message larger than this is sent alone. At most Config.MaxBatchBytes.
	// Default 1 MiB.
	MaxBytes int
	// Linger is how long a queue's first waiting message may wait for
	// company before its batch is sent anyway. 0 sends as soon as the queue
	// has a free in-flight slot, so batches form only while earlier ones
	// are in flight (no added latency when idle). Default 0.
	Linger time.Duration
	// MaxInFlight is the number of batches per queue in flight at once.
	// 1 keeps the queue's messages in the order Send was called (the
	// broker serves one connection's requests concurrently, so two batches
	// in flight to one queue may be stored in either order). Default 1.
	MaxInFlight int
}

// DefaultBatchOptions returns the defaults documented on BatchOptions.
func DefaultBatchOptions() BatchOptions {
	return BatchOptions{MaxMessages: 128, MaxBytes: 1 << 20, MaxInFlight: 1}
}

// Validate reports every invalid field.
func (o BatchOptions) Validate() error {
	var errs []error
	if o.MaxMessages < 1 {
		errs = append(errs, fmt.Errorf("MaxMessages %d < 1", o.MaxMessages))
	}
	if o.MaxBytes < 1 || o.MaxBytes > message.MaxBodySize {
		errs = append(errs, fmt.Errorf("MaxBytes %d outside 1..%d", o.MaxBytes, message.MaxBodySize))
	}
	if o.Linger < 0 {
		errs = append(errs, fmt.Errorf("Linger %v is negative", o.Linger))
	}
	if o.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("MaxInFlight %d < 1", o.MaxInFlight))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: batch options: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// BatchingProducer coalesces concurrent sends into SEND_BATCH_MESSAGE
// requests, one stream of batches per queue, bounded by MaxMessages,
// MaxBytes and Linger: the bench tool's high-throughput mode. Each message
// still gets its own SendResult (its UNIQ_KEY, queue offset and offset msg
// id) and its own outcome, which is its batch's. Queues are chosen per
// message by Config.Selector, so ByShardingKey keeps a key's messages in
// one queue; with MaxInFlight 1 they are stored in Send order.
//
// Unlike Producer.Send, bodies are never compressed (batch members cannot
// be).
type BatchingProducer struct {
	p    *Producer
	opts BatchOptions

	mu     sync.Mutex
	queues map[MessageQueue]*batchQueue
	closed bool
	wg     sync.WaitGroup // one per message not yet completed
}

// batchQueue is the waiting messages and in-flight count of one queue.
// All fields are guarded by BatchingProducer.mu.
type batchQueue struct {
	mq       MessageQueue
	pending  []*batchItem
	bytes    int
	inflight int
	timer    *time.Timer // linger timer, nil when not armed
	timerGen uint64      // identifies the armed timer; a stale one does nothing
	expired  bool        // the linger timer fired (or a flush was forced)
}

type batchItem struct {
	msg      *message.Message
	size     int
	cb       func(SendResult, error)
	enqueued time.Time
	state    uint8 // itemWaiting / itemSent / itemCancelled, guarded by mu
}

const (
	itemWaiting uint8 = iota
	itemSent
	itemCancelled
)

// uniqKeyLen is the length of the UNIQ_KEY values our generator makes
// (IPv4 form); used to size batches before the keys exist.
const uniqKeyLen = 32

// NewBatchingProducer returns a batching producer on c.
func (c *Client) NewBatchingProducer(opts BatchOptions) (*BatchingProducer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxBytes > c.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: batch MaxBytes %d above Config.MaxBatchBytes %d", ErrInvalidConfig, opts.MaxBytes, c.cfg.MaxBatchBytes)
	}
	return &BatchingProducer{p: c.producer, opts: opts, queues: make(map[MessageQueue]*batchQueue)}, nil
}

// Send queues msg for the next batch of its queue and waits for the
// batch's outcome. When ctx ends first, a message not yet sent is
// withdrawn (OutcomeFailed) and one in flight is reported OutcomeUnknown.
func (b *BatchingProducer) Send(ctx context.Context, msg *message.Message) (SendResult, error) {
	type done struct {
		r   SendResult
		err error
	}
	ch := make(chan done, 1)
	it, err := b.enqueue(ctx, msg, func(r SendResult, err error) { ch <- done{r, err} })
	if err != nil {
		return failedResult(msg), err
	}
	select {
	case d := <-ch:
		return d.r, d.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	withdrawn := it.state == itemWaiting
	if withdrawn {
		it.state = itemCancelled
	}
	b.mu.Unlock()
	if withdrawn {
		b.wg.Done()
		return failedResult(msg), ctx.Err()
	}
	select {
	case d := <-ch: // completed meanwhile
		return d.r, d.err
	default:
	}
	r := failedResult(msg)
	r.Outcome = OutcomeUnknown
	return r, fmt.Errorf("%w: %w", ErrUnknown, ctx.Err())
}

// SendAsync queues msg and returns; cb is called exactly once with the
// outcome, on a connection's reader goroutine: it must not block. It
// returns an error (and never calls cb) when msg is invalid, its route
// cannot be found within ctx, or the producer is closed.
func (b *BatchingProducer) SendAsync(ctx context.Context, msg *message.Message, cb func(SendResult, error)) error {
	_, err := b.enqueue(ctx, msg, cb)
	return err
}

func (b *BatchingProducer) enqueue(ctx context.Context, msg *message.Message, cb func(SendResult, error)) (*batchItem, error) {
	c := b.p.c
	add := 0
	if msg != nil && msg.UniqKey() == "" {
		add = uniqKeyLen
	}
	if err := validateMessage(msg, add); err != nil {
		return nil, err
	}
	snap, err := c.routes.get(ctx, msg.Topic)
	if err != nil {
		return nil, err
	}
	if len(snap.publish) == 0 {
		return nil, fmt.Errorf("%w: topic %q has no writable queue with a master", ErrNoRoute, msg.Topic)
	}
	i := c.cfg.Selector.Select(msg, snap.publish, 0, "") % len(snap.publish)
	if i < 0 {
		i += len(snap.publish)
	}
	mq := snap.publish[i]
	size := batchEntrySize(msg, "")
	if add > 0 {
		size += uniqPropLen(add)
	}
	if size > c.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: message of %d bytes, limit %d", ErrBatchTooLarge, size, c.cfg.MaxBatchBytes)
	}
	it := &batchItem{msg: msg, size: size, cb: cb, enqueued: time.Now()}

	b.mu.Lock()
	if b.closed || c.closed.Load() {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	q := b.queues[mq]
	if q == nil {
		q = &batchQueue{mq: mq}
		b.queues[mq] = q
	}
	b.wg.Add(1)
	q.pending = append(q.pending, it)
	q.bytes += size
	batches := b.flushLocked(q)
	b.mu.Unlock()
	b.launch(q.mq, batches)
	return it, nil
}

// full reports whether q's waiting messages fill a batch.
func (b *BatchingProducer) full(q *batchQueue) bool {
	return len(q.pending) >= b.opts.MaxMessages || q.bytes >= b.opts.MaxBytes
}

// flushLocked takes the batches q may send now (free in-flight slots, and
// the batch full, lingered enough, or Linger 0) and arms the linger timer
// for what stays.
func (b *BatchingProducer) flushLocked(q *batchQueue) [][]*batchItem {
	var out [][]*batchItem
	for q.inflight < b.opts.MaxInFlight && len(q.pending) > 0 {
		if b.opts.Linger > 0 && !q.expired && !b.full(q) && !b.closed {
			break
		}
		var batch []*batchItem
		bytes, n := 0, 0
		for n < len(q.pending) && len(batch) < b.opts.MaxMessages {
			it := q.pending[n]
			if it.state == itemCancelled {
				n++
				q.bytes -= it.size
				continue
			}
			if len(batch) > 0 && bytes+it.size > b.opts.MaxBytes {
				break
			}
			it.state = itemSent
			batch = append(batch, it)
			bytes += it.size
			n++
		}
		q.bytes -= bytes
		clear(q.pending[:n])
		q.pending = q.pending[n:]
		if len(batch) == 0 {
			continue
		}
		q.inflight++
		q.expired = false
		out = append(out, batch)
	}
	if len(q.pending) == 0 {
		q.pending = nil // let the backing array go
	}
	if b.opts.Linger > 0 && len(q.pending) > 0 && !q.expired {
		// The linger counts from the oldest waiting message.
		if q.timer != nil && len(out) > 0 {
			q.timer.Stop()
			q.timer = nil
		}
		if q.timer == nil {
			wait := max(0, b.opts.Linger-time.Since(q.pending[0].enqueued))
			q.timerGen++
			gen := q.timerGen
			q.timer = time.AfterFunc(wait, func() {
				b.mu.Lock()
				if q.timerGen != gen {
					b.mu.Unlock()
					return
				}
				q.timer = nil
				q.expired = true
				batches := b.flushLocked(q)
				b.mu.Unlock()
				b.launch(q.mq, batches)
			})
		}
	}
	return out
}

// launch sends batches to mq; completions are handled by done.
func (b *BatchingProducer) launch(mq MessageQueue, batches [][]*batchItem) {
	c := b.p.c
	for _, batch := range batches {
		msgs := make([]*message.Message, len(batch))
		for i, it := range batch {
			msgs[i] = it.msg
		}
		op, err := b.p.newBatch(c.ctx, msgs, &mq)
		if err != nil {
			b.done(mq, batch, SendResult{Outcome: OutcomeFailed, QueueOffset: -1}, err)
			continue
		}
		op.cb = func(r SendResult, err error) { b.done(mq, batch, r, err) }
		op.try()
	}
}

// done distributes a batch's outcome to its messages and sends what the
// freed slot allows, on a fresh goroutine: done may run on a connection's
// reader, which must never wait for its own connection's write queue.
func (b *BatchingProducer) done(mq MessageQueue, batch []*batchItem, r SendResult, err error) {
	now := time.Now()
	for i, it := range batch {
		mr := r
		mr.MsgIDs, mr.OffsetMsgIDs = nil, nil
		if i < len(r.MsgIDs) {
			mr.MsgID = r.MsgIDs[i]
		}
		if i < len(r.OffsetMsgIDs) {
			mr.OffsetMsgID = r.OffsetMsgIDs[i]
		} else if i > 0 {
			mr.OffsetMsgID = ""
		}
		if r.QueueOffset >= 0 {
			mr.QueueOffset = r.QueueOffset + int64(i)
		}
		mr.Latency = now.Sub(it.enqueued)
		it.cb(mr, err)
		b.wg.Done()
	}
	b.mu.Lock()
	q := b.queues[mq]
	q.inflight--
	batches := b.flushLocked(q)
	b.mu.Unlock()
	if len(batches) > 0 && !b.p.c.goBackground(func() { b.launch(mq, batches) }) {
		for _, batch := range batches {
			b.done(mq, batch, SendResult{Outcome: OutcomeFailed, QueueOffset: -1}, ErrClosed)
		}
	}
}

// Flush sends every waiting message now, ignoring Linger (in-flight limits
// still apply). It does not wait.
func (b *BatchingProducer) Flush() {
	b.mu.Lock()
	type work struct {
		mq      MessageQueue
		batches [][]*batchItem
	}
	var ws []work
	for _, q := range b.queues {
		if len(q.pending) == 0 {
			continue
		}
		q.expired = true
		if q.timer != nil {
			q.timer.Stop()
			q.timer = nil
			q.timerGen++
		}
		if bs := b.flushLocked(q); len(bs) > 0 {
			ws = append(ws, work{q.mq, bs})
		}
	}
	b.mu.Unlock()
	for _, w := range ws {
		b.launch(w.mq, w.batches)
	}
}

// Close stops accepting messages, sends every waiting one and waits until
// all have an outcome (bounded by the send timeouts and retries).
func (b *BatchingProducer) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.Flush()
	b.wg.Wait()
	return nil
}
