package jepsen

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// simulate runs a correct in-memory queue service under a random
// concurrent workload and returns its history, drains included. Effects
// take place at completion time (inside every operation's interval), so
// the history is linearizable and passes every checker by construction.
// Unknown sends take effect now, later or never; retried sends may be
// stored twice.
func simulate(rng *rand.Rand, steps int) History {
	const (
		senders   = 4
		readers   = 2
		committer = senders + readers
		procs     = committer + 1
	)
	queues := []Queue{q0, q1, {Topic: "jepsen", Broker: "g0", ID: 2}}
	state := make(map[Queue][]string)
	committed := make(map[groupQueue]int64)
	b := &builder{}
	type pending struct {
		inv   Op
		apply func(*Op) Type // completes the op, returns its type
	}
	busy := make(map[int]*pending)
	var later []func() // unknown sends that land after they completed
	seq := 0
	appendTo := func(q Queue, v string) int64 {
		state[q] = append(state[q], v)
		return int64(len(state[q]) - 1)
	}
	invoke := func(p int) *pending {
		op := Op{Process: p}
		pd := &pending{}
		switch {
		case p < senders:
			seq++
			op.Kind, op.Value = KindSend, fmt.Sprintf("v%d", seq)
			q := queues[rng.IntN(len(queues))]
			if rng.IntN(2) == 0 { // ordered: the process's key has one queue
				op.Key = fmt.Sprintf("k%d", p)
				q = queues[p%len(queues)]
			}
			v := op.Value
			pd.apply = func(c *Op) Type {
				c.Attempts = 1
				switch r := rng.IntN(100); {
				case r < 75:
					c.Queue, c.Offset = q, appendTo(q, v)
					return OK
				case r < 82: // first attempt timed out but was stored
					appendTo(q, v)
					c.Queue, c.Offset, c.Attempts, c.MaybeDup = q, appendTo(q, v), 2, true
					return OK
				case r < 90:
					c.Error = "refused"
					return Fail
				default:
					c.Error = "timeout"
					switch rng.IntN(3) {
					case 0:
						appendTo(q, v)
					case 1:
						later = append(later, func() { appendTo(q, v) })
					}
					return Info
				}
			}
		case p < committer:
			q := queues[rng.IntN(len(queues))]
			off := int64(rng.IntN(len(state[q]) + 3))
			op.Kind, op.Node, op.Queue, op.Offset = KindRead, "n0", q, off
			pd.apply = func(c *Op) Type {
				if off < int64(len(state[q])) {
					c.Value = state[q][off]
				}
				return OK
			}
		default:
			gq := groupQueue{"g", queues[rng.IntN(len(queues))]}
			if rng.IntN(2) == 0 {
				off := committed[gq] + int64(rng.IntN(4))
				op.Kind, op.Group, op.Queue, op.Offset = KindCommitOffset, gq.group, gq.q, off
				pd.apply = func(c *Op) Type {
					switch r := rng.IntN(100); {
					case r < 85:
						committed[gq] = max(committed[gq], off)
						return OK
					case r < 92:
						if rng.IntN(2) == 0 {
							committed[gq] = max(committed[gq], off)
						}
						return Info
					}
					return Fail
				}
			} else {
				op.Kind, op.Group, op.Queue = KindQueryOffset, gq.group, gq.q
				pd.apply = func(c *Op) Type {
					c.Offset = NoOffset
					if v, ok := committed[gq]; ok {
						c.Offset = v
					}
					return OK
				}
			}
		}
		b.add(p, Invoke, op.Kind, func(o *Op) { *o = op; o.Type, o.Time, o.Index = Invoke, b.now, len(b.h) })
		pd.inv = b.h[len(b.h)-1]
		return pd
	}
	for range steps {
		b.now += int64(1 + rng.IntN(1000_000)) // up to 1 ms between events
		if len(later) > 0 && rng.IntN(20) == 0 {
			i := rng.IntN(len(later))
			later[i]()
			later = slices.Delete(later, i, i+1)
		}
		p := rng.IntN(procs)
		if busy[p] == nil {
			busy[p] = invoke(p)
			continue
		}
		pd := busy[p]
		delete(busy, p)
		c := pd.inv.As(OK)
		c.Type = pd.apply(&c)
		b.add(p, c.Type, c.Kind, func(o *Op) { t, i := o.Time, o.Index; *o = c; o.Time, o.Index = t, i })
	}
	for _, p := range slices.Sorted(maps.Keys(busy)) {
		pd := busy[p]
		c := pd.inv.As(OK)
		c.Type = pd.apply(&c)
		b.add(p, c.Type, c.Kind, func(o *Op) { t, i := o.Time, o.Index; *o = c; o.Time, o.Index = t, i })
	}
	for _, f := range later {
		if rng.IntN(2) == 0 {
			f()
		}
	}
	for _, q := range queues {
		b.drainAll(q, state[q]...)
	}
	return b.h
}

// cloneHistory deep-copies h (drain entries included) for mutation.
func cloneHistory(h History) History {
	c := slicesClone(h)
	for i := range c {
		c[i].Entries = slices.Clone(c[i].Entries)
	}
	return c
}

// drainOps returns the indices of the ok drain ops of node (all nodes when
// node is "").
func drainOps(h History, node string) []int {
	var out []int
	for i, op := range h {
		if op.Kind == KindDrain && op.Type == OK && (node == "" || op.Node == node) {
			out = append(out, i)
		}
	}
	return out
}

// appendOp adds op at the end of h with the next index and a later time.
func appendOp(h History, op Op) History {
	op.Index = len(h)
	op.Time = h.EndTime() + 10
	return append(h, op)
}

// mutation damages a correct history so that one checker must object.
type mutation struct {
	name string
	// apply returns the damaged history, or false when this history
	// offers nothing to damage.
	apply func(h History) (History, bool)
	// invalid picks the result that must fail.
	invalid func(r *Report) Result
}

var mutations = []mutation{
	{"lose an acked value on one replica", func(h History) (History, bool) {
		sends := indexSends(h)
		for _, i := range drainOps(h, "n2") {
			for j, e := range h[i].Entries {
				if _, ok := sends.acked(e.Value); ok && !sends.mayBeDuplicated(e.Value) {
					h[i].Entries = slices.Delete(h[i].Entries, j, j+1)
					return h, true
				}
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.Lost }},
	{"a value nobody sent", func(h History) (History, bool) {
		for _, i := range drainOps(h, "") {
			h[i].Entries = append(h[i].Entries, Entry{Offset: int64(len(h[i].Entries)), Value: "ghost"})
		}
		return h, true
	}, func(r *Report) Result { return &r.Unexpected }},
	{"a single-attempt value stored twice", func(h History) (History, bool) {
		sends := indexSends(h)
		for _, i := range drainOps(h, "n0") {
			for _, e := range h[i].Entries {
				if _, ok := sends.acked(e.Value); ok && !sends.mayBeDuplicated(e.Value) {
					for _, k := range drainOps(h, "") {
						if h[k].Queue == h[i].Queue {
							h[k].Entries = append(h[k].Entries, Entry{Offset: int64(len(h[k].Entries)), Value: e.Value})
						}
					}
					return h, true
				}
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.Duplicates }},
	{"replicas swap two entries", func(h History) (History, bool) {
		for _, i := range drainOps(h, "n1") {
			es := h[i].Entries
			for j := 1; j < len(es); j++ {
				if es[j].Value != es[j-1].Value {
					es[j].Value, es[j-1].Value = es[j-1].Value, es[j].Value
					return h, true
				}
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.Divergence }},
	{"an ack names the wrong offset", func(h History) (History, bool) {
		d, _ := DrainsOf(h)
		for i, op := range h {
			if op.Kind != KindSend || op.Type != OK {
				continue
			}
			if es := d["n0"][op.Queue]; op.Offset+1 < int64(len(es)) && es[op.Offset+1].Value != op.Value {
				h[i].Offset++
				return h, true
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.Offsets }},
	{"two sequential sends of a key swapped", func(h History) (History, bool) {
		sends := indexSends(h)
		for _, i := range drainOps(h, "") {
			var last = make(map[string]int) // key → entry index of its latest acked send
			for j, e := range h[i].Entries {
				p, ok := sends.acked(e.Value)
				if !ok || p.Invoke.Key == "" || sends.mayBeDuplicated(e.Value) {
					continue
				}
				if k, seen := last[p.Invoke.Key]; seen {
					for _, n := range drainOps(h, "") {
						if h[n].Queue == h[i].Queue {
							es := h[n].Entries
							es[j].Value, es[k].Value = es[k].Value, es[j].Value
						}
					}
					return h, true
				}
				last[p.Invoke.Key] = j
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.KeyOrder }},
	{"committed offset forgotten", func(h History) (History, bool) {
		for _, p := range h.PairsOf(KindCommitOffset) {
			if p.Outcome() == OK {
				h = appendOp(h, Op{Process: 99, Type: Invoke, Kind: KindQueryOffset, Group: p.Invoke.Group, Queue: p.Invoke.Queue})
				return appendOp(h, Op{Process: 99, Type: OK, Kind: KindQueryOffset, Group: p.Invoke.Group, Queue: p.Invoke.Queue, Offset: NoOffset}), true
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.ConsumerOffsets }},
	{"read skips an acked offset", func(h History) (History, bool) {
		for _, p := range h.PairsOf(KindSend) {
			if p.Outcome() == OK {
				c := p.Complete
				h = appendOp(h, Op{Process: 99, Type: Invoke, Kind: KindRead, Node: "n0", Queue: c.Queue, Offset: c.Offset})
				return appendOp(h, Op{Process: 99, Type: OK, Kind: KindRead, Node: "n0", Queue: c.Queue, Offset: c.Offset, MaxOffset: c.Offset + 1}), true
			}
		}
		return h, false
	}, func(r *Report) Result { return &r.Linearizable }},
}

// TestSimulatedHistories: correct simulated runs pass every checker, and
// each mutation of them fails the checker it targets. Seeded; the seed is
// logged and JEPSEN_SEED replays it.
func TestSimulatedHistories(t *testing.T) {
	seed := TestSeed(t)
	const runs, steps = 6, 1500
	for run := range runs {
		rng := NewRand(seed, fmt.Sprintf("sim/%d", run))
		h := simulate(rng, steps)
		rep, err := CheckAll(h, DefaultCheckOptions())
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if !rep.Valid {
			t.Fatalf("run %d: correct history judged invalid:\n%s", run, rep.Summary())
		}
		if rep.Lost.Acked < 100 || rep.Linearizable.Ops < 300 || rep.ConsumerOffsets.Queries == 0 || rep.KeyOrder.Keys == 0 {
			t.Fatalf("run %d: workload too thin to mean anything:\n%s", run, rep.Summary())
		}
		for _, m := range mutations {
			bad, ok := m.apply(cloneHistory(h))
			if !ok {
				t.Fatalf("run %d: mutation %q found nothing to damage", run, m.name)
			}
			rep, err := CheckAll(bad, DefaultCheckOptions())
			if err != nil {
				t.Fatalf("run %d, %s: %v", run, m.name, err)
			}
			if res := m.invalid(&rep); res.OK() || rep.Valid {
				t.Fatalf("run %d: mutation %q not flagged by %s:\n%s", run, m.name, res.Name(), rep.Summary())
			}
		}
	}
}
