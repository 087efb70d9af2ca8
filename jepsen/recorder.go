package jepsen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Recorder is the append-only history of a run. Workers call Invoke before
// an operation and Complete after it; the recorder numbers and timestamps
// each entry and, when it has a sink, writes it as one JSON line at once,
// so the history of a run that crashes is on disk up to its last op.
// Safe for concurrent use; one mutex guards everything (numbering, the
// in-flight table and the sink write happen together, so the sink's lines
// are in index order).
type Recorder struct {
	start time.Time // carries the monotonic reading Time is measured from

	mu      sync.Mutex
	ops     History
	open    map[int]int // process → index of its in-flight invoke
	last    int64       // last Time handed out
	sink    io.Writer
	sinkErr error
}

// NewRecorder starts an empty history. sink, if non-nil, receives the
// history file's header line at once and then every op as a JSON line
// when it is recorded (the caller owns and closes it).
func NewRecorder(sink io.Writer) *Recorder {
	r := &Recorder{start: time.Now(), open: make(map[int]int), sink: sink}
	if sink != nil {
		if _, err := sink.Write(headerLine(r.start.UTC())); err != nil {
			r.sinkErr = fmt.Errorf("jepsen: history sink: %w", err)
		}
	}
	return r
}

// Start is the wall-clock time the history's Time 0 corresponds to.
func (r *Recorder) Start() time.Time { return r.start }

// Now is the current history time (monotonic ns since Start).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Invoke records the invocation of op (op.Type is set to Invoke) and
// returns it as recorded (Index, Time and Wall filled). ErrProcessBusy if
// the process has an operation in flight.
func (r *Recorder) Invoke(op Op) (Op, error) {
	op.Type = Invoke
	if op.Kind == "" {
		return Op{}, fmt.Errorf("%w: invoke without kind", ErrBadHistory)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, busy := r.open[op.Process]; busy {
		return Op{}, fmt.Errorf("%w: process %d, op %d", ErrProcessBusy, op.Process, i)
	}
	op = r.appendLocked(op)
	r.open[op.Process] = op.Index
	return op, nil
}

// Complete records the completion of the process's in-flight operation.
// op.Type must be OK, Fail or Info and op.Kind the invocation's kind
// (inv.As(OK) gives such an op). ErrNotInvoked if nothing of that kind is
// in flight for op.Process.
func (r *Recorder) Complete(op Op) (Op, error) {
	if !op.Type.Completion() {
		return Op{}, fmt.Errorf("%w: complete with type %q", ErrBadHistory, op.Type)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, busy := r.open[op.Process]
	if !busy {
		return Op{}, fmt.Errorf("%w: process %d", ErrNotInvoked, op.Process)
	}
	if k := r.ops[i].Kind; k != op.Kind {
		return Op{}, fmt.Errorf("%w: process %d completes %s but %s op %d is in flight", ErrNotInvoked, op.Process, op.Kind, k, i)
	}
	delete(r.open, op.Process)
	return r.appendLocked(op), nil
}

// CompleteAllInFlight completes every in-flight operation as Info with the
// given reason (the run is ending and their outcome is unknown). It
// returns how many it completed.
func (r *Recorder) CompleteAllInFlight(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range slices.Sorted(maps.Keys(r.open)) {
		inv := r.ops[r.open[p]]
		op := inv.As(Info)
		op.Error = reason
		r.appendLocked(op)
		delete(r.open, p)
		n++
	}
	return n
}

// InFlight returns how many operations have been invoked and not
// completed.
func (r *Recorder) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// History returns a copy of the history so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := make(History, len(r.ops))
	copy(h, r.ops)
	return h
}

// Len returns the number of ops recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// SinkErr returns the first error writing to the sink (nil if none). After
// a sink error the recorder keeps recording in memory only.
func (r *Recorder) SinkErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinkErr
}

// appendLocked numbers, timestamps, stores and writes op. r.mu is held.
func (r *Recorder) appendLocked(op Op) Op {
	now := time.Now()
	op.Index = len(r.ops)
	op.Time = int64(now.Sub(r.start))
	if op.Time < r.last { // the monotonic clock never goes back; be sure
		op.Time = r.last
	}
	r.last = op.Time
	op.Wall = now.UnixNano()
	r.ops = append(r.ops, op)
	if r.sink != nil && r.sinkErr == nil {
		line, err := json.Marshal(op)
		if err == nil {
			_, err = r.sink.Write(append(line, '\n'))
		}
		if err != nil {
			r.sinkErr = fmt.Errorf("jepsen: history sink: %w", err)
		}
	}
	return op
}
