package broker

import (
	"context"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/store"
)

// MessageStore is exactly what the broker uses of the replicated store.
// *store.Store implements it; the broker's tests run against the real one.
type MessageStore interface {
	// Writes: leader only (store.ErrNotLeader elsewhere).
	PutMessages(ctx context.Context, msgs []*message.MessageExt) ([]store.PutResult, error)
	CommitOffsets(ctx context.Context, commits []store.OffsetCommit) error
	CreateTopic(ctx context.Context, t store.TopicConfig) error
	DeleteTopic(ctx context.Context, name string) error
	UpdateSubscriptionGroup(ctx context.Context, g store.SubscriptionGroupConfig) error

	// Reads: any replica, its applied state.
	GetMessages(group, topic string, queueID int32, offset int64, maxNums int, filter store.MessageFilter) (store.GetResult, error)
	MinOffset(topic string, queueID int32) int64
	MaxOffset(topic string, queueID int32) int64
	SearchOffsetByTime(topic string, queueID int32, ts int64) (int64, error)
	LookupMessage(phys int64) ([]byte, error)
	QueryMessages(topic, key string, maxNum int, begin, end int64) (store.QueryResult, error)
	ConsumerOffset(group, topic string, queueID int32) (int64, bool)
	Topic(name string) (store.TopicConfig, bool)
	Topics() []store.TopicConfig
	SubscriptionGroup(name string) (store.SubscriptionGroupConfig, bool)
	SubscriptionGroups() []store.SubscriptionGroupConfig

	// Hooks and roles.
	OnArrive(fn store.ArriveFunc)
	OnLeaderChange(fn func(dledger.LeaderChange))
	LeaderReady() bool
	// VerifyLeader confirms leadership with a majority before a read that
	// must not be stale (store.ErrNotLeader when it fails).
	VerifyLeader(ctx context.Context) error
	Leader() (id, addr string)

	// Membership changes (leader only) and the group's configuration.
	Members() ([]store.Member, error)
	AddVoter(ctx context.Context, id, addr string) error
	RemoveMember(ctx context.Context, id string) error

	// What metrics and the runtime table read.
	Node() *dledger.Node
	CommitLogBounds() (start, end int64)
	AllConsumerOffsets() []store.OffsetCommit
	EarliestAppendedAt() (time.Time, bool)
	DiskUsedRatio() (float64, bool)

	// Close transfers leadership (on a leader) and stops the store.
	Close() error
}

var _ MessageStore = (*store.Store)(nil)
