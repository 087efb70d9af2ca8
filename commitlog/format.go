package commitlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk format constants. FROZEN: changing any of them changes the format
// (see FORMAT.md); bump FormatVersion and keep a reader for the old one.
const (
	// FormatVersion is the segment format version written in every header.
	FormatVersion = 1
	// SegmentHeaderSize is the size of the segment header at the start of
	// every segment file; the first record of a fresh segment is at
	// base+SegmentHeaderSize.
	SegmentHeaderSize = 64
	// RecordHeaderSize is the size of a record's header (CRC, length, type).
	RecordHeaderSize = 9
	// eosLength is the Length field of the end-of-segment marker.
	eosLength = 0xFFFFFFFF
)

// segmentMagic starts every segment file. FROZEN.
var segmentMagic = [8]byte{'D', 'M', 'Q', 'C', 'L', 'O', 'G', 0}

// Segment header field offsets. FROZEN.
const (
	hdrMagic      = 0
	hdrVersion    = 8
	hdrSize       = 10
	hdrFlags      = 12
	hdrBase       = 16
	hdrSegSize    = 24
	hdrFirst      = 32
	hdrCRC        = 40 // CRC32-C of bytes [0,40)
	hdrSlotCRC    = 44 // CRC32-C of bytes [16,24) ++ [48,64)
	hdrSyncPoint  = 48
	hdrHighWater  = 56
	hdrImmutEnd   = 40
	hdrSlotEnd    = 64
	recCRCOff     = 0
	recLengthOff  = 4
	recTypeOff    = 8
	recCRCCovered = 4 // the CRC covers the record from this byte on
)

// Size limits for Options.SegmentSize.
const (
	MinSegmentSize = 4 << 10
	MaxSegmentSize = 4 << 30
	// segmentAlign is the granularity of SegmentSize.
	segmentAlign = 4 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// offsetTables are slicing-by-8 tables for the Castagnoli polynomial:
// offsetTables[k][b] is the CRC register after byte b followed by k zero
// bytes. They let crcOffset do its 8 lookups independently.
var offsetTables = func() (t [8][256]uint32) {
	t[0] = *castagnoli
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			v := t[k-1][i]
			t[k][i] = t[0][byte(v)] ^ v>>8
		}
	}
	return t
}()

// crcOffset returns the CRC32-C of the 8-byte little-endian encoding of off,
// as a finished CRC that crc32.Update can continue. It is the first part of
// every record CRC (binding a record to its offset) and allocation-free.
func crcOffset(off int64) uint32 {
	u := uint64(off) ^ 0xFFFFFFFF // the initial register ^0 meets the low four bytes
	crc := offsetTables[7][byte(u)] ^ offsetTables[6][byte(u>>8)] ^
		offsetTables[5][byte(u>>16)] ^ offsetTables[4][byte(u>>24)] ^
		offsetTables[3][byte(u>>32)] ^ offsetTables[2][byte(u>>40)] ^
		offsetTables[1][byte(u>>48)] ^ offsetTables[0][byte(u>>56)]
	return ^crc
}

// recordCRC computes the CRC of the record whose header starts at b[0] and
// whose data is b[RecordHeaderSize:], stored at offset off.
func recordCRC(off int64, b []byte) uint32 {
	return crc32.Update(crcOffset(off), castagnoli, b[recCRCCovered:])
}

// maxDataLen is the largest record data length a segment of segSize bytes
// holds.
func maxDataLen(segSize int64) int64 {
	return min(segSize-SegmentHeaderSize-RecordHeaderSize, eosLength-1)
}

// segmentHeader is the decoded header of a segment file.
type segmentHeader struct {
	Version   uint16
	Base      int64 // absolute offset of byte 0 of the file
	SegSize   int64 // bytes in the segment file
	First     int64 // absolute offset of the first record
	SyncPoint int64 // records in [First, SyncPoint) were durable when written
	HighWater int64 // no byte at or past HighWater was ever written
}

// encodeHeader writes the whole header into b[:SegmentHeaderSize].
func encodeHeader(b []byte, h segmentHeader) {
	clear(b[:SegmentHeaderSize])
	copy(b[hdrMagic:], segmentMagic[:])
	binary.LittleEndian.PutUint16(b[hdrVersion:], h.Version)
	binary.LittleEndian.PutUint16(b[hdrSize:], SegmentHeaderSize)
	binary.LittleEndian.PutUint32(b[hdrFlags:], 0)
	binary.LittleEndian.PutUint64(b[hdrBase:], uint64(h.Base))
	binary.LittleEndian.PutUint64(b[hdrSegSize:], uint64(h.SegSize))
	binary.LittleEndian.PutUint64(b[hdrFirst:], uint64(h.First))
	binary.LittleEndian.PutUint32(b[hdrCRC:], crc32.Checksum(b[:hdrImmutEnd], castagnoli))
	encodeSlot(b, h.SyncPoint, h.HighWater)
}

// encodeSlot rewrites the mutable part of the header: the sync point and
// the high-water mark, with their CRC. The slot lies in the first 512-byte
// sector, which the format assumes is written atomically.
func encodeSlot(b []byte, syncPoint, highWater int64) {
	binary.LittleEndian.PutUint64(b[hdrSyncPoint:], uint64(syncPoint))
	binary.LittleEndian.PutUint64(b[hdrHighWater:], uint64(highWater))
	binary.LittleEndian.PutUint32(b[hdrSlotCRC:], slotCRC(b))
}

func slotCRC(b []byte) uint32 {
	crc := crc32.Update(0, castagnoli, b[hdrBase:hdrBase+8])
	return crc32.Update(crc, castagnoli, b[hdrSyncPoint:hdrSlotEnd])
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for len(b) >= len(zeroPage) {
		if string(b[:len(zeroPage)]) != string(zeroPage[:]) {
			return false
		}
		b = b[len(zeroPage):]
	}
	return string(b) == string(zeroPage[:len(b)])
}

var zeroPage [4096]byte

// decodeHeader parses and checks a segment header. wantSize is the segment
// size the log is configured with (0 accepts any valid size). Every failure
// wraps ErrCorrupt.
func decodeHeader(b []byte, wantSize int64) (segmentHeader, error) {
	var h segmentHeader
	if len(b) < SegmentHeaderSize {
		return h, fmt.Errorf("%w: segment header truncated (%d bytes)", ErrCorrupt, len(b))
	}
	if [8]byte(b[hdrMagic:hdrMagic+8]) != segmentMagic {
		return h, fmt.Errorf("%w: bad segment magic %q", ErrCorrupt, b[hdrMagic:hdrMagic+8])
	}
	if got, want := binary.LittleEndian.Uint32(b[hdrCRC:]), crc32.Checksum(b[:hdrImmutEnd], castagnoli); got != want {
		return h, fmt.Errorf("%w: segment header CRC %08x, computed %08x", ErrCorrupt, got, want)
	}
	h.Version = binary.LittleEndian.Uint16(b[hdrVersion:])
	if h.Version != FormatVersion {
		return h, fmt.Errorf("%w: unsupported segment format version %d (this build reads %d)", ErrCorrupt, h.Version, FormatVersion)
	}
	if hs := binary.LittleEndian.Uint16(b[hdrSize:]); hs != SegmentHeaderSize {
		return h, fmt.Errorf("%w: segment header size %d, want %d", ErrCorrupt, hs, SegmentHeaderSize)
	}
	if fl := binary.LittleEndian.Uint32(b[hdrFlags:]); fl != 0 {
		return h, fmt.Errorf("%w: unknown segment flags %#x", ErrCorrupt, fl)
	}
	h.Base = int64(binary.LittleEndian.Uint64(b[hdrBase:]))
	h.SegSize = int64(binary.LittleEndian.Uint64(b[hdrSegSize:]))
	h.First = int64(binary.LittleEndian.Uint64(b[hdrFirst:]))
	if h.SegSize < MinSegmentSize || h.SegSize > MaxSegmentSize || h.SegSize%segmentAlign != 0 {
		return h, fmt.Errorf("%w: invalid segment size %d", ErrCorrupt, h.SegSize)
	}
	if wantSize != 0 && h.SegSize != wantSize {
		return h, fmt.Errorf("%w: segment size %d, log configured for %d", ErrSegmentSize, h.SegSize, wantSize)
	}
	if h.Base < 0 || h.Base%h.SegSize != 0 {
		return h, fmt.Errorf("%w: base offset %d is not a multiple of the segment size %d", ErrCorrupt, h.Base, h.SegSize)
	}
	if h.First < h.Base+SegmentHeaderSize || h.First > h.Base+h.SegSize {
		return h, fmt.Errorf("%w: first record offset %d outside segment [%d,%d)", ErrCorrupt, h.First, h.Base, h.Base+h.SegSize)
	}
	if got, want := binary.LittleEndian.Uint32(b[hdrSlotCRC:]), slotCRC(b); got != want {
		return h, fmt.Errorf("%w: sync-point slot CRC %08x, computed %08x", ErrCorrupt, got, want)
	}
	h.SyncPoint = int64(binary.LittleEndian.Uint64(b[hdrSyncPoint:]))
	h.HighWater = int64(binary.LittleEndian.Uint64(b[hdrHighWater:]))
	end := h.Base + h.SegSize
	if h.SyncPoint < h.First || h.SyncPoint > end || h.HighWater < h.SyncPoint || h.HighWater > end {
		return h, fmt.Errorf("%w: sync point %d / high water %d outside [%d,%d]", ErrCorrupt, h.SyncPoint, h.HighWater, h.First, end)
	}
	return h, nil
}

// recKind classifies what decodeRecord found.
type recKind uint8

const (
	recValid     recKind = iota + 1
	recEOS               // end-of-segment marker
	recUnwritten         // all-zero header: nothing was written here
	recShort             // fewer than RecordHeaderSize bytes left in the segment
	recInvalid           // torn or corrupt
)

// decodeRecord decodes the record at the start of b, which must extend to
// the end of its segment, stored at absolute offset off. For a valid record
// it returns the type and data length; for recInvalid a reason.
// maxData is the segment's maximum data length.
func decodeRecord(b []byte, off int64, maxData int64) (kind recKind, typ uint8, n int, why string) {
	if len(b) < RecordHeaderSize {
		return recShort, 0, 0, ""
	}
	crc := binary.LittleEndian.Uint32(b[recCRCOff:])
	length := binary.LittleEndian.Uint32(b[recLengthOff:])
	typ = b[recTypeOff]
	if typ == 0 {
		switch {
		case crc == 0 && length == 0:
			return recUnwritten, 0, 0, ""
		case length == eosLength:
			if recordCRC(off, b[:RecordHeaderSize]) != crc {
				return recInvalid, 0, 0, "end-of-segment marker CRC mismatch"
			}
			return recEOS, 0, 0, ""
		}
		return recInvalid, 0, 0, "record type 0"
	}
	if int64(length) > maxData || int64(length) > int64(len(b)-RecordHeaderSize) {
		return recInvalid, 0, 0, fmt.Sprintf("length %d past the segment end", length)
	}
	end := RecordHeaderSize + int(length)
	if got := recordCRC(off, b[:end]); got != crc {
		return recInvalid, 0, 0, fmt.Sprintf("CRC %08x, computed %08x", crc, got)
	}
	return recValid, typ, int(length), ""
}

// encodeRecord writes a record header and its data into b at absolute
// offset off and returns the bytes used. b must have room.
func encodeRecord(b []byte, off int64, typ uint8, data []byte) int {
	end := RecordHeaderSize + len(data)
	binary.LittleEndian.PutUint32(b[recLengthOff:], uint32(len(data)))
	b[recTypeOff] = typ
	copy(b[RecordHeaderSize:end], data)
	binary.LittleEndian.PutUint32(b[recCRCOff:], recordCRC(off, b[:end]))
	return end
}

// encodeEOS writes an end-of-segment marker at b (absolute offset off).
func encodeEOS(b []byte, off int64) {
	binary.LittleEndian.PutUint32(b[recLengthOff:], eosLength)
	b[recTypeOff] = 0
	binary.LittleEndian.PutUint32(b[recCRCOff:], recordCRC(off, b[:RecordHeaderSize]))
}

// segmentName is the file name of the segment with the given base offset.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// resetSuffix marks the new segment a Reset prepares before it replaces
// the old ones.
const resetSuffix = ".reset"

// parseSegmentName returns the base offset a segment file name encodes.
func parseSegmentName(name string) (int64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	var v int64
	for i := 0; i < 20; i++ {
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
