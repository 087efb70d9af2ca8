package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/message"
)

// Replicated metadata. Writes go through Raft (leader only, ErrNotLeader
// elsewhere) and return once applied on this replica; reads look at this
// replica's applied state.

// CreateTopic creates or replaces a topic's configuration.
func (s *Store) CreateTopic(ctx context.Context, t TopicConfig) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return s.proposeMeta(ctx, encodePutTopic(t))
}

// DeleteTopic removes a topic's configuration. Its queues, their offsets
// and the consumer offsets are kept (package doc, "Topics"): a topic
// created again with the same name continues its queue offsets.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	if err := message.ValidateTopic(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.proposeMeta(ctx, encodeDeleteTopic(name))
}

// Topic returns a topic's configuration.
func (s *Store) Topic(name string) (TopicConfig, bool) { return s.meta.topic(name) }

// Topics returns every topic configuration, sorted by name.
func (s *Store) Topics() []TopicConfig { return s.meta.topicList() }

// UpdateSubscriptionGroup creates or replaces a group's configuration.
func (s *Store) UpdateSubscriptionGroup(ctx context.Context, g SubscriptionGroupConfig) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return s.proposeMeta(ctx, encodePutGroup(g))
}

// DeleteSubscriptionGroup removes a group's configuration (its consumer
// offsets are kept, as RocketMQ 4.x does).
func (s *Store) DeleteSubscriptionGroup(ctx context.Context, name string) error {
	if err := validateGroup(name); err != nil {
		return err
	}
	return s.proposeMeta(ctx, encodeDeleteGroup(name))
}

// SubscriptionGroup returns a group's configuration.
func (s *Store) SubscriptionGroup(name string) (SubscriptionGroupConfig, bool) {
	return s.meta.group(name)
}

// SubscriptionGroups returns every group configuration, sorted by name.
func (s *Store) SubscriptionGroups() []SubscriptionGroupConfig { return s.meta.groupList() }

// CommitOffset sets a group's consume offset in a queue (RocketMQ's
// commitOffset: the value replaces the previous one, even if smaller). See
// CommitOffsets.
func (s *Store) CommitOffset(ctx context.Context, group, topic string, queueID int32, offset int64) error {
	return s.CommitOffsets(ctx, []OffsetCommit{{Group: group, Topic: topic, QueueID: queueID, Offset: offset}})
}

// CommitOffsets sets several consume offsets in one Raft entry; concurrent
// calls are packed together like messages. A nil error means the offsets
// are committed on a majority: no later leader serves an older value (see
// the package doc, "Consumer offsets"). Negative offsets are rejected with
// ErrInvalid (the broker ignores the client's -1, REMOTING.md §3.6).
func (s *Store) CommitOffsets(ctx context.Context, commits []OffsetCommit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(commits) == 0 {
		return nil
	}
	if len(commits) > maxEntryItems {
		return fmt.Errorf("%w: %d offset commits in one call, limit %d", ErrInvalid, len(commits), maxEntryItems)
	}
	var errs []error
	for _, c := range commits {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !s.node.IsLeader() {
		return ErrNotLeader
	}
	data := make([]byte, entryHeaderLen, entryHeaderLen+len(commits)*48)
	for _, c := range commits {
		data = appendOffsetCommit(data, c)
	}
	_, _, err := s.offBatcher.do(ctx, newRequest(data, len(commits)))
	return err
}

// VerifyLeader confirms, with a heartbeat round to a majority, that this
// replica still leads: after it returns nil, every write acknowledged by
// any leader before the call is applied here, so a read of the applied
// state is not stale (a leader cut off from the others keeps believing it
// leads until its lease runs out). ErrNotLeader when it does not lead (or
// no longer does); bounded by ctx and by the node stopping.
func (s *Store) VerifyLeader(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.node.IsLeader() {
		return ErrNotLeader
	}
	how, err := s.awaitRaft(ctx, s.node.VerifyLeader)
	switch {
	case how == raftTimedOut:
		return fmt.Errorf("store: leadership not confirmed: %w", err)
	case how == raftStopped:
		return ErrClosed
	case err != nil:
		return fmt.Errorf("%w: leadership not confirmed: %w", ErrNotLeader, err)
	}
	return nil
}

// ConsumerOffset returns a group's committed offset in a queue.
func (s *Store) ConsumerOffset(group, topic string, queueID int32) (int64, bool) {
	return s.meta.offset(group, topic, queueID)
}

// ConsumerOffsets returns every committed offset of a group, sorted by topic
// and queue.
func (s *Store) ConsumerOffsets(group string) []OffsetCommit {
	return s.meta.offsetsWhere(func(g string) bool { return g == group })
}

// AllConsumerOffsets returns every committed offset of every group, sorted
// by group, topic and queue.
func (s *Store) AllConsumerOffsets() []OffsetCommit {
	return s.meta.offsetsWhere(func(string) bool { return true })
}

// proposeMeta proposes a metadata entry and returns its apply result.
func (s *Store) proposeMeta(ctx context.Context, data []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.node.IsLeader() {
		return ErrNotLeader
	}
	res, err := s.proposeDirect(ctx, data)
	if err != nil {
		return err
	}
	if e, ok := res.(error); ok && e != nil {
		return e
	}
	return nil
}
