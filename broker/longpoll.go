package broker

import (
	"context"
	"sync"
	"time"
)

// queueKey names one consume queue.
type queueKey struct {
	topic   string
	queueID int32
}

// pullWaiter is one held PULL: it wants messages at or after offset.
type pullWaiter struct {
	offset int64
	ch     chan struct{} // capacity 1; a send wakes the waiter
}

// longPoll parks PULL requests that found nothing until a message arrives in
// their queue (the store's arrival hook calls notify) or their hold time
// passes (RocketMQ's PullRequestHoldService, without the polling: arrivals
// wake waiters directly).
//
// Locking: mu guards waiters; notify never blocks while holding it (the
// wake channels have room for one signal).
type longPoll struct {
	mu      sync.Mutex
	waiters map[queueKey]map[*pullWaiter]struct{}
}

func newLongPoll() *longPoll {
	return &longPoll{waiters: make(map[queueKey]map[*pullWaiter]struct{})}
}

// register parks a waiter for key at offset. The caller must re-check the
// queue after registering (an arrival between its check and the
// registration would otherwise be missed), then wait or cancel.
func (lp *longPoll) register(key queueKey, offset int64) *pullWaiter {
	w := &pullWaiter{offset: offset, ch: make(chan struct{}, 1)}
	lp.mu.Lock()
	m := lp.waiters[key]
	if m == nil {
		m = make(map[*pullWaiter]struct{})
		lp.waiters[key] = m
	}
	m[w] = struct{}{}
	lp.mu.Unlock()
	return w
}

// cancel removes w.
func (lp *longPoll) cancel(key queueKey, w *pullWaiter) {
	lp.mu.Lock()
	if m := lp.waiters[key]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(lp.waiters, key)
		}
	}
	lp.mu.Unlock()
}

// wait blocks until w is woken (true), hold passes or ctx is done (false),
// then cancels w.
func (lp *longPoll) wait(ctx context.Context, key queueKey, w *pullWaiter, hold time.Duration) bool {
	defer lp.cancel(key, w)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-w.ch:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// notify wakes the waiters of (topic, queueID) that wait for an offset below
// maxOffset (the queue's next offset after the arrival); maxOffset < 0 wakes
// all of them.
func (lp *longPoll) notify(topic string, queueID int32, maxOffset int64) {
	key := queueKey{topic, queueID}
	lp.mu.Lock()
	for w := range lp.waiters[key] {
		if maxOffset < 0 || w.offset < maxOffset {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	lp.mu.Unlock()
}

// wakeAll wakes every waiter (leadership change, shutdown).
func (lp *longPoll) wakeAll() {
	lp.mu.Lock()
	for _, m := range lp.waiters {
		for w := range m {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	lp.mu.Unlock()
}

// held returns how many pulls are parked (tests, metrics).
func (lp *longPoll) held() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	n := 0
	for _, m := range lp.waiters {
		n += len(m)
	}
	return n
}
