package dledger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/commitlog"
)

// Leader writes overlap replication.
//
// hashicorp/raft's leader stores a batch in its own log (dispatchLogs) and
// only then tells the replicators, and it counts itself towards the commit
// quorum as soon as StoreLogs returns. With a log that syncs inside
// StoreLogs every commit pays two syncs in series: the leader's, then the
// follower's. Under FlushSync the commit-log store therefore lets the
// leader's StoreLogs return once the batch is written (readable, not yet
// durable) and syncs it on a separate goroutine, while the followers already
// receive, sync and acknowledge it. That makes raft count the leader before
// its copy is durable, so raft's commit index can run ahead of what a
// majority holds durably. Two gates keep every consequence of a commit
// behind the leader's sync:
//
//   - the leader's state machine applies (and Node.Apply returns) an entry
//     only once the leader's copy is durable (fsmAdapter.ApplyBatch waits in
//     waitApplicable), so an acknowledged entry is durable on the leader and
//     on the follower raft counted;
//   - the commit index sent to followers is capped at the leader's durable
//     index (appendTransport.clamp), so no follower applies an entry a
//     majority does not hold durably.
//
// An entry in raft's commit range but past the leader's durable index is
// thus applied nowhere. If the leader loses power before syncing it, the
// group may elect a leader without it and truncate it on the follower that
// holds it; nothing observed it. This is the ordering Raft's author
// describes for a leader writing its log in parallel with replication
// (Ongaro's dissertation, chapter 10: the leader counts itself once its own
// write is durable), placed around an unmodified hashicorp/raft.
//
// Entries of earlier terms. Raft counts replicas only for entries of the
// leader's own term; earlier entries commit with the first of those
// (hashicorp/raft's commitment starts at the leader's first index). raft
// here counts the leader before its sync, so when a new leader's term
// begins, its commit index covers the earlier entries once a follower has
// made the term's first entry durable, while the leader's own copy of that
// entry may not be yet. The leader's copies of the earlier entries being
// durable is not enough: if it lost power then, its log would end in the
// earlier term, and a replica holding an entry of a term in between could
// win its vote and replace them (the Raft paper's figure 8). So both gates
// also wait for the first entry of the log's last term (TermStart): the
// state machine applies a batch once the log is durable up to its last
// entry and up to that first entry (waitApplicable), and the commit index
// sent to followers is withheld while the leader's durable index is short
// of it (appendTransport.clamp; a commit index below it was learned from an
// earlier leader and stays capped as before). On a follower the wait costs
// at most its own sync of a new term's first entry.
//
// A follower's StoreLogs returns before its sync too, and its answer to
// the AppendEntries waits for the sync instead (appendTransport, "Followers
// acknowledge after a group sync"): an acknowledgement is still a
// durability promise. So once a Node runs, every batch raft stores is
// deferred (the probe the Node installs says yes); bootstrap and snapshot
// restore, which run outside that, sync inside StoreLogs.
//
// Configuration entries reach the state machine too (raft hands a
// BatchingFSM LogCommand and LogConfiguration entries), so a membership
// change is answered, and the next one may be proposed, only once the
// leader holds it durably. Barriers are answered without the state
// machine; Node.Barrier waits for the leader's log separately. A node that
// stops while its state machine waits for a sync leaves that batch and every
// later one unapplied (it applies them from its log when it restarts) and
// answers their proposers "outcome unknown".

// durability tracks which raft indexes of a LogStore are durable. Its own
// mutex is taken after the store's wmu and mu, never before.
type durability struct {
	mu   sync.Mutex
	cond sync.Cond
	// written is the last index appended, durable the last index known
	// durable (every entry up to it is); gen changes whenever the log is
	// cut back or replaced, so a sync that started before cannot publish
	// indexes that now name other entries.
	written, durable, gen uint64
	err                   error // sticky: a failed sync or a closed store

	kick chan struct{} // wakes the syncer (capacity 1)
	stop chan struct{}
	done chan struct{}
	// deferProbe reports whether a StoreLogs batch may return before its
	// sync (nil: never).
	deferProbe atomic.Pointer[func() bool]
	// durableIdx mirrors durable for lock-free readers (the transport).
	durableIdx atomic.Uint64
}

func (d *durability) init(last uint64) {
	d.cond.L = &d.mu
	d.written, d.durable = last, last
	d.durableIdx.Store(last)
	d.kick = make(chan struct{}, 1)
	d.stop = make(chan struct{})
	d.done = make(chan struct{})
}

// setDurableLocked moves the durable index. Requires d.mu.
func (d *durability) setDurableLocked(idx uint64) {
	d.durable = idx
	d.durableIdx.Store(idx)
	d.cond.Broadcast()
}

// SetDeferProbe installs the function StoreLogs asks whether the batch it
// stores may return before its sync (see above); a running Node answers yes
// for every batch raft stores. nil restores syncing every batch inside
// StoreLogs.
func (s *LogStore) SetDeferProbe(deferSync func() bool) {
	if deferSync == nil {
		s.dur.deferProbe.Store(nil)
		return
	}
	s.dur.deferProbe.Store(&deferSync)
}

// deferSync reports whether the batch being stored may return before its
// sync: FlushSync with the probe saying yes.
func (s *LogStore) deferSync() bool {
	if s.opts.Flush != commitlog.FlushSync {
		return false
	}
	p := s.dur.deferProbe.Load()
	return p != nil && (*p)()
}

// DurableIndex returns the last raft index known durable in this store.
// Under FlushAsync durability is not tracked: it returns the last index
// written (the background flush makes it durable within a flush interval).
func (s *LogStore) DurableIndex() uint64 { return s.dur.durableIdx.Load() }

// WaitDurable blocks until entry index is durable in this store. It
// returns at once under FlushAsync (whose acknowledgements do not wait for
// syncs by design) and fails if a sync failed or the store closed.
func (s *LogStore) WaitDurable(index uint64) error { return s.waitDurable(index, false) }

// waitApplicable blocks until the entries up to index may be applied: the
// log is durable up to index and up to the first entry of its last term
// (see "Entries of earlier terms").
func (s *LogStore) waitApplicable(index uint64) error { return s.waitDurable(index, true) }

// waitDurable is WaitDurable, and with termStart also waits for the first
// entry of the log's last term. That bound is read afresh after every
// change, so a tail cut back under the wait does not strand it; a bound
// past written is a batch being published (termStart moves before written
// does), whose sync wakes the wait.
func (s *LogStore) waitDurable(index uint64, termStart bool) error {
	if s.opts.Flush != commitlog.FlushSync {
		return nil
	}
	target := func() uint64 {
		if !termStart {
			return index
		}
		_, start := s.TermStart()
		return max(index, start)
	}
	if s.dur.durableIdx.Load() >= target() {
		return nil
	}
	d := &s.dur
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.durable < target() {
		if d.err != nil {
			return d.err
		}
		if d.written < index {
			// Not even written: a caller error, or a log cut back under a
			// waiter; either way the wait could last for ever.
			return fmt.Errorf("dledger: wait for entry %d, the log ends at %d: %w", index, d.written, raft.ErrLogNotFound)
		}
		d.cond.Wait()
	}
	return nil
}

// ackDurable blocks until entry index is durable and then checks that the
// log still holds it with term (append_transport.go: a follower's answer to
// an AppendEntries).
func (s *LogStore) ackDurable(index, term uint64) error {
	if err := s.WaitDurable(index); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if got, ok := s.termLocked(index); !ok || got != term {
		return fmt.Errorf("dledger: entry %d of term %d was replaced before it was durable: %w", index, term, raft.ErrLogNotFound)
	}
	return nil
}

// termLocked returns the term of entry index, if the log holds it.
// Requires s.mu (read).
func (s *LogStore) termLocked(index uint64) (uint64, bool) {
	if s.checkOpenLocked() != nil || index < s.physFirst || index >= s.next {
		return 0, false
	}
	if e, ok := s.cache.get(index); ok {
		return e.log.Term, true
	}
	_, term, ok := s.recordTermLocked(index)
	return term, ok
}

// termMark is the term of a log's last entry and the index of the first
// entry of that term in the log.
type termMark struct{ term, start uint64 }

// TermStart returns the term of the log's last entry and the index of the
// first entry of that term in the log (0, 0 when it is empty): on a leader
// that has stored its first entry, its term and where the term began.
func (s *LogStore) TermStart() (term, start uint64) {
	if m := s.mark.Load(); m != nil {
		return m.term, m.start
	}
	return 0, 0
}

// setTermStartLocked records the log's last term and where it began.
// Requires s.mu (write).
func (s *LogStore) setTermStartLocked(term, index uint64) {
	s.mark.Store(&termMark{term: term, start: index})
}

// findTermStartLocked sets the log's last term and where it began from
// the records in the log, after it was cut back, recovered or restored. Terms never decrease
// along a raft log, so the first entry of the last term is found by binary
// search. An entry whose term cannot be read counts as an earlier term,
// which can only put termStart later: a gate that waits longer. Requires
// s.mu (write).
func (s *LogStore) findTermStartLocked() {
	if s.next == 0 || s.physFirst >= s.next {
		s.setTermStartLocked(0, 0)
		return
	}
	last := s.next - 1
	term, ok := s.termLocked(last)
	if !ok {
		s.setTermStartLocked(0, last)
		return
	}
	lo, hi := s.physFirst, last // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if t, ok := s.termLocked(mid); ok && t == term {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	s.setTermStartLocked(term, lo)
}

// WaitWritten blocks until everything written to the store so far is
// durable (WaitDurable of the last index written).
func (s *LogStore) WaitWritten() error {
	s.dur.mu.Lock()
	w := s.dur.written
	s.dur.mu.Unlock()
	return s.WaitDurable(w)
}

// noteWritten records a batch's last index after it is published; synced
// says the batch (and so everything before it) is durable already.
func (s *LogStore) noteWritten(last uint64, synced bool) {
	d := &s.dur
	d.mu.Lock()
	d.written = last
	if synced {
		d.setDurableLocked(last)
	}
	d.mu.Unlock()
	if !synced {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// noteReset records that the log was cut back or replaced and now ends at
// last; synced says everything up to last is durable.
func (s *LogStore) noteReset(last uint64, synced bool) {
	d := &s.dur
	d.mu.Lock()
	d.gen++
	d.written = last
	if synced {
		d.setDurableLocked(last)
	} else {
		d.setDurableLocked(min(d.durable, last))
	}
	d.mu.Unlock()
}

// noteSynced publishes a completed sync of everything written up to
// (written, gen) as sampled before it started.
func (s *LogStore) noteSynced(written, gen uint64, err error) {
	d := &s.dur
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		if d.err == nil {
			d.err = fmt.Errorf("dledger: sync of the raft log failed: %w", err)
		}
		d.cond.Broadcast()
	case gen == d.gen && written > d.durable:
		d.setDurableLocked(written)
	}
}

// syncLoop syncs what deferred batches wrote, coalescing every batch
// written during one sync into the next.
func (s *LogStore) syncLoop() {
	d := &s.dur
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case <-d.kick:
		}
		d.mu.Lock()
		written, gen, durable := d.written, d.gen, d.durable
		d.mu.Unlock()
		if written <= durable {
			continue
		}
		start := time.Now()
		_, err := s.log.Flush()
		s.stats.syncs.Add(1)
		s.stats.syncNanos.Add(int64(time.Since(start)))
		s.noteSynced(written, gen, err)
	}
}

// interruptWaits makes WaitDurable fail with ErrClosed from now on, for a
// node that is stopping; the syncer keeps going until Close.
func (s *LogStore) interruptWaits() {
	d := &s.dur
	d.mu.Lock()
	if d.err == nil {
		d.err = ErrClosed
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

// stopSyncer ends the syncer after it finished its current sync and wakes
// every waiter with ErrClosed.
func (s *LogStore) stopSyncer() {
	d := &s.dur
	select {
	case <-d.stop:
		return
	default:
	}
	close(d.stop)
	<-d.done
	s.interruptWaits()
}
