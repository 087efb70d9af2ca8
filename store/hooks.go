package store

import (
	"sync"
	"sync/atomic"

	"github.com/dledgermq/dledgermq/dledger"
)

// ArriveFunc is called after messages are dispatched to queue (topic,
// queueID), whose max offset (next offset to be written) is now maxOffset.
type ArriveFunc func(topic string, queueID int32, maxOffset int64)

// hooks holds the registered callbacks. Registration is rare; calls read a
// copy-on-write slice without locking.
type hooks struct {
	mu     sync.Mutex
	arrive atomic.Pointer[[]ArriveFunc]
	leader atomic.Pointer[[]func(dledger.LeaderChange)]
}

// OnArrive registers fn to run after every applied batch of messages, once
// per queue that received messages, on every replica (the broker wakes its
// long-polling pulls with it). It also runs for every queue after a
// snapshot restore rebuilt the derived state. Callbacks run on the FSM
// goroutine, in registration order: they must return quickly (hand off,
// never block on the store's writes).
func (s *Store) OnArrive(fn ArriveFunc) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var cur []ArriveFunc
	if p := s.hooks.arrive.Load(); p != nil {
		cur = *p
	}
	next := append(append([]ArriveFunc(nil), cur...), fn)
	s.hooks.arrive.Store(&next)
}

// OnLeaderChange registers fn for leadership changes of this replica (see
// dledger.Node.OnLeaderChange). A change that makes this replica the leader
// is reported only after a Raft barrier: everything committed before it
// has been applied, so metadata and consumer offsets read on the new leader
// are complete (never older than an acknowledged write). Losing leadership
// is reported at once. Callbacks run on one goroutine, in order.
func (s *Store) OnLeaderChange(fn func(dledger.LeaderChange)) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var cur []func(dledger.LeaderChange)
	if p := s.hooks.leader.Load(); p != nil {
		cur = *p
	}
	next := append(append([]func(dledger.LeaderChange){}, cur...), fn)
	s.hooks.leader.Store(&next)
}

// noteArrivalLocked records that queue (topic, qid) now ends at max.
// Caller holds fsmMu.
func (s *Store) noteArrivalLocked(topic string, qid int32, max int64) {
	if s.arrivals == nil {
		s.arrivals = map[QueueKey]int64{}
	}
	s.arrivals[QueueKey{topic, qid}] = max
}

// takeArrivalsLocked returns the arrivals recorded since the last call.
// Caller holds fsmMu.
func (s *Store) takeArrivalsLocked() map[QueueKey]int64 {
	if len(s.arrivals) == 0 {
		return nil
	}
	a := s.arrivals
	s.arrivals = nil
	return a
}

// allArrivalsLocked returns every queue with its current max offset.
func (s *Store) allArrivalsLocked() map[QueueKey]int64 {
	s.arrivals = nil
	return s.qs.counters()
}

func (s *Store) fireArrivals(a map[QueueKey]int64) {
	if len(a) == 0 {
		return
	}
	p := s.hooks.arrive.Load()
	if p == nil {
		return
	}
	for k, max := range a {
		for _, fn := range *p {
			fn(k.Topic, k.QueueID, max)
		}
	}
}

// onNodeLeaderChange is registered with the node: it runs the barrier
// before reporting a new leadership and forwards the change.
func (s *Store) onNodeLeaderChange(ch dledger.LeaderChange) {
	if ch.IsLeader {
		if err := s.barrier(s.cfg.LeaderBarrierTimeout); err != nil {
			s.logger.Warn("store: barrier after election failed; not reporting leadership", "term", ch.Term, "err", err)
			return
		}
		if !s.node.IsLeader() || s.node.Term() != ch.Term {
			return // lost it meanwhile; a later change reports that
		}
	}
	s.leaderTerm.Store(leaderState(ch))
	p := s.hooks.leader.Load()
	if p == nil {
		return
	}
	for _, fn := range *p {
		fn(ch)
	}
}

// leaderState packs "leader ready in term t" (0 when not leader).
func leaderState(ch dledger.LeaderChange) uint64 {
	if ch.IsLeader {
		return ch.Term
	}
	return 0
}
