package message

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// OffsetMsgID is the broker's message id ("offset msg id"): the store host
// and the record's physical offset. Text form: upper-case hex of
// address(4|16) ‖ port int32 ‖ offset int64 — 32 chars for IPv4, 56 for IPv6.
type OffsetMsgID struct {
	Host   netip.AddrPort
	Offset int64
}

var (
	_ fmt.Stringer             = OffsetMsgID{}
	_ encoding.TextAppender    = OffsetMsgID{}
	_ encoding.TextMarshaler   = OffsetMsgID{}
	_ encoding.TextUnmarshaler = (*OffsetMsgID)(nil)
)

const (
	offsetMsgIDLenV4 = 2 * (4 + 4 + 8)  // 32
	offsetMsgIDLenV6 = 2 * (16 + 4 + 8) // 56
)

const upperHex = "0123456789ABCDEF"

// appendHex appends upper-case hex of b.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, upperHex[c>>4], upperHex[c&0xF])
	}
	return dst
}

// decodeHex decodes case-insensitive hex s into dst (len(s) == 2*len(dst)).
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendOffsetMsgID appends the offset msg id of (host, offset) to dst
// without allocating when dst has room. An invalid host is written as
// 0.0.0.0:0 (the stored layout does the same).
func AppendOffsetMsgID(dst []byte, host netip.AddrPort, offset int64) []byte {
	var buf [16 + 4 + 8]byte
	raw := appendHost(buf[:0], host)
	raw = binary.BigEndian.AppendUint64(raw, uint64(offset))
	return appendHex(dst, raw)
}

// AppendText implements encoding.TextAppender.
func (id OffsetMsgID) AppendText(dst []byte) ([]byte, error) {
	return AppendOffsetMsgID(dst, id.Host, id.Offset), nil
}

// MarshalText implements encoding.TextMarshaler.
func (id OffsetMsgID) MarshalText() ([]byte, error) { return id.AppendText(nil) }

// String returns the 32- or 56-char id.
func (id OffsetMsgID) String() string {
	var buf [offsetMsgIDLenV6]byte
	return string(AppendOffsetMsgID(buf[:0], id.Host, id.Offset))
}

// UnmarshalText implements encoding.TextUnmarshaler (see ParseOffsetMsgID).
func (id *OffsetMsgID) UnmarshalText(b []byte) error {
	v, err := ParseOffsetMsgID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseOffsetMsgID parses a 32-char (IPv4) or 56-char (IPv6) offset msg id,
// hex in either case. Errors wrap ErrBadMsgID.
func ParseOffsetMsgID(s string) (OffsetMsgID, error) {
	var raw [16 + 4 + 8]byte
	var ipLen int
	switch len(s) {
	case offsetMsgIDLenV4:
		ipLen = 4
	case offsetMsgIDLenV6:
		ipLen = 16
	default:
		return OffsetMsgID{}, fmt.Errorf("%w: offset msg id %q has %d chars, want %d or %d",
			ErrBadMsgID, s, len(s), offsetMsgIDLenV4, offsetMsgIDLenV6)
	}
	b := raw[:len(s)/2]
	if !decodeHex(b, s) {
		return OffsetMsgID{}, fmt.Errorf("%w: offset msg id %q is not hex", ErrBadMsgID, s)
	}
	port := int32(binary.BigEndian.Uint32(b[ipLen:]))
	if port < 0 || port > 0xFFFF {
		return OffsetMsgID{}, fmt.Errorf("%w: offset msg id %q has port %d", ErrBadMsgID, s, port)
	}
	var ip netip.Addr
	if ipLen == 4 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		ip = netip.AddrFrom16([16]byte(b[:16]))
	}
	return OffsetMsgID{
		Host:   netip.AddrPortFrom(ip, uint16(port)),
		Offset: int64(binary.BigEndian.Uint64(b[ipLen+4:])),
	}, nil
}
