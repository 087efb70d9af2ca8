package jepsen

import (
	"errors"
	"fmt"
)

// Type is the type of a history entry: an invocation or one of the three
// completions. The string values are Jepsen's and appear in JSON.
type Type string

const (
	// Invoke starts an operation.
	Invoke Type = "invoke"
	// OK: the operation happened (a send was acknowledged, a read returned).
	OK Type = "ok"
	// Fail: the operation definitely did not happen.
	Fail Type = "fail"
	// Info: the outcome is unknown; the operation may take effect at any
	// time after its invocation, even after the run.
	Info Type = "info"
)

// Valid reports whether t is one of the four types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Completion reports whether t completes an operation (ok, fail or info).
func (t Type) Completion() bool { return t == OK || t == Fail || t == Info }

// Kind is what an operation does (Jepsen's :f).
type Kind string

const (
	// KindSend sends one message. Invoke: Value, Key (sharding key, may
	// be empty), Queue when the sender chose one. Ok: Queue, Offset (queue
	// offset, -1 when the broker did not say), MsgID, Attempts, MaybeDup.
	// Fail/info: Attempts, Error.
	KindSend Kind = "send"
	// KindRead reads one queue offset from one broker. Invoke: Node,
	// Queue, Offset. Ok: Value ("" when the offset holds no message yet),
	// MaxOffset (the replica's reported max offset of the queue).
	KindRead Kind = "read"
	// KindDrain reads a whole queue from one replica after the run.
	// Invoke: Node, Queue. Ok: Entries in the order the replica returned
	// them.
	KindDrain Kind = "drain"
	// KindCommitOffset commits a consumer offset. Invoke: Group, Queue,
	// Offset.
	KindCommitOffset Kind = "commit-offset"
	// KindQueryOffset reads a committed consumer offset. Invoke: Group,
	// Queue. Ok: Offset (-1: the group has no committed offset).
	KindQueryOffset Kind = "query-offset"
	// KindNemesis is a fault being injected or healed. Invoke: Fault,
	// Node. Ok/fail/info: whether it took effect.
	KindNemesis Kind = "nemesis"
)

// NemesisProcess is the process id of fault injection.
const NemesisProcess = -1

// NoOffset is the Offset of an operation whose offset is not known.
const NoOffset int64 = -1

// Queue names one message queue: topic, broker group name and queue id.
// It is comparable and usable as a map key.
type Queue struct {
	Topic  string `json:"topic"`
	Broker string `json:"broker,omitempty"`
	ID     int32  `json:"id"`
}

// IsZero reports whether q names no queue.
func (q Queue) IsZero() bool { return q == Queue{} }

func (q Queue) String() string { return fmt.Sprintf("%s@%s#%d", q.Topic, q.Broker, q.ID) }

// compareQueues orders queues by topic, broker, id.
func compareQueues(a, b Queue) int {
	switch {
	case a.Topic != b.Topic:
		return cmpString(a.Topic, b.Topic)
	case a.Broker != b.Broker:
		return cmpString(a.Broker, b.Broker)
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Entry is one message of a drained queue.
type Entry struct {
	Offset int64  `json:"offset"` // queue offset the replica reported
	Value  string `json:"value"`  // the workload's unique value (message body)
	Key    string `json:"key,omitempty"`
	MsgID  string `json:"msg_id,omitempty"`
}

// Op is one history entry. Which fields mean something depends on Kind
// and Type (see the Kind constants); the rest stay zero.
type Op struct {
	// Index is the position in the history, assigned by the Recorder.
	Index int `json:"index"`
	// Process is the logical process (worker) id; NemesisProcess for
	// faults. A process has at most one operation in flight.
	Process int  `json:"process"`
	Type    Type `json:"type"`
	Kind    Kind `json:"f"`
	// Time is monotonic nanoseconds since the recorder started.
	Time int64 `json:"time"`
	// Wall is the wall clock in Unix nanoseconds, for lining the history
	// up with process logs. Not used by checkers.
	Wall int64 `json:"wall,omitempty"`
	// Node is the replica or process an operation addressed ("n0").
	Node string `json:"node,omitempty"`
	// Value is the unique value of a send, or what a read returned.
	Value string `json:"value,omitempty"`
	// Key is the sharding key of a send (ordered messages).
	Key string `json:"key,omitempty"`
	// Queue is the queue a send landed in, a read or drain addressed, or
	// an offset commit named.
	Queue Queue `json:"queue,omitzero"`
	// Offset is a queue offset (send ok, read invoke) or a consumer offset
	// (commit, query). NoOffset when unknown.
	Offset int64 `json:"offset"`
	// MaxOffset is, on a read's completion, the queue's max offset (the
	// next offset to be written) the answering replica reported with its
	// reply; 0 when it reported none. A replica that returns nothing at
	// Offset while reporting MaxOffset > Offset skipped a stored message.
	MaxOffset int64 `json:"max_offset,omitempty"`
	// MsgID is the broker's id of a stored message.
	MsgID string `json:"msg_id,omitempty"`
	// Group is a consumer group.
	Group string `json:"group,omitempty"`
	// Attempts is how many times a send was tried (1 + retries).
	Attempts int `json:"attempts,omitempty"`
	// MaybeDup is set on an acknowledged send after an attempt with an
	// unknown outcome: the value may be stored twice.
	MaybeDup bool `json:"maybe_dup,omitempty"`
	// Entries is a drain's result.
	Entries []Entry `json:"entries,omitempty"`
	// Fault names a nemesis action ("kill-leader", "heal").
	Fault string `json:"fault,omitempty"`
	// Error is why an operation failed or is unknown.
	Error string `json:"error,omitempty"`
	// Note is free-form detail for people reading the history (a pull's
	// status and the queue bounds the broker reported). Checkers ignore it.
	Note string `json:"note,omitempty"`
}

// As returns a copy of o turned into a completion (or invocation) of type
// t, ready for Recorder.Complete: Index, Time, Wall, Error, Note and
// Entries are cleared, everything else is kept.
func (o Op) As(t Type) Op {
	o.Type = t
	o.Index, o.Time, o.Wall = 0, 0, 0
	o.Error, o.Note = "", ""
	o.Entries = nil
	return o
}

func (o Op) String() string {
	s := fmt.Sprintf("#%d p%d %s %s", o.Index, o.Process, o.Type, o.Kind)
	if o.Node != "" {
		s += " node=" + o.Node
	}
	if o.Value != "" {
		s += " value=" + o.Value
	}
	if o.Key != "" {
		s += " key=" + o.Key
	}
	if !o.Queue.IsZero() {
		s += fmt.Sprintf(" queue=%s offset=%d", o.Queue, o.Offset)
	}
	if o.Fault != "" {
		s += " fault=" + o.Fault
	}
	if o.Error != "" {
		s += " error=" + o.Error
	}
	return s
}

// History is a sequence of operations in recording order.
type History []Op

// Pair is an operation's invocation and its completion. Complete.Type is
// empty when the history ended before the operation completed; Outcome
// then reports Info.
type Pair struct {
	Invoke   Op
	Complete Op
}

// Outcome is the completion type, Info for an operation never completed.
func (p Pair) Outcome() Type {
	if p.Complete.Type == "" {
		return Info
	}
	return p.Complete.Type
}

// End is the completion time, or +inf (math.MaxInt64) for an operation
// that never completed or completed as info: it may take effect at any
// time.
func (p Pair) End() int64 {
	if p.Outcome() == Info {
		return infTime
	}
	return p.Complete.Time
}

const infTime = int64(^uint64(0) >> 1)

// Pairs matches every invocation with its process's next completion, in
// invocation order. It assumes a valid history (see Validate); a
// completion without an invocation is skipped.
func (h History) Pairs() []Pair { return h.pairs("") }

// PairsOf returns the pairs whose invocation has kind k.
func (h History) PairsOf(k Kind) []Pair { return h.pairs(k) }

// pairs pairs the operations of kind k ("": every kind).
func (h History) pairs(k Kind) []Pair {
	pairs := make([]Pair, 0, len(h)/2)
	open := make(map[int]int) // process → index into pairs
	for _, op := range h {
		if k != "" && op.Kind != k {
			continue
		}
		switch {
		case op.Type == Invoke:
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: op})
		case op.Type.Completion():
			if i, ok := open[op.Process]; ok {
				pairs[i].Complete = op
				delete(open, op.Process)
			}
		}
	}
	return pairs
}

// EndTime is the time of the last operation, 0 for an empty history.
func (h History) EndTime() int64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Time
}

// maxValidateErrors bounds how many problems Validate reports.
const maxValidateErrors = 20

// Validate checks the history's shape: indices are positions, times never
// decrease, types and kinds are set, every completion follows an
// invocation of the same process and kind, and a process never has two
// operations in flight. Every problem found (up to 20) is reported,
// joined, each wrapping ErrBadHistory. Operations still in flight at the
// end are allowed (they count as info).
func (h History) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		if len(errs) < maxValidateErrors {
			errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadHistory}, args...)...))
		}
	}
	open := make(map[int]Op)
	var last int64
	for i, op := range h {
		if op.Index != i {
			add("op at position %d has index %d", i, op.Index)
		}
		if op.Time < last {
			add("op %d: time %d before previous %d", i, op.Time, last)
		}
		last = op.Time
		if !op.Type.Valid() {
			add("op %d: unknown type %q", i, op.Type)
			continue
		}
		if op.Kind == "" {
			add("op %d: empty kind", i)
		}
		inv, inFlight := open[op.Process]
		switch {
		case op.Type == Invoke && inFlight:
			add("op %d: process %d invokes while op %d is in flight", i, op.Process, inv.Index)
		case op.Type == Invoke:
			open[op.Process] = op
		case !inFlight:
			add("op %d: %s of process %d with nothing in flight", i, op.Type, op.Process)
		case inv.Kind != op.Kind:
			add("op %d: %s %s completes %s op %d", i, op.Type, op.Kind, inv.Kind, inv.Index)
			delete(open, op.Process)
		default:
			delete(open, op.Process)
		}
	}
	return errors.Join(errs...)
}
