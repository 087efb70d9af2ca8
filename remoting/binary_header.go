package remoting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ROCKETMQ binary header codec (serialize type 1, REMOTING.md §1.2):
//
//	code int16 · language uint8 · version int16 · opaque int32 · flag int32 ·
//	remarkLen int32 · remark · extLen int32 · ext
//	ext = repeated { keyLen int16 · key · valueLen int32 · value }
//
// All big-endian; the fixed part is 21 bytes. The decoder is strict: lengths
// must be non-negative and fit, the ext entries must fill extLen exactly and
// nothing may follow the ext block.

const binaryFixedLen = 21

var errBinary = errors.New("invalid binary header")

// appendBinaryHeader appends the binary header of c.
func appendBinaryHeader(dst []byte, c *Command) ([]byte, error) {
	if c.Code < math.MinInt16 || c.Code > math.MaxInt16 {
		return dst, fmt.Errorf("%w: code %d does not fit the binary header's int16", ErrEncode, c.Code)
	}
	if c.Version < math.MinInt16 || c.Version > math.MaxInt16 {
		return dst, fmt.Errorf("%w: version %d does not fit the binary header's int16", ErrEncode, c.Version)
	}
	if len(c.Remark) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: remark too long", ErrEncode)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Code)))
	dst = append(dst, byte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Version)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	extAt := len(dst)
	dst = append(dst, 0, 0, 0, 0) // extLen, patched below
	for k, v := range c.ExtFields {
		if len(k) > math.MaxInt16 {
			return dst[:extAt], fmt.Errorf("%w: extField key of %d bytes exceeds int16", ErrEncode, len(k))
		}
		if len(v) > math.MaxInt32 {
			return dst[:extAt], fmt.Errorf("%w: extField value too long", ErrEncode)
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	extLen := len(dst) - extAt - 4
	if extLen > math.MaxInt32 {
		return dst[:extAt], fmt.Errorf("%w: ext block too long", ErrEncode)
	}
	binary.BigEndian.PutUint32(dst[extAt:], uint32(extLen))
	return dst, nil
}

// decodeBinaryHeader decodes a binary header. All strings of the result share
// one allocation (the copy of hdr).
func decodeBinaryHeader(hdr []byte) (*Command, error) {
	if len(hdr) < binaryFixedLen {
		return nil, errBinary
	}
	s := string(hdr)
	be := binary.BigEndian
	c := &Command{
		Code:          int32(int16(be.Uint16(hdr[0:]))),
		Language:      LanguageCode(hdr[2]),
		Version:       int32(int16(be.Uint16(hdr[3:]))),
		Opaque:        int32(be.Uint32(hdr[5:])),
		Flag:          int32(be.Uint32(hdr[9:])),
		SerializeType: SerializeRocketMQ,
	}
	p := 13
	remarkLen := int64(int32(be.Uint32(hdr[p:])))
	p += 4
	if remarkLen < 0 || remarkLen > int64(len(hdr)-p-4) {
		return nil, errBinary
	}
	c.Remark = s[p : p+int(remarkLen)]
	p += int(remarkLen)
	extLen := int64(int32(be.Uint32(hdr[p:])))
	p += 4
	if extLen < 0 || extLen != int64(len(hdr)-p) {
		return nil, errBinary
	}
	var stack [24][2]string
	pairs := stack[:0]
	for p < len(hdr) {
		if len(hdr)-p < 2 {
			return nil, errBinary
		}
		kl := int(int16(be.Uint16(hdr[p:])))
		p += 2
		if kl < 0 || kl > len(hdr)-p-4 {
			return nil, errBinary
		}
		k := s[p : p+kl]
		p += kl
		vl := int64(int32(be.Uint32(hdr[p:])))
		p += 4
		if vl < 0 || vl > int64(len(hdr)-p) {
			return nil, errBinary
		}
		pairs = append(pairs, [2]string{k, s[p : p+int(vl)]})
		p += int(vl)
	}
	if len(pairs) > 0 {
		c.ExtFields = pairsToMap(pairs)
	}
	return c, nil
}
