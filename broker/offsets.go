package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// Consumer offsets live in the store (replicated through Raft): a commit
// acknowledged by the leader survives a failover.

// commitOffset stores a piggy-backed commit (best effort: the client
// commits again every 5 s).
func (b *Broker) commitOffset(ctx context.Context, group, topic string, queueID int32, offset int64) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	err := b.store.CommitOffsets(ctx, []store.OffsetCommit{{Group: group, Topic: topic, QueueID: queueID, Offset: offset}})
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Debug("broker: piggy-backed offset commit failed", "group", group, "topic", topic, "queue", queueID, "err", err)
	}
}

// handleQueryConsumerOffset serves QUERY_CONSUMER_OFFSET (14). A group
// without a stored offset gets QUERY_NOT_FOUND (22), always: the client then
// applies its own ConsumeFromWhere (RocketMQ instead answers 0 when the
// queue's first message is still in the page cache, a heuristic that makes
// CONSUME_FROM_LAST_OFFSET depend on memory pressure).
func (b *Broker) handleQueryConsumerOffset(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	group, topic, qid := h.str("consumerGroup", true), h.str("topic", true), h.int32("queueId", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	// Only a leader that has applied everything its predecessors committed
	// knows the latest committed offset; a replica a stale route still names
	// master (a follower after a transfer, a node replaying after a restart)
	// would answer an older one and the consumer would go back (found by the
	// jepsen kill-all and transfer-leader scenarios).
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	// And only while it still leads: a leader cut off from the others
	// believes it leads until its lease runs out, while a new one acks
	// commits it never sees (found by the jepsen isolate-leader scenario,
	// JEPSEN.md finding 9). A heartbeat round to a majority rules that out.
	vctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	err := b.store.VerifyLeader(vctx)
	cancel()
	if err != nil {
		if errors.Is(err, store.ErrNotLeader) {
			return b.forwardOrRefuse(ctx, c, req)
		}
		return remoting.NewResponse(req, remoting.SystemError, "leadership not confirmed: "+err.Error())
	}
	off, ok := b.store.ConsumerOffset(group, topic, qid)
	if !ok {
		return remoting.NewResponse(req, remoting.QueryNotFound, "Not found, maybe this group consumer boot first")
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("offset", off)
	return resp
}

// handleUpdateConsumerOffset serves UPDATE_CONSUMER_OFFSET (15). Negative
// offsets (the client's "unknown", -1) are ignored. A follower forwards the
// commit to the leader.
func (b *Broker) handleUpdateConsumerOffset(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	group, topic, qid, off := h.str("consumerGroup", true), h.str("topic", true), h.int32("queueId", true), h.int64("commitOffset", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	if off < 0 {
		return remoting.NewResponse(req, remoting.Success, "negative offset ignored")
	}
	if !b.store.LeaderReady() {
		return b.forwardOrRefuse(ctx, c, req)
	}
	wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	err := b.store.CommitOffsets(wctx, []store.OffsetCommit{{Group: group, Topic: topic, QueueID: qid, Offset: off}})
	if err != nil {
		return b.writeFailed(ctx, c, req, err)
	}
	return remoting.NewResponse(req, remoting.Success, "")
}

// handleGetMaxOffset serves GET_MAX_OFFSET (30): the next offset to be
// written (0 for an unknown queue).
func (b *Broker) handleGetMaxOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	topic, qid := h.str("topic", true), h.int32("queueId", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("offset", b.store.MaxOffset(topic, qid))
	return resp
}

// handleGetMinOffset serves GET_MIN_OFFSET (31).
func (b *Broker) handleGetMinOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	topic, qid := h.str("topic", true), h.int32("queueId", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("offset", b.store.MinOffset(topic, qid))
	return resp
}

// handleSearchOffset serves SEARCH_OFFSET_BY_TIMESTAMP (29).
func (b *Broker) handleSearchOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h := newExt(req)
	topic, qid, ts := h.str("topic", true), h.int32("queueId", true), h.int64("timestamp", true)
	if h.err != nil {
		return remoting.NewResponse(req, remoting.SystemError, h.err.Error())
	}
	off, err := b.store.SearchOffsetByTime(topic, qid, ts)
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, fmt.Sprintf("search offset: %v", err))
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.SetExtInt("offset", off)
	return resp
}
