package store

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
)

// fsm is the dledger.FSM the Raft node drives. It is a separate type so the
// Store's public API does not carry the FSM methods.
type fsm struct{ s *Store }

var _ dledger.FSM = (*fsm)(nil)

// msgPos is where the FSM put one message.
type msgPos struct {
	QueueOffset int64 // -1: the message was skipped (invalid topic or queue id)
	Phys        int64
}

// msgBatchResult is the apply result of a message entry: one position per
// message in entry order. err is set when the entry did not decode (then
// pos covers the messages before the bad one).
type msgBatchResult struct {
	pos []msgPos
	err error
}

// ApplyBatch applies committed entries in log order (see the package doc,
// "Apply"). It waits until Open has reconciled the derived state.
func (f *fsm) ApplyBatch(es []dledger.Entry) []any {
	s := f.s
	<-s.ready
	out := make([]any, len(es))
	if s.openFailed.Load() {
		return out
	}
	s.fsmMu.Lock()
	for i := range es {
		e := &es[i]
		if e.Type == raft.LogCommand {
			out[i] = s.applyEntry(e)
		}
		s.lastIndex = e.Index
	}
	arrivals := s.takeArrivalsLocked()
	s.fsmMu.Unlock()
	s.fireArrivals(arrivals)
	return out
}

// applyEntry applies one command entry. Caller holds fsmMu.
func (s *Store) applyEntry(e *dledger.Entry) any {
	c, n, payload, err := parseEntryHeader(e.Data)
	if err != nil {
		s.logger.Error("store: skipping undecodable entry", "index", e.Index, "err", err)
		return err
	}
	switch c {
	case cmdMessages:
		return s.applyMessages(e, payload, n)
	case cmdCommitOffsets:
		return s.applyOffsets(e, payload, n)
	default:
		return s.applyMeta(e, c, payload)
	}
}

// applyMessages assigns queue offsets to the messages of one entry in
// order, dispatches them to the consume queues and the key index, and
// returns their positions. Caller holds fsmMu.
func (s *Store) applyMessages(e *dledger.Entry, payload []byte, n int) any {
	if e.DataOffset < 0 {
		// Validate rejects the bolt log store; this is a programming error.
		panic("store: message entry without a physical offset")
	}
	base := e.DataOffset + entryHeaderLen
	res := &msgBatchResult{pos: make([]msgPos, 0, n)}
	qs := s.qs
	res.err = forEachMessage(payload, n, func(pos int, v message.View) error {
		phys := base + int64(pos)
		qid, topic := v.QueueID(), v.Topic()
		if qid < 0 || !validTopicBytes(topic) {
			// The leader validates; skipping is deterministic either way.
			res.pos = append(res.pos, msgPos{QueueOffset: -1, Phys: phys})
			return nil
		}
		// The counter and the consume-queue entry change together under
		// qs.mu (queueBounds relies on it); the index needs no lock.
		qs.mu.Lock()
		tq := qs.topicLocked(topic)
		off := tq.next[qid]
		tq.next[qid] = off + 1
		cqErr := s.putQueueLocked(tq.name, qid, off, phys, v)
		qs.mu.Unlock()
		res.pos = append(res.pos, msgPos{QueueOffset: off, Phys: phys})
		s.noteArrivalLocked(tq.name, qid, off+1)
		s.putKeys(cqErr, tq.name, qid, off, phys, v)
		return nil
	})
	qs.dispatched.Store(e.DataOffset + int64(len(e.Data)))
	if res.err != nil {
		s.logger.Error("store: message entry partly undecodable", "index", e.Index, "err", res.err)
	}
	return res
}

// putQueueLocked puts one message's consume-queue entry (unless dispatch
// is suspended after a failure). Caller holds fsmMu and qs.mu.
func (s *Store) putQueueLocked(topic string, qid int32, off, phys int64, v message.View) error {
	if s.degraded.Load() != nil {
		return nil // the repair loop rebuilds from the commit log
	}
	return s.cq.Put(topic, qid, off, consumequeue.Entry{
		Phys: phys, Size: int32(v.Len()), TagHash: v.TagsCode(), StoreTime: v.StoreTimestamp(),
	})
}

// putKeys indexes one message's keys and records a dispatch failure (the
// consume queue's, cqErr, or the index's). Caller holds fsmMu.
func (s *Store) putKeys(cqErr error, topic string, qid int32, off, phys int64, v message.View) {
	err := cqErr
	if err == nil && s.degraded.Load() == nil {
		err = s.ix.putMessage(topic, phys, v)
	}
	if err != nil {
		s.setDegraded(fmt.Errorf("%w: message %s/%d offset %d at %d: %w", ErrDispatch, topic, qid, off, phys, err))
	}
}

// applyOffsets applies a batch of consumer-offset commits. Invalid items are
// skipped (deterministically). Caller holds fsmMu.
func (s *Store) applyOffsets(e *dledger.Entry, payload []byte, n int) any {
	r := reader{b: payload}
	if n > len(payload)/offsetCommitMinSize {
		return fmt.Errorf("%w: %d offset commits in %d bytes", ErrEntryFormat, n, len(payload))
	}
	commits := make([]OffsetCommit, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		commits = append(commits, readOffsetCommit(&r))
	}
	if err := r.done("offset commits"); err != nil {
		s.logger.Error("store: skipping undecodable offset entry", "index", e.Index, "err", err)
		return err
	}
	m := s.meta
	m.mu.Lock()
	for _, c := range commits {
		if c.Validate() != nil {
			continue
		}
		m.offsets[offsetKey{c.Group, c.Topic, c.QueueID}] = c.Offset
	}
	m.mu.Unlock()
	return nil
}

// applyMeta applies a topic or group command. The result is nil or the
// validation error (the same on every replica). Caller holds fsmMu.
func (s *Store) applyMeta(e *dledger.Entry, c cmdType, payload []byte) any {
	r := reader{b: payload}
	m := s.meta
	var err error
	switch c {
	case cmdPutTopic:
		t := readTopicConfig(&r)
		if err = r.done("topic config"); err == nil {
			if err = t.Validate(); err == nil {
				m.mu.Lock()
				m.topics[t.Name] = t
				m.mu.Unlock()
			}
		}
	case cmdDeleteTopic:
		name := r.str("topic name", message.MaxTopicLen)
		if err = r.done("delete topic"); err == nil {
			m.mu.Lock()
			delete(m.topics, name)
			m.mu.Unlock()
		}
	case cmdPutGroup:
		g := readGroupConfig(&r)
		if err = r.done("group config"); err == nil {
			if err = g.Validate(); err == nil {
				m.mu.Lock()
				m.groups[g.GroupName] = g
				m.mu.Unlock()
			}
		}
	case cmdDeleteGroup:
		name := r.str("group name", MaxGroupLen)
		if err = r.done("delete group"); err == nil {
			m.mu.Lock()
			delete(m.groups, name)
			m.mu.Unlock()
		}
	default:
		err = fmt.Errorf("%w: command %v", ErrEntryFormat, c)
	}
	if err != nil {
		s.logger.Warn("store: metadata command rejected", "index", e.Index, "cmd", c, "err", err)
	}
	return err
}

// Snapshot captures the replicated state (it runs on the FSM goroutine, so
// no apply is in progress).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s := f.s
	s.fsmMu.Lock()
	defer s.fsmMu.Unlock()
	return &fsmSnapshot{st: s.captureLocked()}, nil
}

// captureLocked copies the FSM state. Caller holds fsmMu.
func (s *Store) captureLocked() *fsmState {
	s.qs.mu.RLock()
	st := &fsmState{
		lastIndex:  s.lastIndex,
		dispatched: s.qs.dispatched.Load(),
		counters:   s.qs.countersLocked(),
	}
	s.qs.mu.RUnlock()
	st.meta = s.meta.clone()
	return st
}

// Restore replaces the state with a snapshot's. At startup (inside
// dledger.NewNode) it only loads the state and Open reconciles the derived
// state afterwards; at run time (a snapshot installed from the leader) it
// reconciles before returning, while the commit log holds the snapshot's
// range (dledger guarantees that).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s := f.s
	st, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	// startup is read under fsmMu: Open clears it under fsmMu before its own
	// reconcile, so a restore either precedes that reconcile (and is covered
	// by it) or reconciles itself.
	s.fsmMu.Lock()
	s.installLocked(st)
	s.logger.Info("store: restored snapshot", "index", st.lastIndex, "dispatched", st.dispatched,
		"queues", len(st.counters), "topics", len(st.meta.topics), "offsets", len(st.meta.offsets))
	if s.startup.Load() {
		s.fsmMu.Unlock()
		return nil
	}
	err = s.reconcileLocked("snapshot restore")
	arrivals := s.allArrivalsLocked()
	s.fsmMu.Unlock()
	s.fireArrivals(arrivals)
	return err
}

// installLocked replaces the FSM state. Caller holds fsmMu.
func (s *Store) installLocked(st *fsmState) {
	s.qs.mu.Lock()
	s.qs.setCountersLocked(st.counters)
	s.qs.dispatched.Store(st.dispatched)
	s.qs.mu.Unlock()
	s.lastIndex = st.lastIndex
	s.meta.replace(st.meta)
}

// validTopicBytes is message.ValidateTopic for bytes, without allocating.
func validTopicBytes(t []byte) bool {
	if len(t) == 0 || len(t) > message.MaxTopicLen {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
