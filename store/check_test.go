package store

import (
	"bytes"
	"slices"
	"testing"

	"github.com/dledgermq/dledgermq/consumequeue"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
)

// storedMsg is what a replica serves at one queue offset.
type storedMsg struct {
	QueueOffset int64
	Phys        int64
	Body        string
	Raw         []byte
}

// queueView is one replica's view of one queue.
type queueView struct {
	Min, Max int64
	Entries  []consumequeue.Entry
	Msgs     []storedMsg
}

// readQueue reads a whole queue through the consume queue and GetMessages,
// checking every message's patched offsets.
func readQueue(t testing.TB, s *Store, k QueueKey) queueView {
	t.Helper()
	var v queueView
	v.Min, v.Max = s.MinOffset(k.Topic, k.QueueID), s.MaxOffset(k.Topic, k.QueueID)
	if q := s.cq.Queue(k.Topic, k.QueueID); q != nil && v.Max > v.Min {
		es, err := q.Range(v.Min, int(v.Max-v.Min))
		if err != nil {
			t.Fatalf("%s: range %v: %v", s.cfg.DLedger.ID, k, err)
		}
		v.Entries = es
	}
	for off := v.Min; off < v.Max; {
		r, err := s.GetMessages("g", k.Topic, k.QueueID, off, 32, nil)
		if err != nil {
			t.Fatalf("%s: get %v at %d: %v", s.cfg.DLedger.ID, k, off, err)
		}
		if r.Status != GetFound {
			t.Fatalf("%s: get %v at %d: status %v (min %d max %d)", s.cfg.DLedger.ID, k, off, r.Status, r.MinOffset, r.MaxOffset)
		}
		msgs, err := message.DecodeAll(r.Body, nil)
		if err != nil || len(msgs) != r.Count {
			t.Fatalf("%s: decode %v at %d: %d msgs, count %d, %v", s.cfg.DLedger.ID, k, off, len(msgs), r.Count, err)
		}
		p := 0
		for i, m := range msgs {
			qoff := off + int64(i)
			e := v.Entries[qoff-v.Min]
			if m.QueueOffset != qoff || m.CommitLogOffset != e.Phys || m.Topic != k.Topic || m.QueueID != k.QueueID {
				t.Fatalf("%s: %v offset %d: message says queue offset %d phys %d topic %s/%d; entry phys %d",
					s.cfg.DLedger.ID, k, qoff, m.QueueOffset, m.CommitLogOffset, m.Topic, m.QueueID, e.Phys)
			}
			if m.BodyCRC != message.BodyCRC(m.Body) {
				t.Fatalf("%s: %v offset %d: body CRC mismatch", s.cfg.DLedger.ID, k, qoff)
			}
			n := int(e.Size)
			v.Msgs = append(v.Msgs, storedMsg{QueueOffset: qoff, Phys: e.Phys, Body: string(m.Body), Raw: r.Body[p : p+n]})
			p += n
		}
		if r.NextBeginOffset != off+int64(r.Count) {
			t.Fatalf("%s: %v at %d: next %d after %d messages", s.cfg.DLedger.ID, k, off, r.NextBeginOffset, r.Count)
		}
		off = r.NextBeginOffset
	}
	return v
}

// queuesOf lists every queue a replica knows (FSM counters and consume
// queues).
func queuesOf(s *Store) []QueueKey {
	var ks []QueueKey
	for k := range s.qs.counters() {
		ks = append(ks, k)
	}
	for _, k := range s.cq.Queues() {
		ks = append(ks, QueueKey{k.Topic, k.ID})
	}
	slices.SortFunc(ks, func(a, b QueueKey) int {
		if a.Topic != b.Topic {
			return bytes.Compare([]byte(a.Topic), []byte(b.Topic))
		}
		return int(a.QueueID - b.QueueID)
	})
	return slices.Compact(ks)
}

// checkReplicas compares every running replica: commit logs record by
// record, queue bounds, consume-queue entries and the bytes GetMessages
// serves. It returns the first replica's view of every queue.
func (c *cluster) checkReplicas() map[QueueKey]queueView {
	c.t.Helper()
	c.waitApplied()
	up := c.up()
	ref := c.store(up[0])
	for _, i := range up[1:] {
		if _, err := dledger.CompareLogs(ref.ls, c.store(i).ls, 0, 0); err != nil {
			c.t.Fatalf("commit logs n%d vs n%d: %v", up[0], i, err)
		}
	}
	keys := queuesOf(ref)
	views := map[QueueKey]queueView{}
	for _, k := range keys {
		v0 := readQueue(c.t, ref, k)
		// Offsets are dense and physical offsets increase.
		for j, m := range v0.Msgs {
			if m.QueueOffset != v0.Min+int64(j) || j > 0 && m.Phys <= v0.Msgs[j-1].Phys {
				c.t.Fatalf("n%d %v: message %d at queue offset %d phys %d", up[0], k, j, m.QueueOffset, m.Phys)
			}
		}
		if int64(len(v0.Msgs)) != v0.Max-v0.Min {
			c.t.Fatalf("n%d %v: %d messages in [%d, %d)", up[0], k, len(v0.Msgs), v0.Min, v0.Max)
		}
		for _, i := range up[1:] {
			vi := readQueue(c.t, c.store(i), k)
			if vi.Min != v0.Min || vi.Max != v0.Max {
				c.t.Fatalf("%v: n%d has [%d, %d), n%d has [%d, %d)", k, up[0], v0.Min, v0.Max, i, vi.Min, vi.Max)
			}
			if !slices.Equal(vi.Entries, v0.Entries) {
				c.t.Fatalf("%v: consume queues differ between n%d and n%d", k, up[0], i)
			}
			for j := range v0.Msgs {
				if !bytes.Equal(vi.Msgs[j].Raw, v0.Msgs[j].Raw) {
					c.t.Fatalf("%v offset %d: served bytes differ between n%d and n%d", k, v0.Msgs[j].QueueOffset, up[0], i)
				}
			}
		}
		views[k] = v0
	}
	for _, i := range up {
		if got := queuesOf(c.store(i)); !slices.Equal(got, keys) {
			c.t.Fatalf("n%d knows queues %v, n%d %v", i, got, up[0], keys)
		}
	}
	return views
}

// byBody indexes the messages of every queue by body; a body stored twice
// (a retried write whose first outcome was unknown) has several entries.
func byBody(views map[QueueKey]queueView) map[string][]PutResult {
	out := map[string][]PutResult{}
	for k, v := range views {
		for _, m := range v.Msgs {
			out[m.Body] = append(out[m.Body], PutResult{QueueID: k.QueueID, QueueOffset: m.QueueOffset, Phys: m.Phys})
		}
	}
	return out
}

// uniqueBodies is byBody for tests where no write was retried.
func uniqueBodies(t testing.TB, views map[QueueKey]queueView) map[string]PutResult {
	t.Helper()
	out := map[string]PutResult{}
	for b, rs := range byBody(views) {
		if len(rs) != 1 {
			t.Fatalf("body %q stored %d times", b, len(rs))
		}
		out[b] = rs[0]
	}
	return out
}
