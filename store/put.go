package store

import (
	"context"
	"fmt"

	"github.com/dledgermq/dledgermq/message"
)

// PutResult says where a stored message went.
type PutResult struct {
	QueueID     int32
	QueueOffset int64 // the message's offset in its queue
	Phys        int64 // its physical (commit-log) offset
	// MsgID is the offset msg id: StoreHost and Phys in upper-case hex
	// (32 characters for an IPv4 store host).
	MsgID string
}

// PutMessages stores the messages of one SEND or SEND_BATCH request and
// returns where each went, once they are committed on a majority and
// applied on this replica. It works on the leader only (ErrNotLeader
// elsewhere).
//
// The caller (the broker) fills the producer's fields (topic, queue id,
// flag, properties, body, sysFlag, born timestamp and host, reconsume
// times). PutMessages stamps on a copy what only the leader may decide: the
// store timestamp (Config.Clock), StoreHost, the body CRC; QUEUEOFFSET and
// PHYSICALOFFSET are written as 0 and patched when the message is read,
// because the FSM assigns queue offsets in log order (DESIGN.md decision
// 2). The messages are not modified.
//
// With Config.GroupCommit, concurrent calls share Raft entries (see
// batcher.go). The messages of one call always stay together in one entry,
// in order, so a batch gets consecutive queue offsets when it targets one
// queue. ctx bounds the wait; a call abandoned after its entry was proposed
// may still be stored.
func (s *Store) PutMessages(ctx context.Context, msgs []*message.MessageExt) ([]PutResult, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrInvalid)
	}
	if len(msgs) > maxEntryItems {
		return nil, fmt.Errorf("%w: %d messages in one call, limit %d", ErrInvalid, len(msgs), maxEntryItems)
	}
	if !s.node.IsLeader() {
		return nil, ErrNotLeader
	}
	now := s.cfg.Clock().UnixMilli()
	size := entryHeaderLen
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", ErrInvalid, i, err)
		}
		if m.QueueID < 0 {
			return nil, fmt.Errorf("%w: message %d: queue id %d", ErrInvalid, i, m.QueueID)
		}
		size += message.EncodedSize(m)
	}
	if size > s.maxEntry {
		return nil, fmt.Errorf("%w: %d bytes of messages, a commit-log record takes %d", ErrTooLarge, size, s.maxEntry)
	}
	data := make([]byte, entryHeaderLen, size)
	for _, m := range msgs {
		c := *m
		c.StoreTimestamp = now
		c.StoreHost = s.cfg.StoreHost
		c.BodyCRC = message.BodyCRC(c.Body)
		c.QueueOffset, c.CommitLogOffset = 0, 0
		data = message.Encode(data, &c)
	}

	var (
		res   any
		first int
		err   error
	)
	if s.cfg.GroupCommit {
		res, first, err = s.msgBatcher.do(ctx, newRequest(data, len(msgs)))
	} else {
		putEntryHeader(data, cmdMessages, len(msgs))
		res, err = s.proposeDirect(ctx, data)
	}
	if err != nil {
		return nil, err
	}
	br, ok := res.(*msgBatchResult)
	if !ok {
		return nil, fmt.Errorf("%w: message entry applied with result %T", ErrEntryFormat, res)
	}
	if first+len(msgs) > len(br.pos) {
		return nil, fmt.Errorf("%w: entry applied %d of its messages: %w", ErrEntryFormat, len(br.pos), br.err)
	}
	out := make([]PutResult, len(msgs))
	var idBuf []byte
	for i, p := range br.pos[first : first+len(msgs)] {
		if p.QueueOffset < 0 {
			return nil, fmt.Errorf("%w: message %d was not given a queue offset", ErrInvalid, i)
		}
		idBuf = message.AppendOffsetMsgID(idBuf[:0], s.cfg.StoreHost, p.Phys)
		out[i] = PutResult{QueueID: msgs[i].QueueID, QueueOffset: p.QueueOffset, Phys: p.Phys, MsgID: string(idBuf)}
	}
	return out, nil
}
