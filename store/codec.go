package store

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Little-endian primitives for the store's own formats (Raft entry payloads
// and snapshots, FORMAT.md). Messages inside an entry keep RocketMQ's
// big-endian stored layout.

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendStr writes a u16 length and the bytes; callers validate lengths
// (names are at most 255 bytes) before encoding.
func appendStr(b []byte, s string) []byte {
	b = appendU16(b, uint16(len(s)))
	return append(b, s...)
}

// reader decodes little-endian fields with a sticky error: after the first
// short read every getter returns zero and err says where it failed.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: %s: need %d bytes at %d, have %d", ErrEntryFormat, what, n, r.off, len(r.b)-r.off)
		return false
	}
	return true
}

func (r *reader) u8(what string) uint8 {
	if !r.need(1, what) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) boolean(what string) bool {
	v := r.u8(what)
	if v > 1 && r.err == nil {
		r.err = fmt.Errorf("%w: %s: boolean byte %d", ErrEntryFormat, what, v)
	}
	return v == 1
}

func (r *reader) u16(what string) uint16 {
	if !r.need(2, what) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if !r.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64(what string) uint64 {
	if !r.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) i32(what string) int32 { return int32(r.u32(what)) }
func (r *reader) i64(what string) int64 { return int64(r.u64(what)) }

// str reads a u16-length-prefixed string of at most maxLen bytes.
func (r *reader) str(what string, maxLen int) string {
	n := int(r.u16(what))
	if r.err == nil && n > maxLen {
		r.err = fmt.Errorf("%w: %s: length %d above %d", ErrEntryFormat, what, n, maxLen)
		return ""
	}
	if !r.need(n, what) {
		return ""
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

// count reads a u32 item count and checks that at least minSize bytes per
// item remain, so a corrupt count cannot make the caller allocate.
func (r *reader) count(what string, minSize int) int {
	n := r.u32(what)
	if r.err != nil {
		return 0
	}
	if uint64(n)*uint64(minSize) > uint64(len(r.b)-r.off) || n > math.MaxInt32 {
		r.err = fmt.Errorf("%w: %s: %d items do not fit in %d bytes", ErrEntryFormat, what, n, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

// done checks that the whole input was consumed.
func (r *reader) done(what string) error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%w: %s: %d stray bytes", ErrEntryFormat, what, len(r.b)-r.off)
	}
	return r.err
}
