package dledger

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// logStoreImpls are the raft.LogStore implementations the conformance suite
// runs against: ours (also with every batch on the leader's deferred-sync
// path), the bolt baseline, raft's in-memory reference and the bounded
// memory store of the LogStoreMemory kind.
var logStoreImpls = []struct {
	name string
	open func(t *testing.T) raft.LogStore
}{
	{"commitlog", func(t *testing.T) raft.LogStore {
		o := DefaultLogStoreOptions(t.TempDir())
		o.SegmentSize = 64 << 10 // several segments in the big-entry cases
		o.IndexSlotsPerFile = 64
		o.CacheEntries = 16
		s, err := OpenLogStore(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"commitlog-memfs-nocache", func(t *testing.T) raft.LogStore {
		o := DefaultLogStoreOptions("/store")
		o.FS = vfs.NewMem()
		o.SegmentSize = 64 << 10
		o.IndexSlotsPerFile = 16
		o.CacheEntries = 0
		s, err := OpenLogStore(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"bolt", func(t *testing.T) raft.LogStore {
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), "raft.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"commitlog-leader", func(t *testing.T) raft.LogStore {
		// Every batch takes the leader's path: written, then synced by the
		// store's goroutine.
		o := DefaultLogStoreOptions(t.TempDir())
		o.SegmentSize = 64 << 10
		o.IndexSlotsPerFile = 64
		s, err := OpenLogStore(o)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeferProbe(func() bool { return true })
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"inmem", func(t *testing.T) raft.LogStore { return raft.NewInmemStore() }},
	{"memory", func(t *testing.T) raft.LogStore { return newMemoryLogStore() }},
}

func mkLog(index, term uint64, size int) *raft.Log {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(index + uint64(i))
	}
	return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: data,
		AppendedAt: time.Unix(1_700_000_000, int64(index)*1000)}
}

func mkLogs(from, to, term uint64, size int) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, mkLog(i, term, size))
	}
	return out
}

func wantRange(t *testing.T, s raft.LogStore, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("range = [%d, %d], want [%d, %d]", f, l, first, last)
	}
}

func wantLogs(t *testing.T, s raft.LogStore, logs []*raft.Log) {
	t.Helper()
	for _, want := range logs {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if !logsEqual(&got, want) {
			t.Fatalf("GetLog(%d) = {%d %d %v %d bytes %v}, want {%d %d %v %d bytes %v}", want.Index,
				got.Index, got.Term, got.Type, len(got.Data), got.AppendedAt,
				want.Index, want.Term, want.Type, len(want.Data), want.AppendedAt)
		}
	}
}

func wantMissing(t *testing.T, s raft.LogStore, idx ...uint64) {
	t.Helper()
	for _, i := range idx {
		var l raft.Log
		if err := s.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) err = %v, want ErrLogNotFound", i, err)
		}
	}
}

// TestLogStoreConformance runs one suite against every implementation, so
// the commit-log store behaves exactly like the stores raft is tested with.
func TestLogStoreConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s raft.LogStore)
	}{
		{"empty", func(t *testing.T, s raft.LogStore) {
			wantRange(t, s, 0, 0)
			wantMissing(t, s, 0, 1, 100)
		}},
		{"store one and batch", func(t *testing.T, s raft.LogStore) {
			first := mkLog(1, 1, 10)
			if err := s.StoreLog(first); err != nil {
				t.Fatal(err)
			}
			batch := mkLogs(2, 100, 1, 100)
			if err := s.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 1, 100)
			wantLogs(t, s, append([]*raft.Log{first}, batch...))
			wantMissing(t, s, 0, 101)
		}},
		{"entry fields", func(t *testing.T, s raft.LogStore) {
			logs := []*raft.Log{
				{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("c")},
				{Index: 2, Term: 2, Type: raft.LogNoop},
				{Index: 3, Term: 2, Type: raft.LogBarrier, Extensions: []byte("ext")},
				{Index: 4, Term: 2, Type: raft.LogCommand, Data: bytes.Repeat([]byte("z"), 40<<10), AppendedAt: time.Now()},
				{Index: 5, Term: 9, Type: raft.LogCommand, Data: []byte{}, Extensions: bytes.Repeat([]byte("e"), 300)},
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			wantLogs(t, s, logs)
		}},
		{"suffix delete and overwrite", func(t *testing.T, s raft.LogStore) {
			if err := s.StoreLogs(mkLogs(1, 60, 1, 200)); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(41, 60); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 1, 40)
			wantMissing(t, s, 41, 60)
			newer := mkLogs(41, 70, 2, 300)
			if err := s.StoreLogs(newer); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 1, 70)
			wantLogs(t, s, mkLogs(1, 40, 1, 200))
			wantLogs(t, s, newer)
		}},
		{"prefix delete", func(t *testing.T, s raft.LogStore) {
			if err := s.StoreLogs(mkLogs(1, 50, 1, 64)); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(1, 20); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 21, 50)
			wantMissing(t, s, 1, 20)
			wantLogs(t, s, mkLogs(21, 50, 1, 64))
			if err := s.StoreLogs(mkLogs(51, 55, 1, 64)); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 21, 55)
		}},
		{"delete everything then continue", func(t *testing.T, s raft.LogStore) {
			if err := s.StoreLogs(mkLogs(1, 30, 1, 64)); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteRange(1, 30); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 0, 0)
			wantMissing(t, s, 1, 30)
			if err := s.StoreLogs(mkLogs(31, 35, 2, 64)); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 31, 35)
			wantLogs(t, s, mkLogs(31, 35, 2, 64))
		}},
		{"start above one", func(t *testing.T, s raft.LogStore) {
			// A fresh store may start anywhere (after a snapshot install).
			if err := s.StoreLogs(mkLogs(1000, 1010, 5, 64)); err != nil {
				t.Fatal(err)
			}
			wantRange(t, s, 1000, 1010)
			wantLogs(t, s, mkLogs(1000, 1010, 5, 64))
		}},
		{"concurrent readers", func(t *testing.T, s raft.LogStore) {
			if err := s.StoreLogs(mkLogs(1, 10, 1, 64)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			errc := make(chan error, 4)
			for r := 0; r < 4; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						last, err := s.LastIndex()
						if err != nil {
							errc <- err
							return
						}
						var l raft.Log
						if err := s.GetLog(last, &l); err != nil || l.Index != last {
							errc <- fmt.Errorf("GetLog(%d) = %d, %v", last, l.Index, err)
							return
						}
					}
				}()
			}
			for i := uint64(11); i <= 400; i += 10 {
				if err := s.StoreLogs(mkLogs(i, i+9, 1, 64)); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			select {
			case err := <-errc:
				t.Fatal(err)
			default:
			}
			wantLogs(t, s, mkLogs(1, 400, 1, 64))
		}},
	}
	for _, impl := range logStoreImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, impl.open(t)) })
			}
		})
	}
}
