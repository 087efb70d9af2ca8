package jepsen

import (
	"fmt"
	"maps"
	"slices"
)

// slot is one queue offset.
type slot struct {
	q   Queue
	off int64
}

// OffsetsResult: the mapping between values and queue offsets must be one
// story told by every replica, every acknowledgement and every read.
type OffsetsResult struct {
	Valid bool `json:"valid"`
	// Gaps: a replica's drain of a queue skips or repeats offsets (queue
	// offsets are dense and increase by one).
	Gaps int `json:"gaps"`
	// SlotConflicts: one (queue, offset) holds different values on
	// different replicas.
	SlotConflicts int `json:"slot_conflicts"`
	// Moved: one value first appears at different (queue, offset)s on
	// different replicas.
	Moved int `json:"moved"`
	// AckMismatches: an acknowledged send's (queue, offset) holds another
	// value on some replica.
	AckMismatches int `json:"ack_mismatches"`
	// ReadMismatches: a read of (queue, offset) returned a value another
	// than some replica holds there.
	ReadMismatches int       `json:"read_mismatches"`
	Examples       []Anomaly `json:"examples,omitempty"`
}

// Inconsistent is the total number of anomalies.
func (r *OffsetsResult) Inconsistent() int {
	return r.Gaps + r.SlotConflicts + r.Moved + r.AckMismatches + r.ReadMismatches
}

// CheckOffsets cross-checks queue offsets between replicas, acks and reads.
func CheckOffsets(h History, d Drains, opts CheckOptions) OffsetsResult {
	var r OffsetsResult
	ex := examples{max: opts.MaxExamples}
	nodes, queues := d.Nodes(), d.Queues()

	// Per replica: dense offsets, and the slot → value table.
	slots := make(map[string]map[slot]string, len(nodes))
	for _, n := range nodes {
		slots[n] = make(map[slot]string)
		for _, q := range queues {
			es := d[n][q]
			for i, e := range es {
				if i > 0 && e.Offset != es[i-1].Offset+1 {
					r.Gaps++
					ex.add(Anomaly{Kind: "gap", Node: n, Queue: q, Offset: e.Offset, Value: e.Value,
						Detail: fmt.Sprintf("offset %d follows %d on %s", e.Offset, es[i-1].Offset, n)})
				}
				s := slot{q, e.Offset}
				if _, dup := slots[n][s]; !dup {
					slots[n][s] = e.Value
				}
			}
		}
	}

	// Across replicas: one value per slot.
	all := make(map[slot]map[string][]string) // slot → value → nodes
	for _, n := range nodes {
		for s, v := range slots[n] {
			if all[s] == nil {
				all[s] = make(map[string][]string)
			}
			all[s][v] = append(all[s][v], n)
		}
	}
	for _, s := range slices.SortedFunc(maps.Keys(all), compareSlots) {
		if len(all[s]) < 2 {
			continue
		}
		r.SlotConflicts++
		vals := slices.Sorted(maps.Keys(all[s]))
		detail := ""
		for _, v := range vals {
			ns := all[s][v]
			slices.Sort(ns)
			detail += fmt.Sprintf("%q on %v; ", v, ns)
		}
		ex.add(Anomaly{Kind: "slot-conflict", Queue: s.q, Offset: s.off, Value: vals[0], Detail: detail})
	}

	// Across replicas: one first position per value.
	first := make(map[string]map[slot][]string) // value → first slot → nodes
	for _, n := range nodes {
		for v, ps := range d.Positions(n) {
			if first[v] == nil {
				first[v] = make(map[slot][]string)
			}
			s := slot{ps[0].Queue, ps[0].Offset}
			first[v][s] = append(first[v][s], n)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(first)) {
		if len(first[v]) < 2 {
			continue
		}
		r.Moved++
		detail := ""
		for _, s := range slices.SortedFunc(maps.Keys(first[v]), compareSlots) {
			ns := first[v][s]
			slices.Sort(ns)
			detail += fmt.Sprintf("%s offset %d on %v; ", s.q, s.off, ns)
		}
		ex.add(Anomaly{Kind: "moved", Value: v, Detail: detail})
	}

	// Acknowledgements and reads against every replica holding the slot.
	mismatch := func(kind string, v string, s slot, ops []int) bool {
		var bad []string
		for _, n := range nodes {
			if got, ok := slots[n][s]; ok && got != v {
				bad = append(bad, fmt.Sprintf("%s holds %q", n, got))
			}
		}
		if len(bad) == 0 {
			return false
		}
		ex.add(Anomaly{Kind: kind, Value: v, Queue: s.q, Offset: s.off, Ops: ops,
			Detail: fmt.Sprintf("%s says %q but %v", kind, v, bad)})
		return true
	}
	for _, p := range h.Pairs() {
		c := p.Complete
		ops := []int{p.Invoke.Index, c.Index}
		switch {
		case p.Invoke.Kind == KindSend && p.Outcome() == OK && !c.Queue.IsZero() && c.Offset >= 0:
			if mismatch("ack-mismatch", p.Invoke.Value, slot{c.Queue, c.Offset}, ops) {
				r.AckMismatches++
			}
		case p.Invoke.Kind == KindRead && p.Outcome() == OK && c.Value != "":
			if mismatch("read-mismatch", c.Value, slot{p.Invoke.Queue, p.Invoke.Offset}, ops) {
				r.ReadMismatches++
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Inconsistent() == 0
	return r
}

func compareSlots(a, b slot) int {
	if c := compareQueues(a.q, b.q); c != 0 {
		return c
	}
	switch {
	case a.off < b.off:
		return -1
	case a.off > b.off:
		return 1
	}
	return 0
}

func (r *OffsetsResult) Name() string { return "offsets" }
func (r *OffsetsResult) OK() bool     { return r.Valid }
func (r *OffsetsResult) Summary() string {
	return fmt.Sprintf("%d inconsistent: %d gaps, %d slot conflicts, %d moved values, %d ack mismatches, %d read mismatches",
		r.Inconsistent(), r.Gaps, r.SlotConflicts, r.Moved, r.AckMismatches, r.ReadMismatches)
}
