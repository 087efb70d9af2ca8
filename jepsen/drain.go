package jepsen

import (
	"maps"
	"slices"
)

// Drains is the final content of every replica: node → queue → entries in
// the order the replica returned them. A queue a node did not return is
// treated as empty by the checkers (conservative: its acked values count
// as missing there).
type Drains map[string]map[Queue][]Entry

// DrainsOf collects the ok drain operations of h. A later drain of the same
// (node, queue) replaces an earlier one. It also returns the drain
// invocations that did not complete ok: a check over drains with holes is
// incomplete, and CheckAll reports them.
func DrainsOf(h History) (Drains, []Op) {
	d := make(Drains)
	got := make(map[string]map[Queue]bool)
	var failed []Op
	for _, p := range h.PairsOf(KindDrain) {
		node, q := p.Invoke.Node, p.Invoke.Queue
		if p.Outcome() != OK {
			failed = append(failed, p.Invoke)
			continue
		}
		if d[node] == nil {
			d[node] = make(map[Queue][]Entry)
			got[node] = make(map[Queue]bool)
		}
		d[node][q] = p.Complete.Entries
		got[node][q] = true
	}
	// A failed drain later retried successfully is no hole.
	kept := failed[:0]
	for _, op := range failed {
		if !got[op.Node][op.Queue] {
			kept = append(kept, op)
		}
	}
	return d, kept
}

// Nodes returns the drained nodes in order.
func (d Drains) Nodes() []string { return slices.Sorted(maps.Keys(d)) }

// Queues returns every queue any node returned, in order.
func (d Drains) Queues() []Queue {
	set := make(map[Queue]bool)
	for _, qs := range d {
		for q := range qs {
			set[q] = true
		}
	}
	return slices.SortedFunc(maps.Keys(set), compareQueues)
}

// Len returns how many entries node holds over all queues.
func (d Drains) Len(node string) int {
	n := 0
	for _, es := range d[node] {
		n += len(es)
	}
	return n
}

// Pos is where a value sits in one replica's drain.
type Pos struct {
	Queue  Queue
	Offset int64 // the queue offset the replica reported
	Seq    int   // position in the drained sequence of that queue
}

// Positions maps every value of node's drain to its positions, in queue
// order then drain order.
func (d Drains) Positions(node string) map[string][]Pos {
	out := make(map[string][]Pos)
	for _, q := range slices.SortedFunc(maps.Keys(d[node]), compareQueues) {
		for i, e := range d[node][q] {
			out[e.Value] = append(out[e.Value], Pos{Queue: q, Offset: e.Offset, Seq: i})
		}
	}
	return out
}

// Reference picks the replica to settle unknown operations against: the
// one holding the most entries (ties: the first name). "" when nothing was
// drained.
func (d Drains) Reference() string {
	best, n := "", -1
	for _, node := range d.Nodes() {
		if l := d.Len(node); l > n {
			best, n = node, l
		}
	}
	return best
}
