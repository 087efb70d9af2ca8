package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MemFS is an in-memory FS for tests. Every operation is durable at once;
// CrashFS builds on it to model what survives a power loss.
//
// A Mapping of a MemFS file aliases the file's data buffer, exactly like a
// shared mmap: writes through Bytes() are visible to ReadAt and the other way
// round. While a file is mapped its buffer is never reallocated: growing it
// (WriteAt past the end, Truncate, Allocate) beyond its capacity fails, and
// shrinking it below a mapped length fails.
type MemFS struct {
	mu    sync.Mutex
	dirs  map[string]bool
	files map[string]*memNode
	// gen is bumped by CrashFS.Crash; handles of an older generation are
	// dead (ErrClosed).
	gen atomic.Uint64
	// crash is non-nil for a CrashFS: it records directory operations and
	// durable images.
	crash *crashState
}

var _ FS = (*MemFS)(nil)

// NewMem returns an empty in-memory file system whose root "/" exists.
func NewMem() *MemFS {
	return &MemFS{dirs: map[string]bool{"/": true, ".": true}, files: map[string]*memNode{}}
}

// memNode is one file's contents.
type memNode struct {
	mu   sync.Mutex
	data []byte // len is the file size; cap is preserved while mapped
	// maps counts live mappings; mapLen is the longest live mapping.
	maps   int
	mapLen int
	// durable is the crash-durable image (CrashFS only): its length is the
	// durable size.
	durable []byte
}

// growLocked sets the file size to n, zero-filling new bytes and keeping
// the buffer in place whenever it is mapped.
func (n *memNode) growLocked(size int64, exact bool) error {
	if size < 0 {
		return errors.New("vfs: negative size")
	}
	cur := int64(len(n.data))
	switch {
	case size <= cur:
		if n.maps > 0 && size < int64(n.mapLen) {
			return fmt.Errorf("vfs: cannot shrink a file to %d bytes below its %d-byte mapping", size, n.mapLen)
		}
		n.data = n.data[:size]
	case size <= int64(cap(n.data)):
		n.data = n.data[:size]
		clear(n.data[cur:])
	default:
		if n.maps > 0 {
			return fmt.Errorf("vfs: cannot grow a mapped file from %d to %d bytes (would reallocate its buffer)", cur, size)
		}
		c := size
		if !exact && c < 2*int64(cap(n.data)) {
			c = 2 * int64(cap(n.data))
		}
		nd := make([]byte, size, c)
		copy(nd, n.data)
		n.data = nd
	}
	return nil
}

func cleanName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	return path.Clean(name)
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// parentExistsLocked reports whether the directory holding name exists.
func (m *MemFS) parentExistsLocked(name string) bool {
	return m.dirs[path.Dir(name)]
}

// Create creates or truncates the named file.
func (m *MemFS) Create(name string) (File, error) {
	name = cleanName(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[name] {
		return nil, pathErr("create", name, errors.New("is a directory"))
	}
	if !m.parentExistsLocked(name) {
		return nil, pathErr("create", name, fs.ErrNotExist)
	}
	n, ok := m.files[name]
	if ok {
		n.mu.Lock()
		err := n.growLocked(0, true)
		n.mu.Unlock()
		if err != nil {
			return nil, pathErr("create", name, err)
		}
	} else {
		n = &memNode{}
		m.files[name] = n
		if m.crash != nil {
			m.crash.logOp(dirOp{kind: opCreate, name: name, node: n})
		}
	}
	return m.newFile(name, n), nil
}

// Open opens an existing file.
func (m *MemFS) Open(name string) (File, error) {
	name = cleanName(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	if !ok {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	return m.newFile(name, n), nil
}

func (m *MemFS) newFile(name string, n *memNode) *memFile {
	return &memFile{fs: m, name: name, node: n, gen: m.gen.Load()}
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	name = cleanName(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; ok {
		delete(m.files, name)
		if m.crash != nil {
			m.crash.logOp(dirOp{kind: opRemove, name: name})
		}
		return nil
	}
	if m.dirs[name] {
		prefix := name + "/"
		for f := range m.files {
			if strings.HasPrefix(f, prefix) {
				return pathErr("remove", name, errors.New("directory not empty"))
			}
		}
		for d := range m.dirs {
			if strings.HasPrefix(d, prefix) {
				return pathErr("remove", name, errors.New("directory not empty"))
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return pathErr("remove", name, fs.ErrNotExist)
}

// Rename renames a file, replacing newname. Directories cannot be renamed.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = cleanName(oldname), cleanName(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[oldname]
	if !ok {
		if m.dirs[oldname] {
			return &fs.PathError{Op: "rename", Path: oldname, Err: errors.New("renaming directories is not supported")}
		}
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	if !m.parentExistsLocked(newname) {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrNotExist}
	}
	if m.dirs[newname] {
		return &fs.PathError{Op: "rename", Path: newname, Err: errors.New("is a directory")}
	}
	if oldname == newname {
		return nil
	}
	delete(m.files, oldname)
	m.files[newname] = n
	if m.crash != nil {
		m.crash.logOp(dirOp{kind: opRename, name: oldname, newname: newname, node: n})
	}
	return nil
}

// MkdirAll creates dir and its parents. Directories are durable at once.
func (m *MemFS) MkdirAll(dir string) error {
	dir = cleanName(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := dir; ; d = path.Dir(d) {
		if _, ok := m.files[d]; ok {
			return pathErr("mkdir", d, errors.New("not a directory"))
		}
		if m.dirs[d] {
			break
		}
		m.dirs[d] = true
		if d == "/" || d == "." {
			break
		}
	}
	return nil
}

// List returns the sorted names of the entries in dir.
func (m *MemFS) List(dir string) ([]string, error) {
	dir = cleanName(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, pathErr("open", dir, fs.ErrNotExist)
	}
	var names []string
	for f := range m.files {
		if path.Dir(f) == dir {
			names = append(names, path.Base(f))
		}
	}
	for d := range m.dirs {
		if d != dir && path.Dir(d) == dir {
			names = append(names, path.Base(d))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Stat reports the size of a file (0 for a directory).
func (m *MemFS) Stat(name string) (int64, error) {
	name = cleanName(name)
	m.mu.Lock()
	n, ok := m.files[name]
	isDir := m.dirs[name]
	m.mu.Unlock()
	if isDir {
		return 0, nil
	}
	if !ok {
		return 0, pathErr("stat", name, fs.ErrNotExist)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return int64(len(n.data)), nil
}

// SyncDir makes directory operations in dir durable (see CrashFS).
func (m *MemFS) SyncDir(dir string) error {
	dir = cleanName(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return pathErr("sync", dir, fs.ErrNotExist)
	}
	if m.crash != nil {
		m.crash.syncDir(dir)
	}
	return nil
}

// memFile is an open handle of a MemFS file.
type memFile struct {
	fs     *MemFS
	name   string
	node   *memNode
	gen    uint64
	closed atomic.Bool
}

var _ File = (*memFile)(nil)

func (f *memFile) check() error {
	if f.closed.Load() || f.gen != f.fs.gen.Load() {
		return ErrClosed
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, errors.New("negative offset"))
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("write", f.name, errors.New("negative offset"))
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		if err := f.node.growLocked(end, false); err != nil {
			return 0, pathErr("write", f.name, err)
		}
	}
	return copy(f.node.data[off:], p), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return ErrClosed
	}
	if f.gen != f.fs.gen.Load() {
		return ErrClosed
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.check(); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if err := f.node.growLocked(size, true); err != nil {
		return pathErr("truncate", f.name, err)
	}
	return nil
}

func (f *memFile) Allocate(size int64) error {
	if err := f.check(); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size <= int64(len(f.node.data)) {
		return nil
	}
	if err := f.node.growLocked(size, true); err != nil {
		return pathErr("allocate", f.name, err)
	}
	return nil
}

func (f *memFile) Sync() error {
	if err := f.check(); err != nil {
		return err
	}
	if f.fs.crash != nil {
		f.node.mu.Lock()
		nd := f.node
		if cap(nd.durable) < len(nd.data) {
			nd.durable = make([]byte, len(nd.data))
		}
		nd.durable = nd.durable[:len(nd.data)]
		writeback(nd.durable, nd.data)
		f.node.mu.Unlock()
	}
	return nil
}

func (f *memFile) Map(size int) (Mapping, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size < 0 || size > len(f.node.data) {
		return nil, pathErr("mmap", f.name, fmt.Errorf("cannot map %d bytes of a %d-byte file", size, len(f.node.data)))
	}
	f.node.maps++
	if size > f.node.mapLen {
		f.node.mapLen = size
	}
	return &memMapping{f: f, b: f.node.data[:size:size]}, nil
}

// memMapping aliases a memNode's buffer.
type memMapping struct {
	f  *memFile
	mu sync.Mutex // guards b against Unmap
	b  []byte
}

var _ Mapping = (*memMapping)(nil)

func (m *memMapping) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.b
}

func (m *memMapping) Flush(off, n int) error {
	m.mu.Lock()
	b := m.b
	m.mu.Unlock()
	if b == nil || m.f.gen != m.f.fs.gen.Load() {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	if off < 0 || off+n > len(b) {
		return fmt.Errorf("vfs: flush [%d,%d) outside mapping of %d bytes", off, off+n, len(b))
	}
	if m.f.fs.crash != nil {
		node := m.f.node
		node.mu.Lock()
		// Only bytes inside the durable size reach the durable image: a
		// size change needs File.Sync.
		if end := min(off+n, len(node.durable)); end > off {
			writeback(node.durable[off:end], b[off:end])
		}
		node.mu.Unlock()
	}
	return nil
}

func (m *memMapping) Unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return ErrClosed
	}
	m.b = nil
	node := m.f.node
	node.mu.Lock()
	node.maps--
	if node.maps == 0 {
		node.mapLen = 0
	}
	node.mu.Unlock()
	if m.f.gen != m.f.fs.gen.Load() {
		return ErrClosed
	}
	return nil
}
