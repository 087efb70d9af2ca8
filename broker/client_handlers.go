package broker

import (
	"context"
	"encoding/json"

	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// handleHeartbeat serves HEART_BEAT (34): group membership keyed by
// ClientID with this connection, subscriptions, and (on the leader) the
// subscription group config and `%RETRY%<group>` topic of every consumer
// group. Membership changes are pushed to the group's members.
func (b *Broker) handleHeartbeat(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	hb, err := parseHeartbeat(req.Body)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	changed := b.clients.heartbeat(c, req, hb, b.cfg.Now())
	if b.store.LeaderReady() {
		for i := range hb.ConsumerDataSet {
			b.ensureConsumerGroup(ctx, hb.ConsumerDataSet[i].GroupName)
		}
	}
	if len(changed) > 0 {
		b.log.Info("broker: consumer group membership changed", "groups", changed, "client", hb.ClientID)
		b.notifyConsumerIDsChanged(changed)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// ensureConsumerGroup creates a group's subscription config (when
// autoCreateSubscriptionGroup) and retry topic if missing. Failures are
// logged: the next heartbeat tries again.
func (b *Broker) ensureConsumerGroup(ctx context.Context, group string) {
	if group == "" {
		return
	}
	if _, ok := b.store.SubscriptionGroup(group); !ok && b.cfg.AutoCreateSubscriptionGroup {
		g := store.DefaultSubscriptionGroupConfig(group)
		g.RetryQueueNums = int32(b.cfg.RetryQueueNums)
		g.RetryMaxTimes = int32(b.cfg.MaxReconsumeTimes)
		wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
		if err := b.store.UpdateSubscriptionGroup(wctx, g); err != nil {
			b.log.Debug("broker: create subscription group failed", "group", group, "err", err)
		}
		cancel()
	}
	if _, err := b.ensureTopic(ctx, RetryTopic(group), int32(b.cfg.RetryQueueNums), PermRead|PermWrite); err != nil {
		b.log.Debug("broker: create retry topic failed", "group", group, "err", err)
	}
}

// handleUnregisterClient serves UNREGISTER_CLIENT (35), sent by Java
// clients on shutdown.
func (b *Broker) handleUnregisterClient(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	changed := b.clients.unregister(req.Ext("clientID"), req.Ext("producerGroup"), req.Ext("consumerGroup"))
	b.notifyConsumerIDsChanged(changed)
	return remoting.NewResponse(req, remoting.Success, "")
}

// handleGetConsumerList serves GET_CONSUMER_LIST_BY_GROUP (38). An unknown
// or empty group gets SUCCESS with an empty list (the Go client reads the
// body regardless of the code).
func (b *Broker) handleGetConsumerList(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	ids := b.clients.consumerIDs(req.Ext("consumerGroup"))
	if ids == nil {
		ids = []string{}
	}
	body, err := json.Marshal(struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}{ids})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}
