package dledger

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Entry is one committed raft entry as the application sees it.
type Entry struct {
	// Index and Term are the entry's raft index and term.
	Index, Term uint64
	// Type is raft.LogCommand or raft.LogConfiguration (raft does not hand
	// other types to the FSM).
	Type raft.LogType
	// Data is the entry payload (what was passed to Node.Apply). It aliases
	// raft's copy: read it, do not modify or retain it past ApplyBatch.
	Data []byte
	// AppendedAt is the leader's clock when it appended the entry (the same
	// on every replica).
	AppendedAt time.Time
	// RecordOffset is the physical commit-log offset of the entry's record
	// and DataOffset the offset of Data[0] inside it: Data[i] lives at
	// DataOffset+i on every replica. Both are -1 when the group runs on the
	// bolt log store, which has no physical offsets.
	RecordOffset, DataOffset int64
}

// FSM is the application state machine a Node drives. Calls are never
// concurrent with each other (raft's FSM goroutine), except that a returned
// FSMSnapshot's Persist runs concurrently with later ApplyBatch calls.
type FSM interface {
	// ApplyBatch applies committed entries in log order and returns one
	// result per entry (nil for entries it ignores, such as configuration
	// changes). The result of a command is what Node.Apply returns on the
	// leader that proposed it. Must be deterministic.
	ApplyBatch(entries []Entry) []any
	// Snapshot captures the state for a later Persist; it must return
	// quickly (Apply is blocked meanwhile).
	Snapshot() (raft.FSMSnapshot, error)
	// Restore replaces the state with a snapshot's. When it runs, the commit
	// log already holds the snapshot's log range (see the package doc).
	Restore(r io.ReadCloser) error
}

// notApplied is the result raft hands a proposer whose entry the stopping
// node left unapplied; applyFuture turns it into an error.
type notApplied struct{}

// applyFuture is raft's ApplyFuture that reports notApplied, and a shut
// down raft's answer for an entry it had dispatched, as "outcome unknown".
type applyFuture struct{ raft.ApplyFuture }

func (f applyFuture) Error() error {
	if err := f.ApplyFuture.Error(); err != nil {
		// raft answers ErrRaftShutdown both for a proposal it never took
		// (Apply after shutdown: no index) and for entries it had committed
		// when it stopped and could no longer hand to the FSM (processLogs):
		// those have an index, and raft counted them committed, so they may
		// well be stored. Only the first is a refusal.
		if errors.Is(err, raft.ErrRaftShutdown) && f.ApplyFuture.Index() != 0 {
			return fmt.Errorf("%w with entry %d committed but not applied, outcome unknown: %w: %w",
				ErrClosed, f.ApplyFuture.Index(), raft.ErrLeadershipLost, err)
		}
		return err
	}
	if _, ok := f.ApplyFuture.Response().(notApplied); ok {
		return fmt.Errorf("%w before the entry was applied, outcome unknown: %w", ErrClosed, raft.ErrLeadershipLost)
	}
	return nil
}

// offsetSource gives the physical position of entries; implemented by the
// commit-log store. A nil source means "no physical offsets".
type offsetSource interface {
	EntryOffset(index uint64) (recordOffset, dataOffset int64, err error)
}

// fsmAdapter is the raft.BatchingFSM raft drives: it attaches physical
// offsets, counts applied entries, and wraps snapshots with the log-range
// header that keeps replicas' commit logs identical (snapshot.go).
type fsmAdapter struct {
	app   FSM
	store *LogStore // nil for the bolt kind
	// lastApplied is the index of the last entry handed to the application
	// or restored from a snapshot.
	lastApplied atomic.Uint64
	entries     []Entry // reused across ApplyBatch calls (FSM goroutine only)
	// stopping is set (FSM goroutine only) once a batch was left unapplied
	// because the node is stopping; every later batch is left too.
	stopping bool
}

var _ raft.BatchingFSM = (*fsmAdapter)(nil)

func newFSMAdapter(app FSM, store *LogStore) *fsmAdapter {
	return &fsmAdapter{app: app, store: store}
}

func (f *fsmAdapter) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f *fsmAdapter) ApplyBatch(logs []*raft.Log) []any {
	if f.store != nil && len(logs) > 0 && !f.stopping {
		// On the leader raft may commit an entry before the leader's own
		// copy, or the first entry of its term, is durable (durability.go);
		// nothing applies it before that.
		if err := f.store.waitApplicable(logs[len(logs)-1].Index); err != nil {
			if !errors.Is(err, ErrClosed) {
				panic(fmt.Sprintf("dledger: applying entries up to %d: %v", logs[len(logs)-1].Index, err))
			}
			// The node is stopping with the batch's sync outstanding.
			f.stopping = true
		}
	}
	if f.stopping {
		// Leave this batch and every later one unapplied, so the state
		// machine never skips an entry and applies a later one; a
		// restarted node applies them from its log. Their proposers hear
		// "outcome unknown".
		res := make([]any, len(logs))
		for i := range res {
			res[i] = notApplied{}
		}
		return res
	}
	es := f.entries[:0]
	for _, l := range logs {
		e := Entry{
			Index: l.Index, Term: l.Term, Type: l.Type, Data: l.Data, AppendedAt: l.AppendedAt,
			RecordOffset: -1, DataOffset: -1,
		}
		if f.store != nil {
			ro, do, err := f.store.EntryOffset(l.Index)
			if err != nil {
				// A committed entry must be in the local log; anything else
				// means the replica is damaged and must not diverge quietly.
				panic(fmt.Sprintf("dledger: applying entry %d: %v", l.Index, err))
			}
			e.RecordOffset, e.DataOffset = ro, do
		}
		es = append(es, e)
	}
	res := f.app.ApplyBatch(es)
	if len(res) != len(es) {
		panic(fmt.Sprintf("dledger: FSM.ApplyBatch returned %d results for %d entries", len(res), len(es)))
	}
	clear(es) // drop references to raft's data
	f.entries = es[:0]
	if n := len(logs); n > 0 {
		f.lastApplied.Store(logs[n-1].Index)
	}
	return res
}

func (f *fsmAdapter) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.app.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{app: s, store: f.store}, nil
}

// Restore reads the log-range header, brings the commit log in line with it
// (snapshot.go), then hands the rest of the stream to the application.
func (f *fsmAdapter) Restore(rc io.ReadCloser) error {
	h, err := readSnapHeader(rc)
	if err != nil {
		return err
	}
	if err := restoreLogRange(f.store, h, rc); err != nil {
		return err
	}
	if err := f.app.Restore(rc); err != nil {
		return err
	}
	f.lastApplied.Store(h.LastIndex)
	return nil
}

// fsmSnapshot writes the compact log-range header, then the application's
// state.
type fsmSnapshot struct {
	app   raft.FSMSnapshot
	store *LogStore
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	h, err := compactHeaderFor(s.store, sink)
	if err == nil {
		_, err = sink.Write(h.encode())
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return s.app.Persist(sink)
}

func (s *fsmSnapshot) Release() { s.app.Release() }
