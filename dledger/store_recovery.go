package dledger

import (
	"fmt"
	"sort"
)

// recover brings the index in line with the commit log after open: it keeps
// the longest prefix of synced index slots that the log confirms, drops the
// rest, and indexes the records the index does not cover by scanning the log
// from there. The commit log is the source of truth; a record whose raft
// index does not continue the sequence is corruption.
func (s *LogStore) recover() error {
	ix := s.ix
	// The first record physically in the log.
	it := s.log.NewIterator(s.log.Start())
	if !it.Next() {
		if err := it.Err(); err != nil {
			return fmt.Errorf("dledger: recover: read first record: %w", err)
		}
		// No records: a fresh store (or one restored from a snapshot that
		// carried none). Any index may come next.
		if err := ix.reset(0); err != nil {
			return err
		}
		s.first, s.next, s.physFirst = 0, 0, 0
		return nil
	}
	fh, err := decodeEntryHeader(it.Record().Data)
	if err != nil {
		return fmt.Errorf("dledger: recover: first record at %d: %w", it.Offset(), err)
	}
	physFirst, firstOff := fh.Index, it.Offset()

	// Trusted index range [lo, hi): synced slots at or above the first record.
	lo, hi := max(ix.first(), physFirst), ix.next
	valid := func(index uint64) bool {
		off, n, err := ix.get(index)
		if err != nil {
			return false
		}
		rec, _, err := s.log.Read(off)
		if err != nil || rec.Type != RecordTypeEntry || uint32(len(rec.Data)) != n {
			return false
		}
		h, err := decodeEntryHeader(rec.Data)
		return err == nil && h.Index == index
	}
	from := firstOff // where to start indexing records
	kept := uint64(0)
	if len(ix.segs) > 0 && lo < hi && ix.first() <= physFirst {
		// Slots must pass their checksums: trust only up to the first bad one.
		for i := lo; i < hi; i++ {
			if _, _, err := ix.get(i); err != nil {
				s.logger.Warn("dledger: index slot damaged, rebuilding from there", "index", i, "err", err)
				hi = i
				break
			}
		}
	}
	if len(ix.segs) > 0 && lo < hi && ix.first() <= physFirst {
		last := hi - 1
		if !valid(lo) {
			last = 0 // the index does not describe this log at all
		} else if !valid(last) {
			// Slots are valid up to some point and invalid after (the log
			// lost a tail the index had recorded): find the boundary.
			k := sort.Search(int(hi-lo), func(i int) bool { return !valid(lo + uint64(i)) })
			if k == 0 {
				last = 0
			} else {
				last = lo + uint64(k) - 1
			}
		}
		if last >= lo {
			if err := ix.truncate(last + 1); err != nil {
				return err
			}
			off, _, _ := ix.get(last)
			_, nextOff, err := s.log.Read(off)
			if err != nil {
				return fmt.Errorf("dledger: recover: read entry %d: %w", last, err)
			}
			from, kept = nextOff, last+1-lo
		}
	}
	if kept == 0 {
		if err := ix.reset(physFirst); err != nil {
			return err
		}
	}
	scanned := 0
	scan := s.log.NewIterator(from)
	for scan.Next() {
		rec := scan.Record()
		if rec.Type != RecordTypeEntry {
			return fmt.Errorf("dledger: recover: record type %d at %d: %w", rec.Type, scan.Offset(), ErrEntryCorrupt)
		}
		h, err := decodeEntryHeader(rec.Data)
		if err != nil {
			return fmt.Errorf("dledger: recover: record at %d: %w", scan.Offset(), err)
		}
		if h.Index != ix.next {
			return fmt.Errorf("dledger: recover: record at %d holds entry %d, expected %d: %w",
				scan.Offset(), h.Index, ix.next, ErrEntryCorrupt)
		}
		if err := ix.add(scan.Offset(), uint32(len(rec.Data))); err != nil {
			return err
		}
		scanned++
	}
	if err := scan.Err(); err != nil {
		return fmt.Errorf("dledger: recover: scan commit log from %d: %w", from, err)
	}
	if err := ix.dropBefore(physFirst); err != nil {
		return err
	}
	if err := ix.maybeFlush(true); err != nil {
		return err
	}
	s.first, s.physFirst, s.next = physFirst, physFirst, ix.next
	s.findTermStartLocked()
	s.logger.Info("dledger: log store opened",
		"first", physFirst, "last", ix.next-1, "index_trusted", kept, "index_rebuilt", scanned,
		"commitlog_recovery", fmt.Sprintf("%+v", s.log.Recovery()))
	return nil
}
