package consumequeue

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := Options{EntriesPerFile: -1}.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Dir", "FS", "EntriesPerFile", "Logger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	if _, err := Open(Options{Dir: "/x", FS: vfs.NewMem(), EntriesPerFile: maxEntriesPerFile + 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open with bad options: %v", err)
	}
}

func TestReopenGivesIdenticalState(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 32)
	rng := rand.New(rand.NewPCG(1, 2))
	w := newTwin()
	for i := 0; i < 400; i++ {
		d := w.next(rng, 3)
		mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
	}
	w.check(t, s, 1<<62)
	wantD := s.DispatchedPhys()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("topic0", 0, 0, entryAt(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	s = openTest(t, dir, 8) // a different EntriesPerFile: existing queues keep theirs
	defer s.Close()
	if s.DispatchedPhys() != wantD {
		t.Fatalf("DispatchedPhys %d after reopen, want %d", s.DispatchedPhys(), wantD)
	}
	rep := s.Recovery()
	if rep.TornEntries != 0 || rep.Uncheckpointed != 0 || len(rep.RemovedFiles) != 0 || rep.Queues != len(w.qs) {
		t.Fatalf("recovery after clean close: %+v", rep)
	}
	w.check(t, s, 1<<62)
	for range 50 { // the queues keep growing in their own file size
		d := w.next(rng, 3)
		mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
	}
	w.check(t, s, 1<<62)
	var keys []QueueKey
	for q := range s.All() {
		keys = append(keys, QueueKey{q.Topic(), q.ID()})
	}
	if !slices.Equal(keys, s.Queues()) || len(keys) != len(w.qs) {
		t.Fatalf("All() = %v, Queues() = %v", keys, s.Queues())
	}
}

func TestTruncatePhysThenPut(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 4)
	fill(t, s, "T", 0, 0, 30)
	fill(t, s, "U", 5, 3, 9)
	q := s.Queue("T", 0)
	// Cut in the middle of file 16..19: entries from 18 on go, files 20.. vanish.
	cut := entryAt(18).Phys
	if err := s.TruncatePhys(cut); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, q, 0, 18)
	checkQueue(t, s.Queue("U", 5), 3, 9) // its entries are all below cut
	if got := len(queueFiles(t, dir, "T", 0)); got != 5 {
		t.Fatalf("%d files after truncate, want 5", got)
	}
	if s.DispatchedPhys() != cut {
		t.Fatalf("DispatchedPhys = %d, want %d", s.DispatchedPhys(), cut)
	}
	if err := q.Put(18, entryAt(17)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("put with phys below the last entry: %v", err)
	}
	fill(t, s, "T", 0, 18, 26) // continue after the cut
	checkQueue(t, q, 0, 26)
	// Truncating exactly at a file boundary, and everything.
	if err := s.TruncatePhys(entryAt(20).Phys); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, q, 0, 20)
	if err := s.TruncatePhys(0); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, q, 0, 0)
	checkQueue(t, s.Queue("U", 5), 3, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, 4)
	defer s.Close()
	checkQueue(t, s.Queue("T", 0), 0, 0)
	checkQueue(t, s.Queue("U", 5), 3, 3)
	fill(t, s, "U", 5, 3, 12)
	fill(t, s, "T", 0, 0, 9)
	checkQueue(t, s.Queue("U", 5), 3, 12)
	checkQueue(t, s.Queue("T", 0), 0, 9)
}

func TestTruncatePhysRandomAgainstTwin(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	s, fsys := openMem(t, 5)
	w := newTwin()
	for round := 0; round < 30; round++ {
		for range rng.IntN(60) {
			d := w.next(rng, 2)
			mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
		}
		switch rng.IntN(4) {
		case 0:
			if len(w.log) > 0 {
				cut := w.log[rng.IntN(len(w.log))].Entry.Phys
				if err := s.TruncatePhys(cut); err != nil {
					t.Fatal(err)
				}
				w.truncate(cut)
			}
		case 1:
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openFS(t, fsys, "/cq", 5)
		}
		w.check(t, s, 1<<62)
	}
	s.Close()
}

func TestDropBeforePhys(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 4)
	fill(t, s, "T", 0, 0, 22)
	q := s.Queue("T", 0)
	if err := s.DropBeforePhys(entryAt(9).Phys + 1); err != nil { // between entries 9 and 10
		t.Fatal(err)
	}
	checkQueue(t, q, 10, 22)
	if files := queueFiles(t, dir, "T", 0); files[0] != fileName(8) || len(files) != 4 {
		t.Fatalf("files after drop: %v", files)
	}
	// Re-dispatch of a dropped entry is accepted; a conflicting one is not.
	if err := q.Put(9, entryAt(9)); err != nil {
		t.Fatalf("re-put below min: %v", err)
	}
	if err := q.Put(9, Entry{Phys: entryAt(30).Phys, Size: 1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting re-put below min: %v", err)
	}
	if _, err := q.Get(9); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Get below min: %v", err)
	}
	if s.MinPhys() != entryAt(9).Phys+1 {
		t.Fatalf("MinPhys = %d", s.MinPhys())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, 4)
	q = s.Queue("T", 0)
	checkQueue(t, q, 10, 22)
	// Dropping everything keeps the last file so the queue keeps its offsets.
	if err := s.DropBeforePhys(1 << 40); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, q, 22, 22)
	if files := queueFiles(t, dir, "T", 0); !slices.Equal(files, []string{fileName(20)}) {
		t.Fatalf("files: %v", files)
	}
	fill(t, s, "T", 0, 22, 25)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, 4)
	defer s.Close()
	// Entries 22.. are below the 1<<40 watermark too: the queue is empty at 25.
	checkQueue(t, s.Queue("T", 0), 25, 25)
}

func TestResetAndRebuild(t *testing.T) {
	s, fsys := openMem(t, 6)
	rng := rand.New(rand.NewPCG(5, 5))
	w := newTwin()
	for range 300 {
		d := w.next(rng, 4)
		mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
	}
	old := s.Queue(w.log[0].Topic, w.log[0].QueueID)
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if len(s.Queues()) != 0 || s.DispatchedPhys() != 0 {
		t.Fatalf("after Reset: %v, dispatched %d", s.Queues(), s.DispatchedPhys())
	}
	if _, err := old.Get(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("old handle after Reset: %v", err)
	}
	if names, _ := fsys.List("/cq"); !slices.Equal(names, []string{checkpointName}) {
		t.Fatalf("files after Reset: %v", names)
	}
	if err := s.Rebuild(w.seq(0)); err != nil {
		t.Fatal(err)
	}
	w.check(t, s, 1<<62)
	wantD := w.log[len(w.log)-1].Entry.Phys + int64(w.log[len(w.log)-1].Entry.Size)
	if s.DispatchedPhys() != wantD {
		t.Fatalf("DispatchedPhys %d, want %d", s.DispatchedPhys(), wantD)
	}
	// A failing walk stops the rebuild with its error.
	boom := errors.New("boom")
	err := s.Rebuild(func(yield func(Dispatch, error) bool) {
		if yield(w.log[0], nil) {
			yield(Dispatch{}, boom)
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Rebuild err = %v", err)
	}
	// A crash in the middle of a Reset is finished by Open.
	if err := s.Rebuild(w.seq(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.ck.Write(checkpointRec{State: stateResetting}); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s = openFS(t, fsys, "/cq", 6)
	defer s.Close()
	if rep := s.Recovery(); !rep.ResetFinished || len(s.Queues()) != 0 {
		t.Fatalf("after interrupted reset: %+v, queues %v", rep, s.Queues())
	}
}

func TestCheckpointAdvance(t *testing.T) {
	s, fsys := openMem(t, 8)
	fill(t, s, "T", 0, 0, 3)
	s.AdvanceDispatched(1 << 20)
	s.AdvanceDispatched(5) // never lowers
	if s.DispatchedPhys() != 1<<20 {
		t.Fatalf("DispatchedPhys = %d", s.DispatchedPhys())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.crash()
	s = openFS(t, fsys, "/cq", 8)
	defer s.Close()
	if s.DispatchedPhys() != 1<<20 {
		t.Fatalf("DispatchedPhys after crash = %d", s.DispatchedPhys())
	}
	checkQueue(t, s.Queue("T", 0), 0, 3)
}
