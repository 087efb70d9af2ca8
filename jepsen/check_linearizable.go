package jepsen

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// linInput is a queue operation for the porcupine model: an append of
// Value, or a read of Offset.
type linInput struct {
	Read   bool
	Queue  Queue
	Value  string
	Offset int64
}

// linOutput: the offset an append landed at, or the value a read returned
// ("" for an offset that holds nothing yet).
type linOutput struct {
	Offset int64
	Value  string
}

// queueModel is the sequential specification of one queue: a log that
// starts empty at offset 0; append(v) returns the offset it lands at (the
// log's length); read(k) returns the value at k, or nothing when k is past
// the end.
//
// The state is only the log's length. That is enough because every append
// in the history names its offset: the value at offset k is the value of
// the append whose output is k. claims maps each (queue, offset) to the
// values appends claim for it; two appends claiming one offset cannot both
// be linearized (the length only grows), so such a history is illegal
// whichever claim a read is matched against.
func queueModel(claims map[slot][]string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return int64(0) },
		Step: func(state, input, output any) (bool, any) {
			n := state.(int64)
			in, out := input.(linInput), output.(linOutput)
			if !in.Read {
				if out.Offset == n {
					return true, n + 1
				}
				return false, n
			}
			if in.Offset < n {
				return out.Value != "" && slices.Contains(claims[slot{in.Queue, in.Offset}], out.Value), n
			}
			return out.Value == "", n
		},
		Equal: func(a, b any) bool { return a.(int64) == b.(int64) },
		Hash:  func(s any) uint64 { return uint64(s.(int64)) },
		DescribeOperation: func(input, output any) string {
			in, out := input.(linInput), output.(linOutput)
			if in.Read {
				if out.Value == "" {
					return fmt.Sprintf("read(%d) -> nothing", in.Offset)
				}
				return fmt.Sprintf("read(%d) -> %s", in.Offset, out.Value)
			}
			return fmt.Sprintf("append(%s) -> %d", in.Value, out.Offset)
		},
		DescribeState: func(s any) string { return fmt.Sprintf("length %d", s.(int64)) },
	}
}

// LinearizableResult: per-queue append/read linearizability, checked with
// porcupine after settling unknown sends against a reference replica's
// drain (present: an append at its drained offset that may take effect any
// time after its invocation; absent: dropped).
type LinearizableResult struct {
	Valid     bool   `json:"valid"`
	Reference string `json:"reference"` // the replica unknowns were settled against
	Queues    int    `json:"queues"`
	Ops       int    `json:"ops"` // porcupine operations checked
	// Settled counts unknown sends found in the reference drain, Dropped
	// those absent; Unplaced counts acked sends with no offset and no
	// drained copy (CheckLost reports them).
	Settled  int `json:"settled"`
	Dropped  int `json:"dropped"`
	Unplaced int `json:"unplaced"`
	// Synthetic counts drained entries no operation claims (extra copies
	// of retried sends, values never sent): added as appends that may
	// take effect any time after their send's invocation, so the check
	// looks at order and visibility, not at what other checkers count.
	Synthetic int `json:"synthetic"`
	// NotYet counts reads that returned nothing; under the default read
	// contract (CheckOptions.StrictReads false) they are "not yet" and
	// left out of the porcupine search.
	NotYet int `json:"not_yet"`
	// Skipped counts reads that returned nothing at an offset below the
	// max offset their own replica reported: the replica has data past an
	// offset it did not return. Invalid under either contract.
	Skipped int `json:"skipped"`
	// Illegal and Inconclusive list queues that are not linearizable, or
	// whose search ran out of time.
	Illegal        []Queue   `json:"illegal,omitempty"`
	Inconclusive   []Queue   `json:"inconclusive,omitempty"`
	Visualizations []string  `json:"visualizations,omitempty"`
	Examples       []Anomaly `json:"examples,omitempty"`
	Problem        string    `json:"problem,omitempty"`
}

// CheckLinearizable builds per-queue porcupine histories and checks them.
// Queue offsets must start at 0 (a fresh topic per run).
func CheckLinearizable(h History, d Drains, opts CheckOptions) LinearizableResult {
	var r LinearizableResult
	ex := examples{max: opts.MaxExamples}
	ref := opts.Reference
	if ref == "" {
		ref = d.Reference()
	}
	r.Reference = ref
	sends := h.PairsOf(KindSend)
	reads := h.PairsOf(KindRead)
	if ref == "" || d[ref] == nil {
		r.Valid = len(sends) == 0 && len(reads) == 0
		if !r.Valid {
			r.Problem = fmt.Sprintf("no drain of reference replica %q to settle sends against", ref)
		}
		return r
	}
	inf := h.EndTime() + 1
	refPos := d.Positions(ref)
	refSlots := make(map[slot]string)
	for q, es := range d[ref] {
		for _, e := range es {
			if _, dup := refSlots[slot{q, e.Offset}]; !dup {
				refSlots[slot{q, e.Offset}] = e.Value
			}
		}
	}
	ops := make(map[Queue][]porcupine.Operation)
	claims := make(map[slot][]string)
	claimed := make(map[slot]bool) // reference slots whose value some op appends there
	firstInvoke := make(map[string]int64)
	addAppend := func(client int, v string, s slot, call, ret int64, from []int) {
		ops[s.q] = append(ops[s.q], porcupine.Operation{ClientId: client,
			Input: linInput{Queue: s.q, Value: v}, Call: call,
			Output: linOutput{Offset: s.off}, Return: ret, Metadata: linMeta{from}})
		claims[s] = append(claims[s], v)
		if refSlots[s] == v {
			claimed[s] = true
		}
	}
	// firstFree is the first reference position of v no op claims yet.
	firstFree := func(v string) (slot, bool) {
		for _, p := range refPos[v] {
			if s := (slot{p.Queue, p.Offset}); !claimed[s] {
				return s, true
			}
		}
		return slot{}, false
	}
	client := func(p int) int { return max(p, 0) }
	for _, p := range sends {
		v := p.Invoke.Value
		if t, ok := firstInvoke[v]; !ok || p.Invoke.Time < t {
			firstInvoke[v] = p.Invoke.Time
		}
	}
	// Acknowledged sends first, so unknowns never take their slots.
	for _, p := range sends {
		if p.Outcome() != OK {
			continue
		}
		c := p.Complete
		s := slot{c.Queue, c.Offset}
		if c.Queue.IsZero() || c.Offset < 0 {
			var ok bool
			if s, ok = firstFree(p.Invoke.Value); !ok {
				r.Unplaced++
				continue
			}
		}
		addAppend(client(p.Invoke.Process), p.Invoke.Value, s, p.Invoke.Time, c.Time, []int{p.Invoke.Index, c.Index})
	}
	for _, p := range sends {
		if p.Outcome() != Info {
			continue
		}
		if s, ok := firstFree(p.Invoke.Value); ok {
			r.Settled++
			addAppend(client(p.Invoke.Process), p.Invoke.Value, s, p.Invoke.Time, inf, []int{p.Invoke.Index, p.Complete.Index})
		} else {
			r.Dropped++
		}
	}
	for _, s := range slices.SortedFunc(maps.Keys(refSlots), compareSlots) {
		if claimed[s] {
			continue
		}
		r.Synthetic++
		v := refSlots[s]
		addAppend(0, v, s, firstInvoke[v], inf, nil) // 0 when never sent
	}
	for _, p := range reads {
		if p.Outcome() != OK {
			continue
		}
		q := p.Invoke.Queue
		if p.Complete.Value == "" {
			r.NotYet++
			if p.Complete.MaxOffset > p.Invoke.Offset {
				r.Skipped++
				ex.add(Anomaly{Kind: "read-skip", Queue: q, Offset: p.Invoke.Offset, Ops: []int{p.Invoke.Index, p.Complete.Index},
					Detail: fmt.Sprintf("%s returned nothing at offset %d of %s while reporting max offset %d",
						p.Complete.Node, p.Invoke.Offset, q, p.Complete.MaxOffset)})
			}
			if !opts.StrictReads {
				continue
			}
		}
		ops[q] = append(ops[q], porcupine.Operation{ClientId: client(p.Invoke.Process),
			Input: linInput{Read: true, Queue: q, Offset: p.Invoke.Offset}, Call: p.Invoke.Time,
			Output: linOutput{Value: p.Complete.Value}, Return: p.Complete.Time,
			Metadata: linMeta{[]int{p.Invoke.Index, p.Complete.Index}}})
	}

	model := queueModel(claims)
	deadline := time.Now().Add(opts.LinearizableTimeout)
	queues := slices.SortedFunc(maps.Keys(ops), compareQueues)
	r.Queues = len(queues)
	for _, q := range queues {
		r.Ops += len(ops[q])
		left := time.Until(deadline)
		if left <= 0 {
			r.Inconclusive = append(r.Inconclusive, q)
			continue
		}
		switch porcupine.CheckOperationsTimeout(model, ops[q], left) {
		case porcupine.Ok:
		case porcupine.Unknown:
			r.Inconclusive = append(r.Inconclusive, q)
		default:
			r.Illegal = append(r.Illegal, q)
			if explainIllegal(q, ops[q], &ex) == 0 {
				ex.add(Anomaly{Kind: "not-linearizable", Queue: q,
					Detail: fmt.Sprintf("%d operations on %s admit no linearization (no simple witness; see the visualisation)", len(ops[q]), q)})
			}
			if opts.VisualizeDir != "" {
				if path, err := visualize(model, ops[q], q, opts.VisualizeDir, time.Until(deadline)); err == nil {
					r.Visualizations = append(r.Visualizations, path)
				} else {
					r.Problem = err.Error()
				}
			}
		}
	}
	r.Examples = ex.list
	r.Valid = len(r.Illegal) == 0 && len(r.Inconclusive) == 0 && r.Skipped == 0
	return r
}

// visualize writes porcupine's HTML view of one queue's history.
func visualize(model porcupine.Model, ops []porcupine.Operation, q Queue, dir string, timeout time.Duration) (string, error) {
	_, info := porcupine.CheckOperationsVerbose(model, ops, max(timeout, time.Second))
	name := strings.NewReplacer("/", "_", "@", "_", "#", "_", "%", "_").Replace(q.String())
	path := filepath.Join(dir, "linearizability-"+name+".html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("jepsen: visualize: %w", err)
	}
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", fmt.Errorf("jepsen: visualize %s: %w", q, err)
	}
	return path, nil
}

func (r *LinearizableResult) Name() string { return "linearizable" }
func (r *LinearizableResult) OK() bool     { return r.Valid }
func (r *LinearizableResult) Summary() string {
	s := fmt.Sprintf("%d queues, %d ops (reference %s; %d unknown settled, %d dropped, %d synthetic; %d reads not yet): %d illegal, %d inconclusive, %d skipped",
		r.Queues, r.Ops, r.Reference, r.Settled, r.Dropped, r.Synthetic, r.NotYet, len(r.Illegal), len(r.Inconclusive), r.Skipped)
	if r.Problem != "" {
		s += "; " + r.Problem
	}
	return s
}
