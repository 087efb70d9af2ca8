package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// readableLocked returns the segment holding off and the absolute offset up
// to which it holds published bytes, checking that off lies in
// [Start, End). Requires segMu shared.
func (l *Log) readableLocked(off int64) (*segment, int64, error) {
	if l.closed.Load() {
		return nil, 0, ErrClosed
	}
	end := l.end.Load()
	if len(l.segs) == 0 || off < l.segs[0].first || off >= end {
		return nil, 0, fmt.Errorf("%w: offset %d not in [%d, %d)", ErrOutOfRange, off, l.startLocked(), end)
	}
	i := l.segmentIndexLocked(off)
	if i < 0 {
		return nil, 0, fmt.Errorf("%w: offset %d", ErrOutOfRange, off)
	}
	seg := l.segs[i]
	lim := min(end, seg.limit())
	if seg.sealed >= 0 {
		lim = min(lim, seg.sealed)
	}
	if off < seg.first || off >= lim {
		return nil, 0, fmt.Errorf("%w: offset %d is not inside a record of segment %s", ErrOutOfRange, off, seg.name)
	}
	return seg, lim, nil
}

func (l *Log) startLocked() int64 {
	if len(l.segs) == 0 {
		return l.end.Load()
	}
	return l.segs[0].first
}

// nextAfterLocked maps the offset just past a record in seg to the offset
// of the next record: past a sealed segment's last record it is the next
// segment's first record. Requires segMu shared.
func (l *Log) nextAfterLocked(seg *segment, next int64) int64 {
	if seg.sealed >= 0 && next >= seg.sealed {
		return seg.base + l.segSize + SegmentHeaderSize
	}
	return next
}

// decodeAtLocked checks the record at off in seg, whose published bytes end
// at lim, and returns its type and data. Requires segMu shared.
func (l *Log) decodeAtLocked(seg *segment, lim, off int64) (uint8, []byte, error) {
	b := seg.b[off-seg.base : lim-seg.base]
	kind, typ, n, why := decodeRecord(b, off, l.maxData)
	if kind != recValid {
		if why == "" {
			why = "no record header"
		}
		return 0, nil, fmt.Errorf("%w: no valid record at offset %d in segment %s: %s", ErrCorrupt, off, seg.name, why)
	}
	return typ, b[RecordHeaderSize : RecordHeaderSize+n], nil
}

// Read returns the record at off (a copy) and the offset of the next
// record. The record's CRC is checked.
func (l *Log) Read(off int64) (rec Record, next int64, err error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	seg, lim, err := l.readableLocked(off)
	if err != nil {
		return Record{}, 0, err
	}
	typ, data, err := l.decodeAtLocked(seg, lim, off)
	if err != nil {
		return Record{}, 0, err
	}
	rec = Record{Type: typ, Data: append([]byte(nil), data...)}
	return rec, l.nextAfterLocked(seg, off+RecordHeaderSize+int64(len(data))), nil
}

// ReadAt copies raw log bytes at off into p without any framing check, for
// reading inside records (see DataOffset). It reads within one segment's
// written bytes: if they end before p is full it returns the bytes read and
// io.EOF.
func (l *Log) ReadAt(p []byte, off int64) (int, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	seg, lim, err := l.readableLocked(off)
	if err != nil {
		return 0, err
	}
	n := copy(p, seg.b[off-seg.base:lim-seg.base])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// iterChunk is how many bytes an iterator copies out of the log per lock
// acquisition (more if one record is larger).
const iterChunk = 16 << 10

// Iterator walks the records from an offset on. It holds no lock between
// calls, so it is safe concurrently with Append and DropBefore; when it
// reaches End, Next returns false and can be called again after more
// appends. It checks and copies the log in chunks of records (up to the
// End it sees); a Truncate or Reset discards the copy. An iterator whose position is truncated away or dropped stops with
// an error.
type Iterator struct {
	l   *Log
	off int64 // next record to read
	cur int64 // offset of the current record
	rec Record
	err error

	// buf holds a copy of the log bytes [bufOff, bufOff+len(buf)), all in
	// one segment, taken while the log's truncation generation was gen.
	buf    []byte
	bufOff int64
	gen    uint64
	// sealed is that segment's sealed end (-1 if it was active) and
	// nextSeg the first record offset of the segment after it.
	sealed  int64
	nextSeg int64
}

// NewIterator returns an iterator positioned before the record at from
// (which must be a record offset, or End).
func (l *Log) NewIterator(from int64) *Iterator {
	return &Iterator{l: l, off: from, cur: -1, bufOff: -1}
}

// buffered reports whether the record at it.off lies wholly in buf (whose
// records were all checked when it was filled).
func (it *Iterator) buffered() bool {
	p := it.off - it.bufOff
	if it.bufOff < 0 || p < 0 || p+RecordHeaderSize > int64(len(it.buf)) || it.gen != it.l.truncGen.Load() {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(it.buf[p+recLengthOff:]))
	return p+RecordHeaderSize+n <= int64(len(it.buf))
}

// fill checks the records from it.off on, in place in the mapping, and
// copies the run of valid ones (about iterChunk bytes, or one larger
// record) into buf. Checking before copying reads each byte from memory
// once; the copy then comes from the cache. It returns false at End or on
// error (it.err), including when the record at it.off is invalid.
func (it *Iterator) fill() bool {
	l := it.l
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		it.err = ErrClosed
		return false
	}
	end := l.end.Load()
	if it.off >= end {
		return false
	}
	// Past the last record of a sealed segment: hop to the next one.
	if i := l.segmentIndexLocked(it.off); i >= 0 {
		if s := l.segs[i]; s.sealed >= 0 && it.off >= s.sealed {
			it.off = s.base + l.segSize + SegmentHeaderSize
			if it.off >= end {
				return false
			}
		}
	}
	seg, lim, err := l.readableLocked(it.off)
	if err != nil {
		it.err = err
		return false
	}
	from := it.off - seg.base
	b := seg.b[from : lim-seg.base]
	p := 0
	for p < len(b) && (p == 0 || p < iterChunk) {
		kind, _, n, why := decodeRecord(b[p:], it.off+int64(p), l.maxData)
		if kind != recValid {
			if p == 0 {
				if why == "" {
					why = "no record header"
				}
				it.err = fmt.Errorf("%w: no valid record at offset %d in segment %s: %s", ErrCorrupt, it.off, seg.name, why)
				return false
			}
			break
		}
		p += RecordHeaderSize + n
	}
	it.buf = append(it.buf[:0], b[:p]...)
	it.bufOff, it.gen = it.off, l.truncGen.Load()
	it.sealed, it.nextSeg = seg.sealed, seg.base+l.segSize+SegmentHeaderSize
	return true
}

// Next advances to the next record. It returns false at End or on error
// (see Err).
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	if !it.buffered() && !it.fill() {
		return false
	}
	p := it.off - it.bufOff
	n := int64(binary.LittleEndian.Uint32(it.buf[p+recLengthOff:]))
	it.rec = Record{Type: it.buf[p+recTypeOff], Data: it.buf[p+RecordHeaderSize : p+RecordHeaderSize+n]}
	it.cur = it.off
	it.off += RecordHeaderSize + n
	if it.sealed >= 0 && it.off >= it.sealed {
		it.off = it.nextSeg
	}
	return true
}

// Offset returns the offset of the current record.
func (it *Iterator) Offset() int64 { return it.cur }

// Record returns the current record. Its Data is owned by the iterator and
// valid until the next call to Next; copy it to keep it.
func (it *Iterator) Record() Record { return it.rec }

// NextOffset returns the offset of the record the next call to Next reads.
func (it *Iterator) NextOffset() int64 { return it.off }

// Err returns the error that stopped the iterator, if any.
func (it *Iterator) Err() error { return it.err }
