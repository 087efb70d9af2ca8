package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// PULL_MESSAGE sysFlag bits (REMOTING.md §3.5).
const (
	pullFlagCommitOffset = 1 << 0
	pullFlagSuspend      = 1 << 1
	pullFlagSubscription = 1 << 2
)

// PullStatus is the result class of a pull.
type PullStatus uint8

const (
	// PullFound: messages were returned (possibly none left after the
	// client-side tag filter).
	PullFound PullStatus = 1
	// PullNoNewMsg: the queue has nothing at the offset (PULL_NOT_FOUND, 19),
	// after the long-poll hold if one was asked for.
	PullNoNewMsg PullStatus = 2
	// PullNoMatchedMsg: messages were scanned but none matched the filter
	// (PULL_RETRY_IMMEDIATELY, 20); continue at NextBeginOffset.
	PullNoMatchedMsg PullStatus = 3
	// PullOffsetIllegal: the offset is outside the queue (PULL_OFFSET_MOVED,
	// 21); NextBeginOffset is where to continue.
	PullOffsetIllegal PullStatus = 4
)

func (s PullStatus) String() string {
	switch s {
	case PullFound:
		return "FOUND"
	case PullNoNewMsg:
		return "NO_NEW_MSG"
	case PullNoMatchedMsg:
		return "NO_MATCHED_MSG"
	case PullOffsetIllegal:
		return "OFFSET_ILLEGAL"
	}
	return "PULL_STATUS_INVALID"
}

// ConsumedMessage is a pulled message (body inflated when it was stored
// compressed; FlagCompressed is then cleared in SysFlag) with the time its
// pull response arrived, for end-to-end latency.
type ConsumedMessage struct {
	message.MessageExt
	ReceivedAt time.Time
}

// BornToConsume is the time from the producer stamping the message to its
// arrival here (producer and consumer clocks: same host in bench).
func (m *ConsumedMessage) BornToConsume() time.Duration {
	return m.ReceivedAt.Sub(time.UnixMilli(m.BornTimestamp))
}

// StoreToConsume is the time from the broker storing the message to its
// arrival here (broker and consumer clocks).
func (m *ConsumedMessage) StoreToConsume() time.Duration {
	return m.ReceivedAt.Sub(time.UnixMilli(m.StoreTimestamp))
}

// PullRequest is one PULL_MESSAGE.
type PullRequest struct {
	Queue  MessageQueue
	Offset int64 // first offset wanted
	// MaxMessages is the most messages returned; 0 means 32.
	MaxMessages int
	// Suspend is how long the broker may hold the request when there is
	// nothing at Offset (long polling); 0 answers at once.
	Suspend time.Duration
	// Filter is a tag expression: "TagA || TagB"; "" or "*" for all. It is
	// sent to the broker and applied again here.
	Filter string
	// Commit piggy-backs CommitOffset as the group's committed offset
	// (sysFlag bit 0; the broker stores it when it is the master).
	Commit       bool
	CommitOffset int64
}

// PullResult is the answer to a PullRequest.
type PullResult struct {
	Status   PullStatus
	Messages []ConsumedMessage
	// NextBeginOffset is where the next pull of this queue starts.
	NextBeginOffset int64
	// MinOffset and MaxOffset are the queue's bounds as the broker saw
	// them (MaxOffset: the offset the next message will get).
	MinOffset, MaxOffset int64
	SuggestWhichBrokerID int64
	// Filtered counts messages the client-side tag filter dropped.
	Filtered   int
	Queue      MessageQueue
	Addr       string
	ReceivedAt time.Time
	Latency    time.Duration
}

// Pull reads up to max messages of mq from offset without long polling
// and without a filter.
func (cs *Consumer) Pull(ctx context.Context, mq MessageQueue, offset int64, max int) (PullResult, error) {
	return cs.PullWith(ctx, PullRequest{Queue: mq, Offset: offset, MaxMessages: max})
}

// PullWith sends one PULL_MESSAGE and decodes the answer. The request
// timeout is req.Suspend + Config.PullTimeoutMargin (also bounded by ctx).
// Response codes other than 0/19/20/21 are *BrokerError; a body that does
// not decode is ErrBadResponse.
func (cs *Consumer) PullWith(ctx context.Context, req PullRequest) (PullResult, error) {
	c := cs.c
	max := req.MaxMessages
	if max <= 0 {
		max = 32
	}
	filter := parseFilter(req.Filter)
	sysFlag := pullFlagSubscription
	if req.Suspend > 0 {
		sysFlag |= pullFlagSuspend
	}
	commit := int64(0)
	if req.Commit {
		sysFlag |= pullFlagCommitOffset
		commit = req.CommitOffset
	}
	ext := queueExt(req.Queue, 9)
	ext["consumerGroup"] = cs.group
	ext["queueOffset"] = strconv.FormatInt(req.Offset, 10)
	ext["maxMsgNums"] = strconv.Itoa(max)
	ext["sysFlag"] = strconv.Itoa(sysFlag)
	ext["commitOffset"] = strconv.FormatInt(commit, 10)
	ext["suspendTimeoutMillis"] = strconv.FormatInt(req.Suspend.Milliseconds(), 10)
	ext["subscription"] = filter.expr
	ext["subVersion"] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	ext["expressionType"] = "TAG"

	start := time.Now()
	resp, addr, err := cs.call(ctx, req.Queue, remoting.PullMessage, ext, req.Suspend+c.cfg.PullTimeoutMargin)
	res := PullResult{Queue: req.Queue, Addr: addr}
	if err != nil {
		return res, err
	}
	res.ReceivedAt = time.Now()
	res.Latency = res.ReceivedAt.Sub(start)
	code := resp.ResponseCode()
	switch code {
	case remoting.Success:
		res.Status = PullFound
	case remoting.PullNotFound:
		res.Status = PullNoNewMsg
	case remoting.PullRetryImmediately:
		res.Status = PullNoMatchedMsg
	case remoting.PullOffsetMoved:
		res.Status = PullOffsetIllegal
	default:
		return res, brokerError(remoting.PullMessage, resp, addr)
	}
	c.stats.pulls.Add(1)
	var errs []error
	for _, f := range []struct {
		key string
		dst *int64
	}{
		{"nextBeginOffset", &res.NextBeginOffset},
		{"minOffset", &res.MinOffset},
		{"maxOffset", &res.MaxOffset},
		{"suggestWhichBrokerId", &res.SuggestWhichBrokerID},
	} {
		v, ok, err := resp.ExtInt(f.key)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok && f.key == "nextBeginOffset":
			errs = append(errs, errors.New("nextBeginOffset missing"))
		}
		*f.dst = v
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%w: PULL_MESSAGE from %s (%s): %w", ErrBadResponse, addr, code, errors.Join(errs...))
	}
	if res.Status != PullFound {
		return res, nil
	}
	msgs, err := message.DecodeAll(resp.Body, make([]message.MessageExt, 0, max))
	if err != nil {
		return res, fmt.Errorf("%w: PULL_MESSAGE body from %s: %w", ErrBadResponse, addr, err)
	}
	res.Messages = make([]ConsumedMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if !filter.match(m) {
			res.Filtered++
			continue
		}
		if m.SysFlag&message.FlagCompressed != 0 {
			body, err := message.DecompressBody(nil, m.Body, c.cfg.MaxInflatedBody)
			if err != nil {
				return res, fmt.Errorf("%w: message at offset %d of %s: %w", ErrBadResponse, m.QueueOffset, req.Queue, err)
			}
			m.Body = body
			m.SysFlag &^= message.FlagCompressed
		}
		res.Messages = append(res.Messages, ConsumedMessage{MessageExt: *m, ReceivedAt: res.ReceivedAt})
	}
	c.stats.messagesPulled.Add(uint64(len(res.Messages)))
	return res, nil
}

// tagFilter is a parsed tag expression.
type tagFilter struct {
	expr string   // what is sent: "*" for all
	tags []string // nil: everything matches
}

// parseFilter parses "TagA || TagB" (RocketMQ's TAG expression); "" and
// "*" (alone or among the alternatives) match everything.
func parseFilter(expr string) tagFilter {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return tagFilter{expr: "*"}
	}
	var tags []string
	for _, t := range strings.Split(expr, "||") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return tagFilter{expr: "*"}
		}
		if t != "" {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return tagFilter{expr: "*"}
	}
	return tagFilter{expr: expr, tags: tags}
}

func (f tagFilter) match(m *message.MessageExt) bool {
	if f.tags == nil {
		return true
	}
	tag := m.Tags()
	for _, t := range f.tags {
		if t == tag {
			return true
		}
	}
	return false
}
