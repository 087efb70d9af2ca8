package client

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// DefaultConsumerGroup is the group of Client.Consumer("").
const DefaultConsumerGroup = "DEFAULT_CONSUMER"

// Consumer reads queues with PULL_MESSAGE and manages a group's offsets.
// It keeps no state of its own beyond its group and target: offsets are
// the caller's (Pull) or an Assignment's. By default every request goes to
// the master (brokerId 0) of the queue's broker group; OnBroker pins one
// broker address instead (jepsen reads each replica directly). Safe for
// concurrent use.
type Consumer struct {
	c     *Client
	group string
	addr  string // fixed broker address, "" = the queue's master
}

// Consumer returns a consumer for group ("" means DefaultConsumerGroup).
func (c *Client) Consumer(group string) *Consumer {
	if group == "" {
		group = DefaultConsumerGroup
	}
	return &Consumer{c: c, group: group}
}

// OnBroker returns a copy of cs whose requests all go to addr ("ip:port")
// whatever the route says.
func (cs *Consumer) OnBroker(addr string) *Consumer {
	cp := *cs
	cp.addr = addr
	return &cp
}

// Group returns the consumer group.
func (cs *Consumer) Group() string { return cs.group }

// Broker returns the pinned broker address ("" when following the route).
func (cs *Consumer) Broker() string { return cs.addr }

// addrFor returns where requests about mq go: the pinned address or the
// master of mq's broker group (refreshing the route once if it has none).
func (cs *Consumer) addrFor(ctx context.Context, mq MessageQueue) (string, error) {
	if cs.addr != "" {
		return cs.addr, nil
	}
	rc := cs.c.routes
	snap, err := rc.get(ctx, mq.Topic)
	if err != nil {
		return "", err
	}
	if a, ok := snap.route.MasterAddr(mq.BrokerName); ok {
		return a, nil
	}
	if snap, err = rc.refreshOrStale(ctx, mq.Topic); err != nil {
		return "", err
	}
	if a, ok := snap.route.MasterAddr(mq.BrokerName); ok {
		return a, nil
	}
	return "", fmt.Errorf("%w: no master for broker %q of topic %q", ErrNoRoute, mq.BrokerName, mq.Topic)
}

// queueExt is the topic/queueId header most queue requests carry.
func queueExt(mq MessageQueue, extra int) map[string]string {
	m := make(map[string]string, 2+extra)
	m["topic"] = mq.Topic
	m["queueId"] = strconv.Itoa(int(mq.QueueID))
	return m
}

// call sends a queue request and returns the response with the address
// it went to; a transport error on a route-following consumer triggers a
// route refresh for the next call.
func (cs *Consumer) call(ctx context.Context, mq MessageQueue, code remoting.RequestCode, ext map[string]string, timeout time.Duration) (*remoting.Command, string, error) {
	addr, err := cs.addrFor(ctx, mq)
	if err != nil {
		return nil, "", err
	}
	resp, err := cs.c.invoke(ctx, addr, remoting.NewRequest(code, ext, nil), timeout)
	if err != nil {
		if cs.addr == "" && ctx.Err() == nil {
			cs.c.goBackground(func() { _, _ = cs.c.routes.refresh(cs.c.ctx, mq.Topic) })
		}
		return nil, addr, fmt.Errorf("client: %s to %s: %w", code, addr, err)
	}
	return resp, addr, nil
}

// offsetReply reads the `offset` extField of a SUCCESS response.
func offsetReply(code remoting.RequestCode, resp *remoting.Command, addr string) (int64, error) {
	if resp.ResponseCode() != remoting.Success {
		return 0, brokerError(code, resp, addr)
	}
	v, ok, err := resp.ExtInt("offset")
	if err != nil {
		return 0, fmt.Errorf("%w: %s from %s: %w", ErrBadResponse, code, addr, err)
	}
	if !ok {
		return 0, fmt.Errorf("%w: %s from %s: offset missing", ErrBadResponse, code, addr)
	}
	return v, nil
}

// QueryOffset returns the group's committed offset of mq
// (QUERY_CONSUMER_OFFSET, 14): the next offset to consume. ErrNoOffset when
// the broker has none.
func (cs *Consumer) QueryOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	ext := queueExt(mq, 1)
	ext["consumerGroup"] = cs.group
	resp, addr, err := cs.call(ctx, mq, remoting.QueryConsumerOffset, ext, cs.c.cfg.SendTimeout)
	if err != nil {
		return 0, err
	}
	if resp.ResponseCode() == remoting.QueryNotFound {
		return 0, fmt.Errorf("%w: group %q queue %s", ErrNoOffset, cs.group, mq)
	}
	return offsetReply(remoting.QueryConsumerOffset, resp, addr)
}

// CommitOffset stores offset (the next offset to consume) as the group's
// position in mq (UPDATE_CONSUMER_OFFSET, 15) and waits for the broker's
// answer.
func (cs *Consumer) CommitOffset(ctx context.Context, mq MessageQueue, offset int64) error {
	ext := queueExt(mq, 2)
	ext["consumerGroup"] = cs.group
	ext["commitOffset"] = strconv.FormatInt(offset, 10)
	resp, addr, err := cs.call(ctx, mq, remoting.UpdateConsumerOffset, ext, cs.c.cfg.SendTimeout)
	if err != nil {
		return err
	}
	if resp.ResponseCode() != remoting.Success {
		return brokerError(remoting.UpdateConsumerOffset, resp, addr)
	}
	return nil
}

// MaxOffset returns the offset the next message of mq will get
// (GET_MAX_OFFSET, 30).
func (cs *Consumer) MaxOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	return cs.queueOffset(ctx, mq, remoting.GetMaxOffset, nil)
}

// MinOffset returns the oldest offset still stored in mq (GET_MIN_OFFSET, 31).
func (cs *Consumer) MinOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	return cs.queueOffset(ctx, mq, remoting.GetMinOffset, nil)
}

// SearchOffset returns the offset of the first message of mq stored at or
// after t (SEARCH_OFFSET_BY_TIMESTAMP, 29; the broker's exact rule decides
// ties and the ends).
func (cs *Consumer) SearchOffset(ctx context.Context, mq MessageQueue, t time.Time) (int64, error) {
	return cs.queueOffset(ctx, mq, remoting.SearchOffsetByTimestamp, map[string]string{
		"timestamp": strconv.FormatInt(t.UnixMilli(), 10),
	})
}

func (cs *Consumer) queueOffset(ctx context.Context, mq MessageQueue, code remoting.RequestCode, more map[string]string) (int64, error) {
	ext := queueExt(mq, len(more))
	for k, v := range more {
		ext[k] = v
	}
	resp, addr, err := cs.call(ctx, mq, code, ext, cs.c.cfg.SendTimeout)
	if err != nil {
		return 0, err
	}
	return offsetReply(code, resp, addr)
}
