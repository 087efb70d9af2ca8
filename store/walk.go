package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
)

// Walking the commit log: the recovery paths read committed message entries
// back from the log in order, exactly as ApplyBatch saw them.

// parseEntryRecord splits a commit-log record holding a Raft entry into the
// entry type and data, and returns where the data starts inside the record.
//
// It mirrors dledger's frozen "Raft entry record" header (dledger
// FORMAT.md): byte 0 the raft.LogType, bytes 4..8 the little-endian length
// of the extensions, dledger.EntryHeaderSize bytes of header, then the
// extensions, then the data. dledger exports no decoder for a record read
// through the commit-log iterator; see the report.
func parseEntryRecord(rec []byte) (raft.LogType, []byte, int, error) {
	if len(rec) < dledger.EntryHeaderSize {
		return 0, nil, 0, fmt.Errorf("%w: raft entry record of %d bytes", ErrCorrupt, len(rec))
	}
	ext := binary.LittleEndian.Uint32(rec[4:8])
	if uint64(ext) > uint64(len(rec)-dledger.EntryHeaderSize) {
		return 0, nil, 0, fmt.Errorf("%w: raft entry extensions of %d bytes in a %d-byte record", ErrCorrupt, ext, len(rec))
	}
	start := dledger.EntryHeaderSize + int(ext)
	return raft.LogType(rec[0]), rec[start:], start, nil
}

// dispatchable reports whether the FSM gives a message a queue offset (the
// same test ApplyBatch makes).
func dispatchable(v message.View) bool { return v.QueueID() >= 0 && validTopicBytes(v.Topic()) }

// recordFor returns the offset of the commit-log record of the entry whose
// data holds physical offset phys (the last entry whose data starts at or
// before phys), or the log's start when phys lies before the first entry.
func (s *Store) recordFor(phys int64) (int64, error) {
	physFirst, _, next := s.ls.Bounds()
	if next == 0 || physFirst >= next {
		return s.cl.Start(), nil
	}
	lo, hi := physFirst, next-1 // find the last index with dataOffset <= phys
	rec, data, err := s.ls.EntryOffset(lo)
	if err != nil {
		return 0, err
	}
	if data > phys {
		return s.cl.Start(), nil
	}
	best := rec
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		r, d, err := s.ls.EntryOffset(mid)
		if err != nil {
			return 0, err
		}
		if d <= phys {
			lo, best = mid, r
		} else {
			hi = mid - 1
		}
	}
	return best, nil
}

// walkMessages calls fn, in log order, for every dispatchable message with
// from <= phys < to. Entries that do not decode are skipped as ApplyBatch
// skipped them.
func (s *Store) walkMessages(from, to int64, fn func(phys int64, v message.View) error) error {
	if from >= to {
		return nil
	}
	start, err := s.recordFor(from)
	if err != nil {
		return fmt.Errorf("store: walk from %d: %w", from, err)
	}
	it := s.cl.NewIterator(start)
	for it.Next() {
		rec := it.Record()
		if rec.Type != dledger.RecordTypeEntry {
			return fmt.Errorf("%w: commit-log record type %d at %d", ErrCorrupt, rec.Type, it.Offset())
		}
		typ, data, ds, err := parseEntryRecord(rec.Data)
		if err != nil {
			return fmt.Errorf("store: walk: record at %d: %w", it.Offset(), err)
		}
		dataOff := s.cl.DataOffset(it.Offset()) + int64(ds)
		if dataOff >= to {
			return nil
		}
		if typ != raft.LogCommand || len(data) == 0 || cmdType(data[0]) != cmdMessages ||
			dataOff+int64(len(data)) <= from {
			continue
		}
		_, n, payload, err := parseEntryHeader(data)
		if err != nil {
			continue // ApplyBatch skipped it too
		}
		base := dataOff + entryHeaderLen
		err = forEachMessage(payload, n, func(pos int, v message.View) error {
			phys := base + int64(pos)
			if phys < from || phys >= to || !dispatchable(v) {
				return nil
			}
			return fn(phys, v)
		})
		if err != nil && !errors.Is(err, ErrEntryFormat) {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("store: walk commit log from %d: %w", start, err)
	}
	return nil
}

// queueCounts counts dispatchable messages per queue in [from, to).
func (s *Store) queueCounts(from, to int64) (map[QueueKey]int64, error) {
	byTopic := map[string]map[int32]int64{}
	err := s.walkMessages(from, to, func(_ int64, v message.View) error {
		m := byTopic[string(v.Topic())]
		if m == nil {
			m = map[int32]int64{}
			byTopic[string(v.Topic())] = m
		}
		m[v.QueueID()]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[QueueKey]int64{}
	for t, m := range byTopic {
		for id, n := range m {
			out[QueueKey{t, id}] = n
		}
	}
	return out, nil
}

// readHeader reads the first bytes of the stored message at phys and
// checks its TOTALSIZE against size (size 0: accept any).
func (s *Store) checkStoredAt(phys int64, size int32, topic string, qid int32) error {
	if size < message.MinStoredSize {
		return fmt.Errorf("%w: entry size %d at %d", ErrCorrupt, size, phys)
	}
	buf := make([]byte, size)
	if _, err := s.cl.ReadAt(buf, phys); err != nil {
		return fmt.Errorf("%w: read message at %d: %w", ErrCorrupt, phys, err)
	}
	v, err := message.ParseView(buf)
	if err != nil {
		return fmt.Errorf("%w: message at %d: %w", ErrCorrupt, phys, err)
	}
	if v.Len() != int(size) || v.QueueID() != qid || string(v.Topic()) != topic {
		return fmt.Errorf("%w: message at %d is %s/%d (%d bytes), consume queue says %s/%d (%d bytes)",
			ErrCorrupt, phys, v.Topic(), v.QueueID(), v.Len(), topic, qid, size)
	}
	return nil
}
