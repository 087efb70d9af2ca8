package jepsen

import (
	"fmt"
	"maps"
	"slices"
)

// KeyOrderResult: ordered messages. For one sharding key, if send A was
// acknowledged before send B was invoked, A's first copy precedes B's in
// every replica's drain, and all of a key's messages share one queue.
// Sends that overlap in time have no order to keep.
type KeyOrderResult struct {
	Valid bool `json:"valid"`
	// Keys counts sharding keys with at least one acknowledged send.
	Keys int `json:"keys"`
	// Reordered counts (replica, send)s stored before a send of the same
	// key that was acknowledged before it was invoked.
	Reordered int `json:"reordered"`
	// Split counts (replica, key)s whose acked messages sit in more than
	// one queue.
	Split    int       `json:"split"`
	Examples []Anomaly `json:"examples,omitempty"`
}

// CheckKeyOrder checks per-key order of acknowledged sends in each drain.
// Values missing from a drain are CheckLost's business and are skipped.
func CheckKeyOrder(h History, d Drains, opts CheckOptions) KeyOrderResult {
	var r KeyOrderResult
	ex := examples{max: opts.MaxExamples}
	byKey := make(map[string][]Pair)
	for _, p := range h.PairsOf(KindSend) {
		if p.Invoke.Key != "" && p.Outcome() == OK {
			byKey[p.Invoke.Key] = append(byKey[p.Invoke.Key], p)
		}
	}
	r.Keys = len(byKey)
	keys := slices.Sorted(maps.Keys(byKey))
	for _, n := range d.Nodes() {
		pos := d.Positions(n)
		for _, k := range keys {
			var done, started []rtPoint
			queues := make(map[Queue]bool)
			for _, p := range byKey[k] {
				ps := pos[p.Invoke.Value]
				if len(ps) == 0 {
					continue
				}
				queues[ps[0].Queue] = true
				ops := []int{p.Invoke.Index, p.Complete.Index}
				seq := int64(ps[0].Seq)
				done = append(done, rtPoint{t: p.Complete.Time, v: seq, ops: ops})
				started = append(started, rtPoint{t: p.Invoke.Time, v: seq, ops: ops})
			}
			if len(queues) > 1 {
				r.Split++
				qs := slices.SortedFunc(maps.Keys(queues), compareQueues)
				ex.add(Anomaly{Kind: "split", Key: k, Node: n,
					Detail: fmt.Sprintf("key %s spans queues %v on %s", k, qs, n)})
				continue
			}
			for _, vi := range realtimeFloor(done, started) {
				r.Reordered++
				ex.add(Anomaly{Kind: "reordered", Key: k, Node: n, Ops: append(slices.Clone(vi.writer.ops), vi.reader.ops...),
					Detail: fmt.Sprintf("on %s, key %s: send op %d stored at position %d, before op %d (position %d) acked before it was invoked",
						n, k, vi.reader.ops[0], vi.reader.v, vi.writer.ops[0], vi.writer.v)})
			}
		}
	}
	r.Examples = ex.list
	r.Valid = r.Reordered == 0 && r.Split == 0
	return r
}

func (r *KeyOrderResult) Name() string { return "key-order" }
func (r *KeyOrderResult) OK() bool     { return r.Valid }
func (r *KeyOrderResult) Summary() string {
	return fmt.Sprintf("%d keys: %d reordered, %d split across queues", r.Keys, r.Reordered, r.Split)
}
