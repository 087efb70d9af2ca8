package store

import (
	"errors"
	"fmt"
)

// DropBefore applies retention: commit-log segments wholly below phys are
// removed (never a record Raft still counts as part of its log, see
// dledger.LogStore.DropBefore), then consume-queue and index entries that
// point below the new log start. It returns the new first retained
// offset.
//
// Nothing else needs keeping for rebuilds: the counters of every queue at
// the retained start are the snapshot's counters minus the messages the
// retained log holds between its start and the snapshot position (see
// reconcile), and dledger never drops records past the latest snapshot.
func (s *Store) DropBefore(phys int64) (int64, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	s.fsmMu.Lock()
	defer s.fsmMu.Unlock()
	start, err := s.ls.DropBefore(phys)
	if err != nil {
		return 0, fmt.Errorf("store: retention: %w", err)
	}
	if err := errors.Join(s.cq.DropBeforePhys(start), s.ix.dropBeforePhys(start)); err != nil {
		return start, fmt.Errorf("store: retention of derived state below %d: %w", start, err)
	}
	return start, nil
}

// CommitLogBounds returns the commit log's first retained offset and the
// offset the next record would get.
func (s *Store) CommitLogBounds() (start, end int64) { return s.cl.Start(), s.cl.End() }
