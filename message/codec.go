package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// encodedHosts reports the address families Encode writes: an IPv4 address
// takes the 4-byte slot, anything else valid the 16-byte one; an invalid
// (zero) AddrPort is written as 0.0.0.0:0.
func hostIsV6(h netip.AddrPort) bool {
	a := h.Addr()
	return a.IsValid() && !a.Is4()
}

// EncodedSysFlag is the sysFlag Encode writes: m.SysFlag with the two
// host-family bits replaced by the families of BornHost and StoreHost.
func EncodedSysFlag(m *MessageExt) int32 {
	f := m.SysFlag &^ hostFlags
	if hostIsV6(m.BornHost) {
		f |= FlagBornHostV6
	}
	if hostIsV6(m.StoreHost) {
		f |= FlagStoreHostV6
	}
	return f
}

// EncodedSize returns the TOTALSIZE of m's stored form.
func EncodedSize(m *MessageExt) int {
	return storedSize(hostIsV6(m.BornHost), hostIsV6(m.StoreHost), len(m.Topic) > MaxTopicLen,
		len(m.Body), len(m.Topic), m.Properties.EncodedLen())
}

// Encode appends m's stored form to dst and returns the extended slice; it
// allocates nothing when cap(dst)-len(dst) >= EncodedSize(m). Fields are
// written as given (BodyCRC included: set it with BodyCRC(m.Body)), except
// that the host-family sysFlag bits follow the addresses (EncodedSysFlag) and
// a topic longer than MaxTopicLen gets a V2 record (2-byte topic length).
//
// m must pass m.Validate() or at least have a topic of at most 32767 bytes
// and properties that pass Properties.Validate; otherwise the output is
// unspecified (but Encode does not panic). EncodeChecked validates first.
func Encode(dst []byte, m *MessageExt) []byte {
	size := EncodedSize(m)
	dst = slices.Grow(dst, size)
	sysFlag := EncodedSysFlag(m)
	magic := MagicV1
	if len(m.Topic) > MaxTopicLen {
		magic = MagicV2
	}
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(size))
	dst = be.AppendUint32(dst, magic)
	dst = be.AppendUint32(dst, uint32(m.BodyCRC))
	dst = be.AppendUint32(dst, uint32(m.QueueID))
	dst = be.AppendUint32(dst, uint32(m.Flag))
	dst = be.AppendUint64(dst, uint64(m.QueueOffset))
	dst = be.AppendUint64(dst, uint64(m.CommitLogOffset))
	dst = be.AppendUint32(dst, uint32(sysFlag))
	dst = be.AppendUint64(dst, uint64(m.BornTimestamp))
	dst = appendHost(dst, m.BornHost)
	dst = be.AppendUint64(dst, uint64(m.StoreTimestamp))
	dst = appendHost(dst, m.StoreHost)
	dst = be.AppendUint32(dst, uint32(m.ReconsumeTimes))
	dst = be.AppendUint64(dst, uint64(m.PreparedTransactionOffset))
	dst = be.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	if magic == MagicV1 {
		dst = append(dst, byte(len(m.Topic)))
	} else {
		dst = be.AppendUint16(dst, uint16(len(m.Topic)))
	}
	dst = append(dst, m.Topic...)
	dst = be.AppendUint16(dst, uint16(m.Properties.EncodedLen()))
	return m.Properties.Append(dst)
}

// EncodeChecked is Encode after m.Validate(); on error dst is returned
// unchanged.
func EncodeChecked(dst []byte, m *MessageExt) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return dst, err
	}
	return Encode(dst, m), nil
}

// appendHost writes address bytes (4 for IPv4, 16 otherwise) and an int32
// port.
func appendHost(dst []byte, h netip.AddrPort) []byte {
	a := h.Addr()
	switch {
	case a.Is4():
		b := a.As4()
		dst = append(dst, b[:]...)
	case a.IsValid():
		b := a.As16()
		dst = append(dst, b[:]...)
	default:
		dst = append(dst, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(h.Port()))
}

// Decode decodes the record at the start of b and returns it with its size.
// Body aliases b (capacity-limited); Topic and property strings are copied
// (one allocation shared by both). Properties follow ParseProperties (a
// missing final 0x02 is tolerated). The body is not inflated and BodyCRC is
// not verified (View.BodyCRCValid does that). Errors wrap ErrTruncated,
// ErrCorrupt or ErrBadMagic; Decode never panics.
func Decode(b []byte) (MessageExt, int, error) {
	v, err := ParseView(b)
	if err != nil {
		return MessageExt{}, 0, err
	}
	return v.Message(), v.Len(), nil
}

// Message materialises the viewed record (see Decode for aliasing).
func (v View) Message() MessageExt {
	if len(v.b) == 0 {
		return MessageExt{}
	}
	// Topic, properties length and properties are contiguous: copy them once.
	s := string(v.b[v.topicPos : v.propsPos+v.propsLen])
	m := MessageExt{
		Message: Message{
			Topic:      s[:v.topicLen],
			Flag:       v.Flag(),
			Properties: ParseProperties(s[v.topicLen+2:]),
		},
		QueueID:                   v.QueueID(),
		SysFlag:                   v.SysFlag(),
		BornTimestamp:             v.BornTimestamp(),
		BornHost:                  v.BornHost(),
		StoreTimestamp:            v.StoreTimestamp(),
		StoreHost:                 v.StoreHost(),
		ReconsumeTimes:            v.ReconsumeTimes(),
		PreparedTransactionOffset: v.PreparedTransactionOffset(),
		QueueOffset:               v.QueueOffset(),
		CommitLogOffset:           v.CommitLogOffset(),
		BodyCRC:                   v.BodyCRC(),
	}
	if v.bodyLen > 0 {
		m.Body = v.Body()
	}
	return m
}

// DecodeAll decodes consecutive records (a PULL_MESSAGE body) and appends
// them to dst. On a bad record it returns the messages before it and an error
// that names the record's byte offset.
func DecodeAll(b []byte, dst []MessageExt) ([]MessageExt, error) {
	off := 0
	for off < len(b) {
		m, n, err := Decode(b[off:])
		if err != nil {
			return dst, fmt.Errorf("record at offset %d: %w", off, err)
		}
		dst = append(dst, m)
		off += n
	}
	return dst, nil
}

// IsCorrupt reports whether err is one of the decoders' structural errors
// (truncated, corrupt, bad magic).
func IsCorrupt(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadMagic)
}
