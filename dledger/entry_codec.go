package dledger

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// Raft entry record layout (FORMAT.md, "Raft entry record"). Frozen: changing
// any of these values needs a new record type.
const (
	// RecordTypeEntry is the commit-log record type of a raft entry encoded
	// with the v1 header below. 0 is invalid in the commit log; other values
	// are reserved.
	RecordTypeEntry uint8 = 1

	// EntryHeaderSize is the fixed part of the entry header, before the
	// extensions.
	EntryHeaderSize = 32

	// MaxExtensionsSize bounds raft.Log.Extensions (the length field is 32
	// bits; this keeps headers small and decoding allocation-safe).
	MaxExtensionsSize = 1 << 20

	entryFlagsNone = 0
)

// entry header field offsets.
const (
	ehType       = 0  // u8  raft.LogType
	ehFlags      = 1  // u8  reserved, 0
	ehReserved   = 2  // u16 reserved, 0
	ehExtLen     = 4  // u32 length of Extensions
	ehIndex      = 8  // u64 raft index
	ehTerm       = 16 // u64 raft term
	ehAppendedAt = 24 // i64 AppendedAt, Unix nanoseconds; 0 = zero time
)

// encodedEntrySize is the record data length of l.
func encodedEntrySize(l *raft.Log) int {
	return EntryHeaderSize + len(l.Extensions) + len(l.Data)
}

// appendEntry appends the record data for l to dst.
func appendEntry(dst []byte, l *raft.Log) []byte {
	var h [EntryHeaderSize]byte
	h[ehType] = byte(l.Type)
	h[ehFlags] = entryFlagsNone
	binary.LittleEndian.PutUint32(h[ehExtLen:], uint32(len(l.Extensions)))
	binary.LittleEndian.PutUint64(h[ehIndex:], l.Index)
	binary.LittleEndian.PutUint64(h[ehTerm:], l.Term)
	binary.LittleEndian.PutUint64(h[ehAppendedAt:], uint64(encodeTime(l.AppendedAt)))
	dst = append(dst, h[:]...)
	dst = append(dst, l.Extensions...)
	return append(dst, l.Data...)
}

func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func decodeTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// checkEntry validates l before it is encoded.
func checkEntry(l *raft.Log) error {
	if len(l.Extensions) > MaxExtensionsSize {
		return fmt.Errorf("dledger: entry %d extensions of %d bytes exceed %d: %w",
			l.Index, len(l.Extensions), MaxExtensionsSize, ErrEntryCorrupt)
	}
	if l.Index == 0 {
		return fmt.Errorf("dledger: entry index 0: %w", ErrNotContiguous)
	}
	return nil
}

// entryHeader is the decoded fixed part of an entry record.
type entryHeader struct {
	Type       raft.LogType
	ExtLen     int
	Index      uint64
	Term       uint64
	AppendedAt int64
}

func decodeEntryHeader(b []byte) (entryHeader, error) {
	var h entryHeader
	if len(b) < EntryHeaderSize {
		return h, fmt.Errorf("dledger: entry record of %d bytes, shorter than its %d-byte header: %w",
			len(b), EntryHeaderSize, ErrEntryCorrupt)
	}
	if b[ehFlags] != entryFlagsNone || binary.LittleEndian.Uint16(b[ehReserved:]) != 0 {
		return h, fmt.Errorf("dledger: entry record has reserved bits set: %w", ErrEntryCorrupt)
	}
	ext := binary.LittleEndian.Uint32(b[ehExtLen:])
	if ext > MaxExtensionsSize || uint64(ext) > uint64(len(b)-EntryHeaderSize) {
		return h, fmt.Errorf("dledger: entry extensions length %d does not fit a %d-byte record: %w",
			ext, len(b), ErrEntryCorrupt)
	}
	h.Type = raft.LogType(b[ehType])
	h.ExtLen = int(ext)
	h.Index = binary.LittleEndian.Uint64(b[ehIndex:])
	h.Term = binary.LittleEndian.Uint64(b[ehTerm:])
	at := binary.LittleEndian.Uint64(b[ehAppendedAt:])
	if at > math.MaxInt64 {
		return h, fmt.Errorf("dledger: entry AppendedAt out of range: %w", ErrEntryCorrupt)
	}
	h.AppendedAt = int64(at)
	if h.Index == 0 {
		return h, fmt.Errorf("dledger: entry with raft index 0: %w", ErrEntryCorrupt)
	}
	return h, nil
}

// decodeEntry fills l from record data b. l.Data and l.Extensions alias b.
func decodeEntry(b []byte, l *raft.Log) error {
	h, err := decodeEntryHeader(b)
	if err != nil {
		return err
	}
	l.Index = h.Index
	l.Term = h.Term
	l.Type = h.Type
	l.AppendedAt = decodeTime(h.AppendedAt)
	l.Extensions = nil
	if h.ExtLen > 0 {
		l.Extensions = b[EntryHeaderSize : EntryHeaderSize+h.ExtLen : EntryHeaderSize+h.ExtLen]
	}
	l.Data = b[EntryHeaderSize+h.ExtLen:]
	if len(l.Data) == 0 {
		l.Data = nil
	}
	return nil
}

// entryDataStart is where raft.Log.Data starts inside the record data.
func entryDataStart(h entryHeader) int64 { return int64(EntryHeaderSize + h.ExtLen) }
