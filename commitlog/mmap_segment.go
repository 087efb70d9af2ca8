package commitlog

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// segment is one mapped segment file covering offsets [base, base+size).
type segment struct {
	base  int64
	first int64 // absolute offset of the first record
	name  string
	f     vfs.File
	m     vfs.Mapping
	b     []byte // m.Bytes(), len == segment size
	// sealed is the offset where the segment's records end once a later
	// segment exists (the end-of-segment marker, or the point where fewer
	// than RecordHeaderSize bytes remained). Guarded by Log.segMu; -1 for
	// the active segment, whose end is Log.end.
	sealed int64
	// highWater is the high-water mark stored in the header (changed with
	// both Log.mu and Log.flushMu held; read with either).
	highWater int64
	// slotSync is the sync point stored in the header (guarded by
	// Log.flushMu).
	slotSync int64
}

// clearPast zeroes every non-zero byte in [from, to) (absolute offsets)
// and makes that durable. It returns the end of the bytes it zeroed, from
// when all were zero already.
func (s *segment) clearPast(from, to int64) (int64, error) {
	nz := lastNonZero(s.b[from-s.base : to-s.base])
	if nz < 0 {
		return from, nil
	}
	end := from + int64(nz) + 1
	clear(s.b[from-s.base : end-s.base])
	if err := s.m.Flush(int(from-s.base), int(end-from)); err != nil {
		return from, fmt.Errorf("commitlog: flush zeroed bytes of %s: %w", s.name, err)
	}
	return end, nil
}

// limit returns the absolute end of the segment file.
func (s *segment) limit() int64 { return s.base + int64(len(s.b)) }

// close unmaps and closes the segment, returning the first error.
func (s *segment) close() error {
	var errs []error
	if s.m != nil {
		errs = append(errs, s.m.Unmap())
		s.m, s.b = nil, nil
	}
	if s.f != nil {
		errs = append(errs, s.f.Close())
		s.f = nil
	}
	return errors.Join(errs...)
}

// writeSlotFlushLocked stores the sync point (and the current high-water
// mark) in the header and flushes the header. Requires Log.flushMu.
func (s *segment) writeSlotFlushLocked(syncPoint int64) error {
	encodeSlot(s.b, syncPoint, s.highWater)
	s.slotSync = syncPoint
	if err := s.m.Flush(0, SegmentHeaderSize); err != nil {
		return fmt.Errorf("commitlog: flush header of %s: %w", s.name, err)
	}
	return nil
}

// mapSegment maps an open segment file of segSize bytes.
func mapSegment(f vfs.File, segSize int64) (vfs.Mapping, []byte, error) {
	m, err := f.Map(int(segSize))
	if err != nil {
		return nil, nil, err
	}
	b := m.Bytes()
	if int64(len(b)) != segSize {
		m.Unmap()
		return nil, nil, fmt.Errorf("commitlog: mapping of %s has %d bytes, want %d", f.Name(), len(b), segSize)
	}
	return m, b, nil
}

// createSegmentFile creates file name in dir holding a fresh segment for
// base whose first record will be at first, preallocates it (warm: and
// writes it with zeros, see warm.go), writes the header and syncs the file
// (not the directory). highWater is the initial high-water mark. On error
// the file is closed but not removed.
func createSegmentFile(fsys vfs.FS, dir, name string, base, segSize, first, highWater int64, warm bool) (*segment, error) {
	path := filepath.Join(dir, name)
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("commitlog: create segment %s: %w", name, err)
	}
	if err := f.Allocate(segSize); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("commitlog: allocate segment %s: %w", name, err)
	}
	if warm {
		if _, err := zeroFill(f, segSize, nil, nil); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("commitlog: warm segment %s: %w", name, err)
		}
	}
	return initSegmentFile(f, name, base, segSize, first, highWater)
}

// initSegmentFile maps f, already allocated to segSize, as a fresh segment:
// it writes the header and syncs the file. On error f is closed.
func initSegmentFile(f vfs.File, name string, base, segSize, first, highWater int64) (*segment, error) {
	s := &segment{base: base, first: first, name: name, f: f, sealed: -1}
	fail := func(what string, err error) (*segment, error) {
		s.close()
		return nil, fmt.Errorf("commitlog: %s segment %s: %w", what, name, err)
	}
	var err error
	if s.m, s.b, err = mapSegment(f, segSize); err != nil {
		return fail("map", err)
	}
	encodeHeader(s.b, segmentHeader{Version: FormatVersion, Base: base, SegSize: segSize, First: first, SyncPoint: first, HighWater: highWater})
	s.slotSync, s.highWater = first, highWater
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	return s, nil
}
