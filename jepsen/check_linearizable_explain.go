package jepsen

import (
	"fmt"
	"maps"
	"slices"

	"github.com/anishathalye/porcupine"
)

// linMeta is the porcupine Metadata of an operation: the history indices
// it came from (none for synthetic appends).
type linMeta struct {
	ops []int
}

func opsOf(o porcupine.Operation) []int {
	if m, ok := o.Metadata.(linMeta); ok {
		return m.ops
	}
	return nil
}

// explainIllegal looks for the usual witnesses of a non-linearizable queue
// history, so a report names operations instead of just "illegal". Each
// pattern below is a violation on its own; the list is not complete
// (porcupine may find histories illegal for subtler reasons, then the
// visualisation is the explanation).
func explainIllegal(q Queue, ops []porcupine.Operation, ex *examples) int {
	found := 0
	add := func(kind string, detail string, involved ...porcupine.Operation) {
		found++
		var idx []int
		for _, o := range involved {
			idx = append(idx, opsOf(o)...)
		}
		ex.add(Anomaly{Kind: kind, Queue: q, Ops: idx, Detail: detail})
	}
	appends := make(map[int64][]porcupine.Operation) // offset → appends claiming it
	readsAt := make(map[int64][]porcupine.Operation) // offset → reads of it
	var appendList []porcupine.Operation
	for _, o := range ops {
		in := o.Input.(linInput)
		if in.Read {
			readsAt[in.Offset] = append(readsAt[in.Offset], o)
		} else {
			off := o.Output.(linOutput).Offset
			appends[off] = append(appends[off], o)
			appendList = append(appendList, o)
		}
	}
	for _, off := range slices.Sorted(maps.Keys(appends)) {
		if as := appends[off]; len(as) > 1 {
			add("offset-claimed-twice", fmt.Sprintf("%d appends claim offset %d", len(as), off), as...)
		}
	}
	for _, off := range slices.Sorted(maps.Keys(readsAt)) {
		rs := readsAt[off]
		for _, r := range rs {
			v := r.Output.(linOutput).Value
			if v == "" {
				for _, a := range appends[off] {
					if a.Return < r.Call {
						add("stale-read", fmt.Sprintf("read of offset %d returned nothing after append(%s) -> %d was acknowledged",
							off, a.Input.(linInput).Value, off), a, r)
						break
					}
				}
				continue
			}
			var claim *porcupine.Operation
			for i, a := range appends[off] {
				if a.Input.(linInput).Value == v {
					claim = &appends[off][i]
				}
			}
			switch {
			case claim == nil:
				add("read-unknown-value", fmt.Sprintf("read of offset %d returned %s, which no append put there", off, v), r)
			case claim.Call > r.Return:
				add("read-from-future", fmt.Sprintf("read of offset %d returned %s before its append was invoked", off, v), r, *claim)
			}
		}
		// A value seen, then gone: r1 completes with a value before r2,
		// invoked later, sees nothing or something else.
		for _, r1 := range rs {
			v1 := r1.Output.(linOutput).Value
			if v1 == "" {
				continue
			}
			for _, r2 := range rs {
				if r1.Return < r2.Call && r2.Output.(linOutput).Value != v1 {
					add("read-vanished", fmt.Sprintf("offset %d read as %s, later read as %q", off, v1, r2.Output.(linOutput).Value), r1, r2)
					break
				}
			}
		}
	}
	// Acknowledged appends whose offsets contradict real-time order.
	slices.SortFunc(appendList, func(a, b porcupine.Operation) int {
		return cmpInt64(a.Output.(linOutput).Offset, b.Output.(linOutput).Offset)
	})
	// firstDone[i] is the append among appendList[i:] that returned first.
	firstDone := make([]int, len(appendList))
	for i := len(appendList) - 1; i >= 0; i-- {
		firstDone[i] = i
		if i+1 < len(appendList) && appendList[firstDone[i+1]].Return < appendList[i].Return {
			firstDone[i] = firstDone[i+1]
		}
	}
	for i, a := range appendList {
		if i+1 == len(appendList) {
			break
		}
		// b has a higher offset than a but was acknowledged before a began.
		if b := appendList[firstDone[i+1]]; b.Return < a.Call && b.Output.(linOutput).Offset > a.Output.(linOutput).Offset {
			add("append-order-inverted", fmt.Sprintf("append(%s) -> %d acknowledged before append(%s) -> %d was invoked",
				b.Input.(linInput).Value, b.Output.(linOutput).Offset, a.Input.(linInput).Value, a.Output.(linOutput).Offset), b, a)
		}
	}
	return found
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
