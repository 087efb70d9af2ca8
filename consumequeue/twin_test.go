package consumequeue

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// twin is the naive model of a Store: the dispatch log in order plus every
// queue as a plain slice.
type twin struct {
	qs      map[QueueKey]*twinQueue
	log     []Dispatch
	phys    int64 // next physical offset
	minPhys int64
}

type twinQueue struct {
	start int64
	es    []Entry // es[i] is at queue offset start+i
}

func newTwin() *twin { return &twin{qs: map[QueueKey]*twinQueue{}, phys: 100} }

// next makes the next dispatched entry for a random queue.
func (w *twin) next(rng *rand.Rand, topics int) Dispatch {
	k := QueueKey{fmt.Sprintf("topic%d", rng.IntN(topics)), int32(rng.IntN(3))}
	tq := w.qs[k]
	if tq == nil {
		tq = &twinQueue{start: rng.Int64N(20)}
		w.qs[k] = tq
	}
	size := int32(1 + rng.IntN(300))
	e := Entry{Phys: w.phys, Size: size, TagHash: rng.Int64(), StoreTime: 1_700_000_000_000 + w.phys/10}
	w.phys += int64(size) + rng.Int64N(3)
	d := Dispatch{Topic: k.Topic, QueueID: k.ID, QueueOffset: tq.start + int64(len(tq.es)), Entry: e}
	tq.es = append(tq.es, e)
	w.log = append(w.log, d)
	return d
}

// truncate models the commit log losing its tail from phys on.
func (w *twin) truncate(phys int64) {
	for _, tq := range w.qs {
		n := 0
		for n < len(tq.es) && tq.es[n].Phys < phys {
			n++
		}
		tq.es = tq.es[:n]
	}
	n := 0
	for n < len(w.log) && w.log[n].Entry.Phys < phys {
		n++
	}
	w.log = w.log[:n]
	w.phys = phys
}

// bounds returns a queue's expected [min, max) given that only entries with
// Phys < limit survive.
func (w *twin) bounds(tq *twinQueue, limit int64) (n int, min, max int64) {
	for n < len(tq.es) && tq.es[n].Phys < limit {
		n++
	}
	m := 0
	for m < n && tq.es[m].Phys < w.minPhys {
		m++
	}
	return n, tq.start + int64(m), tq.start + int64(n)
}

// check compares s with the twin, counting only entries with Phys < limit.
func (w *twin) check(t testing.TB, s *Store, limit int64) {
	t.Helper()
	for _, k := range s.Queues() {
		if w.qs[k] == nil {
			t.Fatalf("store has queue %v the twin lacks", k)
		}
	}
	buf := make([]Entry, 7)
	for k, tq := range w.qs {
		n, min, max := w.bounds(tq, limit)
		q := s.Queue(k.Topic, k.ID)
		if q == nil {
			if n == 0 {
				continue
			}
			t.Fatalf("queue %v missing, want [%d, %d)", k, min, max)
		}
		if q.MinOffset() != min || q.MaxOffset() != max {
			t.Fatalf("queue %v: [%d, %d), want [%d, %d)", k, q.MinOffset(), q.MaxOffset(), min, max)
		}
		for off := min; off < max; off += int64(len(buf)) {
			got, err := q.Read(off, buf)
			if err != nil {
				t.Fatalf("queue %v Read(%d): %v", k, off, err)
			}
			for i := 0; i < got; i++ {
				if want := tq.es[off-tq.start+int64(i)]; buf[i] != want {
					t.Fatalf("queue %v offset %d: %+v, want %+v", k, off+int64(i), buf[i], want)
				}
			}
		}
	}
}

// seq yields the twin's log as a Rebuild input.
func (w *twin) seq(from int64) func(yield func(Dispatch, error) bool) {
	return func(yield func(Dispatch, error) bool) {
		for _, d := range w.log {
			if d.Entry.Phys >= from && !yield(d, nil) {
				return
			}
		}
	}
}
