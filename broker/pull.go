package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// PULL_MESSAGE sysFlag bits (RocketMQ PullSysFlag). Frozen.
const (
	pullFlagCommitOffset = 1 << 0
	pullFlagSuspend      = 1 << 1
	pullFlagSubscription = 1 << 2
	pullFlagClassFilter  = 1 << 3
)

// pullHeader is PullMessageRequestHeader (REMOTING.md §3.5).
type pullHeader struct {
	group          string
	topic          string
	queueID        int32
	queueOffset    int64
	maxMsgNums     int32
	sysFlag        int32
	commitOffset   int64
	suspendTimeout time.Duration
	subscription   string
	expressionType string
}

func decodePullHeader(req *remoting.Command) (*pullHeader, error) {
	h := &headerReader{req: req}
	ph := &pullHeader{
		group:          h.str("consumerGroup", true),
		topic:          h.str("topic", true),
		queueID:        h.int32("queueId", true),
		queueOffset:    h.int64("queueOffset", true),
		maxMsgNums:     h.int32("maxMsgNums", true),
		sysFlag:        h.int32("sysFlag", true),
		commitOffset:   h.int64("commitOffset", true),
		suspendTimeout: time.Duration(h.int64("suspendTimeoutMillis", true)) * time.Millisecond,
		subscription:   h.str("subscription", false),
		expressionType: h.str("expressionType", false),
	}
	return ph, h.err
}

// handlePull serves PULL_MESSAGE with long polling. It runs on the pull
// executor, so holding it never delays other requests of the connection.
func (b *Broker) handlePull(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := decodePullHeader(req)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	topic, ok := b.store.Topic(h.topic)
	if !ok {
		return b.pullRefusal(req, h, remoting.TopicNotExist,
			fmt.Sprintf("topic[%s] not exist, apply first please!", h.topic))
	}
	if topic.Perm&PermRead == 0 || b.cfg.BrokerPermission&PermRead == 0 {
		return b.pullRefusal(req, h, remoting.NoPermission,
			fmt.Sprintf("the topic[%s] pulling message is forbidden", h.topic))
	}
	if h.queueID < 0 || h.queueID >= topic.ReadQueueNums {
		return b.pullRefusal(req, h, remoting.SystemError,
			fmt.Sprintf("queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d]", h.queueID, h.topic, topic.ReadQueueNums))
	}
	filter := b.pullFilter(h)

	// Piggy-backed commit (sysFlag bit 0), stored by the leader only, and
	// only when it changes something (an idle consumer repeats the same
	// offset on every long-poll round).
	if h.sysFlag&pullFlagCommitOffset != 0 && h.commitOffset >= 0 && b.store.LeaderReady() {
		if cur, ok := b.store.ConsumerOffset(h.group, h.topic, h.queueID); !ok || cur != h.commitOffset {
			b.commitOffset(ctx, h.group, h.topic, h.queueID, h.commitOffset)
		}
	}

	n := int(h.maxMsgNums)
	if n <= 0 || n > b.cfg.PullMaxMsgNums {
		n = b.cfg.PullMaxMsgNums
	}
	key := queueKey{h.topic, h.queueID}
	res, err := b.store.GetMessages(h.group, h.topic, h.queueID, h.queueOffset, n, filter)
	if err != nil {
		return b.pullError(req, h, err)
	}
	code := b.pullCode(&res, h.queueOffset)
	if code == remoting.PullNotFound && h.sysFlag&pullFlagSuspend != 0 {
		hold := b.cfg.ShortPollingTimeMills
		if b.cfg.LongPollingEnable {
			hold = min(h.suspendTimeout, b.cfg.MaxLongPollingTime)
		}
		if hold > 0 {
			// Register before the re-check so an arrival in between wakes us.
			w := b.lp.register(key, h.queueOffset)
			res, err = b.store.GetMessages(h.group, h.topic, h.queueID, h.queueOffset, n, filter)
			if err != nil {
				b.lp.cancel(key, w)
				return b.pullError(req, h, err)
			}
			if b.pullCode(&res, h.queueOffset) == remoting.PullNotFound {
				if !b.lp.wait(ctx, key, w, hold) && ctx.Err() != nil {
					return nil // connection gone
				}
				res, err = b.store.GetMessages(h.group, h.topic, h.queueID, h.queueOffset, n, filter)
				if err != nil {
					return b.pullError(req, h, err)
				}
			} else {
				b.lp.cancel(key, w)
			}
			code = b.pullCode(&res, h.queueOffset)
		}
	}
	resp := remoting.NewResponse(req, code, res.Status.String())
	resp.SetExtInt("nextBeginOffset", res.NextBeginOffset)
	resp.SetExtInt("minOffset", res.MinOffset)
	resp.SetExtInt("maxOffset", res.MaxOffset)
	resp.SetExt("suggestWhichBrokerId", "0")
	if code == remoting.Success {
		b.serveAsStoreHost(res.Body) // REMOTING.md §8 item 15
		resp.Body = res.Body
		b.metrics.pulled(h.topic, b.groupLabel(h.group), res.Count, len(res.Body))
	}
	return resp
}

// pullFilter is the TAG filter of a pull: the request's own expression when
// it carries one (pull consumers), else the group's heartbeat subscription.
// Without either (a pull that beat its group's heartbeat, a follower that has
// not seen it) everything is returned: the client filters by tag again.
func (b *Broker) pullFilter(h *pullHeader) store.MessageFilter {
	var sub *subscriptionData
	if h.sysFlag&pullFlagSubscription != 0 && h.sysFlag&pullFlagClassFilter == 0 {
		sub = subscriptionFromExpression(h.topic, h.subscription, h.expressionType)
	} else {
		sub = b.clients.subscription(h.group, h.topic)
	}
	if sub == nil || sub.all {
		return nil
	}
	codes := make([]int32, len(sub.codes))
	for i, c := range sub.codes {
		codes[i] = int32(c)
	}
	return store.NewTagFilter(codes...)
}

// pullCode maps a store status to the PULL response code (REMOTING.md
// §3.5). On a follower an offset beyond the queue's end usually means the
// replica lags the leader, not that the consumer's offset is wrong: it is
// answered like "caught up" (PULL_NOT_FOUND, held, nextBeginOffset = the
// requested offset) instead of PULL_OFFSET_MOVED, which would make the
// consumer jump back (RocketMQ's slaves likewise never correct offsets).
func (b *Broker) pullCode(res *store.GetResult, offset int64) remoting.ResponseCode {
	ahead := res.Status == store.GetOffsetOverflowBadly || res.Status == store.GetNoMessageInQueue && offset != 0
	if ahead && !b.store.LeaderReady() {
		res.NextBeginOffset = offset
		return remoting.PullNotFound
	}
	return pullCode(res.Status, offset)
}

func pullCode(st store.GetStatus, offset int64) remoting.ResponseCode {
	switch st {
	case store.GetFound:
		return remoting.Success
	case store.GetNoMatchedMessage, store.GetMessageWasRemoving:
		return remoting.PullRetryImmediately
	case store.GetNoMessageInQueue:
		if offset != 0 {
			return remoting.PullOffsetMoved
		}
		return remoting.PullNotFound
	case store.GetOffsetOverflowOne, store.GetOffsetFoundNull:
		return remoting.PullNotFound
	case store.GetOffsetOverflowBadly, store.GetOffsetTooSmall:
		return remoting.PullOffsetMoved
	}
	return remoting.PullNotFound
}

// pullRefusal answers a pull that cannot be served. It carries the four
// offset fields too (the request's offset as nextBeginOffset): a client
// that reads them without checking the code must not jump to offset 0.
func (b *Broker) pullRefusal(req *remoting.Command, h *pullHeader, code remoting.ResponseCode, remark string) *remoting.Command {
	resp := remoting.NewResponse(req, code, remark)
	resp.SetExtInt("nextBeginOffset", h.queueOffset)
	resp.SetExtInt("minOffset", b.store.MinOffset(h.topic, h.queueID))
	resp.SetExtInt("maxOffset", b.store.MaxOffset(h.topic, h.queueID))
	resp.SetExt("suggestWhichBrokerId", "0")
	return resp
}

func (b *Broker) pullError(req *remoting.Command, h *pullHeader, err error) *remoting.Command {
	return b.pullRefusal(req, h, remoting.SystemError, "read failed: "+err.Error())
}
