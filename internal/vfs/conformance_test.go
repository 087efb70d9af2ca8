package vfs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// fsUnderTest names an FS implementation and a fresh directory on it.
type fsUnderTest struct {
	name string
	make func(t *testing.T) (vfs.FS, string)
}

func implementations() []fsUnderTest {
	return []fsUnderTest{
		{"OS", func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() }},
		{"Mem", func(t *testing.T) (vfs.FS, string) {
			m := vfs.NewMem()
			if err := m.MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			return m, "/data"
		}},
		{"Crash", func(t *testing.T) (vfs.FS, string) {
			c := vfs.NewCrash(1)
			if err := c.MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			return c, "/data"
		}},
		{"ErrPassThrough", func(t *testing.T) (vfs.FS, string) {
			return vfs.NewErr(vfs.NewMem(), func(vfs.Op, string) error { return nil }), "/"
		}},
	}
}

// TestConformance runs the same behavioural checks against every FS, so the
// fakes cannot drift from the real file system.
func TestConformance(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					fsys, dir := impl.make(t)
					c.run(t, fsys, dir)
				})
			}
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, fsys vfs.FS, dir string)
}{
	{"CreateWriteRead", func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "a")
		f := mustCreate(t, fsys, name)
		defer f.Close()
		if f.Name() != name {
			t.Errorf("Name() = %q, want %q", f.Name(), name)
		}
		if _, err := f.WriteAt([]byte("hello world"), 3); err != nil {
			t.Fatal(err)
		}
		if sz, _ := f.Size(); sz != 14 {
			t.Errorf("size = %d, want 14", sz)
		}
		buf := make([]byte, 14)
		if n, err := f.ReadAt(buf, 0); n != 14 || err != nil {
			t.Fatalf("ReadAt = %d, %v", n, err)
		}
		if want := "\x00\x00\x00hello world"; string(buf) != want {
			t.Errorf("read %q, want %q", buf, want)
		}
		n, err := f.ReadAt(buf, 10)
		if n != 4 || !errors.Is(err, io.EOF) {
			t.Errorf("short ReadAt = %d, %v; want 4, EOF", n, err)
		}
		if sz, err := fsys.Stat(name); sz != 14 || err != nil {
			t.Errorf("Stat = %d, %v", sz, err)
		}
	}},
	{"CreateTruncatesExisting", func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "a")
		f := mustCreate(t, fsys, name)
		f.WriteAt([]byte("abc"), 0)
		f.Close()
		g := mustCreate(t, fsys, name)
		defer g.Close()
		if sz, _ := g.Size(); sz != 0 {
			t.Errorf("size after re-create = %d, want 0", sz)
		}
	}},
	{"OpenMissing", func(t *testing.T, fsys vfs.FS, dir string) {
		if _, err := fsys.Open(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open missing: %v", err)
		}
		if _, err := fsys.Stat(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat missing: %v", err)
		}
		if err := fsys.Remove(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Remove missing: %v", err)
		}
		if err := fsys.Rename(filepath.Join(dir, "nope"), filepath.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Rename missing: %v", err)
		}
		if _, err := fsys.Create(filepath.Join(dir, "nodir", "f")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Create in missing dir: %v", err)
		}
		if _, err := fsys.List(filepath.Join(dir, "nodir")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List missing dir: %v", err)
		}
	}},
	{"ListRenameRemove", func(t *testing.T, fsys vfs.FS, dir string) {
		for _, n := range []string{"c", "a", "b"} {
			mustCreate(t, fsys, filepath.Join(dir, n)).Close()
		}
		if err := fsys.MkdirAll(filepath.Join(dir, "sub", "deeper")); err != nil {
			t.Fatal(err)
		}
		mustList(t, fsys, dir, "a b c sub")
		f := mustCreate(t, fsys, filepath.Join(dir, "b"))
		f.WriteAt([]byte("B"), 0)
		f.Close()
		if err := fsys.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "a")); err != nil {
			t.Fatal(err)
		}
		mustList(t, fsys, dir, "a c sub")
		if sz, _ := fsys.Stat(filepath.Join(dir, "a")); sz != 1 {
			t.Errorf("renamed file has size %d, want 1", sz)
		}
		if err := fsys.Remove(filepath.Join(dir, "sub")); err == nil {
			t.Error("removing a non-empty directory succeeded")
		}
		if err := fsys.Remove(filepath.Join(dir, "sub", "deeper")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(filepath.Join(dir, "c")); err != nil {
			t.Fatal(err)
		}
		mustList(t, fsys, dir, "a sub")
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
	}},
	{"TruncateAllocate", func(t *testing.T, fsys vfs.FS, dir string) {
		f := mustCreate(t, fsys, filepath.Join(dir, "a"))
		defer f.Close()
		f.WriteAt([]byte("0123456789"), 0)
		if err := f.Truncate(4); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(8); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		f.ReadAt(buf, 0)
		if want := "0123\x00\x00\x00\x00"; string(buf) != want {
			t.Errorf("after shrink+grow read %q, want %q", buf, want)
		}
		if err := f.Allocate(1 << 16); err != nil {
			t.Fatal(err)
		}
		if sz, _ := f.Size(); sz != 1<<16 {
			t.Errorf("size after Allocate = %d", sz)
		}
		if err := f.Allocate(100); err != nil {
			t.Fatal(err)
		}
		if sz, _ := f.Size(); sz != 1<<16 {
			t.Errorf("Allocate smaller changed size to %d", sz)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}},
	{"MapAliasesFile", func(t *testing.T, fsys vfs.FS, dir string) {
		f := mustCreate(t, fsys, filepath.Join(dir, "a"))
		defer f.Close()
		if err := f.Allocate(8192); err != nil {
			t.Fatal(err)
		}
		m, err := f.Map(8192)
		if err != nil {
			t.Fatal(err)
		}
		b := m.Bytes()
		if len(b) != 8192 {
			t.Fatalf("mapping of %d bytes", len(b))
		}
		copy(b[5000:], "mapped")
		got := make([]byte, 6)
		f.ReadAt(got, 5000)
		if string(got) != "mapped" {
			t.Errorf("ReadAt after mapping write = %q", got)
		}
		f.WriteAt([]byte("WRITE"), 100)
		if string(b[100:105]) != "WRITE" {
			t.Errorf("mapping after WriteAt = %q", b[100:105])
		}
		if err := m.Flush(4000, 2000); err != nil {
			t.Fatal(err)
		}
		if err := m.Flush(8000, 1000); err == nil {
			t.Error("Flush past the mapping succeeded")
		}
		if err := m.Unmap(); err != nil {
			t.Fatal(err)
		}
		if err := m.Flush(0, 10); !errors.Is(err, vfs.ErrClosed) {
			t.Errorf("Flush after Unmap: %v", err)
		}
		if err := m.Unmap(); !errors.Is(err, vfs.ErrClosed) {
			t.Errorf("second Unmap: %v", err)
		}
		// The data written through the mapping stays in the file.
		g, err := fsys.Open(filepath.Join(dir, "a"))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		g.ReadAt(got, 5000)
		if string(got) != "mapped" {
			t.Errorf("reopened file reads %q", got)
		}
	}},
	{"MappedFileGrowsInPlace", func(t *testing.T, fsys vfs.FS, dir string) {
		f := mustCreate(t, fsys, filepath.Join(dir, "a"))
		defer f.Close()
		if err := f.Allocate(4096); err != nil {
			t.Fatal(err)
		}
		m, err := f.Map(4096)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Unmap()
		copy(m.Bytes(), "keep")
		// Growing may fail on a memory FS (it must not reallocate a mapped
		// buffer); if it succeeds the mapping must still alias the file.
		if err := f.Allocate(1 << 20); err == nil {
			copy(m.Bytes()[10:], "alias")
			got := make([]byte, 5)
			f.ReadAt(got, 10)
			if string(got) != "alias" {
				t.Errorf("mapping detached after growth: read %q", got)
			}
		}
		got := make([]byte, 4)
		f.ReadAt(got, 0)
		if string(got) != "keep" {
			t.Errorf("read %q after growth attempt", got)
		}
	}},
	{"ClosedFile", func(t *testing.T, fsys vfs.FS, dir string) {
		f := mustCreate(t, fsys, filepath.Join(dir, "a"))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 0); err == nil {
			t.Error("WriteAt on a closed file succeeded")
		}
		if err := f.Sync(); err == nil {
			t.Error("Sync on a closed file succeeded")
		}
	}},
}

func TestMemMapNeverReallocates(t *testing.T) {
	m := vfs.NewMem()
	f := mustCreate(t, m, "/a")
	if err := f.Allocate(4096); err != nil {
		t.Fatal(err)
	}
	mp, err := f.Map(4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(8192); err == nil {
		t.Error("growing a mapped memory file past its capacity succeeded")
	}
	if err := f.Truncate(100); err == nil {
		t.Error("shrinking a mapped memory file below its mapping succeeded")
	}
	if _, err := f.Map(5000); err == nil {
		t.Error("mapping past the end of a memory file succeeded")
	}
	mp.Unmap()
	if err := f.Allocate(8192); err != nil {
		t.Errorf("growing after Unmap: %v", err)
	}
}

func mustCreate(t *testing.T, fsys vfs.FS, name string) vfs.File {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustList(t *testing.T, fsys vfs.FS, dir, want string) {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
	}
	if b.String() != want {
		t.Errorf("List(%s) = %q, want %q", dir, b.String(), want)
	}
}
