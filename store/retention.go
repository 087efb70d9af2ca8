package store

import (
	"errors"
	"fmt"
	"slices"
	"time"
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

// EarliestAppendedAt returns when the leader appended the oldest entry the
// commit log retains, skipping the group's bootstrap configuration, which
// carries no time (false when there is none).
func (s *Store) EarliestAppendedAt() (time.Time, bool) {
	phys, _, next := s.ls.Bounds()
	for i := phys; i < next && i < phys+8; i++ {
		at, _, err := s.ls.AppendedAt(i)
		if err != nil {
			return time.Time{}, false
		}
		if !at.IsZero() {
			return at, true
		}
	}
	return time.Time{}, false
}

// DiskUsedRatio reports how full the commit log's file system is (0-1),
// and whether it could tell.
func (s *Store) DiskUsedRatio() (float64, bool) {
	used, total, ok := diskBlocks(s.cl.Dir())
	if !ok {
		return 0, false
	}
	return float64(used) / float64(total), true
}

// Retention policy.
//
// RocketMQ deletes commit-log files older than fileReservedTime at the
// hours in deleteWhen, or at once while the disk is fuller than
// diskMaxUsedSpaceRatio. The retention loop does the same on every
// replica with DropBefore, which never drops what Raft still needs. A
// segment's age is that of its last entry as its leader appended it
// (raft's AppendedAt, stored in the entry), so every replica finds the same
// segments expired; the hour and the disk are each replica's own, so they
// may drop them at different times, which only shortens what a replica
// serves until the others follow. Unlike RocketMQ the loop never drops
// unexpired messages to make room: a replica whose disk fills stops being
// able to append, and a leader in that state hands leadership on.

// retentionLoop runs retainOnce every RetentionInterval until the store
// stops.
func (s *Store) retentionLoop() {
	if s.cfg.FileReservedTime <= 0 {
		s.bg.Done()
		return
	}
	s.every(s.cfg.RetentionInterval, "retention", func() error {
		_, err := s.retainOnce(time.Now())
		return err
	})
}

// retainOnce drops the commit-log segments whose entries were all appended
// more than FileReservedTime before now, if retention is due. It returns
// how many bytes of log it dropped.
func (s *Store) retainOnce(now time.Time) (int64, error) {
	used, known := diskUsedPercent(s.cl.Dir())
	if !s.cfg.retentionDue(now, used, known) {
		return 0, nil
	}
	dropped, err := s.dropExpired(now.Add(-s.cfg.FileReservedTime))
	if dropped > 0 {
		s.logger.Info("store: retention dropped expired commit-log segments",
			"bytes", dropped, "start", s.cl.Start(), "reserved", s.cfg.FileReservedTime, "disk_used_percent", used)
	}
	return dropped, err
}

// retentionDue reports whether expired segments are dropped now: at a
// DeleteWhen hour, or while the disk is at least DiskMaxUsedSpaceRatio
// percent full (used, when known).
func (c Config) retentionDue(now time.Time, used int, known bool) bool {
	if c.FileReservedTime <= 0 {
		return false
	}
	return slices.Contains(c.DeleteWhen, now.Hour()) || (known && used >= c.DiskMaxUsedSpaceRatio)
}

// dropExpired drops the commit-log segments whose entries were all
// appended at or before cutoff (as far as DropBefore may) and returns how
// many bytes of log that removed.
func (s *Store) dropExpired(cutoff time.Time) (int64, error) {
	before := s.cl.Start()
	off, err := s.expiredBefore(cutoff)
	if err != nil || off <= before {
		return 0, err
	}
	start, err := s.DropBefore(off)
	return max(start-before, 0), err
}

// expiredBefore returns the commit-log offset of the first entry appended
// after cutoff (the log's end if there is none): everything below it is
// older. Binary search over the entries physically in the log takes
// AppendedAt as non-decreasing, which leaders' clocks make true up to their
// skew across a failover; an entry out of order there only moves the cut
// by the entries around it.
func (s *Store) expiredBefore(cutoff time.Time) (int64, error) {
	phys, _, next := s.ls.Bounds()
	if next == 0 || phys >= next {
		return s.cl.Start(), nil
	}
	lo, hi := phys, next // the first entry after cutoff is in [lo, hi]; next: none
	for lo < hi {
		mid := lo + (hi-lo)/2
		at, _, err := s.ls.AppendedAt(mid)
		if err != nil {
			return 0, err
		}
		if at.After(cutoff) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == next {
		return s.cl.End(), nil
	}
	_, off, err := s.ls.AppendedAt(lo)
	return off, err
}
