package jepsen

import (
	"fmt"
	"maps"
	"slices"
)

// groupQueue is one consumer group's offset on one queue.
type groupQueue struct {
	group string
	q     Queue
}

// ConsumerOffsetsResult: once a commit of offset x is acknowledged, every
// query invoked afterwards returns at least x; a query never returns an
// offset nobody tried to commit; and, when the workload's commits only go
// up, a query never returns less than a query that completed before it.
type ConsumerOffsetsResult struct {
	Valid bool `json:"valid"`
	// Commits and Queries count the acknowledged commits and queries.
	Commits int `json:"commits"`
	Queries int `json:"queries"`
	// Regressed: a query below an acknowledged earlier commit.
	Regressed int `json:"regressed"`
	// ReadRegressed: a query below an earlier completed query (checked
	// only for (group, queue)s whose commits were invoked in non-decreasing
	// order).
	ReadRegressed int `json:"read_regressed"`
	// Phantom: a query returned an offset no ok or unknown commit carried.
	Phantom int `json:"phantom"`
	// NonMonotonicWorkload counts (group, queue)s whose workload committed
	// a smaller offset after a larger one (ReadRegressed is skipped there).
	NonMonotonicWorkload int       `json:"non_monotonic_workload"`
	Examples             []Anomaly `json:"examples,omitempty"`
}

// CheckConsumerOffsets checks committed consumer offsets.
func CheckConsumerOffsets(h History, opts CheckOptions) ConsumerOffsetsResult {
	var r ConsumerOffsetsResult
	ex := examples{max: opts.MaxExamples}
	commits := make(map[groupQueue][]Pair)
	queries := make(map[groupQueue][]Pair)
	for _, p := range h.Pairs() {
		gq := groupQueue{p.Invoke.Group, p.Invoke.Queue}
		switch p.Invoke.Kind {
		case KindCommitOffset:
			commits[gq] = append(commits[gq], p)
		case KindQueryOffset:
			if p.Outcome() == OK {
				queries[gq] = append(queries[gq], p)
				r.Queries++
			}
		}
	}
	gqs := slices.SortedFunc(maps.Keys(queries), func(a, b groupQueue) int {
		if c := cmpString(a.group, b.group); c != 0 {
			return c
		}
		return compareQueues(a.q, b.q)
	})
	for _, cs := range commits {
		for _, p := range cs {
			if p.Outcome() == OK {
				r.Commits++
			}
		}
	}
	for _, gq := range gqs {
		var acked, reads, readsDone []rtPoint
		possible := make(map[int64]bool)
		// unknownFrom: the earliest invocation of a commit of each value
		// whose outcome is unknown. Such a commit may take effect at any
		// later time (a broker that forwards it once a partition heals,
		// long after the client gave up), and consumer offsets are last
		// writer wins: a read of that value after a later acknowledged
		// commit is then no regression.
		unknownFrom := make(map[int64]int64)
		readDone := make(map[int]int64) // query invoke index -> completion time
		monotonic := true
		var prev int64 = -1
		for _, p := range commits[gq] { // invocation order
			if p.Invoke.Offset < prev {
				monotonic = false
			}
			prev = max(prev, p.Invoke.Offset)
			if p.Outcome() != Fail {
				possible[p.Invoke.Offset] = true
			}
			if p.Outcome() == OK {
				acked = append(acked, rtPoint{t: p.Complete.Time, v: p.Invoke.Offset, ops: []int{p.Invoke.Index, p.Complete.Index}})
			}
			if p.Outcome() == Info {
				if t, ok := unknownFrom[p.Invoke.Offset]; !ok || p.Invoke.Time < t {
					unknownFrom[p.Invoke.Offset] = p.Invoke.Time
				}
			}
		}
		// lateCommit: a commit of the value a read returned may have taken
		// effect just before the read, after whatever it is compared with.
		lateCommit := func(rd rtPoint) bool {
			t, ok := unknownFrom[rd.v]
			return ok && t < readDone[rd.ops[0]]
		}
		if !monotonic {
			r.NonMonotonicWorkload++
		}
		for _, p := range queries[gq] {
			ops := []int{p.Invoke.Index, p.Complete.Index}
			v := p.Complete.Offset
			reads = append(reads, rtPoint{t: p.Invoke.Time, v: v, ops: ops})
			readsDone = append(readsDone, rtPoint{t: p.Complete.Time, v: v, ops: ops})
			readDone[p.Invoke.Index] = p.Complete.Time
			if v >= 0 && !possible[v] {
				r.Phantom++
				ex.add(Anomaly{Kind: "phantom", Queue: gq.q, Offset: v, Ops: ops,
					Detail: fmt.Sprintf("group %s read offset %d that no commit carried", gq.group, v)})
			}
		}
		for _, vi := range realtimeFloor(acked, reads) {
			if lateCommit(vi.reader) {
				continue
			}
			r.Regressed++
			ex.add(Anomaly{Kind: "regressed", Queue: gq.q, Offset: vi.reader.v, Ops: append(slices.Clone(vi.writer.ops), vi.reader.ops...),
				Detail: fmt.Sprintf("group %s read offset %d after a commit of %d was acknowledged", gq.group, vi.reader.v, vi.writer.v)})
		}
		if monotonic {
			for _, vi := range realtimeFloor(readsDone, reads) {
				if lateCommit(vi.reader) {
					continue
				}
				r.ReadRegressed++
				ex.add(Anomaly{Kind: "read-regressed", Queue: gq.q, Offset: vi.reader.v, Ops: append(slices.Clone(vi.writer.ops), vi.reader.ops...),
					Detail: fmt.Sprintf("group %s read offset %d after an earlier read returned %d", gq.group, vi.reader.v, vi.writer.v)})
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Regressed == 0 && r.ReadRegressed == 0 && r.Phantom == 0
	return r
}

func (r *ConsumerOffsetsResult) Name() string { return "consumer-offsets" }
func (r *ConsumerOffsetsResult) OK() bool     { return r.Valid }
func (r *ConsumerOffsetsResult) Summary() string {
	return fmt.Sprintf("%d acked commits, %d queries: %d regressed below an acked commit, %d below an earlier read, %d phantom",
		r.Commits, r.Queries, r.Regressed, r.ReadRegressed, r.Phantom)
}
