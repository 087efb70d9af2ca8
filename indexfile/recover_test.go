package indexfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func patchFile(t testing.TB, fsys vfs.FS, path string, off int64, b []byte) {
	t.Helper()
	f, err := fsys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestRecovery(t *testing.T) {
	const slots, perFile = 4, 8
	l := layoutFor(slots, perFile)
	path := func(num int64) string { return filepath.Join("/ix", fileName(num)) }
	keys := []string{"k0", "k1", "k2"}
	// Every case starts with 20 entries (phys 0..190, files 0, 1, 2), all
	// checkpointed, then puts `extra` more (phys 200..) unflushed, crashes
	// and damages the files.
	cases := []struct {
		name    string
		extra   int
		damage  func(t *testing.T, fsys vfs.FS)
		wantErr error
		check   func(t *testing.T, ix *Index, rep RecoveryReport)
	}{
		{name: "crash after flush: slots of the active file rebuilt",
			check: func(t *testing.T, ix *Index, rep RecoveryReport) {
				if !slices.Equal(rep.RebuiltSlots, []string{path(2)}) || rep.Uncheckpointed != 0 {
					t.Fatalf("report %+v", rep)
				}
			}},
		{name: "unflushed entries and file dropped", extra: 10,
			check: func(t *testing.T, ix *Index, rep RecoveryReport) {
				// (Entries past a header's count are not counted.)
				if !slices.Equal(rep.RemovedFiles, []string{path(3)}) {
					t.Fatalf("report %+v", rep)
				}
			}},
		{name: "torn entry past the checkpoint", extra: 3,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(2), l.entryOff(6)+4, []byte{0xFF, 0xFF}) }},
		{name: "slot pointing at a lost entry", extra: 3,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(2), l.entryOff(5), make([]byte, entrySize)) }},
		{name: "damaged entry below the checkpoint in the active file", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(2), l.entryOff(2)+9, []byte{1}) }},
		{name: "damaged chain link below the checkpoint", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				// Rewrite entry 4 of the active file with a wrong (but
				// backwards) link and a matching checksum.
				b := make([]byte, entrySize)
				encodeEntry(b, 4, entry{hash: hashKey("k1"), phys: 190, storeTime: 19, prev: 0})
				patchFile(t, fsys, path(2), l.entryOff(4), b)
			}},
		{name: "damaged entry in a sealed file is found by Query",
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(0), l.entryOff(7)+9, []byte{1}) },
			check: func(t *testing.T, ix *Index, rep RecoveryReport) {
				// Entry 7 of file 0 is phys 60, key k0.
				if _, err := ix.Query("k0", 0, 1<<62, 100); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Query: %v", err)
				}
				wantQuery(t, ix, "k1", 17, 19, 100, 190) // file 0 is outside the time range
			}},
		{name: "newest header copy of a sealed file damaged", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(1), 0+20, []byte{0xFF}) }},
		{name: "both header copies of a sealed file damaged", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				patchFile(t, fsys, path(0), 20, []byte{0xFF})
				patchFile(t, fsys, path(0), 64+20, []byte{0xFF})
			}},
		{name: "newest header copy of the active file damaged", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				// Copy with seq 3 (the flush) lives at 64; seq 2... see writeHeader.
				f, _ := fsys.Open(path(2))
				var hb [headerSize]byte
				f.ReadAt(hb[:], 0)
				f.Close()
				a, _ := decodeHeader(hb[:])
				b, _ := decodeHeader(hb[headerCopySize:])
				newest := int64(0)
				if newerSeq(b.seq, a.seq) {
					newest = headerCopySize
				}
				patchFile(t, fsys, path(2), newest+20, []byte{0xFF})
			}},
		{name: "torn creation of a new file", extra: 10,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Open(path(3))
				defer f.Close()
				if err := f.Truncate(0); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, ix *Index, rep RecoveryReport) {
				if !slices.Equal(rep.RemovedFiles, []string{path(3)}) {
					t.Fatalf("report %+v", rep)
				}
			}},
		{name: "zeroed headers of a new file past the checkpoint", extra: 10,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(3), 0, make([]byte, headerSize)) }},
		{name: "zeroed headers of the active file below the checkpoint", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { patchFile(t, fsys, path(2), 0, make([]byte, headerSize)) }},
		{name: "wrong file size", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Open(path(1))
				defer f.Close()
				f.Truncate(l.size - 1)
			}},
		{name: "files out of order", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				if err := fsys.Rename(path(0), path(9)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "missing checkpoint", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { fsys.Remove(filepath.Join("/ix", checkpointName)) }},
		{name: "both checkpoint records damaged", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				patchFile(t, fsys, filepath.Join("/ix", checkpointName), 9, []byte{1})
				patchFile(t, fsys, filepath.Join("/ix", checkpointName), checkpointRecSize+9, []byte{1})
			}},
		{name: "stray file ignored",
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Create("/ix/README")
				f.Close()
			},
			check: func(t *testing.T, ix *Index, rep RecoveryReport) {
				if !slices.Equal(rep.Ignored, []string{"/ix/README"}) {
					t.Fatalf("report %+v", rep)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ix, fsys := openMem(t, slots, perFile)
			w := &twin{hash: hashKey}
			for i := int64(0); i < 20; i++ {
				k := keys[i%3]
				mustPut(t, ix, k, i*10, i)
				w.put(k, i*10, i)
			}
			ix.AdvanceDispatched(200)
			if err := ix.Flush(); err != nil {
				t.Fatal(err)
			}
			for i := int64(20); i < 20+int64(c.extra); i++ {
				k := keys[i%3]
				mustPut(t, ix, k, i*10, i)
				w.put(k, i*10, i)
			}
			ix.crash()
			if c.damage != nil {
				c.damage(t, fsys)
			}
			ix, err := Open(Options{Dir: "/ix", FS: fsys, SlotCount: slots, EntriesPerFile: perFile, Logger: debugLogger()})
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Open err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer ix.Close()
			if ix.DispatchedPhys() != 200 {
				t.Fatalf("DispatchedPhys %d", ix.DispatchedPhys())
			}
			if c.check != nil {
				c.check(t, ix, ix.Recovery())
				return
			}
			w.check(t, ix, keys, 200)
			// Re-dispatch and go on: new entries must chain correctly.
			for i := int64(20); i < 40; i++ {
				k := keys[i%3]
				if i >= 20+int64(c.extra) {
					w.put(k, i*10, i)
				}
				mustPut(t, ix, k, i*10, i)
			}
			w.check(t, ix, keys, 1<<62)
		})
	}
}

// TestCrashRecovery runs random workloads on a crash-simulating FS, loses
// power and checks that Open returns exactly the checkpointed index and
// that re-dispatch completes it.
func TestCrashRecovery(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 21))
	for iter := 0; iter < 150; iter++ {
		fsys := vfs.NewCrash(rng.Int64())
		slots, perFile := 1+rng.IntN(5), 1+rng.IntN(12)
		ix := openFS(t, fsys, "/ix", slots, perFile)
		w := &twin{hash: hashKey}
		keys := []string{"a", "b", "c", "d", "e"}
		phys := int64(0)
		for step := 0; step < 20; step++ {
			for range rng.IntN(25) {
				phys += 1 + rng.Int64N(9)
				for range 1 + rng.IntN(2) {
					k := keys[rng.IntN(len(keys))]
					mustPut(t, ix, k, phys, 1000+phys/3)
					w.put(k, phys, 1000+phys/3)
				}
				if rng.IntN(4) == 0 {
					ix.AdvanceDispatched(phys + 1)
				}
			}
			switch rng.IntN(5) {
			case 0, 1:
				if err := ix.Flush(); err != nil {
					t.Fatal(err)
				}
			case 2:
				if len(w.puts) > 0 {
					cut := w.puts[rng.IntN(len(w.puts))].Phys
					if cut < w.minPhys {
						break
					}
					if err := ix.TruncatePhys(cut); err != nil {
						t.Fatal(err)
					}
					w.truncate(cut)
					phys = cut
				}
			case 3:
				if len(w.puts) > 0 {
					mp := w.puts[rng.IntN(len(w.puts))].Phys
					if err := ix.DropBeforePhys(mp); err != nil {
						t.Fatal(err)
					}
					w.minPhys = max(w.minPhys, mp)
				}
			}
		}
		ckD := ix.ck.Cur.Dispatched
		mode := []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random}[rng.IntN(3)]
		fsys.Crash(mode)
		ix, err := Open(Options{Dir: "/ix", FS: fsys, SlotCount: slots, EntriesPerFile: perFile, Logger: debugLogger()})
		if err != nil {
			t.Fatalf("iter %d (%v, fs seed %d): Open: %v", iter, mode, fsys.Seed(), err)
		}
		if ix.DispatchedPhys() != ckD {
			t.Fatalf("iter %d: DispatchedPhys %d, want %d", iter, ix.DispatchedPhys(), ckD)
		}
		w.check(t, ix, keys, ckD)
		for _, p := range w.puts { // re-dispatch everything: below the checkpoint it is ignored
			mustPut(t, ix, p.Key, p.Phys, p.StoreTime)
		}
		w.check(t, ix, keys, 1<<62)
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailureThenCrash lets the disk fail from a random operation on, runs
// until the first error, loses power and checks Open is consistent with
// its checkpoint.
func TestFailureThenCrash(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 23))
	for iter := 0; iter < 200; iter++ {
		cfs := vfs.NewCrash(rng.Int64())
		failAt := 1 + rng.IntN(80)
		efs := vfs.NewErr(cfs, vfs.FailFrom(failAt, nil, vfs.OpCreate, vfs.OpRemove, vfs.OpSyncDir,
			vfs.OpWrite, vfs.OpAllocate, vfs.OpSync, vfs.OpMap, vfs.OpFlush))
		slots, perFile := 1+rng.IntN(4), 1+rng.IntN(8)
		ix, err := Open(Options{Dir: "/ix", FS: efs, SlotCount: slots, EntriesPerFile: perFile})
		if err != nil {
			continue
		}
		w := &twin{hash: hashKey}
		keys := []string{"a", "b", "c"}
		phys := int64(0)
		pendingCut, pendingMin := int64(-1), int64(-1)
	work:
		for step := 0; step < 25; step++ {
			for range rng.IntN(15) {
				phys += 1 + rng.Int64N(5)
				k := keys[rng.IntN(len(keys))]
				if ix.Put(k, phys, phys) != nil {
					break work
				}
				w.put(k, phys, phys)
			}
			switch rng.IntN(4) {
			case 0:
				if ix.Flush() != nil {
					break work
				}
			case 1:
				if len(w.puts) > 0 {
					cut := w.puts[rng.IntN(len(w.puts))].Phys
					if cut < w.minPhys {
						break
					}
					if ix.TruncatePhys(cut) != nil {
						pendingCut = cut
						break work
					}
					w.truncate(cut)
					phys = cut
				}
			case 2:
				if len(w.puts) > 0 {
					mp := w.puts[rng.IntN(len(w.puts))].Phys
					if ix.DropBeforePhys(mp) != nil {
						pendingMin = mp
						break work
					}
					w.minPhys = max(w.minPhys, mp)
				}
			}
		}
		cfs.Crash([]vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random}[rng.IntN(3)])
		ix, err = Open(Options{Dir: "/ix", FS: cfs, SlotCount: slots, EntriesPerFile: perFile})
		if err != nil {
			t.Fatalf("iter %d (fail at op %d, fs seed %d): Open: %v", iter, failAt, cfs.Seed(), err)
		}
		d := ix.DispatchedPhys()
		if pendingCut >= 0 && d <= pendingCut {
			w.truncate(pendingCut)
		}
		if pendingMin >= 0 && ix.MinPhys() >= pendingMin {
			w.minPhys = max(w.minPhys, pendingMin)
		}
		if ix.MinPhys() != w.minPhys {
			t.Fatalf("iter %d: MinPhys %d, twin %d", iter, ix.MinPhys(), w.minPhys)
		}
		w.check(t, ix, keys, d)
		for _, p := range w.puts {
			mustPut(t, ix, p.Key, p.Phys, p.StoreTime)
		}
		w.check(t, ix, keys, 1<<62)
		if err := ix.Close(); err != nil {
			t.Fatal(fmt.Errorf("iter %d: %w", iter, err))
		}
	}
}
