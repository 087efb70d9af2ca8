package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// Transactions (RocketMQ's two-phase messages). A half message (sysFlag
// TRANSACTION_PREPARED) is stored in RMQ_SYS_TRANS_HALF_TOPIC queue 0 with
// its destination in REAL_TOPIC / REAL_QID (send.go). END_TRANSACTION
// commits it (the real message is stored) or rolls it back; either way an
// op record (body = the half message's queue offset, tag "d") goes to
// RMQ_SYS_TRANS_OP_HALF_TOPIC queue 0 in the same PutMessages call as the
// real message, so a commit is atomic and a half message is resolved once.
//
// Half messages left unresolved longer than TransactionTimeOut are checked
// with their producer group (CHECK_TRANSACTION_STATE, txncheck.go), and
// rolled back after TransactionCheckMax checks.

// opTag marks op records (RocketMQ's REMOVETAG).
const opTag = "d"

// txnState remembers which half messages are resolved, by queue offset. It
// is loaded from the op queue on first use by a leader and dropped when
// leadership is lost (the next leader loads it again).
type txnState struct {
	mu       sync.Mutex
	loaded   bool
	resolved map[int64]bool
	opNext   int64         // op queue offset read up to
	checks   map[int64]int // half queue offset -> checks sent (this leadership)
	from     int64         // half queue offset below which everything is resolved
}

// load reads op records from where it stopped. Caller holds mu.
func (t *txnState) loadLocked(b *Broker) error {
	if !t.loaded {
		t.resolved, t.opNext, t.loaded = make(map[int64]bool), b.store.MinOffset(TransOpHalfTopic, 0), true
		t.checks, t.from = make(map[int64]int), b.store.MinOffset(TransHalfTopic, 0)
	}
	for {
		res, err := b.store.GetMessages("", TransOpHalfTopic, 0, t.opNext, 256, nil)
		if err != nil {
			return err
		}
		if res.Status != store.GetFound {
			if res.NextBeginOffset > t.opNext && res.Status != store.GetOffsetOverflowOne {
				t.opNext = res.NextBeginOffset
				continue
			}
			return nil
		}
		for off := 0; off < len(res.Body); {
			v, err := message.ParseView(res.Body[off:])
			if err != nil {
				return err
			}
			off += v.Len()
			if n, err := strconv.ParseInt(string(v.Body()), 10, 64); err == nil {
				t.resolved[n] = true
			}
		}
		t.opNext = res.NextBeginOffset
	}
}

func (t *txnState) reset() {
	t.mu.Lock()
	t.loaded, t.resolved, t.checks = false, nil, nil
	t.mu.Unlock()
}

// handleEndTransaction serves END_TRANSACTION (37).
func (b *Broker) handleEndTransaction(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	group := h.str("producerGroup", true)
	queueOffset := h.int64("tranStateTableOffset", true)
	phys := h.int64("commitLogOffset", true)
	kind := h.int32("commitOrRollback", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	if kind != message.TransactionCommitType && kind != message.TransactionRollbackType {
		return remoting.NewResponse(req, remoting.Success, "transaction state unknown; nothing done")
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	raw, err := b.store.LookupMessage(phys)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("find prepared transaction message failed: %v", err))
	}
	half, _, err := message.Decode(raw)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	switch {
	case half.Topic != TransHalfTopic:
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("the message at %d is not a half message", phys))
	case half.Properties.Get(message.PropProducerGroup) != group:
		return remoting.NewResponse(req, remoting.SystemError, "the producer group wrong")
	case half.QueueOffset != queueOffset:
		return remoting.NewResponse(req, remoting.SystemError, "the transaction state table offset wrong")
	}

	done, err := b.endHalf(ctx, &half, kind == message.TransactionCommitType)
	if err != nil {
		return b.writeFailed(ctx, c, req, err)
	}
	if done {
		return remoting.NewResponse(req, remoting.Success, "transaction already ended")
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// endHalf resolves a half message once: on commit its real message and the
// op record are stored together, on rollback the op record alone. It
// reports whether the half message was already resolved (nothing done).
func (b *Broker) endHalf(ctx context.Context, half *message.MessageExt, commit bool) (bool, error) {
	b.txn.mu.Lock()
	defer b.txn.mu.Unlock()
	if err := b.txn.loadLocked(b); err != nil {
		return false, fmt.Errorf("broker: load transaction state: %w", err)
	}
	if b.txn.resolved[half.QueueOffset] {
		return true, nil
	}
	op := &message.MessageExt{
		Message: message.Message{Topic: TransOpHalfTopic, Body: []byte(strconv.FormatInt(half.QueueOffset, 10)),
			Properties: message.Properties{{Key: message.PropTags, Value: opTag}}},
		BornTimestamp: b.cfg.Now().UnixMilli(),
		BornHost:      b.addr,
	}
	msgs := []*message.MessageExt{op}
	if commit {
		if rm := realMessage(half); rm != nil {
			rm.Properties.Delete(message.PropRealTopic)
			rm.Properties.Delete(message.PropRealQueueID)
			rm.SysFlag = message.SetTransactionType(rm.SysFlag, message.TransactionCommitType)
			rm.PreparedTransactionOffset = half.CommitLogOffset
			if lvl, ok := half.Properties.Lookup(message.PropDelayTimeLevel); ok {
				// A committed message with a delay waits like any other
				// (RocketMQ applies DELAY to TRANSACTION_COMMIT messages).
				rm.Properties.Set(message.PropDelayTimeLevel, lvl)
				b.applyDelay(rm)
			}
			msgs = []*message.MessageExt{rm, op}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	_, err := b.store.PutMessages(wctx, msgs)
	cancel()
	if err != nil {
		return false, err
	}
	b.txn.resolved[half.QueueOffset] = true
	return false, nil
}
