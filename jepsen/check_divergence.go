package jepsen

import "fmt"

// DivergenceResult: for every queue and every pair of replicas, the two
// drained sequences must agree (offset and value) on their common prefix.
// A shorter sequence is lag, reported but not a violation here (CheckLost
// says whether lag lost acknowledged data).
type DivergenceResult struct {
	Valid bool `json:"valid"`
	// Diverged counts (queue, replica pair)s that differ on the common
	// prefix.
	Diverged int `json:"diverged"`
	// Lagging counts (queue, replica pair)s of different lengths.
	Lagging  int       `json:"lagging"`
	Examples []Anomaly `json:"examples,omitempty"`
}

// CheckDivergence compares the replicas' drains pairwise.
func CheckDivergence(d Drains, opts CheckOptions) DivergenceResult {
	var r DivergenceResult
	ex := examples{max: opts.MaxExamples}
	nodes := d.Nodes()
	for _, q := range d.Queues() {
		for i, a := range nodes {
			for _, b := range nodes[i+1:] {
				ea, eb := d[a][q], d[b][q]
				if len(ea) != len(eb) {
					r.Lagging++
				}
				for k := range min(len(ea), len(eb)) {
					if ea[k].Offset == eb[k].Offset && ea[k].Value == eb[k].Value {
						continue
					}
					r.Diverged++
					ex.add(Anomaly{Kind: "diverged", Queue: q, Nodes: []string{a, b}, Offset: ea[k].Offset, Value: ea[k].Value,
						Detail: fmt.Sprintf("entry %d: %s has offset %d %q, %s has offset %d %q",
							k, a, ea[k].Offset, ea[k].Value, b, eb[k].Offset, eb[k].Value)})
					break
				}
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Diverged == 0
	return r
}

func (r *DivergenceResult) Name() string { return "divergence" }
func (r *DivergenceResult) OK() bool     { return r.Valid }
func (r *DivergenceResult) Summary() string {
	return fmt.Sprintf("%d diverged (queue, replica pair)s, %d lagging", r.Diverged, r.Lagging)
}
