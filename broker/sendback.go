package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// handleSendBack serves CONSUMER_SEND_MSG_BACK (36), RocketMQ semantics: the
// original message (found by its physical offset) is re-stored in
// `%RETRY%<group>` with delay level 3+reconsumeTimes (or the level asked
// for), RETRY_TOPIC and ORIGIN_MESSAGE_ID set and reconsumeTimes+1; once
// reconsumeTimes reaches maxReconsumeTimes, or for delayLevel < 0, it goes
// to `%DLQ%<group>` instead (write-only topic, as in RocketMQ). The client
// treats any answer as success, so the retry is stored before SUCCESS.
func (b *Broker) handleSendBack(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	group := h.str("group", true)
	phys := h.int64("offset", true)
	delayLevel := h.int32("delayLevel", false)
	originMsgID := h.str("originMsgId", false)
	maxTimes := h.int32("maxReconsumeTimes", false)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	if maxTimes <= 0 {
		maxTimes = int32(b.cfg.MaxReconsumeTimes)
		if g, ok := b.store.SubscriptionGroup(group); ok && g.RetryMaxTimes > 0 {
			maxTimes = g.RetryMaxTimes
		}
	}
	raw, err := b.store.LookupMessage(phys)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("look message by offset failed, %d: %v", phys, err))
	}
	orig, _, err := message.Decode(raw)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("decode message at %d: %v", phys, err))
	}
	m := b.retryMessage(&orig, originMsgID)
	if orig.ReconsumeTimes >= maxTimes || delayLevel < 0 {
		dlq, err := b.ensureTopic(ctx, DLQTopic(group), int32(b.cfg.RetryQueueNums), PermWrite)
		if err != nil {
			return b.storeErrorResponse(req, err)
		}
		m.Topic, m.QueueID = dlq.Name, rand.Int32N(dlq.WriteQueueNums)
		m.Properties.Delete(message.PropDelayTimeLevel)
	} else {
		retry, err := b.ensureTopic(ctx, RetryTopic(group), int32(b.cfg.RetryQueueNums), PermRead|PermWrite)
		if err != nil {
			return b.storeErrorResponse(req, err)
		}
		if delayLevel == 0 {
			delayLevel = 3 + orig.ReconsumeTimes
		}
		m.Topic, m.QueueID = retry.Name, rand.Int32N(retry.WriteQueueNums)
		m.Properties.Set(message.PropDelayTimeLevel, strconv.Itoa(int(delayLevel)))
		b.applyDelay(m)
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	_, err = b.store.PutMessages(wctx, []*message.MessageExt{m})
	cancel()
	if err != nil {
		return b.writeFailed(ctx, c, req, err)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// retryMessage copies orig for a retry: body, flags, born time and host,
// all properties, plus RETRY_TOPIC (first delivery's topic),
// ORIGIN_MESSAGE_ID and reconsumeTimes+1. Topic and queue are the caller's.
func (b *Broker) retryMessage(orig *message.MessageExt, originMsgID string) *message.MessageExt {
	props := orig.Properties.Clone()
	if _, ok := props.Lookup(message.PropRetryTopic); !ok {
		props.Set(message.PropRetryTopic, orig.Topic)
	}
	if _, ok := props.Lookup(message.PropOriginMessageID); !ok {
		if originMsgID == "" {
			originMsgID = orig.MsgID()
		}
		props.Set(message.PropOriginMessageID, originMsgID)
	}
	// The schedule service routes by these; a retry of a message that was
	// delayed once must not inherit them.
	props.Delete(message.PropRealTopic)
	props.Delete(message.PropRealQueueID)
	props.Delete(message.PropDelayTimeLevel)
	return &message.MessageExt{
		Message:        message.Message{Flag: orig.Flag, Properties: props, Body: orig.Body},
		SysFlag:        orig.SysFlag &^ (message.FlagBornHostV6 | message.FlagStoreHostV6),
		BornTimestamp:  orig.BornTimestamp,
		BornHost:       orig.BornHost,
		ReconsumeTimes: orig.ReconsumeTimes + 1,
	}
}
