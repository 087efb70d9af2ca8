package store

import (
	"errors"
	"fmt"
	"sync"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/message"
)

// GetStatus is RocketMQ's GetMessageStatus. The broker maps it to a PULL
// response code (REMOTING.md §3.5, Java PullMessageProcessor):
//
//	GetFound                       → SUCCESS (0)
//	GetNoMatchedMessage,
//	GetMessageWasRemoving          → PULL_RETRY_IMMEDIATELY (20)
//	GetNoMessageInQueue            → PULL_OFFSET_MOVED (21) if offset != 0, else PULL_NOT_FOUND (19)
//	GetOffsetOverflowOne,
//	GetOffsetFoundNull             → PULL_NOT_FOUND (19), after a long poll
//	GetOffsetOverflowBadly,
//	GetOffsetTooSmall              → PULL_OFFSET_MOVED (21)
type GetStatus uint8

const (
	GetFound GetStatus = iota + 1
	GetNoMatchedMessage
	GetMessageWasRemoving
	GetOffsetFoundNull
	GetOffsetOverflowBadly
	GetOffsetOverflowOne
	GetOffsetTooSmall
	GetNoMessageInQueue
)

func (s GetStatus) String() string {
	switch s {
	case GetFound:
		return "FOUND"
	case GetNoMatchedMessage:
		return "NO_MATCHED_MESSAGE"
	case GetMessageWasRemoving:
		return "MESSAGE_WAS_REMOVING"
	case GetOffsetFoundNull:
		return "OFFSET_FOUND_NULL"
	case GetOffsetOverflowBadly:
		return "OFFSET_OVERFLOW_BADLY"
	case GetOffsetOverflowOne:
		return "OFFSET_OVERFLOW_ONE"
	case GetOffsetTooSmall:
		return "OFFSET_TOO_SMALL"
	case GetNoMessageInQueue:
		return "NO_MESSAGE_IN_QUEUE"
	}
	return fmt.Sprintf("GetStatus(%d)", uint8(s))
}

// GetResult is the outcome of GetMessages.
type GetResult struct {
	Status GetStatus
	// NextBeginOffset is where the consumer continues (RocketMQ's rules,
	// see GetMessages).
	NextBeginOffset int64
	// MinOffset and MaxOffset are the queue's bounds when the call looked
	// (MaxOffset is the next offset to be written).
	MinOffset, MaxOffset int64
	// Body holds the Count messages found, oldest first, in the stored
	// layout with QUEUEOFFSET and PHYSICALOFFSET filled in: a PULL
	// response body as is. It is a fresh buffer owned by the caller.
	Body  []byte
	Count int
}

// maxGetScan bounds the consume-queue entries one GetMessages call reads
// (and the pooled buffers' size): 1 MiB of entries.
const maxGetScan = 1 << 15

// entryBufs pools consume-queue entry buffers for GetMessages.
var entryBufs = sync.Pool{New: func() any { return new([]consumequeue.Entry) }}

// GetMessages reads up to maxNums messages of queue (topic, queueID) from
// offset on that pass filter (nil: all), within Config.MaxGetBytes (the
// first message always fits). It serves committed, applied messages on any
// replica. group is accepted for RocketMQ's signature and not used.
//
// Statuses and NextBeginOffset follow RocketMQ 4.9's DefaultMessageStore
// (as a master, i.e. with offset correction):
//
//	queue empty (max == 0)        NO_MESSAGE_IN_QUEUE    next 0
//	offset < min                  OFFSET_TOO_SMALL       next min
//	offset == max                 OFFSET_OVERFLOW_ONE    next offset
//	offset > max                  OFFSET_OVERFLOW_BADLY  next max
//	entries gone under the read   OFFSET_FOUND_NULL      next min
//	messages returned             FOUND                  next = offset + entries examined
//	none passed the filter        NO_MATCHED_MESSAGE     next = offset + entries examined
//	all examined were removed     MESSAGE_WAS_REMOVING   next = offset + entries examined
//
// (RocketMQ before 4.9 answered OFFSET_OVERFLOW_BADLY with next 0 when min
// was 0; 4.9 and REMOTING.md use max.) An unknown queue reads as empty.
func (s *Store) GetMessages(group, topic string, queueID int32, offset int64, maxNums int, filter MessageFilter) (GetResult, error) {
	_ = group
	seq, err := s.readErr()
	if err != nil {
		return GetResult{}, err
	}
	r, err := s.getMessages(topic, queueID, offset, maxNums, filter)
	if err = s.endRead(seq, err); err != nil {
		return GetResult{}, err
	}
	return r, nil
}

func (s *Store) getMessages(topic string, queueID int32, offset int64, maxNums int, filter MessageFilter) (GetResult, error) {
	if maxNums <= 0 {
		return GetResult{}, fmt.Errorf("%w: maxNums %d", ErrInvalid, maxNums)
	}
	q, lo, hi := s.queueBounds(topic, queueID)
	r := GetResult{MinOffset: lo, MaxOffset: hi}
	switch {
	case hi == 0:
		r.Status, r.NextBeginOffset = GetNoMessageInQueue, 0
		return r, nil
	case offset < lo:
		r.Status, r.NextBeginOffset = GetOffsetTooSmall, lo
		return r, nil
	case offset == hi:
		r.Status, r.NextBeginOffset = GetOffsetOverflowOne, offset
		return r, nil
	case offset > hi:
		r.Status, r.NextBeginOffset = GetOffsetOverflowBadly, hi
		return r, nil
	}

	scan := min(max(s.cfg.MaxGetScan, maxNums), maxGetScan)
	bp := entryBufs.Get().(*[]consumequeue.Entry)
	defer entryBufs.Put(bp)
	if cap(*bp) < scan {
		*bp = make([]consumequeue.Entry, scan)
	}
	buf := (*bp)[:min(int64(scan), hi-offset)]
	n, err := q.Read(offset, buf)
	if errors.Is(err, consumequeue.ErrOutOfRange) {
		// Retention moved the queue's start past offset under us.
		r.Status, r.NextBeginOffset, r.MinOffset = GetOffsetFoundNull, q.MinOffset(), q.MinOffset()
		return r, nil
	}
	if err != nil {
		return GetResult{}, s.readFailure(topic, queueID, offset, err)
	}
	buf = buf[:n]

	r.Status = GetNoMatchedMessage
	logStart := s.cl.Start()
	var (
		total, count int
		sel          []int32 // indexes in buf of the selected entries
		selArr       [64]int32
	)
	sel = selArr[:0]
	i := 0
	for ; i < len(buf); i++ {
		e := &buf[i]
		if count >= maxNums || count > 0 && total+int(e.Size) > s.cfg.MaxGetBytes {
			break
		}
		if e.Phys < logStart {
			if count == 0 {
				r.Status = GetMessageWasRemoving
			}
			continue
		}
		if filter != nil && !filter.MatchTagHash(e.TagHash) {
			if count == 0 {
				r.Status = GetNoMatchedMessage
			}
			continue
		}
		sel = append(sel, int32(i))
		total += int(e.Size)
		count++
	}
	r.NextBeginOffset = offset + int64(i)
	if count == 0 {
		return r, nil
	}
	body := make([]byte, total)
	if err := s.readEntries(body, buf, sel, offset); err != nil {
		return GetResult{}, s.readFailure(topic, queueID, offset, err)
	}
	r.Status, r.Body, r.Count = GetFound, body, count
	return r, nil
}

// readEntries fills body with the messages of the selected entries (buf[j]
// for j in sel, at queue offset base+j), reading physically contiguous runs
// with one copy each, and patches their offsets.
func (s *Store) readEntries(body []byte, buf []consumequeue.Entry, sel []int32, base int64) error {
	pos := 0
	for k := 0; k < len(sel); {
		// A run: entries whose messages follow each other in the log.
		start := buf[sel[k]].Phys
		end := start + int64(buf[sel[k]].Size)
		k2 := k + 1
		for k2 < len(sel) && buf[sel[k2]].Phys == end {
			end += int64(buf[sel[k2]].Size)
			k2++
		}
		n := int(end - start)
		if _, err := s.cl.ReadAt(body[pos:pos+n], start); err != nil {
			return fmt.Errorf("read %d bytes at %d: %w", n, start, err)
		}
		for ; k < k2; k++ {
			e := &buf[sel[k]]
			rec := body[pos : pos+int(e.Size)]
			if err := checkRecordHeader(rec, e.Size); err != nil {
				return fmt.Errorf("message at %d: %w", e.Phys, err)
			}
			_ = message.PatchOffsets(rec, base+int64(sel[k]), e.Phys)
			pos += int(e.Size)
		}
	}
	return nil
}

// checkRecordHeader checks that rec starts a stored message of size bytes
// (TOTALSIZE and magic): a consume-queue entry that points elsewhere is
// corruption, never silently served.
func checkRecordHeader(rec []byte, size int32) error {
	if len(rec) < message.MinStoredSize {
		return fmt.Errorf("%w: %d-byte message", ErrCorrupt, len(rec))
	}
	total := int32(uint32(rec[0])<<24 | uint32(rec[1])<<16 | uint32(rec[2])<<8 | uint32(rec[3]))
	magic := uint32(rec[4])<<24 | uint32(rec[5])<<16 | uint32(rec[6])<<8 | uint32(rec[7])
	if total != size || (magic != message.MagicV1 && magic != message.MagicV2) {
		return fmt.Errorf("%w: stored message says %d bytes magic %#x, consume queue says %d bytes", ErrCorrupt, total, magic, size)
	}
	return nil
}

// readFailure wraps a read error.
func (s *Store) readFailure(topic string, qid int32, off int64, err error) error {
	return fmt.Errorf("store: read %s/%d at %d: %w", topic, qid, off, err)
}

// endRead finishes a read that began at rebuild sequence seq: a read that
// overlapped a rebuild fails with ErrUnavailable whatever it saw; otherwise
// corruption it found marks the derived state for repair.
func (s *Store) endRead(seq uint64, err error) error {
	if derr := s.readDone(seq); derr != nil {
		return derr
	}
	if err != nil && (errors.Is(err, consumequeue.ErrCorrupt) || errors.Is(err, ErrCorrupt)) {
		s.setDegraded(fmt.Errorf("%w: found by a read: %w", ErrCorrupt, err))
	}
	return err
}

// queueBounds returns a queue's consume queue (nil if it has none yet) and
// its min and max offsets. A queue the consume queue does not hold (never
// written, or every message of it below the retained log) is empty at its
// FSM counter.
func (s *Store) queueBounds(topic string, qid int32) (*consumequeue.Queue, int64, int64) {
	if q := s.cq.Queue(topic, qid); q != nil {
		return q, q.MinOffset(), q.MaxOffset()
	}
	// Under qs.mu a queue's counter and its consume queue agree: the
	// queue either still lacks its first entry (and the counter is where
	// that entry goes) or has it now.
	s.qs.mu.RLock()
	defer s.qs.mu.RUnlock()
	if q := s.cq.Queue(topic, qid); q != nil {
		return q, q.MinOffset(), q.MaxOffset()
	}
	n, _ := s.qs.nextLocked(topic, qid)
	return nil, n, n
}
