package broker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// txnChecker asks producers about half messages they never ended
// (RocketMQ's TransactionalMessageCheckService). Every
// TransactionCheckInterval the leader scans the half queue from the first
// unresolved offset; each unresolved half message older than
// TransactionTimeOut is sent to a live producer of its group (PGROUP) as
// CHECK_TRANSACTION_STATE (39, oneway), whose answer arrives as an
// END_TRANSACTION with fromTransactionCheck=true. After TransactionCheckMax
// checks it is rolled back. Check counts live in memory: a new leader starts
// counting again (more checks, never fewer).
type txnChecker struct {
	b *Broker

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (tc *txnChecker) start() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.cancel != nil || tc.b.closing() {
		return
	}
	ctx, cancel := context.WithCancel(tc.b.ctx)
	done := make(chan struct{})
	tc.cancel, tc.done = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(tc.b.cfg.TransactionCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			tc.checkOnce(ctx)
		}
	}()
}

func (tc *txnChecker) stop() {
	tc.mu.Lock()
	cancel, done := tc.cancel, tc.done
	tc.cancel, tc.done = nil, nil
	tc.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// checkOnce runs one scan of the half queue.
func (tc *txnChecker) checkOnce(ctx context.Context) {
	b := tc.b
	t := &b.txn
	t.mu.Lock()
	err := t.loadLocked(b)
	from := t.from
	t.mu.Unlock()
	if err != nil {
		b.log.Warn("broker: transaction check: load state", "err", err)
		return
	}
	now := b.cfg.Now()
	offset := from
	for ctx.Err() == nil {
		res, err := b.store.GetMessages("", TransHalfTopic, 0, offset, 32, nil)
		if err != nil {
			b.log.Warn("broker: transaction check: read half queue", "offset", offset, "err", err)
			return
		}
		if res.Status != store.GetFound {
			if res.Status == store.GetOffsetTooSmall && res.NextBeginOffset > offset {
				offset = res.NextBeginOffset
				continue
			}
			break
		}
		stop := false
		for off := 0; off < len(res.Body) && !stop; {
			half, n, err := message.Decode(res.Body[off:])
			if err != nil {
				b.log.Warn("broker: transaction check: decode", "err", err)
				return
			}
			raw := res.Body[off : off+n]
			off += n
			if time.UnixMilli(half.StoreTimestamp).Add(b.cfg.TransactionTimeOut).After(now) {
				stop = true // later half messages are newer still
				break
			}
			tc.checkHalf(ctx, &half, raw)
		}
		offset = res.NextBeginOffset
		if stop {
			break
		}
	}
	// Advance past the resolved prefix.
	t.mu.Lock()
	for t.resolved != nil && t.resolved[t.from] {
		delete(t.resolved, t.from)
		delete(t.checks, t.from)
		t.from++
	}
	t.mu.Unlock()
}

// checkHalf checks or rolls back one half message.
func (tc *txnChecker) checkHalf(ctx context.Context, half *message.MessageExt, raw []byte) {
	b := tc.b
	t := &b.txn
	t.mu.Lock()
	if t.resolved == nil || t.resolved[half.QueueOffset] {
		t.mu.Unlock()
		return
	}
	n := t.checks[half.QueueOffset]
	t.mu.Unlock()
	group := half.Properties.Get(message.PropProducerGroup)
	if n >= b.cfg.TransactionCheckMax {
		if _, err := b.endHalf(ctx, half, false); err != nil {
			b.log.Warn("broker: transaction check: rollback failed", "offset", half.QueueOffset, "err", err)
			return
		}
		b.log.Info("broker: half message rolled back after too many checks", "group", group,
			"offset", half.QueueOffset, "checks", n)
		return
	}
	conn := b.clients.producerConn(group)
	if conn == nil {
		return // nobody to ask; not counted
	}
	// The producer sees the message as sent: real topic and queue.
	view := *half
	view.Topic = half.Properties.Get(message.PropRealTopic)
	if q, err := parseInt32(half.Properties.Get(message.PropRealQueueID)); err == nil {
		view.QueueID = q
	}
	body := raw
	if view.Topic != "" && message.ValidateTopic(view.Topic) == nil {
		body = message.Encode(nil, &view)
	}
	txID := half.Properties.Get(message.PropTransactionID)
	if txID == "" {
		txID = half.UniqKey()
	}
	req := remoting.NewRequest(remoting.CheckTransactionState, map[string]string{
		"tranStateTableOffset": strconv.FormatInt(half.QueueOffset, 10),
		"commitLogOffset":      strconv.FormatInt(half.CommitLogOffset, 10),
		"msgId":                half.UniqKey(),
		"transactionId":        txID,
		"offsetMsgId":          half.OffsetMsgID(),
	}, body)
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	err := conn.InvokeOneway(sctx, req)
	cancel()
	if err != nil {
		b.log.Debug("broker: transaction check: send", "group", group, "err", err)
		return
	}
	t.mu.Lock()
	if t.checks != nil {
		t.checks[half.QueueOffset]++
	}
	t.mu.Unlock()
}
