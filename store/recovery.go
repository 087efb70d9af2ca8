package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/message"
)

// reconcileLocked brings the consume queues and the key index in line with
// the FSM state (queue counters valid at qs.dispatched, "Ps") and the
// commit log (package doc, "Derived state"). It runs in Open before any
// entry is applied and after a snapshot is restored at run time. On
// failure the store is marked degraded. Caller holds fsmMu.
func (s *Store) reconcileLocked(reason string) error {
	err := s.reconcileInner(reason, false)
	if err != nil {
		s.setDegraded(fmt.Errorf("%w: reconcile (%s): %w", ErrDispatch, reason, err))
		return err
	}
	s.degraded.Store(nil)
	return nil
}

// reconcileInner does the work; force skips straight to a rebuild.
func (s *Store) reconcileInner(reason string, force bool) error {
	began := time.Now()
	ps := s.qs.dispatched.Load()
	counters := s.qs.counters()
	logStart, logEnd := s.cl.Start(), s.cl.End()

	// Derived state past the log's end describes records this replica no
	// longer has (a commit-log tail lost under FlushAsync): cut it.
	if d := s.cq.DispatchedPhys(); d > logEnd {
		if err := s.cq.TruncatePhys(logEnd); err != nil {
			return err
		}
	}
	if d := s.ix.dispatchedPhys(); d > logEnd {
		if err := s.ix.truncatePhys(logEnd); err != nil {
			return err
		}
	}

	d := s.cq.DispatchedPhys()
	cqFrom := int64(-1) // where the consume queues resume; -1: they are at or past Ps
	rebuild := force
	switch {
	case force:
	case d >= ps:
		if err := s.checkQueues(counters, d == ps, logStart, logEnd); err != nil {
			s.logger.Warn("store: consume queues disagree with the FSM state; rebuilding", "err", err)
			rebuild = true
		}
	case d < logStart:
		// Messages in [d, logStart) are gone from the log: the queues cannot
		// be caught up, only rebuilt from the log's start.
		rebuild = true
	default:
		cqFrom = d
	}
	if rebuild {
		cqFrom = logStart
		// Readers must not see the queues between the reset and the end
		// of the refill (package doc, "Derived state").
		s.rebuildSeq.Add(1)
		defer s.rebuildSeq.Add(1)
		if err := s.cq.Reset(); err != nil {
			return err
		}
	}
	ixFrom := int64(-1)
	if di := s.ix.dispatchedPhys(); di < ps {
		ixFrom = max(di, logStart)
	}
	if cqFrom < 0 && ixFrom < 0 {
		s.logger.Info("store: derived state current", "reason", reason, "dispatched", ps,
			"cq_dispatched", d, "index_dispatched", s.ix.dispatchedPhys())
		return nil
	}

	// Queue counters at cqFrom: the counters at Ps minus the messages in
	// [cqFrom, Ps). This needs nothing but the snapshot and the retained
	// log, so retention keeps no extra state for it.
	next := map[QueueKey]int64{}
	if cqFrom >= 0 {
		counts, err := s.queueCounts(cqFrom, ps)
		if err != nil {
			return err
		}
		for k, n := range counters {
			next[k] = n - counts[k]
		}
		for k, n := range counts {
			if next[k] < 0 || counters[k] < n {
				return fmt.Errorf("%w: queue %s/%d: %d messages in [%d, %d) but the counter is %d",
					ErrCorrupt, k.Topic, k.QueueID, n, cqFrom, ps, counters[k])
			}
		}
	}
	from := cqFrom
	if from < 0 || (ixFrom >= 0 && ixFrom < from) {
		from = ixFrom
	}
	var msgs, keys int64
	err := s.walkMessages(from, ps, func(phys int64, v message.View) error {
		if cqFrom >= 0 && phys >= cqFrom {
			k := QueueKey{string(v.Topic()), v.QueueID()}
			off := next[k]
			next[k] = off + 1
			if err := s.cq.Put(k.Topic, k.QueueID, off, consumequeue.Entry{
				Phys: phys, Size: int32(v.Len()), TagHash: v.TagsCode(), StoreTime: v.StoreTimestamp(),
			}); err != nil {
				return err
			}
			msgs++
		}
		if ixFrom >= 0 && phys >= ixFrom {
			if err := s.ix.putMessage(string(v.Topic()), phys, v); err != nil {
				return err
			}
			keys++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if cqFrom >= 0 {
		// Every counter must land exactly where the snapshot says.
		for k, n := range counters {
			if next[k] != n {
				return fmt.Errorf("%w: queue %s/%d: rebuilt to %d, FSM counter %d", ErrCorrupt, k.Topic, k.QueueID, next[k], n)
			}
		}
		s.cq.AdvanceDispatched(ps)
		if err := s.checkQueues(counters, true, logStart, logEnd); err != nil {
			if rebuild {
				return err
			}
			s.logger.Warn("store: consume queues inconsistent after catch-up; rebuilding", "err", err)
			return s.reconcileInner(reason, true)
		}
	}
	s.ix.advanceDispatched(ps)
	if err := errors.Join(s.cq.Flush(), s.ix.flush()); err != nil {
		return err
	}
	s.logger.Info("store: derived state caught up from the commit log", "reason", reason,
		"rebuilt", rebuild, "cq_from", cqFrom, "index_from", ixFrom, "to", ps,
		"messages", msgs, "indexed", keys, "took", time.Since(began))
	return nil
}

// checkQueues compares the consume queues with the FSM counters at Ps:
// with exact, every queue's max offset must equal its counter (and no queue
// may exist that the FSM never assigned); otherwise (queues ahead of Ps)
// at least the counter. The last entry of each queue must point at a
// matching message in the commit log.
func (s *Store) checkQueues(counters map[QueueKey]int64, exact bool, logStart, logEnd int64) error {
	for _, k := range s.cq.Queues() {
		q := s.cq.Queue(k.Topic, k.ID)
		if q == nil {
			continue
		}
		max, n := q.MaxOffset(), counters[QueueKey{k.Topic, k.ID}]
		if exact && max != n || max < n {
			return fmt.Errorf("%w: queue %s/%d ends at %d, FSM counter %d", ErrCorrupt, k.Topic, k.ID, max, n)
		}
		if max <= q.MinOffset() {
			continue
		}
		e, err := q.Get(max - 1)
		if err != nil {
			return err
		}
		if e.Phys < logStart {
			continue // retention took the message; the entry goes next
		}
		if e.Phys+int64(e.Size) > logEnd {
			return fmt.Errorf("%w: queue %s/%d entry %d at %d past the log end %d", ErrCorrupt, k.Topic, k.ID, max-1, e.Phys, logEnd)
		}
		if err := s.checkStoredAt(e.Phys, e.Size, k.Topic, k.ID); err != nil {
			return fmt.Errorf("queue %s/%d entry %d: %w", k.Topic, k.ID, max-1, err)
		}
	}
	return nil
}
