package vfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) Stat(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct {
	f *os.File
}

func (o *osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o *osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o *osFile) Close() error                             { return o.f.Close() }
func (o *osFile) Name() string                             { return o.f.Name() }
func (o *osFile) Truncate(size int64) error                { return o.f.Truncate(size) }

func (o *osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (o *osFile) Allocate(size int64) error {
	cur, err := o.Size()
	if err != nil {
		return err
	}
	if cur >= size {
		return nil
	}
	err = unix.Fallocate(int(o.f.Fd()), 0, 0, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		// File systems without fallocate (some tmpfs versions, overlayfs
		// setups) still get a file of the right size.
		return o.f.Truncate(size)
	}
	if err != nil {
		return fmt.Errorf("vfs: fallocate %s to %d bytes: %w", o.f.Name(), size, err)
	}
	return nil
}

func (o *osFile) Sync() error { return unix.Fdatasync(int(o.f.Fd())) }

func (o *osFile) Map(size int) (Mapping, error) {
	m, err := mmap.MapRegion(o.f, size, mmap.RDWR, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("vfs: mmap %s (%d bytes): %w", o.f.Name(), size, err)
	}
	return &osMapping{m: m, f: o.f}, nil
}

type osMapping struct {
	m mmap.MMap
	f *os.File // the mapped file, for ReleaseCache (EBADF once it is closed)
}

func (m *osMapping) Bytes() []byte { return m.m }

var _ CacheReleaser = (*osMapping)(nil)

// ReleaseCache zaps this process's page-table entries for the whole pages
// inside [off, off+n) (madvise MADV_DONTNEED, which for a shared file
// mapping keeps the data: dirty bits move to the page cache), then asks the
// kernel to drop those pages from the page cache (fadvise
// POSIX_FADV_DONTNEED, which skips dirty and still-mapped pages).
func (m *osMapping) ReleaseCache(off, n int) error {
	if m.m == nil {
		return ErrClosed
	}
	if off < 0 || n < 0 || off+n > len(m.m) {
		return fmt.Errorf("vfs: release [%d,%d) outside mapping of %d bytes", off, off+n, len(m.m))
	}
	start := (off + pageSize - 1) &^ (pageSize - 1)
	end := (off + n) &^ (pageSize - 1)
	if end <= start {
		return nil
	}
	if err := unix.Madvise(m.m[start:end], unix.MADV_DONTNEED); err != nil {
		return fmt.Errorf("vfs: madvise DONTNEED %s: %w", m.f.Name(), err)
	}
	if err := unix.Fadvise(int(m.f.Fd()), int64(start), int64(end-start), unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("vfs: fadvise DONTNEED %s: %w", m.f.Name(), err)
	}
	return nil
}

var pageSize = os.Getpagesize()

func (m *osMapping) Flush(off, n int) error {
	if m.m == nil {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	if off < 0 || off+n > len(m.m) {
		return fmt.Errorf("vfs: flush [%d,%d) outside mapping of %d bytes", off, off+n, len(m.m))
	}
	start := off &^ (pageSize - 1)
	return unix.Msync(m.m[start:off+n], unix.MS_SYNC)
}

func (m *osMapping) Unmap() error {
	if m.m == nil {
		return ErrClosed
	}
	err := m.m.Unmap()
	m.m = nil
	return err
}
