package store

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// QueueKey names a message queue.
type QueueKey struct {
	Topic   string
	QueueID int32
}

// offsetKey names one consumer offset.
type offsetKey struct {
	Group   string
	Topic   string
	QueueID int32
}

// topicQueues holds the queue-offset counters of one topic: the next queue
// offset the FSM assigns in each of its queues.
type topicQueues struct {
	name string
	next map[int32]int64
}

// queueState is the FSM's dispatch state: per-queue counters and how far
// messages have been assigned. Only the FSM side (ApplyBatch, Restore,
// reconcile, under Store.fsmMu) writes it. A counter is advanced together
// with the consume-queue Put of its message under mu, so a reader holding
// mu shared sees a queue's counter and its consume queue agree (see
// Store.queueBounds).
type queueState struct {
	mu     sync.RWMutex
	topics map[string]*topicQueues
	// dispatched is the physical end of the last message entry applied:
	// every message with a smaller physical offset has its queue offset.
	// Written under mu; read without it by lookups.
	dispatched atomic.Int64
}

func newQueueState() *queueState { return &queueState{topics: map[string]*topicQueues{}} }

// topicLocked returns the counters of topic (given as bytes, so the lookup
// does not allocate), creating them. Caller holds mu.
func (q *queueState) topicLocked(topic []byte) *topicQueues {
	if t := q.topics[string(topic)]; t != nil {
		return t
	}
	name := string(topic)
	t := &topicQueues{name: name, next: map[int32]int64{}}
	q.topics[name] = t
	return t
}

// nextLocked returns the next queue offset of a queue (0 if never
// written). Caller holds mu.
func (q *queueState) nextLocked(topic string, id int32) (int64, bool) {
	t := q.topics[topic]
	if t == nil {
		return 0, false
	}
	v, ok := t.next[id]
	return v, ok
}

// counters returns a copy of every queue's next offset.
func (q *queueState) counters() map[QueueKey]int64 {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.countersLocked()
}

func (q *queueState) countersLocked() map[QueueKey]int64 {
	m := make(map[QueueKey]int64)
	for _, t := range q.topics {
		for id, n := range t.next {
			m[QueueKey{t.name, id}] = n
		}
	}
	return m
}

// setCountersLocked replaces the counters.
func (q *queueState) setCountersLocked(m map[QueueKey]int64) {
	q.topics = map[string]*topicQueues{}
	for k, n := range m {
		q.topicLocked([]byte(k.Topic)).next[k.QueueID] = n
	}
}

// metaState is the replicated metadata: topics, subscription groups and
// consumer offsets. The FSM goroutine writes it under mu; any goroutine
// reads it.
type metaState struct {
	mu      sync.RWMutex
	topics  map[string]TopicConfig
	groups  map[string]SubscriptionGroupConfig
	offsets map[offsetKey]int64
}

func newMetaState() *metaState {
	return &metaState{
		topics:  map[string]TopicConfig{},
		groups:  map[string]SubscriptionGroupConfig{},
		offsets: map[offsetKey]int64{},
	}
}

// clone returns a deep copy (the values are plain structs).
func (m *metaState) clone() *metaState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return &metaState{topics: maps.Clone(m.topics), groups: maps.Clone(m.groups), offsets: maps.Clone(m.offsets)}
}

// replace swaps in another state's maps.
func (m *metaState) replace(o *metaState) {
	m.mu.Lock()
	m.topics, m.groups, m.offsets = o.topics, o.groups, o.offsets
	m.mu.Unlock()
}

func (m *metaState) topic(name string) (TopicConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.topics[name]
	return t, ok
}

func (m *metaState) topicList() []TopicConfig {
	m.mu.RLock()
	out := slices.Collect(maps.Values(m.topics))
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b TopicConfig) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (m *metaState) group(name string) (SubscriptionGroupConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.groups[name]
	return g, ok
}

func (m *metaState) groupList() []SubscriptionGroupConfig {
	m.mu.RLock()
	out := slices.Collect(maps.Values(m.groups))
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b SubscriptionGroupConfig) int { return cmp.Compare(a.GroupName, b.GroupName) })
	return out
}

func (m *metaState) offset(group, topic string, id int32) (int64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.offsets[offsetKey{group, topic, id}]
	return v, ok
}

// offsetsWhere returns the offsets of the groups group accepts, sorted by
// group, topic and queue.
func (m *metaState) offsetsWhere(group func(string) bool) []OffsetCommit {
	m.mu.RLock()
	var out []OffsetCommit
	for k, v := range m.offsets {
		if group(k.Group) {
			out = append(out, OffsetCommit{Group: k.Group, Topic: k.Topic, QueueID: k.QueueID, Offset: v})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b OffsetCommit) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out
}
