package dledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/commitlog"
)

// This file holds the LogStore side of snapshots: recording the log position
// a snapshot stands for, streaming the retained records with it, and
// rebuilding the commit log from them on a replica that restores it.

// snapshotPosition returns the record offset of entry index (checking its
// term) and the offset just past it, and makes the log durable up to there,
// so a snapshot never describes records a crash could take back.
func (s *LogStore) snapshotPosition(index, term uint64) (lastOff, endOff int64, err error) {
	if err := s.Sync(); err != nil {
		return 0, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkLocked(); err != nil {
		return 0, 0, err
	}
	if index < s.physFirst || index >= s.next {
		return 0, 0, fmt.Errorf("dledger: snapshot index %d not in the log [%d, %d): %w",
			index, s.physFirst, s.next, ErrSnapshotMismatch)
	}
	off, data, err := s.readRecordLocked(index)
	if err != nil {
		return 0, 0, err
	}
	h, _ := decodeEntryHeader(data)
	if h.Term != term {
		return 0, 0, fmt.Errorf("dledger: snapshot at %d term %d, log has term %d: %w", index, term, h.Term, ErrSnapshotMismatch)
	}
	_, endOff, err = s.log.Read(off)
	if err != nil {
		return 0, 0, err
	}
	return off, nextRecordOffset(endOff, s.log.SegmentSize()), nil
}

// nextRecordOffset maps the offset just past a record to where the next
// record can start: a record ending exactly at a segment's end is followed
// by the next segment's first record, past its header.
func nextRecordOffset(end, segSize int64) int64 {
	if r := end % segSize; r < commitlog.SegmentHeaderSize {
		return end - r + commitlog.SegmentHeaderSize
	}
	return end
}

// snapshotRecords turns a compact header into a full one and returns a
// reader producing the records it carries: every record physically retained
// from the start of the commit log up to the snapshot index.
func (s *LogStore) snapshotRecords(h snapHeader) (snapHeader, io.Reader, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkOpenLocked(); err != nil {
		return h, nil, err
	}
	full := h
	full.Form = formFull
	start := s.physFirst
	if h.LastIndex < start || s.next == 0 {
		// Retention already dropped every record up to the snapshot index:
		// carry none; the receiver's log starts where LastIndex+1 goes.
		full.StartIndex, full.StartOffset, full.Count, full.Bytes = h.LastIndex+1, h.EndOffset, 0, 0
		return full, eofReader{}, nil
	}
	if h.LastIndex >= s.next {
		return h, nil, fmt.Errorf("dledger: snapshot index %d past the log end %d: %w", h.LastIndex, s.next, ErrSnapshotMismatch)
	}
	startOff, _, err := s.ix.get(start)
	if err != nil {
		return h, nil, err
	}
	lastOff, _, err := s.ix.get(h.LastIndex)
	if err != nil {
		return h, nil, err
	}
	if h.LastOffset >= 0 && lastOff != h.LastOffset {
		return h, nil, fmt.Errorf("dledger: snapshot says entry %d at %d, index says %d: %w",
			h.LastIndex, h.LastOffset, lastOff, ErrSnapshotMismatch)
	}
	var total uint64
	for i := start; i <= h.LastIndex; i++ {
		_, n, err := s.ix.get(i)
		if err != nil {
			return h, nil, err
		}
		total += snapItemHeader + uint64(n)
	}
	full.StartIndex, full.StartOffset = start, startOff
	full.Count, full.Bytes = h.LastIndex-start+1, total
	return full, &recordStream{s: s, next: start, last: h.LastIndex}, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// recordStream reads records [next, last] from the store lazily, encoding
// each as a snapshot item (offset, length, CRC32-C of the data, data).
type recordStream struct {
	s          *LogStore
	next, last uint64
	buf        []byte
	err        error
}

func (r *recordStream) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next > r.last {
			r.err = io.EOF
			continue
		}
		r.fill()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fill encodes up to ~1 MiB of records into buf.
func (r *recordStream) fill() {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	buf := r.buf[:0]
	for r.next <= r.last && len(buf) < 1<<20 {
		if err := r.s.checkOpenLocked(); err != nil {
			r.err = err
			break
		}
		if r.next < r.s.physFirst {
			r.err = fmt.Errorf("dledger: snapshot stream: entry %d dropped by retention while sending: %w",
				r.next, raft.ErrLogNotFound)
			break
		}
		off, data, err := r.s.readRecordLocked(r.next)
		if err != nil {
			r.err = err
			break
		}
		var ih [snapItemHeader]byte
		binary.LittleEndian.PutUint64(ih[0:], uint64(off))
		binary.LittleEndian.PutUint32(ih[8:], uint32(len(data)))
		binary.LittleEndian.PutUint32(ih[12:], crc32.Checksum(data, castagnoli))
		buf = append(append(buf, ih[:]...), data...)
		r.next++
	}
	r.buf = buf
}

// holdsLocked reports whether the log holds entry index with term at off.
func (s *LogStore) holdsLocked(index, term uint64, off int64) bool {
	got, t, ok := s.recordTermLocked(index)
	return ok && off >= 0 && got == off && t == term
}

// recordTermLocked reads entry index's record from the commit log and
// returns its offset and term, if the log physically holds it.
func (s *LogStore) recordTermLocked(index uint64) (int64, uint64, bool) {
	off, h, err := s.entryHeaderLocked(index)
	return off, h.Term, err == nil
}

// entryHeaderLocked reads entry index's record from the commit log and
// returns its offset and decoded header. Requires s.mu (read).
func (s *LogStore) entryHeaderLocked(index uint64) (int64, entryHeader, error) {
	if index < s.physFirst || index >= s.next {
		return 0, entryHeader{}, fmt.Errorf("dledger: entry %d not in [%d, %d): %w", index, s.physFirst, s.next, raft.ErrLogNotFound)
	}
	off, data, err := s.readRecordLocked(index)
	if err != nil {
		return 0, entryHeader{}, err
	}
	h, err := decodeEntryHeader(data)
	return off, h, err
}

// continuesLocked reports whether the log starts exactly where a snapshot
// that carried no records left it: empty at EndOffset, or with the entry
// after the snapshot index as its first record, at EndOffset (or at the
// start of the next segment, if it did not fit).
func (s *LogStore) continuesLocked(h snapHeader) bool {
	seg := s.log.SegmentSize()
	nextSeg := h.EndOffset - h.EndOffset%seg + seg + commitlog.SegmentHeaderSize
	if s.next == 0 {
		end := s.log.End()
		return s.log.Start() == end && (end == h.EndOffset || end == nextSeg)
	}
	if s.physFirst != h.LastIndex+1 || s.next <= s.physFirst {
		return false
	}
	off, _, err := s.ix.get(s.physFirst)
	return err == nil && (off == h.EndOffset || off == nextSeg)
}

// checkSnapshotRange verifies, at startup, that the local log agrees with a
// snapshot this node took itself.
func (s *LogStore) checkSnapshotRange(h snapHeader) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case h.LastOffset < 0:
		return nil // taken right after a record-less restore; nothing to check
	case s.next != 0 && h.LastIndex < s.physFirst:
		return nil // retention dropped those records since
	case s.holdsLocked(h.LastIndex, h.LastTerm, h.LastOffset):
		return nil
	}
	return fmt.Errorf("dledger: local snapshot at entry %d (term %d, offset %d) but the log holds [%d, %d): %w",
		h.LastIndex, h.LastTerm, h.LastOffset, s.physFirst, s.next, ErrSnapshotMismatch)
}

// maxSnapshotRecord bounds one carried record's length before allocating.
const maxSnapshotRecord = commitlog.MaxSegmentSize

// restoreSnapshotRange makes the commit log hold exactly the records a full
// snapshot carries, at the offsets it carries them at. If the log already
// holds the snapshot's last entry at the same offset (this replica has that
// history), the records are skipped. Otherwise the log is reset to the
// snapshot's start offset and the records appended; entries this replica
// had after the snapshot index are appended again behind them, so raft's
// view of the log stays valid (they conflict with the leader and raft
// truncates them next).
func (s *LogStore) restoreSnapshotRange(h snapHeader, r io.Reader) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	err := s.checkLocked()
	held := err == nil && (s.holdsLocked(h.LastIndex, h.LastTerm, h.LastOffset) || (h.Count == 0 && s.continuesLocked(h)))
	var tail []*raft.Log
	if err == nil && !held && s.next > h.LastIndex+1 {
		for i := max(h.LastIndex+1, s.first); i < s.next; i++ {
			l := new(raft.Log)
			_, data, rerr := s.readRecordLocked(i)
			if rerr == nil {
				rerr = decodeEntry(data, l)
			}
			if rerr != nil {
				err = rerr
				break
			}
			tail = append(tail, l)
		}
	}
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if held {
		_, err := io.Copy(io.Discard, r)
		return err
	}

	s.mu.Lock()
	s.cache.reset()
	err = s.ix.reset(h.StartIndex)
	s.first, s.physFirst, s.next = h.StartIndex, h.StartIndex, 0
	s.setTermStartLocked(0, 0)
	s.mu.Unlock()
	if err == nil {
		err = s.log.Reset(h.StartOffset)
	}
	if err == nil {
		err = s.appendSnapshotRecords(h, r)
	}
	if err == nil {
		err = s.log.Sync()
	}
	if err != nil {
		s.fail(fmt.Errorf("dledger: restore log from snapshot at %d: %w", h.LastIndex, err))
		return err
	}
	s.mu.Lock()
	s.next = h.LastIndex + 1
	if h.Count == 0 {
		s.first, s.physFirst = h.LastIndex+1, h.LastIndex+1
	}
	s.findTermStartLocked()
	s.mu.Unlock()
	s.noteReset(h.LastIndex, true)
	if len(tail) > 0 {
		if err := s.storeLogsW(tail, false); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logger.Info("dledger: commit log restored from snapshot",
		"first", h.StartIndex, "last", h.LastIndex, "start_offset", h.StartOffset, "records", h.Count, "tail_kept", len(tail))
	return s.ix.maybeFlush(true)
}

// appendSnapshotRecords appends the carried records in batches, checking
// that each lands at the offset it had on the sender.
func (s *LogStore) appendSnapshotRecords(h snapHeader, r io.Reader) error {
	var (
		recs    []commitlog.Record
		want    []int64
		size    int
		index   = h.StartIndex
		lastEnd = h.StartOffset
	)
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		offs, err := s.log.Append(recs)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, off := range offs {
			if off != want[i] {
				return fmt.Errorf("dledger: snapshot record landed at %d, sender had it at %d: %w", off, want[i], ErrSnapshotMismatch)
			}
			if err := s.ix.add(off, uint32(len(recs[i].Data))); err != nil {
				return err
			}
		}
		recs, want, size = recs[:0], want[:0], 0
		return nil
	}
	var ih [snapItemHeader]byte
	for n := uint64(0); n < h.Count; n++ {
		if _, err := io.ReadFull(r, ih[:]); err != nil {
			return fmt.Errorf("dledger: snapshot record %d header: %v: %w", index, err, ErrSnapshotFormat)
		}
		off := int64(binary.LittleEndian.Uint64(ih[0:]))
		ln := binary.LittleEndian.Uint32(ih[8:])
		if int64(ln) > maxSnapshotRecord || ln < EntryHeaderSize || off < lastEnd {
			return fmt.Errorf("dledger: snapshot record %d: length %d at offset %d: %w", index, ln, off, ErrSnapshotFormat)
		}
		data := make([]byte, ln)
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("dledger: snapshot record %d data: %v: %w", index, err, ErrSnapshotFormat)
		}
		if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(ih[12:]) {
			return fmt.Errorf("dledger: snapshot record %d checksum: %w", index, ErrSnapshotFormat)
		}
		eh, err := decodeEntryHeader(data)
		if err != nil || eh.Index != index {
			return errors.Join(fmt.Errorf("dledger: snapshot record holds entry %d, want %d: %w", eh.Index, index, ErrSnapshotFormat), err)
		}
		recs = append(recs, commitlog.Record{Type: RecordTypeEntry, Data: data})
		want = append(want, off)
		size += len(data)
		lastEnd = off + 1
		index++
		if size >= 4<<20 || len(recs) >= 1024 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if h.Count > 0 {
		if got := s.log.End(); got != h.EndOffset {
			s.logger.Debug("dledger: restored log end differs from the sender's end of the last record",
				"end", got, "sender_end", h.EndOffset)
		}
	}
	// Whatever follows the records belongs to the application.
	if n, _ := io.Copy(io.Discard, r); n != 0 {
		return fmt.Errorf("dledger: %d stray bytes after snapshot records: %w", n, ErrSnapshotFormat)
	}
	return nil
}
