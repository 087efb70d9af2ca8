package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/message"
)

// MinOffset returns the first readable offset of a queue (0 for an
// unknown queue).
func (s *Store) MinOffset(topic string, queueID int32) int64 {
	_, lo, _ := s.queueBounds(topic, queueID)
	return lo
}

// MaxOffset returns the next offset to be written in a queue (0 for an
// unknown queue): RocketMQ's GET_MAX_OFFSET.
func (s *Store) MaxOffset(topic string, queueID int32) int64 {
	_, _, hi := s.queueBounds(topic, queueID)
	return hi
}

// SearchOffsetByTime returns the first offset of a queue whose message was
// stored at or after ts (Unix ms), or the max offset when there is none
// (SEARCH_OFFSET_BY_TIMESTAMP). Store times come from the leaders' clocks;
// where they step back across a leader change the answer is some offset o
// with StoreTime(o-1) < ts <= StoreTime(o) (consumequeue.Queue.SearchTime).
func (s *Store) SearchOffsetByTime(topic string, queueID int32, ts int64) (int64, error) {
	seq, err := s.readErr()
	if err != nil {
		return 0, err
	}
	off := int64(0)
	q, _, hi := s.queueBounds(topic, queueID)
	if q == nil {
		off = hi
	} else if off, err = q.SearchTime(ts); err != nil {
		err = s.readFailure(topic, queueID, -1, err)
	}
	if err = s.endRead(seq, err); err != nil {
		return 0, err
	}
	return off, nil
}

// LookupMessage returns the stored message at physical offset phys (the
// offset in its offset msg id, or the one a consumer sends back with
// CONSUMER_SEND_MSG_BACK), with QUEUEOFFSET and PHYSICALOFFSET filled in.
// Decode it with message.Decode. It fails with ErrNotFound unless phys is
// the start of a message this replica has applied and still retains.
func (s *Store) LookupMessage(phys int64) ([]byte, error) {
	seq, err := s.readErr()
	if err != nil {
		return nil, err
	}
	b, _, err := s.lookup(phys, nil)
	if err = s.endRead(seq, err); err != nil {
		return nil, err
	}
	return b, nil
}

// LookupMessageByID is LookupMessage for an offset msg id string.
func (s *Store) LookupMessageByID(id string) ([]byte, error) {
	var mid message.OffsetMsgID
	if err := mid.UnmarshalText([]byte(id)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.LookupMessage(mid.Offset)
}

// lookup reads and checks the message at phys and patches its offsets. A
// message is genuine when its consume queue has an entry at exactly phys
// with its size. want, if set, must be in the message's KEYS or UNIQ_KEY.
//
// The bound is the commit log's end, not the dispatch position: the FSM
// puts a message's consume-queue entry (making it pullable) before it
// advances the dispatch position past the whole raft entry, so a consumer
// can send back a message it just pulled while that entry is still being
// dispatched. Bytes past the dispatched range are never returned unless
// their consume-queue entry exists, which only committed messages have.
func (s *Store) lookup(phys int64, accept func(v message.View) bool) ([]byte, message.View, error) {
	end := s.cl.End()
	notFound := fmt.Errorf("%w: no message at physical offset %d", ErrNotFound, phys)
	if phys < s.cl.Start() || phys+message.MinStoredSize > end {
		return nil, message.View{}, notFound
	}
	var hdr [4]byte
	if _, err := s.cl.ReadAt(hdr[:], phys); err != nil {
		return nil, message.View{}, notFound
	}
	size := int64(int32(binary.BigEndian.Uint32(hdr[:])))
	if size < message.MinStoredSize || phys+size > end || size > int64(s.maxEntry) {
		return nil, message.View{}, notFound
	}
	b := make([]byte, size)
	if _, err := s.cl.ReadAt(b, phys); err != nil {
		return nil, message.View{}, notFound
	}
	v, err := message.ParseView(b)
	if err != nil || (accept != nil && !accept(v)) {
		return nil, message.View{}, notFound
	}
	q := s.cq.Queue(string(v.Topic()), v.QueueID())
	if q == nil {
		return nil, message.View{}, notFound
	}
	off, err := searchPhys(q, phys)
	if err != nil {
		return nil, message.View{}, err
	}
	if off < 0 {
		return nil, message.View{}, notFound
	}
	if e, err := q.Get(off); err != nil || e.Size != int32(size) {
		return nil, message.View{}, notFound
	}
	_ = message.PatchOffsets(b, off, phys)
	return b, v, nil
}

// searchPhys returns the queue offset of the entry with Phys == phys, or -1.
func searchPhys(q *consumequeue.Queue, phys int64) (int64, error) {
	lo, hi := q.MinOffset(), q.MaxOffset()
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := q.Get(mid)
		if errors.Is(err, consumequeue.ErrOutOfRange) {
			return -1, nil // retention moved the start under us
		}
		if err != nil {
			return -1, fmt.Errorf("store: search %s/%d for %d: %w", q.Topic(), q.ID(), phys, err)
		}
		switch {
		case e.Phys == phys:
			return mid, nil
		case e.Phys < phys:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return -1, nil
}

// QueryResult is the outcome of QueryMessages.
type QueryResult struct {
	// Body holds Count messages (stored layout, offsets filled in), newest
	// first as the index returns them; a QUERY_MESSAGE body as is.
	Body  []byte
	Count int
	// Phys lists their physical offsets in Body order.
	Phys []int64
	// IndexLastUpdatePhys is how far the key index has got (every message
	// below it is indexed; RocketMQ's indexLastUpdatePhyoffset).
	IndexLastUpdatePhys int64
}

// QueryMessages returns up to maxNum messages of topic whose KEYS (or
// UNIQ_KEY) contain key and whose store time lies in [begin, end] (Unix
// ms). The key index is scoped by topic (RocketMQ's "topic#key"); hash
// collisions are filtered out by checking each message.
func (s *Store) QueryMessages(topic, key string, maxNum int, begin, end int64) (QueryResult, error) {
	seq, err := s.readErr()
	if err != nil {
		return QueryResult{}, err
	}
	r, err := s.queryMessages(topic, key, maxNum, begin, end)
	if err = s.endRead(seq, err); err != nil {
		return QueryResult{}, err
	}
	return r, nil
}

func (s *Store) queryMessages(topic, key string, maxNum int, begin, end int64) (QueryResult, error) {
	if maxNum <= 0 || key == "" {
		return QueryResult{}, fmt.Errorf("%w: query %q max %d", ErrInvalid, key, maxNum)
	}
	phys, err := s.ix.query(topic, key, maxNum, begin, end)
	if err != nil {
		return QueryResult{}, fmt.Errorf("store: query %s#%s: %w", topic, key, err)
	}
	var r QueryResult
	r.IndexLastUpdatePhys = s.ix.dispatchedPhys()
	for _, p := range phys {
		if r.Count >= maxNum {
			break
		}
		b, _, err := s.lookup(p, func(v message.View) bool {
			return string(v.Topic()) == topic && hasKey(v, key)
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return QueryResult{}, err
		}
		r.Body = append(r.Body, b...)
		r.Phys = append(r.Phys, p)
		r.Count++
	}
	return r, nil
}

// hasKey reports whether key is the message's UNIQ_KEY or one of its KEYS.
func hasKey(v message.View, key string) bool {
	if string(v.UniqKey()) == key {
		return true
	}
	for k := range message.KeysSeqBytes(v.Keys()) {
		if string(k) == key {
			return true
		}
	}
	return false
}
