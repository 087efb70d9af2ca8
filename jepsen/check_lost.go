package jepsen

import (
	"fmt"
	"slices"
)

// sendIndex groups the send operations of a history by value.
type sendIndex map[string][]Pair

func indexSends(h History) sendIndex {
	idx := make(sendIndex)
	for _, p := range h.PairsOf(KindSend) {
		idx[p.Invoke.Value] = append(idx[p.Invoke.Value], p)
	}
	return idx
}

// acked reports whether some send of v was acknowledged, and the first
// such pair.
func (s sendIndex) acked(v string) (Pair, bool) {
	for _, p := range s[v] {
		if p.Outcome() == OK {
			return p, true
		}
	}
	return Pair{}, false
}

// mayBeStored reports whether some send of v is ok or unknown.
func (s sendIndex) mayBeStored(v string) bool {
	for _, p := range s[v] {
		if p.Outcome() != Fail {
			return true
		}
	}
	return false
}

// mayBeDuplicated reports whether v may legitimately be stored more than
// once: it was sent by more than one operation, or a send was retried
// (Attempts > 1 or MaybeDup), or a send's outcome is unknown (the client
// may have retried inside it).
func (s sendIndex) mayBeDuplicated(v string) bool {
	ps := s[v]
	if len(ps) > 1 {
		return true
	}
	for _, p := range ps {
		c := p.Complete
		if p.Outcome() == Info || c.Attempts > 1 || c.MaybeDup {
			return true
		}
	}
	return false
}

// ackedValues returns the values of acknowledged sends in history order.
func (s sendIndex) ackedValues(h History) []string {
	var out []string
	seen := make(map[string]bool)
	for _, p := range h.PairsOf(KindSend) {
		v := p.Invoke.Value
		if p.Outcome() == OK && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// LostResult: acknowledged sends whose value is missing from the final
// drain of some replica. After the run heals and settles, every replica
// must hold every acknowledged message.
type LostResult struct {
	Valid bool `json:"valid"`
	// Nodes are the drained replicas checked.
	Nodes []string `json:"nodes"`
	// Acked is the number of distinct acknowledged values.
	Acked int `json:"acked"`
	// Lost counts acked values missing from at least one replica;
	// LostEverywhere those missing from every replica.
	Lost           int            `json:"lost"`
	LostEverywhere int            `json:"lost_everywhere"`
	MissingPerNode map[string]int `json:"missing_per_node,omitempty"`
	// Unknown counts values whose sends all ended unknown; Recovered those
	// of them present in some replica (informational).
	Unknown   int       `json:"unknown"`
	Recovered int       `json:"recovered"`
	Examples  []Anomaly `json:"examples,omitempty"`
}

// CheckLost finds acknowledged values missing from the drains. With no
// drained replica at all the result is not valid: nothing could be
// checked.
func CheckLost(h History, d Drains, opts CheckOptions) LostResult {
	sends := indexSends(h)
	r := LostResult{Nodes: d.Nodes(), MissingPerNode: make(map[string]int)}
	ex := examples{max: opts.MaxExamples}
	pos := make(map[string]map[string][]Pos, len(r.Nodes))
	for _, n := range r.Nodes {
		pos[n] = d.Positions(n)
	}
	for _, v := range sends.ackedValues(h) {
		r.Acked++
		var missing []string
		for _, n := range r.Nodes {
			if len(pos[n][v]) == 0 {
				missing = append(missing, n)
				r.MissingPerNode[n]++
			}
		}
		if len(missing) == 0 {
			continue
		}
		r.Lost++
		kind := "missing"
		if len(missing) == len(r.Nodes) {
			r.LostEverywhere++
			kind = "lost"
		}
		p, _ := sends.acked(v)
		ex.add(Anomaly{Kind: kind, Value: v, Key: p.Invoke.Key, Nodes: missing,
			Queue: p.Complete.Queue, Offset: p.Complete.Offset,
			Ops:    []int{p.Invoke.Index, p.Complete.Index},
			Detail: fmt.Sprintf("acked at %s offset %d, absent from %v", p.Complete.Queue, p.Complete.Offset, missing)})
	}
	for v, ps := range sends {
		if slices.ContainsFunc(ps, func(p Pair) bool { return p.Outcome() != Info }) {
			continue
		}
		r.Unknown++
		for _, n := range r.Nodes {
			if len(pos[n][v]) > 0 {
				r.Recovered++
				break
			}
		}
	}
	if len(r.MissingPerNode) == 0 {
		r.MissingPerNode = nil
	}
	r.Examples = ex.list
	r.Valid = len(r.Nodes) > 0 && r.Lost == 0
	return r
}

func (r *LostResult) Name() string { return "lost" }
func (r *LostResult) OK() bool     { return r.Valid }
func (r *LostResult) Summary() string {
	s := fmt.Sprintf("%d acked, %d lost (%d from every replica) over %d replicas; %d unknown, %d of them recovered",
		r.Acked, r.Lost, r.LostEverywhere, len(r.Nodes), r.Unknown, r.Recovered)
	if len(r.Nodes) == 0 {
		s += "; no replica drained"
	}
	return s
}
