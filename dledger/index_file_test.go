package dledger

import (
	"log/slog"
	"path"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

var discard = slog.New(slog.DiscardHandler)

func openTestIndex(t *testing.T, fsys vfs.FS, capacity, flushEvery uint64) *indexFiles {
	t.Helper()
	ix, err := openIndex(fsys, "/ix", capacity, flushEvery, discard)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func fillIndex(t *testing.T, ix *indexFiles, from, to uint64) {
	t.Helper()
	if ix.next == 0 {
		if err := ix.reset(from); err != nil {
			t.Fatal(err)
		}
	}
	for i := from; i < to; i++ {
		if ix.next != i {
			t.Fatalf("next = %d, want %d", ix.next, i)
		}
		if err := ix.add(int64(i*100), uint32(i)); err != nil {
			t.Fatal(err)
		}
		if err := ix.maybeFlush(false); err != nil {
			t.Fatal(err)
		}
	}
}

func checkIndex(t *testing.T, ix *indexFiles, from, to uint64) {
	t.Helper()
	if ix.next != to {
		t.Fatalf("next = %d, want %d", ix.next, to)
	}
	for i := from; i < to; i++ {
		off, n, err := ix.get(i)
		if err != nil || off != int64(i*100) || n != uint32(i) {
			t.Fatalf("get(%d) = %d, %d, %v", i, off, n, err)
		}
	}
}

func TestIndexAddGetReopen(t *testing.T) {
	fsys := vfs.NewMem()
	ix := openTestIndex(t, fsys, 8, 4)
	fillIndex(t, ix, 5, 40) // five files of 8 slots
	checkIndex(t, ix, 5, 40)
	if len(ix.segs) != 5 || ix.first() != 5 {
		t.Fatalf("segs %d first %d", len(ix.segs), ix.first())
	}
	if _, _, err := ix.get(40); err == nil {
		t.Fatal("get past next succeeded")
	}
	if err := ix.close(); err != nil {
		t.Fatal(err)
	}
	ix = openTestIndex(t, fsys, 8, 4)
	checkIndex(t, ix, 5, 40)
	_ = ix.close()
}

// TestIndexCrashKeepsOnlySynced: after a power loss only slots covered by a
// flushed synced count are trusted, however the unsynced pages fared.
func TestIndexCrashKeepsOnlySynced(t *testing.T) {
	for _, mode := range []vfs.CrashMode{vfs.DropAll, vfs.KeepAll, vfs.Random} {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := vfs.NewCrash(int64(mode) + 1)
			ix := openTestIndex(t, fsys, 16, 5)
			fillIndex(t, ix, 1, 38)                  // files [1,17) [17,33) sealed; [33,38) active, 5 written → flushed
			if err := ix.add(3800, 38); err != nil { // one more, not flushed (below flushEvery)
				t.Fatal(err)
			}
			fsys.Crash(mode)
			_ = ix.closeAll()
			ix = openTestIndex(t, fsys, 16, 5)
			defer ix.closeAll()
			if ix.next != 38 {
				t.Fatalf("next after crash = %d, want 38 (the synced slots)", ix.next)
			}
			checkIndex(t, ix, 1, 38)
		})
	}
}

// TestIndexTruncateIsDurable: after truncate returns, a crash cannot bring
// back slots past the truncation point, even if they had been synced.
func TestIndexTruncateIsDurable(t *testing.T) {
	for _, at := range []uint64{20, 17, 10, 1} {
		fsys := vfs.NewCrash(7)
		ix := openTestIndex(t, fsys, 16, 1)
		fillIndex(t, ix, 1, 30)
		if err := ix.truncate(at); err != nil {
			t.Fatal(err)
		}
		fsys.Crash(vfs.KeepAll)
		_ = ix.closeAll()
		ix = openTestIndex(t, fsys, 16, 1)
		if ix.next > at && !(at <= 1 && ix.next == 0) {
			t.Fatalf("truncate(%d): next after crash = %d", at, ix.next)
		}
		if ix.next > 0 {
			checkIndex(t, ix, ix.first(), ix.next)
		}
		_ = ix.closeAll()
	}
}

func TestIndexUntrustedFilesDropped(t *testing.T) {
	for name, corrupt := range map[string]func(fsys vfs.FS){
		"header checksum": func(fsys vfs.FS) {
			f, _ := fsys.Open(path.Join("/ix", indexFileName(17)))
			_, _ = f.WriteAt([]byte{0xff}, 9)
			_ = f.Close()
		},
		"wrong name": func(fsys vfs.FS) {
			_ = fsys.Rename(path.Join("/ix", indexFileName(17)), path.Join("/ix", indexFileName(18)))
		},
		"short file": func(fsys vfs.FS) {
			f, _ := fsys.Open(path.Join("/ix", indexFileName(17)))
			_ = f.Truncate(100)
			_ = f.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			fsys := vfs.NewMem()
			ix := openTestIndex(t, fsys, 16, 1)
			fillIndex(t, ix, 1, 40)
			_ = ix.close()
			corrupt(fsys)
			ix = openTestIndex(t, fsys, 16, 1)
			defer ix.closeAll()
			// The first file survives; the damaged one and everything after go.
			checkIndex(t, ix, 1, 17)
			names, _ := fsys.List("/ix")
			if len(names) != 1 {
				t.Fatalf("files left: %v", names)
			}
		})
	}
}

func TestIndexDropBeforeAndReset(t *testing.T) {
	fsys := vfs.NewMem()
	ix := openTestIndex(t, fsys, 8, 1)
	fillIndex(t, ix, 1, 30)
	if err := ix.dropBefore(18); err != nil {
		t.Fatal(err)
	}
	if ix.first() != 17 {
		t.Fatalf("first after dropBefore(18) = %d, want 17", ix.first())
	}
	checkIndex(t, ix, 17, 30)
	if err := ix.reset(100); err != nil {
		t.Fatal(err)
	}
	if names, _ := fsys.List("/ix"); len(names) != 0 {
		t.Fatalf("files after reset: %v", names)
	}
	fillIndex(t, ix, 100, 103)
	checkIndex(t, ix, 100, 103)
	_ = ix.close()
}
