// Package kvfsm is a small key/value dledger.FSM for tests and benchmarks.
//
// A command is "key=value" (set) or any other bytes (stored under the key
// equal to the whole command with an empty value). Every applied command's
// result is a Result with its raft index and the physical offset of its
// data, so tests can check offsets against the commit log.
package kvfsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
)

// Result is what ApplyBatch returns for a command.
type Result struct {
	Index      uint64
	DataOffset int64
}

// FSM is a map from key to value plus a count of applied commands.
type FSM struct {
	mu      sync.Mutex
	kv      map[string]string
	applied uint64 // commands applied
	last    uint64 // index of the last command applied
}

var _ dledger.FSM = (*FSM)(nil)

// New returns an empty FSM.
func New() *FSM { return &FSM{kv: map[string]string{}} }

// ApplyBatch implements dledger.FSM.
func (f *FSM) ApplyBatch(es []dledger.Entry) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, len(es))
	for i, e := range es {
		if e.Type != raft.LogCommand {
			continue
		}
		k, v, _ := bytes.Cut(e.Data, []byte("="))
		f.kv[string(k)] = string(v)
		f.applied++
		f.last = e.Index
		out[i] = Result{Index: e.Index, DataOffset: e.DataOffset}
	}
	return out
}

// Get returns the value of key.
func (f *FSM) Get(key string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.kv[key]
	return v, ok
}

// State returns a copy of the map, the number of commands applied and the
// index of the last one.
func (f *FSM) State() (map[string]string, uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.kv), f.applied, f.last
}

type state struct {
	KV      map[string]string `json:"kv"`
	Applied uint64            `json:"applied"`
	Last    uint64            `json:"last"`
}

// Snapshot implements dledger.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	kv, applied, last := f.State()
	return &snapshot{s: state{KV: kv, Applied: applied, Last: last}}, nil
}

// Restore implements dledger.FSM.
func (f *FSM) Restore(rc io.ReadCloser) error {
	var s state
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("kvfsm: restore: %w", err)
	}
	if s.KV == nil {
		s.KV = map[string]string{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv, f.applied, f.last = s.KV, s.Applied, s.Last
	return nil
}

type snapshot struct{ s state }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(&s.s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
