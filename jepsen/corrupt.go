package jepsen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// File corruption for stopped replicas. These work on real files (not
// through vfs): the harness damages a data directory between a kill and a
// restart, as a disk would. Commit-log segments are preallocated, so the
// file size says nothing about how much was written; DataEnd finds the
// end of the written bytes instead.

// segmentNameLen is the length of a segment file name: its 20-digit base
// offset (commitlog's naming).
const segmentNameLen = 20

// NewestSegment returns the path of the segment file with the highest base
// offset in dir (files named by exactly 20 decimal digits). ErrNoSegment
// when there is none.
func NewestSegment(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("jepsen: newest segment: %w", err)
	}
	best, bestBase := "", int64(-1)
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || len(name) != segmentNameLen {
			continue
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil || base < 0 {
			continue
		}
		if base > bestBase {
			best, bestBase = name, base
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w in %s", ErrNoSegment, dir)
	}
	return filepath.Join(dir, best), nil
}

// DataEnd returns the offset just past the last non-zero byte of the file
// (0 for a file of zeros): the end of what was written into a preallocated
// segment.
func DataEnd(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("jepsen: data end: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("jepsen: data end: %w", err)
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	for end := fi.Size(); end > 0; {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("jepsen: data end: %w", err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// FlipBit inverts bit (0..7) of the byte at off and syncs the file. It
// returns the byte before and after.
func FlipBit(path string, off int64, bit uint) (before, after byte, err error) {
	if bit > 7 {
		return 0, 0, fmt.Errorf("%w: bit %d", ErrOutOfRange, bit)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("jepsen: flip bit: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("jepsen: flip bit: %w", err)
	}
	if off < 0 || off >= fi.Size() {
		return 0, 0, fmt.Errorf("%w: offset %d in %s of %d bytes", ErrOutOfRange, off, path, fi.Size())
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return 0, 0, fmt.Errorf("jepsen: flip bit: %w", err)
	}
	before = b[0]
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		return 0, 0, fmt.Errorf("jepsen: flip bit: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("jepsen: flip bit: %w", err)
	}
	return before, b[0], nil
}

// ZeroTail zeroes the last n written bytes of a preallocated file (those
// before DataEnd), as a torn write leaves them, and syncs it. It returns
// the offset the zeroes start at.
func ZeroTail(path string, n int64) (from int64, err error) {
	end, err := DataEnd(path)
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > end {
		return 0, fmt.Errorf("%w: zero %d bytes of %d written in %s", ErrOutOfRange, n, end, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("jepsen: zero tail: %w", err)
	}
	defer f.Close()
	from = end - n
	if _, err := f.WriteAt(make([]byte, n), from); err != nil {
		return 0, fmt.Errorf("jepsen: zero tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("jepsen: zero tail: %w", err)
	}
	return from, nil
}

// TruncateFile cuts the file to size bytes (a file system that lost the
// end of a file, not just its data) and syncs it.
func TruncateFile(path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("jepsen: truncate: %w", err)
	}
	if size < 0 || size > fi.Size() {
		return fmt.Errorf("%w: truncate %s of %d bytes to %d", ErrOutOfRange, path, fi.Size(), size)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("jepsen: truncate: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("jepsen: truncate: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("jepsen: truncate: %w", err)
	}
	return nil
}
