package consumequeue

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// queueFile is one mapped queue file holding queue offsets
// [base, base+perFile). The mapping covers the whole file.
type queueFile struct {
	path  string
	base  int64 // first queue offset the file can hold; its name
	start int64 // first queue offset written in it (> base only for a queue's first file)
	f     vfs.File
	m     vfs.Mapping
	b     []byte // m.Bytes()
	// synced is false until the file's size and header have been synced
	// (by the queue's next Flush). Written under the queue's flushMu.
	synced bool
}

func fileName(base int64) string { return fmt.Sprintf("%0*d", fileNameDigits, base) }

// parseFileName returns the base offset a queue file name encodes.
func parseFileName(name string) (int64, bool) {
	if len(name) != fileNameDigits {
		return 0, false
	}
	var v int64
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (1<<63-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// entry returns the 32 bytes of queue offset off, which must be inside the file.
func (qf *queueFile) entry(off int64) []byte {
	i := headerSize + (off-qf.base)*entrySize
	return qf.b[i : i+entrySize : i+entrySize]
}

// flushEntries makes entries [from, to) durable.
func (qf *queueFile) flushEntries(from, to int64) error {
	if to <= from {
		return nil
	}
	off := headerSize + (from-qf.base)*entrySize
	if err := qf.m.Flush(int(off), int((to-from)*entrySize)); err != nil {
		return fmt.Errorf("consumequeue: flush %s: %w", qf.path, err)
	}
	return nil
}

// createQueueFile creates, preallocates and maps a new queue file and
// writes its header. Nothing is synced: the file's size, header and
// directory entry become durable at the queue's next Flush, so a Put never
// waits for the disk.
func createQueueFile(fsys vfs.FS, dir string, h fileHeader) (*queueFile, error) {
	path := filepath.Join(dir, fileName(h.base))
	size := fileSize(h.entriesPerFile)
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("consumequeue: create %s: %w", path, err)
	}
	fail := func(err error) (*queueFile, error) {
		f.Close()
		fsys.Remove(path)
		return nil, err
	}
	if err := f.Allocate(size); err != nil {
		return fail(fmt.Errorf("consumequeue: allocate %s: %w", path, err))
	}
	m, err := f.Map(int(size))
	if err != nil {
		return fail(fmt.Errorf("consumequeue: map %s: %w", path, err))
	}
	b := m.Bytes()
	encodeHeader(b, h)
	return &queueFile{path: path, base: h.base, start: h.start, f: f, m: m, b: b}, nil
}

// errBadFile marks a queue file whose header or size is wrong. Recovery
// decides whether it is a torn creation (nothing below the checkpoint in
// it) or corruption.
var errBadFile = errors.New("consumequeue: bad queue file")

// openQueueFile opens and maps an existing queue file after checking its
// header and size against its name (base) and queue (topicH, queueID).
// Content problems wrap errBadFile; I/O failures do not.
func openQueueFile(fsys vfs.FS, path string, base int64, topicH uint32, queueID int32) (*queueFile, fileHeader, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fileHeader{}, fmt.Errorf("consumequeue: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fileHeader{}, fmt.Errorf("consumequeue: size of %s: %w", path, err)
	}
	var hb [headerSize]byte
	if size < headerSize {
		f.Close()
		return nil, fileHeader{}, fmt.Errorf("%w: %s: %d bytes", errBadFile, path, size)
	}
	if _, err := f.ReadAt(hb[:], 0); err != nil {
		f.Close()
		return nil, fileHeader{}, fmt.Errorf("consumequeue: read header of %s: %w", path, err)
	}
	h, problem := decodeHeader(hb[:])
	switch {
	case problem != "":
	case h.base != base:
		problem = fmt.Sprintf("header base %d differs from file name", h.base)
	case h.topicHash != topicH || h.queueID != queueID:
		problem = "header belongs to another queue"
	case size != fileSize(h.entriesPerFile):
		problem = fmt.Sprintf("size %d, header implies %d", size, fileSize(h.entriesPerFile))
	}
	if problem != "" {
		f.Close()
		return nil, fileHeader{}, fmt.Errorf("%w: %s: %s", errBadFile, path, problem)
	}
	m, err := f.Map(int(size))
	if err != nil {
		f.Close()
		return nil, fileHeader{}, fmt.Errorf("consumequeue: map %s: %w", path, err)
	}
	return &queueFile{path: path, base: h.base, start: h.start, f: f, m: m, b: m.Bytes(), synced: true}, h, nil
}

// close unmaps and closes the file without flushing.
func (qf *queueFile) close() error {
	var errs []error
	if qf.m != nil {
		errs = append(errs, qf.m.Unmap())
		qf.m, qf.b = nil, nil
	}
	if qf.f != nil {
		errs = append(errs, qf.f.Close())
		qf.f = nil
	}
	return errors.Join(errs...)
}

// remove closes and deletes the file. The caller syncs the directory.
func (qf *queueFile) remove(fsys vfs.FS) error {
	err := qf.close()
	if rerr := fsys.Remove(qf.path); rerr != nil {
		err = errors.Join(err, fmt.Errorf("consumequeue: remove %s: %w", qf.path, rerr))
	}
	return err
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
