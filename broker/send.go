package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// handleSend serves SEND_MESSAGE (10), SEND_MESSAGE_V2 (310),
// SEND_BATCH_MESSAGE (320) and SEND_REPLY_MESSAGE(_V2) (324/325).
func (b *Broker) handleSend(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := decodeSendHeader(req)
	if err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	if resp := b.checkSend(req, h); resp != nil {
		return resp
	}
	topic, err := b.sendTopic(ctx, h)
	if err != nil {
		if errors.Is(err, ErrTopicNotFound) {
			return remoting.NewResponse(req, remoting.TopicNotExist, err.Error())
		}
		return b.storeErrorResponse(req, err)
	}
	if topic.Perm&PermWrite == 0 || b.cfg.BrokerPermission&PermWrite == 0 {
		return remoting.NewResponse(req, remoting.NoPermission,
			fmt.Sprintf("the topic[%s] sending message is forbidden", h.topic))
	}
	queueID := h.queueID
	if queueID < 0 {
		queueID = rand.Int32N(topic.WriteQueueNums)
	}
	if queueID >= max(topic.ReadQueueNums, topic.WriteQueueNums) {
		return remoting.NewResponse(req, remoting.SystemError,
			fmt.Sprintf("request queueId[%d] is illegal, topic %s has %d write queues", queueID, h.topic, topic.WriteQueueNums))
	}
	bornHost := b.bornHost(c, req)

	var msgs []*message.MessageExt
	if h.batch {
		msgs, err = b.batchMessages(req, h, queueID, bornHost)
	} else {
		var m *message.MessageExt
		m, err = b.singleMessage(ctx, req, h, queueID, bornHost)
		msgs = []*message.MessageExt{m}
	}
	if err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	res, err := b.store.PutMessages(wctx, msgs)
	cancel()
	if err != nil {
		return b.writeFailed(ctx, c, req, err)
	}
	b.metrics.stored(msgs)
	return b.sendResponse(req, h, queueID, msgs, res)
}

// checkSend applies RocketMQ's message checks (msgCheck): the topic name,
// the body and properties limits. nil means the request may proceed.
func (b *Broker) checkSend(req *remoting.Command, h *sendHeader) *remoting.Command {
	if err := message.ValidateTopic(h.topic); err != nil {
		return remoting.NewResponse(req, remoting.MessageIllegal, err.Error())
	}
	if isSystemTopic(h.topic) {
		return remoting.NewResponse(req, remoting.MessageIllegal,
			fmt.Sprintf("the topic[%s] is conflict with system reserved words", h.topic))
	}
	if len(req.Body) > b.cfg.MaxMessageSize {
		return remoting.NewResponse(req, remoting.MessageIllegal,
			fmt.Sprintf("message body of %d bytes exceeds maxMessageSize %d", len(req.Body), b.cfg.MaxMessageSize))
	}
	if len(h.properties) > message.MaxPropertiesLen {
		return remoting.NewResponse(req, remoting.MessageIllegal,
			fmt.Sprintf("properties of %d bytes exceed %d", len(h.properties), message.MaxPropertiesLen))
	}
	return nil
}

// bornHost is the producer's address: the connection's peer, or, for a
// request a follower forwarded, the peer the follower saw.
func (b *Broker) bornHost(c *remoting.Conn, req *remoting.Command) netip.AddrPort {
	if s := req.Ext(extForwardedBornHost); s != "" && req.Ext(extForwarded) != "" {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap
		}
	}
	return addrPortOf(c.RemoteAddr())
}

// addrPortOf converts a net.Addr to an IPv4-preferring AddrPort.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// singleMessage builds the message of a non-batch SEND, routing it to its
// DLQ, the transaction half topic or the schedule topic when it must wait.
func (b *Broker) singleMessage(ctx context.Context, req *remoting.Command, h *sendHeader, queueID int32, bornHost netip.AddrPort) (*message.MessageExt, error) {
	props := message.ParseProperties(h.properties)
	props.Set(message.PropCluster, b.cfg.BrokerClusterName)
	m := &message.MessageExt{
		Message:        message.Message{Topic: h.topic, Flag: h.flag, Properties: props, Body: req.Body},
		QueueID:        queueID,
		SysFlag:        h.sysFlag &^ (message.FlagBornHostV6 | message.FlagStoreHostV6),
		BornTimestamp:  h.bornTimestamp,
		BornHost:       bornHost,
		ReconsumeTimes: h.reconsumeTimes,
	}
	// A consumer that could not send a message back re-sends it to its
	// retry topic itself; exhausted retries go to the DLQ (RocketMQ's
	// handleRetryAndDLQ).
	if group, ok := strings.CutPrefix(h.topic, RetryGroupTopicPrefix); ok {
		maxTimes := h.maxReconsumeTimes
		if maxTimes <= 0 {
			maxTimes = int32(b.cfg.MaxReconsumeTimes)
		}
		if h.reconsumeTimes >= maxTimes {
			dlq, err := b.ensureTopic(ctx, DLQTopic(group), int32(b.cfg.RetryQueueNums), PermWrite)
			if err != nil {
				return nil, err
			}
			m.Topic, m.QueueID = dlq.Name, rand.Int32N(dlq.WriteQueueNums)
			m.Properties.Delete(message.PropDelayTimeLevel)
			return m, nil
		}
	}
	switch message.TransactionType(m.SysFlag) {
	case message.TransactionPreparedType:
		b.parkHalf(m)
		return m, nil
	case message.TransactionRollbackType:
		return nil, fmt.Errorf("%w: a send cannot carry a rollback transaction flag", ErrBadRequest)
	}
	b.applyDelay(m)
	return m, nil
}

// applyDelay moves a message with a DELAY level to the schedule topic
// (queue level-1), keeping its destination in REAL_TOPIC / REAL_QID.
func (b *Broker) applyDelay(m *message.MessageExt) {
	lvl, err := strconv.Atoi(m.Properties.Get(message.PropDelayTimeLevel))
	if err != nil || lvl <= 0 {
		return
	}
	lvl = min(lvl, len(b.delays))
	m.Properties.Set(message.PropDelayTimeLevel, strconv.Itoa(lvl))
	m.Properties.Set(message.PropRealTopic, m.Topic)
	m.Properties.Set(message.PropRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = ScheduleTopic, int32(lvl-1)
}

// parkHalf moves a transaction half message to the half topic.
func (b *Broker) parkHalf(m *message.MessageExt) {
	m.Properties.Set(message.PropRealTopic, m.Topic)
	m.Properties.Set(message.PropRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.SysFlag = message.SetTransactionType(m.SysFlag, message.TransactionNotType)
	m.Topic, m.QueueID = TransHalfTopic, 0
}

// batchMessages decodes a SEND_BATCH_MESSAGE body: every message goes to
// the request's topic and queue. Batches with DELAY, to retry topics or
// transactional are refused, as RocketMQ does.
func (b *Broker) batchMessages(req *remoting.Command, h *sendHeader, queueID int32, bornHost netip.AddrPort) ([]*message.MessageExt, error) {
	if strings.HasPrefix(h.topic, RetryGroupTopicPrefix) {
		return nil, fmt.Errorf("%w: batch messages are not supported for retry topic %s", ErrBadRequest, h.topic)
	}
	if message.TransactionType(h.sysFlag) != message.TransactionNotType {
		return nil, fmt.Errorf("%w: batch messages cannot be transactional", ErrBadRequest)
	}
	decoded, err := message.DecodeBatch(req.Body, nil)
	if err != nil {
		return nil, err
	}
	msgs := make([]*message.MessageExt, len(decoded))
	for i := range decoded {
		d := &decoded[i]
		if _, ok := d.Properties.Lookup(message.PropDelayTimeLevel); ok {
			return nil, fmt.Errorf("%w: batch message %d has a DELAY level; delayed batches are not supported", ErrBadRequest, i)
		}
		d.Properties.Set(message.PropCluster, b.cfg.BrokerClusterName)
		msgs[i] = &message.MessageExt{
			Message:        message.Message{Topic: h.topic, Flag: d.Flag, Properties: d.Properties, Body: d.Body},
			QueueID:        queueID,
			SysFlag:        h.sysFlag &^ (message.FlagBornHostV6 | message.FlagStoreHostV6),
			BornTimestamp:  h.bornTimestamp,
			BornHost:       bornHost,
			ReconsumeTimes: h.reconsumeTimes,
		}
	}
	return msgs, nil
}

// sendResponse is SUCCESS with msgId (comma-joined for a batch), queueId,
// queueOffset (of the first message), MSG_REGION and TRACE_ON.
func (b *Broker) sendResponse(req *remoting.Command, h *sendHeader, queueID int32, msgs []*message.MessageExt, res []store.PutResult) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.Success, "")
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = r.MsgID
	}
	resp.SetExt("msgId", strings.Join(ids, ","))
	// A delayed or half message reports the queue the producer chose.
	resp.SetExtInt("queueId", int64(queueID))
	resp.SetExtInt("queueOffset", res[0].QueueOffset)
	resp.SetExt("MSG_REGION", b.cfg.RegionID)
	resp.SetExt("TRACE_ON", strconv.FormatBool(b.cfg.TraceOn))
	if !h.batch && msgs[0].Topic == TransHalfTopic {
		resp.SetExt("transactionId", msgs[0].UniqKey())
	}
	return resp
}

// writeFailed answers a write the store did not take. One it refused
// before proposing (ErrNotLeader alone: nothing was written) goes to the
// leader, as a follower's would; any other error is answered by
// storeErrorResponse.
func (b *Broker) writeFailed(ctx context.Context, c *remoting.Conn, req *remoting.Command, err error) *remoting.Command {
	if errors.Is(err, store.ErrNotLeader) && !errors.Is(err, store.ErrLeadershipLost) {
		return b.forwardOrRefuse(ctx, c, req)
	}
	return b.storeErrorResponse(req, err)
}

// storeErrorResponse maps a store error to a response code the client
// handles (storeErrorCode), with the error as the remark.
func (b *Broker) storeErrorResponse(req *remoting.Command, err error) *remoting.Command {
	code, remark := storeErrorCode(err), err.Error()
	switch code {
	case remoting.ServiceNotAvailable:
		remark = b.notLeaderRemark()
	case remoting.SystemError:
		switch {
		case errors.Is(err, store.ErrLeadershipLost):
			remark = "leadership lost, the write may or may not be stored: " + remark
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			remark = "store write timed out, the write may or may not be stored: " + remark
		default:
			b.log.Warn("broker: store error", "code", req.RequestCode(), "err", err)
		}
	}
	return remoting.NewResponse(req, code, remark)
}

// storeErrorCode is the response code for a failed store write. The codes
// carry the write's outcome to the producer: SERVICE_NOT_AVAILABLE and
// SYSTEM_BUSY say nothing was written (retry, elsewhere or later),
// SYSTEM_ERROR that the write may be stored (store.ErrLeadershipLost, a
// timeout after proposing, anything unexpected), MESSAGE_ILLEGAL that the
// request itself is bad.
func storeErrorCode(err error) remoting.ResponseCode {
	switch {
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrTooLarge), errors.Is(err, ErrBadRequest):
		return remoting.MessageIllegal
	case errors.Is(err, store.ErrLeadershipLost):
		return remoting.SystemError
	case errors.Is(err, store.ErrNotLeader), errors.Is(err, store.ErrClosed), errors.Is(err, ErrClosed):
		return remoting.ServiceNotAvailable
	case errors.Is(err, store.ErrBusy):
		return remoting.SystemBusy
	}
	return remoting.SystemError
}

// notLeaderRemark names the leader for a refused write.
func (b *Broker) notLeaderRemark() string {
	id, addr := b.store.Leader()
	if id == "" {
		return fmt.Sprintf("broker %s (%s) is not the leader of %s; no leader elected", b.addrStr, b.cfg.BrokerName, b.cfg.BrokerName)
	}
	return fmt.Sprintf("broker %s is not the leader of %s; leader is %s (raft %s)", b.addrStr, b.cfg.BrokerName, id, addr)
}
