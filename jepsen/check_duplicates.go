package jepsen

import "fmt"

// DuplicatesResult: values stored more than once in one replica. Allowed
// only for values whose send was retried (Attempts > 1 or MaybeDup), ended
// unknown, or was issued by more than one operation.
type DuplicatesResult struct {
	Valid bool `json:"valid"`
	// Duplicated counts distinct values stored more than once on some
	// replica; Allowed of them were retried or unknown, Disallowed not.
	Duplicated int       `json:"duplicated"`
	Allowed    int       `json:"allowed"`
	Disallowed int       `json:"disallowed"`
	Examples   []Anomaly `json:"examples,omitempty"`
}

// CheckDuplicates counts every value's copies per replica.
func CheckDuplicates(h History, d Drains, opts CheckOptions) DuplicatesResult {
	sends := indexSends(h)
	var r DuplicatesResult
	ex := examples{max: opts.MaxExamples}
	seen := make(map[string]bool)
	for _, n := range d.Nodes() {
		pos := d.Positions(n)
		for _, q := range d.Queues() { // walk in drain order for stable examples
			for _, e := range d[n][q] {
				v := e.Value
				if len(pos[v]) < 2 || seen[v] {
					continue
				}
				seen[v] = true
				r.Duplicated++
				if sends.mayBeDuplicated(v) {
					r.Allowed++
					continue
				}
				r.Disallowed++
				var ops []int
				for _, p := range sends[v] {
					ops = append(ops, p.Invoke.Index, p.Complete.Index)
				}
				ex.add(Anomaly{Kind: "duplicate", Value: v, Node: n, Queue: q, Offset: e.Offset, Ops: ops,
					Detail: fmt.Sprintf("%d copies at %v on %s; the send was not retried", len(pos[v]), pos[v], n)})
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Disallowed == 0
	return r
}

func (r *DuplicatesResult) Name() string { return "duplicates" }
func (r *DuplicatesResult) OK() bool     { return r.Valid }
func (r *DuplicatesResult) Summary() string {
	return fmt.Sprintf("%d duplicated values, %d allowed (retried/unknown), %d not allowed", r.Duplicated, r.Allowed, r.Disallowed)
}
