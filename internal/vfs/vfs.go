// Package vfs is the small file-system seam every storage package writes through.
//
// Production code uses OS (the real file system, with mmap'd regions from
// github.com/edsrzf/mmap-go). Tests use the in-memory implementations in this
// package: a memory FS, a crash FS that keeps only synced bytes and can keep,
// drop or tear unsynced pages when it "loses power", and an error-injecting FS:
// NewMem, NewCrash and NewErr (with the injectors FailNth, FailFrom, Switch,
// NoSpace and Chain). The conformance tests run against OS, MemFS and
// CrashFS alike.
//
// # Durability contract
//
// Bytes written through File.WriteAt or through a Mapping are durable only
// after one of these returns nil:
//   - File.Sync (fdatasync of the whole file, including bytes written through
//     a mapping of it);
//   - Mapping.Flush(off, n) for the bytes in [off, off+n) (msync MS_SYNC).
//
// Creating, removing or renaming a file is durable only after SyncDir of its
// directory returns nil. File.Truncate and File.Allocate change the size
// durably only after a later File.Sync.
package vfs

import (
	"errors"
	"io"
)

// ErrClosed is returned by operations on a closed file or an unmapped region.
var ErrClosed = errors.New("vfs: file already closed")

// FS is the file system the storage packages use. Names are slash-separated
// paths as accepted by the os package.
type FS interface {
	// Create creates or truncates the named file for reading and writing.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing.
	Open(name string) (File, error)
	// Remove removes the named file or empty directory.
	Remove(name string) error
	// Rename atomically renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// Stat reports whether name exists and its size in bytes. A missing file
	// returns an error satisfying errors.Is(err, fs.ErrNotExist).
	Stat(name string) (size int64, err error)
	// SyncDir makes creations, removals and renames in dir durable.
	SyncDir(dir string) error
}

// File is an open file. Methods are safe for concurrent use except Close,
// which must not race with other calls.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Name returns the path the file was opened with.
	Name() string
	// Size returns the current size of the file in bytes.
	Size() (int64, error)
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Allocate makes the file at least size bytes long, reserving the blocks
	// (fallocate) where the platform supports it, so later writes inside it
	// cannot fail for lack of space and do not change the file's size.
	Allocate(size int64) error
	// Sync makes every byte written so far durable (fdatasync).
	Sync() error
	// Map returns a shared read-write mapping of the first size bytes of the
	// file. The file must already be at least size bytes long and must not be
	// truncated below size while mapped.
	Map(size int) (Mapping, error)
}

// Mapping is a shared read-write memory mapping of a file region. Writes to
// Bytes() reach the file; they are durable after Flush or File.Sync.
type Mapping interface {
	// Bytes returns the mapped memory. It is invalid after Unmap.
	Bytes() []byte
	// Flush makes the bytes in [off, off+n) durable (msync).
	Flush(off, n int) error
	// Unmap releases the mapping. It does not flush.
	Unmap() error
}

// CacheReleaser is implemented by mappings whose cached pages can be given
// back to the OS (the OS file system's). It is optional: callers type-assert
// and skip it where it is missing, as the memory and crash file systems do.
type CacheReleaser interface {
	// ReleaseCache tells the OS that the durable bytes in [off, off+n) of
	// the mapped file will not be needed soon: their pages are unmapped
	// from this process and dropped from the page cache once clean. Later
	// reads fault them back in from the file, so the contents never
	// change; only the cost of reading them does. Dirty pages are never
	// discarded (their writeback merely starts), so calling it on a range
	// that is not yet durable costs durability nothing.
	ReleaseCache(off, n int) error
}
