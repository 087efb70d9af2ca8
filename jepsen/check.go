package jepsen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Result is what every checker returns.
type Result interface {
	// Name is the checker's name ("lost", "linearizable").
	Name() string
	// OK reports the verdict.
	OK() bool
	// Summary is one line of counts.
	Summary() string
}

var (
	_ Result = (*LostResult)(nil)
	_ Result = (*UnexpectedResult)(nil)
	_ Result = (*DuplicatesResult)(nil)
	_ Result = (*OffsetsResult)(nil)
	_ Result = (*DivergenceResult)(nil)
	_ Result = (*ConsumerOffsetsResult)(nil)
	_ Result = (*KeyOrderResult)(nil)
	_ Result = (*AvailabilityResult)(nil)
	_ Result = (*LinearizableResult)(nil)
)

// Anomaly is one example of what a checker flagged.
type Anomaly struct {
	// Kind names the anomaly ("lost", "slot-conflict", "reordered").
	Kind   string   `json:"kind"`
	Value  string   `json:"value,omitempty"`
	Key    string   `json:"key,omitempty"`
	Node   string   `json:"node,omitempty"`
	Nodes  []string `json:"nodes,omitempty"`
	Queue  Queue    `json:"queue,omitzero"`
	Offset int64    `json:"offset,omitempty"`
	// Ops are the history indices of the operations involved.
	Ops    []int  `json:"ops,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// examples keeps the first max anomalies.
type examples struct {
	max  int
	list []Anomaly
}

func (e *examples) add(a Anomaly) {
	if len(e.list) < e.max {
		e.list = append(e.list, a)
	}
}

// CheckOptions tunes the checkers. Start from DefaultCheckOptions.
type CheckOptions struct {
	// MaxExamples is how many anomalies each checker keeps as examples
	// (counts are always complete). Default 10.
	MaxExamples int
	// UnavailableAfter: a stretch with no ok operation (of
	// AvailabilityKinds) longer than this is reported as an unavailability
	// window. Default 1 s.
	UnavailableAfter time.Duration
	// MaxUnavailable: a window longer than this fails the availability
	// check. 0 (default) only reports windows.
	MaxUnavailable time.Duration
	// AvailabilityKinds are the operation kinds whose ok completions count
	// as available. Default [KindSend].
	AvailabilityKinds []Kind
	// LinearizableTimeout bounds the porcupine search per run; a search
	// that runs out is inconclusive and fails the check. Default 30 s.
	LinearizableTimeout time.Duration
	// StrictReads selects the read contract of the linearizability check.
	// false (default, RocketMQ's): any replica may answer a pull and a
	// lagging one answers "nothing yet", so a read that returned nothing
	// constrains nothing — it is counted (NotYet), never illegal; a read
	// that returned a value must return the value at that offset, in real
	// time; and a read that returned nothing while its replica reported a
	// max offset past it is a skip, always invalid. true: every read is
	// assumed to go through a leader that confirmed its leadership, so
	// "nothing" after an acknowledged append at that offset is a stale
	// read.
	StrictReads bool
	// Reference is the node whose drain settles unknown sends for the
	// linearizability check. Default "" (Drains.Reference: the longest).
	Reference string
	// VisualizeDir, if set, receives a porcupine HTML visualisation of
	// every queue whose history is not linearizable. Default "" (none).
	VisualizeDir string
}

// DefaultCheckOptions returns the defaults documented on CheckOptions.
func DefaultCheckOptions() CheckOptions {
	return CheckOptions{
		MaxExamples:         10,
		UnavailableAfter:    time.Second,
		AvailabilityKinds:   []Kind{KindSend},
		LinearizableTimeout: 30 * time.Second,
	}
}

// Validate reports every invalid field at once, wrapped in
// ErrInvalidConfig.
func (o CheckOptions) Validate() error {
	var errs []error
	if o.MaxExamples < 1 {
		errs = append(errs, fmt.Errorf("MaxExamples %d must be at least 1", o.MaxExamples))
	}
	if o.UnavailableAfter <= 0 {
		errs = append(errs, fmt.Errorf("UnavailableAfter %v must be positive", o.UnavailableAfter))
	}
	if o.MaxUnavailable < 0 {
		errs = append(errs, fmt.Errorf("MaxUnavailable %v must not be negative", o.MaxUnavailable))
	}
	if len(o.AvailabilityKinds) == 0 {
		errs = append(errs, errors.New("AvailabilityKinds is empty"))
	}
	if o.LinearizableTimeout <= 0 {
		errs = append(errs, fmt.Errorf("LinearizableTimeout %v must be positive", o.LinearizableTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Report is the verdict of every checker on one run.
type Report struct {
	Valid bool `json:"valid"`
	// Undrained are drain invocations that never completed ok: the
	// replica's content is unknown, so the report is not valid.
	Undrained       []Op                  `json:"undrained,omitempty"`
	Lost            LostResult            `json:"lost"`
	Unexpected      UnexpectedResult      `json:"unexpected"`
	Duplicates      DuplicatesResult      `json:"duplicates"`
	Offsets         OffsetsResult         `json:"offsets"`
	Divergence      DivergenceResult      `json:"divergence"`
	ConsumerOffsets ConsumerOffsetsResult `json:"consumer_offsets"`
	KeyOrder        KeyOrderResult        `json:"key_order"`
	Availability    AvailabilityResult    `json:"availability"`
	Linearizable    LinearizableResult    `json:"linearizable"`
}

// CheckAll runs every checker on h (drains taken from h's drain
// operations). Invalid options and a history that fails Validate are
// errors: no checker can be trusted on a malformed history.
func CheckAll(h History, opts CheckOptions) (Report, error) {
	if err := opts.Validate(); err != nil {
		return Report{}, err
	}
	if err := h.Validate(); err != nil {
		return Report{}, err
	}
	d, undrained := DrainsOf(h)
	r := Report{
		Undrained:       undrained,
		Lost:            CheckLost(h, d, opts),
		Unexpected:      CheckUnexpected(h, d, opts),
		Duplicates:      CheckDuplicates(h, d, opts),
		Offsets:         CheckOffsets(h, d, opts),
		Divergence:      CheckDivergence(d, opts),
		ConsumerOffsets: CheckConsumerOffsets(h, opts),
		KeyOrder:        CheckKeyOrder(h, d, opts),
		Availability:    CheckAvailability(h, opts),
		Linearizable:    CheckLinearizable(h, d, opts),
	}
	r.Valid = len(undrained) == 0
	for _, res := range r.Results() {
		r.Valid = r.Valid && res.OK()
	}
	return r, nil
}

// Results lists the checker results in a fixed order.
func (r *Report) Results() []Result {
	return []Result{&r.Lost, &r.Unexpected, &r.Duplicates, &r.Offsets, &r.Divergence,
		&r.ConsumerOffsets, &r.KeyOrder, &r.Availability, &r.Linearizable}
}

// Summary is one line per checker, then the verdict.
func (r *Report) Summary() string {
	var b strings.Builder
	if len(r.Undrained) > 0 {
		fmt.Fprintf(&b, "INVALID undrained: %d drains did not complete\n", len(r.Undrained))
	}
	for _, res := range r.Results() {
		verdict := "ok     "
		if !res.OK() {
			verdict = "INVALID"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", verdict, res.Name(), res.Summary())
	}
	fmt.Fprintf(&b, "valid: %v", r.Valid)
	return b.String()
}
