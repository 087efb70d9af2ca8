package jepsen

import "testing"

// builder writes hand-made histories: each op gets the next index and a
// time 10 ns after the previous one (or the time set with at).
type builder struct {
	h   History
	now int64
}

func (b *builder) at(t int64) *builder { b.now = t - 10; return b }

func (b *builder) add(p int, t Type, k Kind, f func(*Op)) *builder {
	b.now += 10
	op := Op{Index: len(b.h), Process: p, Type: t, Kind: k, Time: b.now}
	if f != nil {
		f(&op)
	}
	b.h = append(b.h, op)
	return b
}

func (b *builder) send(p int, v, key string) *builder {
	return b.add(p, Invoke, KindSend, func(o *Op) { o.Value, o.Key = v, key })
}

func (b *builder) sendOK(p int, q Queue, off int64) *builder {
	return b.add(p, OK, KindSend, func(o *Op) { o.Queue, o.Offset, o.Attempts = q, off, 1 })
}

func (b *builder) sendRetriedOK(p int, q Queue, off int64) *builder {
	return b.add(p, OK, KindSend, func(o *Op) { o.Queue, o.Offset, o.Attempts, o.MaybeDup = q, off, 2, true })
}

func (b *builder) sendFail(p int) *builder {
	return b.add(p, Fail, KindSend, func(o *Op) { o.Attempts, o.Error = 1, "refused" })
}

func (b *builder) sendInfo(p int) *builder {
	return b.add(p, Info, KindSend, func(o *Op) { o.Attempts, o.Error = 1, "timeout" })
}

// acked is a send invoked and acknowledged at once.
func (b *builder) acked(p int, v, key string, q Queue, off int64) *builder {
	return b.send(p, v, key).sendOK(p, q, off)
}

func (b *builder) read(p int, node string, q Queue, off int64) *builder {
	return b.add(p, Invoke, KindRead, func(o *Op) { o.Node, o.Queue, o.Offset = node, q, off })
}

func (b *builder) readOK(p int, v string) *builder {
	return b.add(p, OK, KindRead, func(o *Op) { o.Value = v })
}

func (b *builder) commit(p int, g string, q Queue, off int64) *builder {
	return b.add(p, Invoke, KindCommitOffset, func(o *Op) { o.Group, o.Queue, o.Offset = g, q, off })
}

func (b *builder) commitOK(p int) *builder { return b.add(p, OK, KindCommitOffset, nil) }

func (b *builder) query(p int, g string, q Queue) *builder {
	return b.add(p, Invoke, KindQueryOffset, func(o *Op) { o.Group, o.Queue = g, q })
}

func (b *builder) queryOK(p int, off int64) *builder {
	return b.add(p, OK, KindQueryOffset, func(o *Op) { o.Offset = off })
}

func (b *builder) nemesis(fault, node string) *builder {
	b.add(NemesisProcess, Invoke, KindNemesis, func(o *Op) { o.Fault, o.Node = fault, node })
	return b.add(NemesisProcess, OK, KindNemesis, func(o *Op) { o.Fault, o.Node = fault, node })
}

// drain records an ok drain of q on node holding values at offsets 0, 1, ...
func (b *builder) drain(node string, q Queue, values ...string) *builder {
	es := make([]Entry, len(values))
	for i, v := range values {
		es[i] = Entry{Offset: int64(i), Value: v}
	}
	return b.drainEntries(node, q, es)
}

func (b *builder) drainEntries(node string, q Queue, es []Entry) *builder {
	const p = 1000
	b.add(p, Invoke, KindDrain, func(o *Op) { o.Node, o.Queue = node, q })
	return b.add(p, OK, KindDrain, func(o *Op) { o.Node, o.Queue, o.Entries = node, q, es })
}

// drainAll drains q with the same values on n0, n1 and n2.
func (b *builder) drainAll(q Queue, values ...string) *builder {
	for _, n := range []string{"n0", "n1", "n2"} {
		b.drain(n, q, values...)
	}
	return b
}

var (
	q0 = Queue{Topic: "jepsen", Broker: "g0", ID: 0}
	q1 = Queue{Topic: "jepsen", Broker: "g0", ID: 1}
)

func opts() CheckOptions { return DefaultCheckOptions() }

// strictOpts checks reads under the strict (leader-confirmed) contract.
func strictOpts() CheckOptions {
	o := DefaultCheckOptions()
	o.StrictReads = true
	return o
}

// mustValid fails the test when the builder's history is malformed: a
// checker self-test on a malformed history proves nothing.
func (b *builder) hist(t *testing.T) History {
	t.Helper()
	if err := b.h.Validate(); err != nil {
		t.Fatalf("hand-made history is malformed: %v", err)
	}
	return b.h
}

func drains(t *testing.T, h History) Drains {
	t.Helper()
	d, undrained := DrainsOf(h)
	if len(undrained) > 0 {
		t.Fatalf("undrained: %v", undrained)
	}
	return d
}
