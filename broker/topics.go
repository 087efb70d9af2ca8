package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/dledgermq/dledgermq/store"
)

// System topic names and prefixes (RocketMQ TopicValidator / MixAll).
// Frozen: clients and stored messages carry them.
const (
	// AutoCreateTopicKey is the template producers fall back to (TBW102).
	AutoCreateTopicKey = "TBW102"
	// ScheduleTopic parks delayed messages, queue = level-1.
	ScheduleTopic = "SCHEDULE_TOPIC_XXXX"
	// TransHalfTopic parks transaction half messages.
	TransHalfTopic = "RMQ_SYS_TRANS_HALF_TOPIC"
	// TransOpHalfTopic records committed/rolled-back half messages.
	TransOpHalfTopic = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	// RetryGroupTopicPrefix + group is a consumer group's retry topic.
	RetryGroupTopicPrefix = "%RETRY%"
	// DLQGroupTopicPrefix + group is a consumer group's dead-letter topic.
	DLQGroupTopicPrefix = "%DLQ%"
	// ScheduleProgressTopic records the delay service's progress: queue
	// level-1 holds one record per delivered batch (body: the next schedule
	// offset), written in the same Raft entry as the batch (schedule.go).
	ScheduleProgressTopic = "DLEDGERMQ_SCHEDULE_PROGRESS"
)

// RetryTopic returns the retry topic of a consumer group.
func RetryTopic(group string) string { return RetryGroupTopicPrefix + group }

// DLQTopic returns the dead-letter topic of a consumer group.
func DLQTopic(group string) string { return DLQGroupTopicPrefix + group }

// isSystemTopic reports topics the broker manages itself.
func isSystemTopic(t string) bool {
	return t == AutoCreateTopicKey || t == ScheduleTopic || t == ScheduleProgressTopic || t == TransHalfTopic || t == TransOpHalfTopic
}

// ensureTopic returns topic's configuration, creating it with the given
// shape when it does not exist (leader only). A created topic is registered
// with the NameServers at once.
func (b *Broker) ensureTopic(ctx context.Context, name string, queues int32, perm int32) (store.TopicConfig, error) {
	if t, ok := b.store.Topic(name); ok {
		return t, nil
	}
	t := store.TopicConfig{Name: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
	defer cancel()
	if err := b.store.CreateTopic(ctx, t); err != nil {
		// A concurrent creation is fine.
		if cur, ok := b.store.Topic(name); ok {
			return cur, nil
		}
		return store.TopicConfig{}, fmt.Errorf("broker: create topic %s: %w", name, err)
	}
	b.log.Info("broker: topic created", "topic", name, "queues", queues, "perm", perm)
	b.reg.trigger()
	if cur, ok := b.store.Topic(name); ok {
		return cur, nil
	}
	return t, nil
}

// sendTopic finds the configuration of a SEND's topic, auto-creating it from
// the TBW102 template when allowed (RocketMQ's
// createTopicInSendMessageMethod); retry topics are always created.
func (b *Broker) sendTopic(ctx context.Context, h *sendHeader) (store.TopicConfig, error) {
	if t, ok := b.store.Topic(h.topic); ok {
		return t, nil
	}
	if strings.HasPrefix(h.topic, RetryGroupTopicPrefix) {
		return b.ensureTopic(ctx, h.topic, int32(b.cfg.RetryQueueNums), PermRead|PermWrite)
	}
	if !b.cfg.AutoCreateTopicEnable {
		return store.TopicConfig{}, fmt.Errorf("%w: %s (autoCreateTopicEnable=false)", ErrTopicNotFound, h.topic)
	}
	tmpl, ok := b.store.Topic(AutoCreateTopicKey)
	if !ok {
		// TBW102 is created right after an election; until then (and if
		// that failed) use the template it would have.
		n := int32(b.cfg.DefaultTopicQueueNums)
		tmpl, ok = store.TopicConfig{Name: AutoCreateTopicKey, ReadQueueNums: n, WriteQueueNums: n, Perm: PermRead | PermWrite | PermInherit}, true
	}
	if h.defaultTopic != "" && h.defaultTopic != AutoCreateTopicKey {
		tmpl, ok = b.store.Topic(h.defaultTopic)
	}
	if !ok || tmpl.Perm&PermInherit == 0 {
		return store.TopicConfig{}, fmt.Errorf("%w: %s (no inheritable template topic %q)", ErrTopicNotFound, h.topic, h.defaultTopic)
	}
	n := tmpl.WriteQueueNums
	if h.defaultTopicQueueNums > 0 && h.defaultTopicQueueNums < n {
		n = h.defaultTopicQueueNums
	}
	return b.ensureTopic(ctx, h.topic, n, tmpl.Perm&^PermInherit)
}
