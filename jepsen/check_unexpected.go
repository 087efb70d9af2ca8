package jepsen

import "fmt"

// UnexpectedResult: values a read or a drain returned that no send
// attempted, or whose every send definitely failed.
type UnexpectedResult struct {
	Valid bool `json:"valid"`
	// Unexpected counts distinct values never sent.
	Unexpected int `json:"unexpected"`
	// FailedPresent counts distinct values whose sends all failed (the
	// client said "definitely not stored") but that were read or drained.
	FailedPresent int       `json:"failed_present"`
	Examples      []Anomaly `json:"examples,omitempty"`
}

// CheckUnexpected finds values that should not exist.
func CheckUnexpected(h History, d Drains, opts CheckOptions) UnexpectedResult {
	sends := indexSends(h)
	var r UnexpectedResult
	ex := examples{max: opts.MaxExamples}
	flagged := make(map[string]bool)
	check := func(v, node string, q Queue, off int64, ops []int, where string) {
		if v == "" || flagged[v] {
			return
		}
		switch {
		case len(sends[v]) == 0:
			r.Unexpected++
			ex.add(Anomaly{Kind: "unexpected", Value: v, Node: node, Queue: q, Offset: off, Ops: ops,
				Detail: fmt.Sprintf("%s returned a value never sent", where)})
		case !sends.mayBeStored(v):
			r.FailedPresent++
			var sendOps []int
			for _, p := range sends[v] {
				sendOps = append(sendOps, p.Invoke.Index, p.Complete.Index)
			}
			ex.add(Anomaly{Kind: "failed-present", Value: v, Node: node, Queue: q, Offset: off, Ops: append(sendOps, ops...),
				Detail: fmt.Sprintf("%s returned a value whose every send failed", where)})
		default:
			return
		}
		flagged[v] = true
	}
	for _, p := range h.PairsOf(KindRead) {
		if p.Outcome() == OK {
			check(p.Complete.Value, p.Invoke.Node, p.Invoke.Queue, p.Invoke.Offset,
				[]int{p.Invoke.Index, p.Complete.Index}, "read")
		}
	}
	for _, n := range d.Nodes() {
		for _, q := range d.Queues() {
			for _, e := range d[n][q] {
				if e.Value == "" {
					r.Unexpected++
					ex.add(Anomaly{Kind: "unexpected", Node: n, Queue: q, Offset: e.Offset,
						Detail: "drain of " + n + " returned an entry with an empty value"})
					continue
				}
				check(e.Value, n, q, e.Offset, nil, "drain of "+n)
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Unexpected == 0 && r.FailedPresent == 0
	return r
}

func (r *UnexpectedResult) Name() string { return "unexpected" }
func (r *UnexpectedResult) OK() bool     { return r.Valid }
func (r *UnexpectedResult) Summary() string {
	return fmt.Sprintf("%d never sent, %d present though every send failed", r.Unexpected, r.FailedPresent)
}
