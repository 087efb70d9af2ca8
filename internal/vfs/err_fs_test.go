package vfs_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func TestErrFailNth(t *testing.T) {
	e := vfs.NewErr(vfs.NewMem(), vfs.FailNth(2, nil, vfs.OpSync))
	f := mustCreate(t, e, "/a")
	if err := f.Sync(); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("second sync: %v, want ErrInjected", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("third sync: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err != nil {
		t.Fatalf("write was failed by a sync injector: %v", err)
	}
}

func TestErrFailFromAndMappings(t *testing.T) {
	e := vfs.NewErr(vfs.NewMem(), vfs.FailFrom(1, syscall.EIO, vfs.OpFlush, vfs.OpMap))
	f := mustCreate(t, e, "/a")
	f.Allocate(4096)
	if _, err := f.Map(4096); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Map: %v, want EIO", err)
	}
	var sw vfs.Switch
	e = vfs.NewErr(vfs.NewMem(), sw.Inject)
	f = mustCreate(t, e, "/a")
	f.Allocate(4096)
	m, err := f.Map(4096)
	if err != nil {
		t.Fatal(err)
	}
	sw.Arm(nil, true, vfs.OpFlush)
	if err := m.Flush(0, 10); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("armed Flush: %v", err)
	}
	if err := m.Flush(0, 10); err != nil {
		t.Fatalf("Flush after a once-switch fired: %v", err)
	}
	sw.Arm(nil, false, vfs.OpAllocate)
	if err := f.Allocate(1 << 20); err == nil {
		t.Fatal("armed Allocate succeeded")
	}
	sw.Disarm()
	if sw.Fired() != 2 {
		t.Errorf("Fired() = %d, want 2", sw.Fired())
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
}

func TestErrNoSpace(t *testing.T) {
	e := vfs.NewErrSized(vfs.NewMem(), vfs.NoSpace(10000))
	f := mustCreate(t, e, "/a")
	if err := f.Allocate(8192); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 100), 0); err != nil {
		t.Fatalf("overwrite inside the file: %v", err)
	}
	if err := f.Allocate(16384); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Allocate past the limit: %v, want ENOSPC", err)
	}
	if sz, _ := f.Size(); sz != 8192 {
		t.Errorf("failed Allocate changed the size to %d", sz)
	}
	if err := f.Allocate(9000); err != nil {
		t.Fatalf("Allocate within the limit after a failure: %v", err)
	}
}

func TestErrChain(t *testing.T) {
	e := vfs.NewErr(vfs.NewMem(), vfs.Chain(vfs.FailNth(1, nil, vfs.OpCreate), vfs.FailNth(1, syscall.EIO, vfs.OpRemove)))
	if _, err := e.Create("/a"); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Create: %v", err)
	}
	mustCreate(t, e, "/a").Close()
	if err := e.Remove("/a"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Remove: %v", err)
	}
	if err := e.Remove("/a"); err != nil {
		t.Fatal(err)
	}
	if vfs.OpAllocate.String() != "allocate" {
		t.Errorf("OpAllocate.String() = %q", vfs.OpAllocate.String())
	}
}
