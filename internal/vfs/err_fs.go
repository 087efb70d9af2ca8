package vfs

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

// Op names an FS, File or Mapping operation for error injection.
type Op uint8

// Operations an ErrFS can fail.
const (
	OpCreate Op = iota + 1
	OpOpen
	OpRemove
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpSyncDir
	OpRead     // File.ReadAt
	OpWrite    // File.WriteAt
	OpTruncate // File.Truncate
	OpAllocate // File.Allocate
	OpSync     // File.Sync
	OpMap      // File.Map
	OpFlush    // Mapping.Flush
	OpUnmap    // Mapping.Unmap
	OpClose    // File.Close
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpRemove: "remove", OpRename: "rename",
	OpMkdirAll: "mkdirall", OpList: "list", OpStat: "stat", OpSyncDir: "syncdir",
	OpRead: "read", OpWrite: "write", OpTruncate: "truncate", OpAllocate: "allocate",
	OpSync: "sync", OpMap: "map", OpFlush: "flush", OpUnmap: "unmap", OpClose: "close",
}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ErrInjected is the error the ready-made injectors return unless told
// otherwise.
var ErrInjected = errors.New("vfs: injected error")

// Injector decides whether an operation fails: it is called before every
// operation with the operation, the file or directory name, and size, the
// number of bytes the operation writes or adds to the file (WriteAt: len(p);
// Allocate and Truncate: the growth; otherwise 0). A non-nil result is
// returned instead of performing the operation.
type Injector func(op Op, name string, size int64) error

// NewErr wraps inner so that inject is consulted before every operation; a
// non-nil result fails the operation without performing it.
func NewErr(inner FS, inject func(op Op, name string) error) FS {
	return NewErrSized(inner, func(op Op, name string, _ int64) error { return inject(op, name) })
}

// NewErrSized is NewErr with an injector that also sees how many bytes an
// operation writes (see Injector), for space-exhaustion tests.
func NewErrSized(inner FS, inject Injector) FS {
	return &ErrFS{inner: inner, inject: inject}
}

// ErrFS is the error-injecting FS returned by NewErr.
type ErrFS struct {
	inner  FS
	inject Injector
}

var _ FS = (*ErrFS)(nil)

func (e *ErrFS) Create(name string) (File, error) {
	if err := e.inject(OpCreate, name, 0); err != nil {
		return nil, err
	}
	f, err := e.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, inject: e.inject}, nil
}

func (e *ErrFS) Open(name string) (File, error) {
	if err := e.inject(OpOpen, name, 0); err != nil {
		return nil, err
	}
	f, err := e.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, inject: e.inject}, nil
}

func (e *ErrFS) Remove(name string) error {
	if err := e.inject(OpRemove, name, 0); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

func (e *ErrFS) Rename(oldname, newname string) error {
	if err := e.inject(OpRename, oldname, 0); err != nil {
		return err
	}
	return e.inner.Rename(oldname, newname)
}

func (e *ErrFS) MkdirAll(dir string) error {
	if err := e.inject(OpMkdirAll, dir, 0); err != nil {
		return err
	}
	return e.inner.MkdirAll(dir)
}

func (e *ErrFS) List(dir string) ([]string, error) {
	if err := e.inject(OpList, dir, 0); err != nil {
		return nil, err
	}
	return e.inner.List(dir)
}

func (e *ErrFS) Stat(name string) (int64, error) {
	if err := e.inject(OpStat, name, 0); err != nil {
		return 0, err
	}
	return e.inner.Stat(name)
}

func (e *ErrFS) SyncDir(dir string) error {
	if err := e.inject(OpSyncDir, dir, 0); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

type errFile struct {
	File
	inject Injector
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inject(OpRead, f.Name(), 0); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.inject(OpWrite, f.Name(), int64(len(p))); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *errFile) growth(size int64) int64 {
	cur, err := f.File.Size()
	if err != nil || size <= cur {
		return 0
	}
	return size - cur
}

func (f *errFile) Truncate(size int64) error {
	if err := f.inject(OpTruncate, f.Name(), f.growth(size)); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *errFile) Allocate(size int64) error {
	if err := f.inject(OpAllocate, f.Name(), f.growth(size)); err != nil {
		return err
	}
	return f.File.Allocate(size)
}

func (f *errFile) Sync() error {
	if err := f.inject(OpSync, f.Name(), 0); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errFile) Close() error {
	if err := f.inject(OpClose, f.Name(), 0); err != nil {
		// The handle is released anyway, like close(2) on error.
		_ = f.File.Close()
		return err
	}
	return f.File.Close()
}

func (f *errFile) Map(size int) (Mapping, error) {
	if err := f.inject(OpMap, f.Name(), 0); err != nil {
		return nil, err
	}
	m, err := f.File.Map(size)
	if err != nil {
		return nil, err
	}
	return &errMapping{Mapping: m, name: f.Name(), inject: f.inject}, nil
}

type errMapping struct {
	Mapping
	name   string
	inject Injector
}

func (m *errMapping) Flush(off, n int) error {
	if err := m.inject(OpFlush, m.name, 0); err != nil {
		return err
	}
	return m.Mapping.Flush(off, n)
}

func (m *errMapping) Unmap() error {
	if err := m.inject(OpUnmap, m.name, 0); err != nil {
		// The mapping is released anyway.
		_ = m.Mapping.Unmap()
		return err
	}
	return m.Mapping.Unmap()
}

// ---- ready-made injectors ----

func opIn(op Op, ops []Op) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// FailNth fails the nth (1-based) operation among ops with err (ErrInjected
// if nil), once. It is safe for concurrent use.
func FailNth(n int, err error, ops ...Op) func(op Op, name string) error {
	if err == nil {
		err = ErrInjected
	}
	var count atomic.Int64
	return func(op Op, name string) error {
		if opIn(op, ops) && count.Add(1) == int64(n) {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
		return nil
	}
}

// FailFrom fails the nth (1-based) operation among ops and every later one.
func FailFrom(n int, err error, ops ...Op) func(op Op, name string) error {
	if err == nil {
		err = ErrInjected
	}
	var count atomic.Int64
	return func(op Op, name string) error {
		if opIn(op, ops) && count.Add(1) >= int64(n) {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
		return nil
	}
}

// Switch is an injector that tests arm and disarm at run time: while armed
// for a set of operations, those operations fail with its error.
type Switch struct {
	mu    sync.Mutex
	ops   []Op
	err   error
	once  bool
	fired int
}

// Arm makes the operations in ops fail with err (ErrInjected if nil) until
// Disarm. If once is true, only the next matching operation fails.
func (s *Switch) Arm(err error, once bool, ops ...Op) {
	if err == nil {
		err = ErrInjected
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops, s.err, s.once = append([]Op(nil), ops...), err, once
}

// Disarm stops failing operations.
func (s *Switch) Disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = nil
}

// Fired reports how many operations the switch has failed.
func (s *Switch) Fired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// Inject is the injector function to pass to NewErr.
func (s *Switch) Inject(op Op, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !opIn(op, s.ops) {
		return nil
	}
	s.fired++
	err := s.err
	if s.once {
		s.ops = nil
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// NoSpace returns an Injector (for NewErrSized) that fails writes,
// allocations and growing truncations with ENOSPC once the bytes they add
// in total would exceed limit. Failed operations do not count.
func NoSpace(limit int64) Injector {
	var mu sync.Mutex
	var used int64
	return func(op Op, name string, size int64) error {
		if size == 0 || (op != OpWrite && op != OpAllocate && op != OpTruncate) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if used+size > limit {
			return fmt.Errorf("vfs: %s %s (%d bytes, %d of %d used): %w", op, name, size, used, limit, syscall.ENOSPC)
		}
		used += size
		return nil
	}
}

// Chain combines injectors: the first non-nil error wins.
func Chain(injs ...func(op Op, name string) error) func(op Op, name string) error {
	return func(op Op, name string) error {
		for _, inj := range injs {
			if err := inj(op, name); err != nil {
				return err
			}
		}
		return nil
	}
}
