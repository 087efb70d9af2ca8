package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Producer sends messages. All its sends share the Client's connections:
// one pipelined connection per broker, any number of requests in flight.
//
// Every send stamps a UNIQ_KEY property (kept if the message already has
// one; the same key on every retry), the born timestamp, and compresses a
// single message's body of at least Config.CompressThreshold bytes (sysFlag
// bit 0). The broker records the born host from the connection. Messages
// are not modified; their bodies must not change until the send completes.
//
// Outcomes are three-way (Outcome, OutcomeOf): OK (acknowledged), failed
// (definitely not stored) or unknown (ErrUnknown: a request may have
// reached the broker). Retries re-send the same bytes with the same
// UNIQ_KEY after a route refresh, so an OK after an unknown attempt may
// have stored the message twice (SendResult.MaybeDuplicated).
type Producer struct {
	c *Client
}

// Send sends msg to the queue Config.Selector picks and waits for the
// outcome. ctx bounds the whole operation, retries included; each attempt
// is also bounded by Config.SendTimeout.
func (p *Producer) Send(ctx context.Context, msg *message.Message) (SendResult, error) {
	op, err := p.newSingle(ctx, msg, nil)
	if err != nil {
		return failedResult(msg), err
	}
	return op.runSync()
}

// SendToQueue is Send to a given queue. Retries stay on that queue (on its
// broker group's current master).
func (p *Producer) SendToQueue(ctx context.Context, mq MessageQueue, msg *message.Message) (SendResult, error) {
	op, err := p.newSingle(ctx, msg, &mq)
	if err != nil {
		return failedResult(msg), err
	}
	return op.runSync()
}

// SendAsync starts sending msg and returns; cb is called exactly once with
// the outcome, on a connection's reader goroutine or a retry goroutine: it
// must not block (hand the result to a channel or record it and return).
// SendAsync blocks while Config.MaxAsyncInFlight sends are in flight. It
// returns an error, and never calls cb, when the send cannot start
// (invalid message, closed client, ctx done while waiting for a slot).
// Pipelined sends to one queue may be stored out of order.
func (p *Producer) SendAsync(ctx context.Context, msg *message.Message, cb func(SendResult, error)) error {
	op, err := p.newSingle(ctx, msg, nil)
	if err != nil {
		return err
	}
	return op.runAsync(cb)
}

// SendBatch sends msgs (one topic) as one SEND_BATCH_MESSAGE to one queue:
// all stored, in order, with consecutive queue offsets, or none. Each
// member gets its own UNIQ_KEY (SendResult.MsgIDs). Bodies are not
// compressed. The encoded batch must fit Config.MaxBatchBytes.
func (p *Producer) SendBatch(ctx context.Context, msgs []*message.Message) (SendResult, error) {
	op, err := p.newBatch(ctx, msgs, nil)
	if err != nil {
		return SendResult{Outcome: OutcomeFailed, QueueOffset: -1}, err
	}
	return op.runSync()
}

// SendBatchToQueue is SendBatch to a given queue.
func (p *Producer) SendBatchToQueue(ctx context.Context, mq MessageQueue, msgs []*message.Message) (SendResult, error) {
	op, err := p.newBatch(ctx, msgs, &mq)
	if err != nil {
		return SendResult{Outcome: OutcomeFailed, QueueOffset: -1}, err
	}
	return op.runSync()
}

// SendBatchAsync is SendBatch with SendAsync's callback contract.
func (p *Producer) SendBatchAsync(ctx context.Context, msgs []*message.Message, cb func(SendResult, error)) error {
	op, err := p.newBatch(ctx, msgs, nil)
	if err != nil {
		return err
	}
	return op.runAsync(cb)
}

func failedResult(msg *message.Message) SendResult {
	r := SendResult{Outcome: OutcomeFailed, QueueOffset: -1}
	if msg != nil {
		r.MsgID = msg.UniqKey()
	}
	return r
}

// sendOp is one send operation: the encoded request parts, shared by every
// attempt, and the retry state. Attempts run one at a time (the next is
// started by the completion of the previous), so the fields need no lock.
type sendOp struct {
	p     *Producer
	ctx   context.Context
	start time.Time

	code    remoting.RequestCode
	legacy  bool // SEND_MESSAGE with V1 header names
	topic   string
	body    []byte
	props   string // V2 "i" / V1 "properties"
	sysFlag string
	flag    string
	bornTs  string
	n       int      // messages carried
	uniqs   []string // UNIQ_KEY per message (batch)
	uniq    string   // UNIQ_KEY (single) / first member's
	selMsg  *message.Message
	fixed   *MessageQueue

	attempt     int
	needRefresh bool
	maybeStored bool
	lastBroker  string
	ev          RequestEvent

	res  SendResult
	err  error
	cb   func(SendResult, error)
	done chan struct{} // runSync
	slot bool          // holds an async in-flight slot
}

func (p *Producer) newOp(ctx context.Context, fixed *MessageQueue) *sendOp {
	op := &sendOp{p: p, ctx: ctx, start: time.Now()}
	op.res.QueueOffset = -1
	op.bornTs = strconv.FormatInt(op.start.UnixMilli(), 10)
	if fixed != nil {
		mq := *fixed
		op.fixed = &mq
	}
	return op
}

func (p *Producer) newSingle(ctx context.Context, msg *message.Message, fixed *MessageQueue) (*sendOp, error) {
	c := p.c
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := validateMessage(msg, 0); err != nil {
		return nil, err
	}
	if fixed != nil && fixed.Topic != msg.Topic {
		return nil, fmt.Errorf("%w: queue %s is not of topic %q", ErrInvalidMessage, fixed, msg.Topic)
	}
	op := p.newOp(ctx, fixed)
	op.topic = msg.Topic
	op.selMsg = msg
	op.n = 1
	op.uniq = msg.UniqKey()
	add := ""
	if op.uniq == "" {
		op.uniq = c.ids.Next()
		add = op.uniq
		if err := validateMessage(msg, len(add)); err != nil {
			return nil, err
		}
	}
	op.props = encodeProps(msg, add)
	op.body = msg.Body
	sysFlag := int32(0)
	if t := c.cfg.CompressThreshold; t > 0 && len(msg.Body) >= t {
		z, err := message.CompressBody(nil, msg.Body, c.cfg.CompressLevel)
		if err != nil {
			return nil, fmt.Errorf("%w: compress: %w", ErrInvalidMessage, err)
		}
		op.body = z
		sysFlag |= message.FlagCompressed
	}
	op.sysFlag = strconv.Itoa(int(sysFlag))
	op.flag = strconv.Itoa(int(msg.Flag))
	op.code = remoting.SendMessageV2
	if c.cfg.LegacySendHeader {
		op.code, op.legacy = remoting.SendMessage, true
	}
	op.res.MsgID = op.uniq
	return op, nil
}

func (p *Producer) newBatch(ctx context.Context, msgs []*message.Message, fixed *MessageQueue) (*sendOp, error) {
	c := p.c
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidMessage)
	}
	// Validate (the topic once), then generate the missing UNIQ_KEYs into
	// one string: one allocation for the whole batch.
	topic := ""
	missing := 0
	var idBuf []byte
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("%w: batch message %d is nil", ErrInvalidMessage, i)
		}
		if i == 0 {
			if err := message.ValidateTopic(m.Topic); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
			}
			topic = m.Topic
		} else if m.Topic != topic {
			return nil, fmt.Errorf("%w: batch message %d has topic %q, the first %q", ErrInvalidMessage, i, m.Topic, topic)
		}
		if err := errors.Join(message.ValidateBodySize(len(m.Body)), m.Properties.Validate()); err != nil {
			return nil, fmt.Errorf("%w: batch message %d: %w", ErrInvalidMessage, i, err)
		}
		if m.UniqKey() == "" {
			if idBuf == nil {
				idBuf = make([]byte, 0, uniqKeyLen*(len(msgs)-i))
			}
			missing++
			idBuf, _ = c.ids.NextID().AppendText(idBuf)
		}
	}
	ids := string(idBuf)
	idLen := 0
	if missing > 0 {
		idLen = len(ids) / missing
	}
	uniqs := make([]string, len(msgs))
	adds := make([]string, len(msgs))
	size := 0
	for i, m := range msgs {
		if uniqs[i] = m.UniqKey(); uniqs[i] == "" {
			uniqs[i], ids = ids[:idLen], ids[idLen:]
			adds[i] = uniqs[i]
			if n := m.Properties.EncodedLen() + uniqPropLen(idLen); n > message.MaxPropertiesLen {
				return nil, fmt.Errorf("%w: batch message %d: properties with UNIQ_KEY take %d bytes, limit %d",
					ErrInvalidMessage, i, n, message.MaxPropertiesLen)
			}
		}
		size += batchEntrySize(m, adds[i])
	}
	if size > c.cfg.MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes for %d messages, limit %d", ErrBatchTooLarge, size, len(msgs), c.cfg.MaxBatchBytes)
	}
	if fixed != nil && fixed.Topic != msgs[0].Topic {
		return nil, fmt.Errorf("%w: queue %s is not of topic %q", ErrInvalidMessage, fixed, msgs[0].Topic)
	}
	body := make([]byte, 0, size)
	for i, m := range msgs {
		body = appendBatchEntry(body, m, adds[i])
	}
	op := p.newOp(ctx, fixed)
	op.code = remoting.SendBatchMessage
	op.topic = msgs[0].Topic
	op.selMsg = msgs[0]
	op.n = len(msgs)
	op.body = body
	op.sysFlag = "0"
	op.flag = "0"
	op.uniqs = uniqs
	op.uniq = uniqs[0]
	op.res.MsgID = uniqs[0]
	op.res.MsgIDs = uniqs
	return op, nil
}

func (op *sendOp) runSync() (SendResult, error) {
	op.done = make(chan struct{})
	op.try()
	<-op.done // every path completes: attempts and backoffs are bounded
	return op.res, op.err
}

func (op *sendOp) runAsync(cb func(SendResult, error)) error {
	c := op.p.c
	select {
	case c.asyncSem <- struct{}{}:
	default:
		select {
		case c.asyncSem <- struct{}{}:
		case <-op.ctx.Done():
			return op.ctx.Err()
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
	op.slot = true
	op.cb = cb
	op.try()
	return nil
}

// try runs one attempt. It may block on a route query; the response is
// handled by complete on the connection's reader goroutine.
func (op *sendOp) try() {
	c := op.p.c
	if c.closed.Load() {
		op.end(ErrClosed)
		return
	}
	var snap *routeSnapshot
	var err error
	if op.needRefresh {
		snap, err = c.routes.refreshOrStale(op.ctx, op.topic)
	} else {
		snap, err = c.routes.get(op.ctx, op.topic)
	}
	if err != nil {
		op.fail(err, !errors.Is(err, ErrClosed) && !errors.Is(err, ErrBadRoute))
		return
	}
	mq, addr, err := op.pick(snap)
	if err != nil {
		op.fail(err, true)
		return
	}
	var ext map[string]string
	if op.legacy {
		ext = sendHeaderV1(c.cfg.ProducerGroup, op.topic, mq.QueueID, op.sysFlag, op.bornTs, op.flag, op.props)
	} else {
		ext = sendHeaderV2(c.cfg.ProducerGroup, op.topic, mq.QueueID, op.sysFlag, op.bornTs, op.flag, op.props,
			op.code == remoting.SendBatchMessage)
	}
	req := remoting.NewRequest(op.code, ext, op.body)
	op.res.Queue, op.res.BrokerAddr = mq, addr
	op.ev = RequestEvent{Code: op.code, Addr: addr, Messages: op.n, Bytes: len(op.body), Start: time.Now()}
	actx, cancel := context.WithTimeout(op.ctx, c.cfg.SendTimeout)
	err = c.pool.InvokeAsync(actx, addr, req, func(resp *remoting.Command, err error) {
		cancel()
		op.complete(mq, addr, resp, err)
	})
	if err != nil {
		// Not queued for writing: this attempt certainly did not store.
		cancel()
		c.observe(&op.ev, nil, err)
		op.lastBroker = mq.BrokerName
		op.fail(fmt.Errorf("send to %s: %w", addr, err), !c.closed.Load())
	}
}

// pick chooses the queue and its master address for this attempt.
func (op *sendOp) pick(snap *routeSnapshot) (MessageQueue, string, error) {
	if op.fixed != nil {
		addr, ok := snap.route.MasterAddr(op.fixed.BrokerName)
		if !ok {
			return MessageQueue{}, "", fmt.Errorf("%w: no master for broker %q of topic %q", ErrNoRoute, op.fixed.BrokerName, op.topic)
		}
		return *op.fixed, addr, nil
	}
	qs := snap.publish
	if len(qs) == 0 {
		return MessageQueue{}, "", fmt.Errorf("%w: topic %q has no writable queue with a master", ErrNoRoute, op.topic)
	}
	i := op.p.c.cfg.Selector.Select(op.selMsg, qs, op.attempt, op.lastBroker) % len(qs)
	if i < 0 {
		i += len(qs)
	}
	mq := qs[i]
	addr, _ := snap.route.MasterAddr(mq.BrokerName)
	return mq, addr, nil
}

// complete handles an attempt's response or transport error.
func (op *sendOp) complete(mq MessageQueue, addr string, resp *remoting.Command, err error) {
	c := op.p.c
	c.observe(&op.ev, resp, err)
	if err != nil {
		op.lastBroker = mq.BrokerName
		if errors.Is(err, remoting.ErrEncode) {
			op.fail(fmt.Errorf("send to %s: %w", addr, err), false) // never written
			return
		}
		op.maybeStored = true
		op.fail(fmt.Errorf("send to %s: %w", addr, err), !c.closed.Load())
		return
	}
	code := resp.ResponseCode()
	if status, ok := sendStatusOf(code); ok {
		if err := parseSendResponse(&op.res, resp, status, mq, op.n); err != nil {
			c.log.Warn("client: stored, but the response is incomplete", "addr", addr, "err", err)
		}
		op.end(nil)
		return
	}
	op.lastBroker = mq.BrokerName
	if code == remoting.SystemError {
		// The broker answers SYSTEM_ERROR both for requests it refused and
		// for writes it proposed but could not see committed (leadership
		// lost, shutdown, timeout): the message may be stored.
		op.maybeStored = true
	}
	op.fail(brokerError(op.code, resp, addr), retryableCode(code))
}

// retryableCode: another attempt (after a route refresh: a new leader) may
// succeed. All but SYSTEM_ERROR mean the broker stored nothing.
func retryableCode(code remoting.ResponseCode) bool {
	switch code {
	case remoting.SystemError, remoting.SystemBusy, remoting.ServiceNotAvailable,
		remoting.NoPermission, remoting.TopicNotExist:
		return true
	}
	return false
}

// fail ends the attempt with err and retries when allowed.
func (op *sendOp) fail(err error, retryable bool) {
	c := op.p.c
	op.err = err
	if !retryable || op.attempt >= c.cfg.Retries || op.ctx.Err() != nil {
		op.end(err)
		return
	}
	op.attempt++
	op.needRefresh = true
	c.stats.sendRetries.Add(1)
	delay := c.cfg.RetryBackoff << (op.attempt - 1)
	if delay > c.cfg.MaxRetryBackoff || delay < 0 {
		delay = c.cfg.MaxRetryBackoff
	}
	c.log.Debug("client: send retry", "topic", op.topic, "attempt", op.attempt, "in", delay, "err", err)
	if !c.goBackground(func() {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-op.ctx.Done():
				op.end(err)
				return
			case <-c.ctx.Done():
				op.end(fmt.Errorf("%w: %w", ErrClosed, err))
				return
			}
		}
		op.try()
	}) {
		op.end(fmt.Errorf("%w: %w", ErrClosed, err))
	}
}

// end finishes the operation and reports it.
func (op *sendOp) end(err error) {
	c := op.p.c
	r := &op.res
	r.Attempts = op.attempt + 1
	r.Latency = time.Since(op.start)
	switch {
	case err == nil:
		r.Outcome = OutcomeOK
		r.MaybeDuplicated = op.maybeStored
		c.stats.sendsOK.Add(1)
		c.stats.messagesSent.Add(uint64(op.n))
	case op.maybeStored:
		err = fmt.Errorf("%w: %w", ErrUnknown, err)
		r.Outcome = OutcomeUnknown
		r.Status = 0
		c.stats.sendsUnknown.Add(1)
	default:
		r.Outcome = OutcomeFailed
		r.Status = 0
		c.stats.sendsFailed.Add(1)
	}
	op.err = err
	if op.slot {
		<-c.asyncSem
	}
	if op.done != nil {
		close(op.done)
		return
	}
	op.cb(*r, err)
}
