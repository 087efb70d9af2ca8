package store

import (
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/message"
)

// Topic permission bits (RocketMQ PermName).
const (
	PermPriority int32 = 8
	PermRead     int32 = 4
	PermWrite    int32 = 2
	PermInherit  int32 = 1
)

// TopicFilterType is RocketMQ's topicFilterType.
type TopicFilterType uint8

const (
	// SingleTag: a message carries at most one tag (the default).
	SingleTag TopicFilterType = 0
	// MultiTag: RocketMQ's MULTI_TAG (unused by the Go client).
	MultiTag TopicFilterType = 1
)

func (t TopicFilterType) String() string {
	if t == MultiTag {
		return "MULTI_TAG"
	}
	return "SINGLE_TAG"
}

// MaxGroupLen is the longest consumer/producer group name in bytes
// (RocketMQ's CHARACTER_MAX_LENGTH).
const MaxGroupLen = 255

// MaxQueueNums bounds a topic's read/write queue numbers.
const MaxQueueNums = 1 << 16

// TopicConfig is a topic's replicated configuration (RocketMQ TopicConfig).
type TopicConfig struct {
	Name           string
	ReadQueueNums  int32 // queues consumers read, 1..MaxQueueNums
	WriteQueueNums int32 // queues producers write, 1..MaxQueueNums
	Perm           int32 // Perm* bits; default PermRead|PermWrite
	FilterType     TopicFilterType
	TopicSysFlag   int32
	Order          bool
}

// DefaultTopicConfig is RocketMQ's default for a new topic: 8 read and 8
// write queues (the admin tool's default), read-write.
func DefaultTopicConfig(name string) TopicConfig {
	return TopicConfig{Name: name, ReadQueueNums: 8, WriteQueueNums: 8, Perm: PermRead | PermWrite}
}

// Validate reports every problem.
func (t TopicConfig) Validate() error {
	var errs []error
	if err := message.ValidateTopic(t.Name); err != nil {
		errs = append(errs, fmt.Errorf("%w: topic: %w", ErrInvalid, err))
	}
	if t.ReadQueueNums < 1 || t.ReadQueueNums > MaxQueueNums {
		errs = append(errs, fmt.Errorf("%w: topic %q: ReadQueueNums %d not in [1, %d]", ErrInvalid, t.Name, t.ReadQueueNums, MaxQueueNums))
	}
	if t.WriteQueueNums < 1 || t.WriteQueueNums > MaxQueueNums {
		errs = append(errs, fmt.Errorf("%w: topic %q: WriteQueueNums %d not in [1, %d]", ErrInvalid, t.Name, t.WriteQueueNums, MaxQueueNums))
	}
	if t.Perm&^(PermPriority|PermRead|PermWrite|PermInherit) != 0 {
		errs = append(errs, fmt.Errorf("%w: topic %q: Perm %d has unknown bits", ErrInvalid, t.Name, t.Perm))
	}
	if t.FilterType > MultiTag {
		errs = append(errs, fmt.Errorf("%w: topic %q: FilterType %d unknown", ErrInvalid, t.Name, t.FilterType))
	}
	return errors.Join(errs...)
}

func appendTopicConfig(b []byte, t TopicConfig) []byte {
	b = appendStr(b, t.Name)
	b = appendU32(b, uint32(t.ReadQueueNums))
	b = appendU32(b, uint32(t.WriteQueueNums))
	b = appendU32(b, uint32(t.Perm))
	b = append(b, byte(t.FilterType))
	b = appendU32(b, uint32(t.TopicSysFlag))
	return appendBool(b, t.Order)
}

func readTopicConfig(r *reader) TopicConfig {
	return TopicConfig{
		Name:           r.str("topic name", message.MaxTopicLen),
		ReadQueueNums:  r.i32("read queue nums"),
		WriteQueueNums: r.i32("write queue nums"),
		Perm:           r.i32("perm"),
		FilterType:     TopicFilterType(r.u8("filter type")),
		TopicSysFlag:   r.i32("topic sys flag"),
		Order:          r.boolean("order"),
	}
}

// SubscriptionGroupConfig is a consumer group's replicated configuration
// (RocketMQ SubscriptionGroupConfig).
type SubscriptionGroupConfig struct {
	GroupName                      string
	ConsumeEnable                  bool
	ConsumeFromMinEnable           bool
	ConsumeBroadcastEnable         bool
	RetryQueueNums                 int32
	RetryMaxTimes                  int32
	BrokerID                       int64
	WhichBrokerWhenConsumeSlowly   int64
	NotifyConsumerIDsChangedEnable bool
}

// DefaultSubscriptionGroupConfig returns RocketMQ's defaults for a group.
func DefaultSubscriptionGroupConfig(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true,
	}
}

// Validate reports every problem.
func (g SubscriptionGroupConfig) Validate() error {
	var errs []error
	if err := validateGroup(g.GroupName); err != nil {
		errs = append(errs, err)
	}
	if g.RetryQueueNums < 0 || g.RetryQueueNums > MaxQueueNums {
		errs = append(errs, fmt.Errorf("%w: group %q: RetryQueueNums %d not in [0, %d]", ErrInvalid, g.GroupName, g.RetryQueueNums, MaxQueueNums))
	}
	return errors.Join(errs...)
}

// validateGroup checks a group name: 1..MaxGroupLen bytes of the topic
// character set.
func validateGroup(name string) error {
	if name == "" || len(name) > MaxGroupLen {
		return fmt.Errorf("%w: group name of %d bytes (want 1..%d)", ErrInvalid, len(name), MaxGroupLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("%w: group %q: byte 0x%02x at %d", ErrInvalid, name, c, i)
		}
	}
	return nil
}

func appendGroupConfig(b []byte, g SubscriptionGroupConfig) []byte {
	b = appendStr(b, g.GroupName)
	b = appendBool(b, g.ConsumeEnable)
	b = appendBool(b, g.ConsumeFromMinEnable)
	b = appendBool(b, g.ConsumeBroadcastEnable)
	b = appendU32(b, uint32(g.RetryQueueNums))
	b = appendU32(b, uint32(g.RetryMaxTimes))
	b = appendU64(b, uint64(g.BrokerID))
	b = appendU64(b, uint64(g.WhichBrokerWhenConsumeSlowly))
	return appendBool(b, g.NotifyConsumerIDsChangedEnable)
}

func readGroupConfig(r *reader) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{
		GroupName:                      r.str("group name", MaxGroupLen),
		ConsumeEnable:                  r.boolean("consume enable"),
		ConsumeFromMinEnable:           r.boolean("consume from min enable"),
		ConsumeBroadcastEnable:         r.boolean("consume broadcast enable"),
		RetryQueueNums:                 r.i32("retry queue nums"),
		RetryMaxTimes:                  r.i32("retry max times"),
		BrokerID:                       r.i64("broker id"),
		WhichBrokerWhenConsumeSlowly:   r.i64("which broker when consume slowly"),
		NotifyConsumerIDsChangedEnable: r.boolean("notify consumer ids changed enable"),
	}
}

// OffsetCommit is one consumer-offset update: the group's next offset to
// consume in (Topic, QueueID).
type OffsetCommit struct {
	Group   string
	Topic   string
	QueueID int32
	Offset  int64
}

// Validate reports every problem.
func (c OffsetCommit) Validate() error {
	var errs []error
	if err := validateGroup(c.Group); err != nil {
		errs = append(errs, err)
	}
	if err := message.ValidateTopic(c.Topic); err != nil {
		errs = append(errs, fmt.Errorf("%w: offset commit topic: %w", ErrInvalid, err))
	}
	if c.QueueID < 0 {
		errs = append(errs, fmt.Errorf("%w: offset commit queue id %d", ErrInvalid, c.QueueID))
	}
	if c.Offset < 0 {
		errs = append(errs, fmt.Errorf("%w: offset commit offset %d", ErrInvalid, c.Offset))
	}
	return errors.Join(errs...)
}

// offsetCommitMinSize is the smallest encoded OffsetCommit.
const offsetCommitMinSize = 2 + 1 + 2 + 1 + 4 + 8

func appendOffsetCommit(b []byte, c OffsetCommit) []byte {
	b = appendStr(b, c.Group)
	b = appendStr(b, c.Topic)
	b = appendU32(b, uint32(c.QueueID))
	return appendU64(b, uint64(c.Offset))
}

func readOffsetCommit(r *reader) OffsetCommit {
	return OffsetCommit{
		Group:   r.str("offset group", MaxGroupLen),
		Topic:   r.str("offset topic", message.MaxTopicLen),
		QueueID: r.i32("offset queue id"),
		Offset:  r.i64("offset"),
	}
}
