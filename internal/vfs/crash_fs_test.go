package vfs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// readAll reads the whole file name from fsys.
func readAll(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sz, _ := f.Size()
	b := make([]byte, sz)
	if sz > 0 {
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// setup makes /d/f with 2 synced pages of 'A' (durable name too) and then
// overwrites page 1 and appends page 2 with 'B' without syncing.
func setup(t *testing.T, seed int64) *vfs.CrashFS {
	t.Helper()
	c := vfs.NewCrash(seed)
	if err := c.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	f := mustCreate(t, c, "/d/f")
	f.WriteAt(fill(2*vfs.CrashPageSize, 'A'), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	f.WriteAt(fill(2*vfs.CrashPageSize, 'B'), vfs.CrashPageSize)
	return c
}

func TestCrashSyncedBytesSurviveEveryMode(t *testing.T) {
	for _, mode := range []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random} {
		for seed := int64(0); seed < 20; seed++ {
			c := setup(t, seed)
			c.Crash(mode)
			got := readAll(t, c, "/d/f")
			if !bytes.Equal(got[:vfs.CrashPageSize], fill(vfs.CrashPageSize, 'A')) {
				t.Fatalf("%v seed %d: synced page 0 damaged", mode, seed)
			}
		}
	}
}

func TestCrashDropAllDropsUnsynced(t *testing.T) {
	c := setup(t, 1)
	mustCreate(t, c, "/d/new").Close() // never SyncDir'd
	if err := c.Remove("/d/f"); err != nil {
		t.Fatal(err)
	}
	c.Crash(vfs.DropAll)
	if got := readAll(t, c, "/d/f"); !bytes.Equal(got, fill(2*vfs.CrashPageSize, 'A')) {
		t.Errorf("DropAll: file is %d bytes, not the synced image", len(got))
	}
	if _, err := c.Stat("/d/new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unsynced create survived DropAll: %v", err)
	}
}

func TestCrashKeepAllKeepsEverything(t *testing.T) {
	c := setup(t, 1)
	mustCreate(t, c, "/d/new").Close()
	c.Crash(vfs.KeepAll)
	want := append(fill(vfs.CrashPageSize, 'A'), fill(2*vfs.CrashPageSize, 'B')...)
	if got := readAll(t, c, "/d/f"); !bytes.Equal(got, want) {
		t.Errorf("KeepAll lost unsynced data")
	}
	mustList(t, c, "/d", "f new")
}

func TestCrashRenameAndRemoveUndone(t *testing.T) {
	c := vfs.NewCrash(1)
	c.MkdirAll("/d")
	for _, n := range []string{"/d/a", "/d/b"} {
		f := mustCreate(t, c, n)
		f.WriteAt([]byte(n), 0)
		f.Sync()
		f.Close()
	}
	c.SyncDir("/d")
	c.Remove("/d/a")
	c.Rename("/d/b", "/d/c")
	mustList(t, c, "/d", "c")
	c.Crash(vfs.DropAll)
	mustList(t, c, "/d", "a b")
	if got := readAll(t, c, "/d/a"); string(got) != "/d/a" {
		t.Errorf("resurrected file reads %q", got)
	}
	// Synced directory operations stay.
	c.Remove("/d/a")
	c.SyncDir("/d")
	c.Crash(vfs.DropAll)
	mustList(t, c, "/d", "b")
}

func TestCrashRandomTearsPagesInSectors(t *testing.T) {
	torn, kept, dropped := 0, 0, 0
	for seed := int64(0); seed < 60; seed++ {
		c := setup(t, seed)
		c.Crash(vfs.Random)
		got := readAll(t, c, "/d/f")
		if len(got) != 2*vfs.CrashPageSize && len(got) != 3*vfs.CrashPageSize {
			t.Fatalf("seed %d: size %d is neither the old nor the new one", seed, len(got))
		}
		page := got[vfs.CrashPageSize : 2*vfs.CrashPageSize]
		var a, b int
		for s := 0; s < len(page); s += vfs.CrashSectorSize {
			sec := page[s : s+vfs.CrashSectorSize]
			switch {
			case bytes.Equal(sec, fill(vfs.CrashSectorSize, 'A')):
				a++
			case bytes.Equal(sec, fill(vfs.CrashSectorSize, 'B')):
				b++
			default:
				t.Fatalf("seed %d: sector %d is neither old nor new", seed, s/vfs.CrashSectorSize)
			}
		}
		switch {
		case a > 0 && b > 0:
			torn++
		case b > 0:
			kept++
		default:
			dropped++
		}
	}
	if torn == 0 || kept == 0 || dropped == 0 {
		t.Errorf("over 60 seeds: torn %d, kept %d, dropped %d; want all three outcomes", torn, kept, dropped)
	}
}

func TestCrashDeterministicFromSeed(t *testing.T) {
	run := func() []byte {
		c := setup(t, 42)
		c.Crash(vfs.Random)
		return readAll(t, c, "/d/f")
	}
	if !bytes.Equal(run(), run()) {
		t.Error("two crashes from the same seed and history differ")
	}
}

func TestCrashMappingFlushMakesRangeDurable(t *testing.T) {
	c := vfs.NewCrash(7)
	c.MkdirAll("/d")
	f := mustCreate(t, c, "/d/f")
	if err := f.Allocate(3 * vfs.CrashPageSize); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	c.SyncDir("/d")
	m, err := f.Map(3 * vfs.CrashPageSize)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	copy(b[100:], "flushed")
	copy(b[2*vfs.CrashPageSize:], "not flushed")
	if err := m.Flush(100, 7); err != nil {
		t.Fatal(err)
	}
	c.Crash(vfs.DropAll)
	got := readAll(t, c, "/d/f")
	if string(got[100:107]) != "flushed" {
		t.Errorf("flushed range lost: %q", got[100:107])
	}
	if got[2*vfs.CrashPageSize] != 0 {
		t.Error("unflushed mapping write survived DropAll")
	}
	// Old handles are dead after the crash.
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("WriteAt on a pre-crash handle: %v", err)
	}
	if err := m.Flush(0, 1); !errors.Is(err, vfs.ErrClosed) {
		t.Errorf("Flush on a pre-crash mapping: %v", err)
	}
	// The rebooted disk is usable.
	g := mustCreate(t, c, "/d/g")
	if _, err := g.WriteAt([]byte("after"), 0); err != nil {
		t.Fatal(err)
	}
	if c.Crashes() != 1 || c.Seed() != 7 {
		t.Errorf("Crashes() = %d, Seed() = %d", c.Crashes(), c.Seed())
	}
}

func TestCrashUnsyncedSizeChange(t *testing.T) {
	c := vfs.NewCrash(3)
	c.MkdirAll("/d")
	f := mustCreate(t, c, "/d/f")
	f.Allocate(vfs.CrashPageSize)
	f.Sync()
	c.SyncDir("/d")
	f.Truncate(0) // not synced
	c.Crash(vfs.DropAll)
	if sz, _ := c.Stat("/d/f"); sz != vfs.CrashPageSize {
		t.Errorf("unsynced truncate survived DropAll: size %d", sz)
	}
}
