package client

import (
	"sync/atomic"

	"github.com/dledgermq/dledgermq/message"
)

// QueueSelector picks the queue of a send that does not name one.
//
// queues is the topic's publish-queue list (never empty, sorted by broker
// name and queue id, shared: do not modify it). attempt is 0 for the first
// try; lastBroker is the broker name the previous attempt failed on ("" on
// the first). For a batch, msg is its first message. Select returns an index
// into queues; out-of-range results are reduced modulo len(queues).
// Implementations must be safe for concurrent use.
type QueueSelector interface {
	Select(msg *message.Message, queues []MessageQueue, attempt int, lastBroker string) int
}

// SelectorFunc adapts a function to QueueSelector.
type SelectorFunc func(msg *message.Message, queues []MessageQueue, attempt int, lastBroker string) int

// Select calls f.
func (f SelectorFunc) Select(msg *message.Message, queues []MessageQueue, attempt int, lastBroker string) int {
	return f(msg, queues, attempt, lastBroker)
}

var (
	_ QueueSelector = SelectorFunc(nil)
	_ QueueSelector = (*roundRobin)(nil)
	_ QueueSelector = (*byKey)(nil)
)

// RoundRobin returns a selector that cycles through the queues and, on a
// retry, skips queues of the broker that just failed when another broker
// has queues (RocketMQ's default strategy, without its latency tracking).
func RoundRobin() QueueSelector { return &roundRobin{} }

type roundRobin struct{ n atomic.Uint64 }

func (r *roundRobin) Select(_ *message.Message, queues []MessageQueue, _ int, lastBroker string) int {
	i := int(r.n.Add(1) % uint64(len(queues)))
	if lastBroker == "" {
		return i
	}
	for k := range queues {
		j := (i + k) % len(queues)
		if queues[j].BrokerName != lastBroker {
			return j
		}
	}
	return i
}

// ByShardingKey returns a selector that sends every message with the same
// key to the same queue (while the queue list is unchanged), so that
// messages of one key sent one after another keep their order: the key is
// the SHARDING_KEY property, else the KEYS property; messages with neither
// fall back to round robin. Retries go to the same queue: order beats
// availability. Pipelined sends (SendAsync without waiting) may still be
// reordered by the broker, which serves one connection's requests
// concurrently.
func ByShardingKey() QueueSelector { return &byKey{} }

type byKey struct{ rr roundRobin }

func (b *byKey) Select(msg *message.Message, queues []MessageQueue, attempt int, lastBroker string) int {
	key := msg.Properties.Get(message.PropShardingKey)
	if key == "" {
		key = msg.Keys()
	}
	if key == "" {
		return b.rr.Select(msg, queues, attempt, lastBroker)
	}
	return int(KeyHash(key) % uint32(len(queues)))
}

// KeyHash is the hash ByShardingKey uses (32-bit FNV-1a), exported so a
// checker can compute which queue a key maps to.
func KeyHash(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}
