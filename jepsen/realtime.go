package jepsen

import "slices"

// rtPoint is an operation reduced to one time and one value, for real-time
// order checks.
type rtPoint struct {
	t   int64 // completion time of a writer, invocation time of a reader
	v   int64
	ops []int // history indices, for examples
}

// rtViolation is a reader that saw less than a writer that completed
// before the reader was invoked.
type rtViolation struct {
	reader, writer rtPoint
}

// realtimeFloor returns the readers whose value is below the largest value
// of the writers that completed strictly before the reader was invoked
// (intervals are closed, as in porcupine: a writer completing at the
// instant a reader is invoked is concurrent with it). O((W+R) log(W+R)).
// A reader below the floor is reported once, with the writer that set the
// floor.
func realtimeFloor(writers, readers []rtPoint) []rtViolation {
	w := slices.Clone(writers)
	r := slices.Clone(readers)
	byT := func(a, b rtPoint) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(w, byT)
	slices.SortStableFunc(r, byT)
	var out []rtViolation
	var best rtPoint
	have := false
	i := 0
	for _, rd := range r {
		for ; i < len(w) && w[i].t < rd.t; i++ {
			if !have || w[i].v > best.v {
				best, have = w[i], true
			}
		}
		if have && rd.v < best.v {
			out = append(out, rtViolation{reader: rd, writer: best})
		}
	}
	return out
}
