package jepsen

import (
	"fmt"
	"slices"
	"time"
)

// Window is a stretch of the run with no ok operation.
type Window struct {
	Start    int64         `json:"start"` // history time (ns)
	End      int64         `json:"end"`
	Duration time.Duration `json:"duration"`
	// Faults are the nemesis actions invoked from UnavailableAfter before
	// the window to its end ("kill-leader n1").
	Faults []string `json:"faults,omitempty"`
}

// AvailabilityResult reports unavailability windows: gaps longer than
// CheckOptions.UnavailableAfter between ok completions of the workload's
// operations, counting from the first invocation to the last event of
// those kinds (so a cluster that never recovers shows a window to the
// end). It fails only when MaxUnavailable is set and a window exceeds it.
type AvailabilityResult struct {
	Valid    bool          `json:"valid"`
	Ops      int           `json:"ops"` // ok operations counted
	Windows  []Window      `json:"windows,omitempty"`
	Longest  time.Duration `json:"longest"`
	Total    time.Duration `json:"total"`
	Limit    time.Duration `json:"limit,omitempty"`
	Exceeded int           `json:"exceeded"` // windows longer than Limit
}

// CheckAvailability finds unavailability windows.
func CheckAvailability(h History, opts CheckOptions) AvailabilityResult {
	r := AvailabilityResult{Limit: opts.MaxUnavailable}
	var oks []int64
	start, end := int64(-1), int64(-1)
	for _, op := range h {
		if !slices.Contains(opts.AvailabilityKinds, op.Kind) {
			continue
		}
		if start < 0 && op.Type == Invoke {
			start = op.Time
		}
		if start >= 0 {
			end = op.Time
		}
		if op.Type == OK {
			oks = append(oks, op.Time)
		}
	}
	r.Ops = len(oks)
	r.Valid = true
	if start < 0 {
		return r
	}
	points := append(append([]int64{start}, oks...), end)
	gap := int64(opts.UnavailableAfter)
	for i := 1; i < len(points); i++ {
		a, b := points[i-1], points[i]
		if b-a <= gap {
			continue
		}
		w := Window{Start: a, End: b, Duration: time.Duration(b - a)}
		for _, op := range h {
			if op.Kind == KindNemesis && op.Type == Invoke && op.Time >= a-gap && op.Time <= b {
				f := op.Fault
				if op.Node != "" {
					f += " " + op.Node
				}
				w.Faults = append(w.Faults, f)
			}
		}
		r.Windows = append(r.Windows, w)
		r.Total += w.Duration
		r.Longest = max(r.Longest, w.Duration)
		if opts.MaxUnavailable > 0 && w.Duration > opts.MaxUnavailable {
			r.Exceeded++
		}
	}
	r.Valid = r.Exceeded == 0
	return r
}

func (r *AvailabilityResult) Name() string { return "availability" }
func (r *AvailabilityResult) OK() bool     { return r.Valid }
func (r *AvailabilityResult) Summary() string {
	s := fmt.Sprintf("%d ok ops, %d unavailability windows, longest %v, total %v",
		r.Ops, len(r.Windows), r.Longest.Round(time.Millisecond), r.Total.Round(time.Millisecond))
	if r.Limit > 0 {
		s += fmt.Sprintf(", %d over the %v limit", r.Exceeded, r.Limit)
	}
	return s
}
