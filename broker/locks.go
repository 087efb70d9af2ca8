package broker

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// Queue locks for orderly consumption (RocketMQ's RebalanceLockManager):
// LOCK_BATCH_MQ (41) grants a client the queues that are free, expired, or
// already its own; UNLOCK_BATCH_MQ (42) releases them. Locks live in the
// leader's memory (as on a RocketMQ master); followers forward both
// requests. A lock expires after lockLease without renewal (clients renew
// every 20 s).

// lockLease is RocketMQ's rebalance lock max live time.
const lockLease = 60 * time.Second

// messageQueue is a queue as the lock bodies spell it.
type messageQueue struct {
	Topic      string `json:"topic"`
	BrokerName string `json:"brokerName"`
	QueueID    int    `json:"queueId"`
}

type lockBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []messageQueue `json:"mqSet"`
}

type lockEntry struct {
	clientID string
	renewed  time.Time
}

// lockTable is the leader's lock state; mu guards it.
type lockTable struct {
	mu    sync.Mutex
	locks map[string]map[messageQueue]*lockEntry // group -> queue -> holder
}

// lock grants what it can and returns the granted queues.
func (t *lockTable) lock(group, clientID string, mqs []messageQueue, now time.Time) []messageQueue {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.locks == nil {
		t.locks = make(map[string]map[messageQueue]*lockEntry)
	}
	g := t.locks[group]
	if g == nil {
		g = make(map[messageQueue]*lockEntry)
		t.locks[group] = g
	}
	granted := []messageQueue{}
	for _, mq := range mqs {
		e := g[mq]
		if e == nil || e.clientID == clientID || now.Sub(e.renewed) > lockLease {
			g[mq] = &lockEntry{clientID: clientID, renewed: now}
			granted = append(granted, mq)
		}
	}
	return granted
}

// unlock releases the queues clientID holds.
func (t *lockTable) unlock(group, clientID string, mqs []messageQueue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.locks[group]
	for _, mq := range mqs {
		if e := g[mq]; e != nil && e.clientID == clientID {
			delete(g, mq)
		}
	}
}

// reset drops every lock (leadership lost).
func (t *lockTable) reset() {
	t.mu.Lock()
	t.locks = nil
	t.mu.Unlock()
}

func (b *Broker) handleLockBatch(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	var body lockBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return remoting.NewResponse(req, remoting.SystemError, "lock body: "+err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	granted := b.locks.lock(body.ConsumerGroup, body.ClientID, body.MQSet, b.cfg.Now())
	out, err := json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{granted})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = out
	return resp
}

func (b *Broker) handleUnlockBatch(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	var body lockBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return remoting.NewResponse(req, remoting.SystemError, "unlock body: "+err.Error())
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return remoting.NewResponse(req, remoting.Success, "")
}
