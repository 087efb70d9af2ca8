package consumequeue

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// memPatch overwrites bytes of a file in fsys.
func memPatch(t testing.TB, fsys vfs.FS, path string, off int64, b []byte) {
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

func garbage() []byte {
	b := make([]byte, entrySize)
	for i := range b {
		b[i] = byte(0xA5 ^ i)
	}
	return b
}

func TestRecovery(t *testing.T) {
	const perFile = 8
	const dir = "/cq"
	path := func(base int64) string { return queueFilePath(dir, "T", 0, base) }
	entry := func(off int64) int64 { return entryPos(perFile, off) }
	// Every case starts from queue T/0 holding 0..19 (files 0, 8, 16), all
	// checkpointed, then optionally puts 20..(20+extra) unflushed and
	// crashes, then damages the files.
	cases := []struct {
		name    string
		extra   int64
		damage  func(t *testing.T, fsys vfs.FS)
		wantErr error
		wantMax int64
		check   func(t *testing.T, s *Store, rep RecoveryReport)
	}{
		{name: "clean", wantMax: 20},
		{
			name: "unflushed entries past the checkpoint are dropped", extra: 6, wantMax: 20,
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if rep.Uncheckpointed != 6 || rep.TornEntries != 0 {
					t.Fatalf("report %+v", rep)
				}
				if files := s.Queue("T", 0).filePaths(); len(files) != 3 {
					t.Fatalf("file 24 not removed: %v", files)
				}
			},
		},
		{
			name: "torn entry past the checkpoint", extra: 3, wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), entry(22), garbage()[:20]) },
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if rep.TornEntries != 1 || rep.Uncheckpointed != 2 {
					t.Fatalf("report %+v", rep)
				}
			},
		},
		{
			name: "zeroed entry past the checkpoint", extra: 3, wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), entry(21), make([]byte, entrySize)) },
		},
		{
			name: "damage below the checkpoint with an intact entry after it", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), entry(18), garbage()) },
		},
		{
			name: "zeroed entry below the checkpoint with an intact entry after it", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), entry(17), make([]byte, entrySize)) },
		},
		{
			// Indistinguishable from a torn tail: the queue ends early and the
			// next re-dispatched entry for it is a gap.
			name: "damaged last entry", wantMax: 19,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), entry(19)+3, []byte{0xFF}) },
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if err := s.Put("T", 0, 20, entryAt(20)); !errors.Is(err, ErrGap) {
					t.Fatalf("Put after lost entry: %v", err)
				}
			},
		},
		{
			name: "damaged entry in an older file is found on read", wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(0), entry(3)+8, []byte{1}) },
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				q := s.Queue("T", 0)
				if _, err := q.Get(3); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Get(3): %v", err)
				}
				if n, err := q.Read(0, make([]Entry, 8)); !errors.Is(err, ErrCorrupt) || n != 3 {
					t.Fatalf("Read(0) = %d, %v", n, err)
				}
				if _, err := q.Get(4); err != nil {
					t.Fatalf("Get(4): %v", err)
				}
			},
		},
		{
			name: "damaged header of an older file", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(8), 20, []byte{0xFF}) },
		},
		{
			name: "zeroed header of an older file", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(8), 0, make([]byte, headerSize)) },
		},
		{
			name: "missing middle file", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				if err := fsys.Remove(path(8)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "torn creation of a new last file", wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, err := fsys.Create(path(24))
				if err != nil {
					t.Fatal(err)
				}
				f.Allocate(fileSize(perFile))
				f.Close()
			},
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if !slices.Equal(rep.RemovedFiles, []string{path(24)}) {
					t.Fatalf("report %+v", rep)
				}
			},
		},
		{
			name: "empty new last file", wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, err := fsys.Create(path(24))
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
			},
		},
		{
			name: "zeroed header of a new file past the checkpoint", extra: 6, wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(24), 0, make([]byte, headerSize)) },
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if !slices.Equal(rep.RemovedFiles, []string{path(24)}) {
					t.Fatalf("report %+v", rep)
				}
			},
		},
		{
			name: "zeroed header of the last file below the checkpoint", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { memPatch(t, fsys, path(16), 0, make([]byte, headerSize)) },
		},
		{
			// A file that lost its size and header in the crash, followed by
			// a file that kept its pages: both past the checkpoint.
			name: "torn file before an intact one past the checkpoint", extra: 13, wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Open(path(24))
				defer f.Close()
				if err := f.Truncate(0); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if !slices.Equal(rep.RemovedFiles, []string{path(24), path(32)}) {
					t.Fatalf("report %+v", rep)
				}
			},
		},
		{
			name: "wrong file size", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Open(path(16))
				defer f.Close()
				if err := f.Truncate(fileSize(perFile) - 1); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "file of another queue", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				b := make([]byte, fileSize(perFile))
				f, _ := fsys.Open(queueFilePath(dir, "U", 1, 0))
				f.ReadAt(b, 0)
				f.Close()
				memPatch(t, fsys, path(0), 0, b)
			},
		},
		{
			name: "missing checkpoint", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) { fsys.Remove(filepath.Join(dir, checkpointName)) },
		},
		{
			name: "both checkpoint records damaged", wantErr: ErrCorrupt,
			damage: func(t *testing.T, fsys vfs.FS) {
				memPatch(t, fsys, filepath.Join(dir, checkpointName), 10, []byte{1})
				memPatch(t, fsys, filepath.Join(dir, checkpointName), checkpointRecSize+10, []byte{1})
			},
		},
		{
			name: "newest checkpoint record torn: the older one rules", wantMax: 16,
			damage: func(t *testing.T, fsys vfs.FS) {
				// The last Flush wrote seq 3 (slot 1); seq 2 covers 0..15.
				memPatch(t, fsys, filepath.Join(dir, checkpointName), checkpointRecSize+20, []byte{0xEE})
			},
		},
		{
			name: "stray file is ignored", wantMax: 20,
			damage: func(t *testing.T, fsys vfs.FS) {
				f, _ := fsys.Create(filepath.Join(dir, "T", "0", "notes.txt"))
				f.Close()
			},
			check: func(t *testing.T, s *Store, rep RecoveryReport) {
				if len(rep.Ignored) != 1 {
					t.Fatalf("report %+v", rep)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, fsys := openMem(t, perFile)
			fill(t, s, "U", 1, 0, 3)
			fill(t, s, "T", 0, 0, 16)
			if err := s.Flush(); err != nil { // checkpoint seq 2
				t.Fatal(err)
			}
			fill(t, s, "T", 0, 16, 20)
			if err := s.Flush(); err != nil { // seq 3
				t.Fatal(err)
			}
			fill(t, s, "T", 0, 20, 20+c.extra)
			s.crash()
			if c.damage != nil {
				c.damage(t, fsys)
			}
			s, err := Open(Options{Dir: dir, FS: fsys, EntriesPerFile: perFile})
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Open err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			q := s.Queue("T", 0)
			if q.MaxOffset() != c.wantMax {
				t.Fatalf("MaxOffset = %d, want %d (report %+v)", q.MaxOffset(), c.wantMax, s.Recovery())
			}
			if c.check != nil {
				c.check(t, s, s.Recovery())
				return
			}
			checkQueue(t, q, 0, c.wantMax)
			checkQueue(t, s.Queue("U", 1), 0, 3)
			// Dispatch resumes where the checkpoint says.
			fill(t, s, "T", 0, c.wantMax, 30)
			checkQueue(t, q, 0, 30)
		})
	}
}

// TestCrashRecovery runs random workloads on a crash-simulating FS, loses
// power at a random point and checks that Open brings back exactly the
// checkpointed state, and that re-dispatch from DispatchedPhys completes it.
func TestCrashRecovery(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	for iter := 0; iter < 150; iter++ {
		fsys := vfs.NewCrash(rng.Int64())
		perFile := 1 + rng.IntN(9)
		s := openFS(t, fsys, "/cq", perFile)
		w := newTwin()
		for step := 0; step < 25; step++ {
			for range rng.IntN(30) {
				d := w.next(rng, 3)
				mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
			}
			switch rng.IntN(6) {
			case 0, 1:
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			case 2:
				if len(w.log) > 0 {
					cut := w.log[rng.IntN(len(w.log))].Entry.Phys
					if cut < w.minPhys {
						break
					}
					if err := s.TruncatePhys(cut); err != nil {
						t.Fatal(err)
					}
					w.truncate(cut)
				}
			case 3:
				if len(w.log) > 0 {
					mp := w.log[rng.IntN(len(w.log))].Entry.Phys
					if err := s.DropBeforePhys(mp); err != nil {
						t.Fatal(err)
					}
					w.minPhys = max(w.minPhys, mp)
				}
			case 4:
				if len(w.log) == 0 {
					break
				}
				if q := s.Queue(w.log[0].Topic, w.log[0].QueueID); q != nil {
					if err := q.Flush(); err != nil { // a queue flush alone moves no checkpoint
						t.Fatal(err)
					}
				}
			}
		}
		ckD := s.ck.Cur.Dispatched
		mode := []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random}[rng.IntN(3)]
		fsys.Crash(mode)
		s, err := Open(Options{Dir: "/cq", FS: fsys, EntriesPerFile: perFile, Logger: debugLogger()})
		if err != nil {
			t.Fatalf("iter %d (%v, fs seed %d): Open: %v", iter, mode, fsys.Seed(), err)
		}
		if s.DispatchedPhys() != ckD {
			t.Fatalf("iter %d: DispatchedPhys %d, want checkpoint %d", iter, s.DispatchedPhys(), ckD)
		}
		w.check(t, s, ckD)
		for _, d := range w.log { // re-dispatch: below the checkpoint it is a no-op
			mustPut(t, s, d.Topic, d.QueueID, d.QueueOffset, d.Entry)
		}
		w.check(t, s, 1<<62)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailureThenCrash lets the disk start failing at a random operation,
// runs the workload until the first error, loses power, and checks that
// Open on the surviving disk gives a store consistent with its checkpoint.
func TestFailureThenCrash(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 13))
	for iter := 0; iter < 200; iter++ {
		cfs := vfs.NewCrash(rng.Int64())
		failAt := 1 + rng.IntN(120)
		efs := vfs.NewErr(cfs, vfs.FailFrom(failAt, nil, vfs.OpCreate, vfs.OpRemove, vfs.OpSyncDir,
			vfs.OpWrite, vfs.OpAllocate, vfs.OpSync, vfs.OpMap, vfs.OpFlush))
		perFile := 1 + rng.IntN(6)
		s, err := Open(Options{Dir: "/cq", FS: efs, EntriesPerFile: perFile})
		if err != nil {
			continue // failed before the store existed
		}
		w := newTwin()
		pendingCut, pendingMin := int64(-1), int64(-1)
	work:
		for step := 0; step < 30; step++ {
			for range rng.IntN(20) {
				d := w.next(rng, 2)
				if err := s.Put(d.Topic, d.QueueID, d.QueueOffset, d.Entry); err != nil {
					break work
				}
			}
			switch rng.IntN(4) {
			case 0:
				if s.Flush() != nil {
					break work
				}
			case 1:
				if len(w.log) > 0 {
					cut := w.log[rng.IntN(len(w.log))].Entry.Phys
					if cut < w.minPhys {
						break
					}
					if s.TruncatePhys(cut) != nil {
						pendingCut = cut
						break work
					}
					w.truncate(cut)
				}
			case 2:
				if len(w.log) > 0 {
					mp := w.log[rng.IntN(len(w.log))].Entry.Phys
					if s.DropBeforePhys(mp) != nil {
						pendingMin = mp
						break work
					}
					w.minPhys = max(w.minPhys, mp)
				}
			}
		}
		if os.Getenv("DEBUG") != "" {
			t.Logf("iter %d: failAt %d, log %d, pending %d %d", iter, failAt, len(w.log), pendingCut, pendingMin)
		}
		cfs.Crash([]vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random}[rng.IntN(3)])
		s, err = Open(Options{Dir: "/cq", FS: cfs, EntriesPerFile: perFile})
		if err != nil {
			t.Fatalf("iter %d (fail at op %d, fs seed %d): Open: %v", iter, failAt, cfs.Seed(), err)
		}
		d := s.DispatchedPhys()
		if pendingCut >= 0 && d <= pendingCut {
			w.truncate(pendingCut)
		}
		if pendingMin >= 0 && s.MinPhys() >= pendingMin {
			w.minPhys = max(w.minPhys, pendingMin)
		}
		if s.MinPhys() != w.minPhys {
			t.Fatalf("iter %d: MinPhys %d, twin %d", iter, s.MinPhys(), w.minPhys)
		}
		w.check(t, s, d)
		for _, x := range w.log {
			mustPut(t, s, x.Topic, x.QueueID, x.QueueOffset, x.Entry)
		}
		w.check(t, s, 1<<62)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
