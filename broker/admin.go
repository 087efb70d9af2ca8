package broker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// handleCreateTopic serves UPDATE_AND_CREATE_TOPIC (17): create or replace
// a topic, then register it with the NameServers at once.
func (b *Broker) handleCreateTopic(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	t := store.TopicConfig{
		Name:           h.str("topic", true),
		ReadQueueNums:  h.int32("readQueueNums", true),
		WriteQueueNums: h.int32("writeQueueNums", true),
		Perm:           h.int32("perm", true),
		TopicSysFlag:   h.int32("topicSysFlag", false),
		Order:          h.bool("order"),
	}
	if req.Ext("topicFilterType") == "MULTI_TAG" {
		t.FilterType = store.MultiTag
	}
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	if isSystemTopic(t.Name) || t.Name == b.cfg.BrokerClusterName {
		return remoting.NewResponse(req, remoting.SystemError,
			fmt.Sprintf("the topic[%s] is conflict with system reserved words", t.Name))
	}
	if err := t.Validate(); err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	if err := b.store.CreateTopic(wctx, t); err != nil {
		return b.storeErrorResponse(req, err)
	}
	b.log.Info("broker: topic created or updated", "topic", t.Name, "read", t.ReadQueueNums, "write", t.WriteQueueNums, "perm", t.Perm)
	b.reg.trigger()
	return remoting.NewResponse(req, remoting.Success, "")
}

// handleDeleteTopic serves DELETE_TOPIC_IN_BROKER (215).
func (b *Broker) handleDeleteTopic(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic := req.Ext("topic")
	if err := message.ValidateTopic(topic); err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	if err := b.store.DeleteTopic(wctx, topic); err != nil {
		return b.storeErrorResponse(req, err)
	}
	b.log.Info("broker: topic deleted", "topic", topic)
	b.reg.trigger()
	return remoting.NewResponse(req, remoting.Success, "")
}

// handleGetAllTopicConfig serves GET_ALL_TOPIC_CONFIG (21).
func (b *Broker) handleGetAllTopicConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := json.Marshal(namesrv.TopicConfigSerializeWrapper{
		TopicConfigTable: b.topicTable(),
		DataVersion:      namesrv.DataVersion{Timestamp: b.reg.started.UnixMilli(), Counter: topicsVersion(b.topicTable())},
	})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// subscriptionGroupJSON is RocketMQ's SubscriptionGroupConfig JSON.
type subscriptionGroupJSON struct {
	GroupName                      string `json:"groupName"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	RetryMaxTimes                  int32  `json:"retryMaxTimes"`
	BrokerID                       int64  `json:"brokerId"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
	NotifyConsumerIdsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
}

// handleGetAllSubscriptionGroups serves GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
func (b *Broker) handleGetAllSubscriptionGroups(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	table := make(map[string]subscriptionGroupJSON)
	for _, g := range b.store.SubscriptionGroups() {
		table[g.GroupName] = subscriptionGroupJSON{
			GroupName: g.GroupName, ConsumeEnable: g.ConsumeEnable, ConsumeFromMinEnable: g.ConsumeFromMinEnable,
			ConsumeBroadcastEnable: g.ConsumeBroadcastEnable, RetryQueueNums: g.RetryQueueNums, RetryMaxTimes: g.RetryMaxTimes,
			BrokerID: g.BrokerID, WhichBrokerWhenConsumeSlowly: g.WhichBrokerWhenConsumeSlowly,
			NotifyConsumerIdsChangedEnable: g.NotifyConsumerIDsChangedEnable,
		}
	}
	body, err := json.Marshal(struct {
		SubscriptionGroupTable map[string]subscriptionGroupJSON `json:"subscriptionGroupTable"`
		DataVersion            namesrv.DataVersion              `json:"dataVersion"`
	}{table, namesrv.DataVersion{Timestamp: b.reg.started.UnixMilli()}})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// handleQueryMessage serves QUERY_MESSAGE (12): messages of a topic by key
// (KEYS or UNIQ_KEY) within a store-time range, through the key index.
func (b *Broker) handleQueryMessage(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	topic, key := h.str("topic", true), h.str("key", true)
	maxNum := int(h.int32("maxNum", true))
	begin, end := h.int64("beginTimestamp", true), h.int64("endTimestamp", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	if maxNum <= 0 {
		maxNum = 32
	}
	res, err := b.store.QueryMessages(topic, key, maxNum, begin, end)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	if res.Count == 0 {
		return remoting.NewResponse(req, remoting.QueryNotFound, "can not find message, maybe time range not correct")
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("indexLastUpdateTimestamp", b.cfg.Now().UnixMilli()) // the index follows applied messages
	resp.SetExtInt("indexLastUpdatePhyoffset", res.IndexLastUpdatePhys)
	b.serveAsStoreHost(res.Body)
	resp.Body = res.Body
	return resp
}

// handleViewMessageByID serves VIEW_MESSAGE_BY_ID (33): ext `offset` is the
// physical offset from an offset msg id.
func (b *Broker) handleViewMessageByID(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	phys := h.int64("offset", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	raw, err := b.store.LookupMessage(phys)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("can not find message by the offset, %d: %v", phys, err))
	}
	b.serveAsStoreHost(raw)
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = raw
	return resp
}

// handleGetEarliestMsgStoreTime serves GET_EARLIEST_MSG_STORETIME (32): the
// store time of the oldest retained message of a queue (0 when empty).
func (b *Broker) handleGetEarliestMsgStoreTime(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	topic, qid := h.str("topic", true), h.int32("queueId", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	var ts int64
	res, err := b.store.GetMessages("", topic, qid, b.store.MinOffset(topic, qid), 1, nil)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	if res.Status == store.GetFound {
		v, err := message.ParseView(res.Body)
		if err != nil {
			return remoting.NewResponse(req, remoting.SystemError, err.Error())
		}
		ts = v.StoreTimestamp()
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("timestamp", ts)
	return resp
}
