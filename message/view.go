package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// View reads the fields of one encoded (stored-layout) message in place,
// without decoding or allocating: the dispatcher's hot path. ParseView checks
// the whole structure once; accessors then only index. Byte slices returned
// alias the record. The zero View is empty: accessors return zero values.
type View struct {
	b          []byte // exactly one record
	storeTsPos int32
	bodyPos    int32
	bodyLen    int32
	topicPos   int32
	topicLen   int32
	propsPos   int32
	propsLen   int32
}

// ParseView parses the record at the start of b. b may hold more bytes after
// it; View.Len is the record's size. Errors wrap ErrTruncated, ErrCorrupt or
// ErrBadMagic.
func ParseView(b []byte) (View, error) {
	if len(b) < PosQueueID {
		return View{}, fmt.Errorf("%w: %d bytes, need %d for the record header", ErrTruncated, len(b), PosQueueID)
	}
	total := int(int32(binary.BigEndian.Uint32(b[PosTotalSize:])))
	magic := binary.BigEndian.Uint32(b[PosMagic:])
	if magic != MagicV1 && magic != MagicV2 {
		return View{}, fmt.Errorf("%w: 0x%08x", ErrBadMagic, magic)
	}
	if total < MinStoredSize {
		return View{}, fmt.Errorf("%w: total size %d below minimum %d", ErrCorrupt, total, MinStoredSize)
	}
	if total > len(b) {
		return View{}, fmt.Errorf("%w: record of %d bytes, have %d", ErrTruncated, total, len(b))
	}
	r := b[:total:total]
	sysFlag := int32(binary.BigEndian.Uint32(r[PosSysFlag:]))
	bornLen := hostLen(sysFlag&FlagBornHostV6 != 0)
	storeLen := hostLen(sysFlag&FlagStoreHostV6 != 0)
	storeTsPos := PosBornHost + bornLen
	storeHostPos := storeTsPos + 8
	bodyLenPos := storeHostPos + storeLen + 4 + 8
	topicLenSize := 1
	if magic == MagicV2 {
		topicLenSize = 2
	}
	// Everything up to the body length, plus the topic and properties length
	// fields, must fit.
	if bodyLenPos+4+topicLenSize+2 > total {
		return View{}, fmt.Errorf("%w: total size %d too small for the fixed fields (%d)", ErrCorrupt, total, bodyLenPos+4+topicLenSize+2)
	}
	if err := checkPort(r[PosBornHost+bornLen-4:], "born"); err != nil {
		return View{}, err
	}
	if err := checkPort(r[storeHostPos+storeLen-4:], "store"); err != nil {
		return View{}, err
	}
	bodyLen := int(int32(binary.BigEndian.Uint32(r[bodyLenPos:])))
	bodyPos := bodyLenPos + 4
	if bodyLen < 0 || bodyLen > total-bodyPos-topicLenSize-2 {
		return View{}, fmt.Errorf("%w: body length %d does not fit in total size %d", ErrCorrupt, bodyLen, total)
	}
	p := bodyPos + bodyLen
	var topicLen int
	if topicLenSize == 1 {
		topicLen = int(r[p])
		if topicLen > MaxTopicLen { // Java reads a signed byte
			return View{}, fmt.Errorf("%w: V1 topic length %d above %d", ErrCorrupt, topicLen, MaxTopicLen)
		}
	} else {
		topicLen = int(int16(binary.BigEndian.Uint16(r[p:])))
		if topicLen < 0 {
			return View{}, fmt.Errorf("%w: negative V2 topic length %d", ErrCorrupt, topicLen)
		}
	}
	topicPos := p + topicLenSize
	if topicLen > total-topicPos-2 {
		return View{}, fmt.Errorf("%w: topic length %d does not fit in total size %d", ErrCorrupt, topicLen, total)
	}
	p = topicPos + topicLen
	propsLen := int(int16(binary.BigEndian.Uint16(r[p:])))
	propsPos := p + 2
	if propsLen < 0 {
		return View{}, fmt.Errorf("%w: negative properties length %d", ErrCorrupt, propsLen)
	}
	if propsPos+propsLen != total {
		return View{}, fmt.Errorf("%w: fields end at %d, total size says %d", ErrCorrupt, propsPos+propsLen, total)
	}
	return View{
		b:          r,
		storeTsPos: int32(storeTsPos),
		bodyPos:    int32(bodyPos),
		bodyLen:    int32(bodyLen),
		topicPos:   int32(topicPos),
		topicLen:   int32(topicLen),
		propsPos:   int32(propsPos),
		propsLen:   int32(propsLen),
	}, nil
}

// checkPort rejects ports outside 0..65535 (Java's InetSocketAddress throws).
func checkPort(b []byte, which string) error {
	port := int32(binary.BigEndian.Uint32(b))
	if port < 0 || port > 0xFFFF {
		return fmt.Errorf("%w: %s host port %d out of range", ErrCorrupt, which, port)
	}
	return nil
}

func (v View) u32(pos int) uint32 {
	if pos+4 > len(v.b) {
		return 0
	}
	return binary.BigEndian.Uint32(v.b[pos:])
}

func (v View) u64(pos int) uint64 {
	if pos+8 > len(v.b) {
		return 0
	}
	return binary.BigEndian.Uint64(v.b[pos:])
}

// Bytes returns the record's bytes (aliases the parsed buffer).
func (v View) Bytes() []byte { return v.b }

// Len returns the record's size in bytes (its TOTALSIZE).
func (v View) Len() int { return len(v.b) }

// Magic returns MagicV1 or MagicV2.
func (v View) Magic() uint32 { return v.u32(PosMagic) }

// BodyCRC returns the stored body checksum.
func (v View) BodyCRC() int32 { return int32(v.u32(PosBodyCRC)) }

// BodyCRCValid reports whether the stored checksum matches the body.
func (v View) BodyCRCValid() bool { return len(v.b) > 0 && BodyCRC(v.Body()) == v.BodyCRC() }

// QueueID returns the queue id.
func (v View) QueueID() int32 { return int32(v.u32(PosQueueID)) }

// Flag returns the user flag.
func (v View) Flag() int32 { return int32(v.u32(PosFlag)) }

// QueueOffset returns the logical queue offset.
func (v View) QueueOffset() int64 { return int64(v.u64(PosQueueOffset)) }

// CommitLogOffset returns the physical offset field.
func (v View) CommitLogOffset() int64 { return int64(v.u64(PosPhysOffset)) }

// SysFlag returns the sysFlag bits.
func (v View) SysFlag() int32 { return int32(v.u32(PosSysFlag)) }

// BornTimestamp returns the producer timestamp (ms).
func (v View) BornTimestamp() int64 { return int64(v.u64(PosBornTimestamp)) }

// BornHost returns the producer address.
func (v View) BornHost() netip.AddrPort {
	if len(v.b) == 0 {
		return netip.AddrPort{}
	}
	return readHost(v.b[PosBornHost:], v.SysFlag()&FlagBornHostV6 != 0)
}

// StoreTimestamp returns the broker timestamp (ms).
func (v View) StoreTimestamp() int64 { return int64(v.u64(int(v.storeTsPos))) }

// StoreHost returns the broker address.
func (v View) StoreHost() netip.AddrPort {
	if len(v.b) == 0 {
		return netip.AddrPort{}
	}
	return readHost(v.b[v.storeTsPos+8:], v.SysFlag()&FlagStoreHostV6 != 0)
}

func (v View) reconsumePos() int {
	return int(v.storeTsPos) + 8 + hostLen(v.SysFlag()&FlagStoreHostV6 != 0)
}

// ReconsumeTimes returns the redelivery count.
func (v View) ReconsumeTimes() int32 {
	if len(v.b) == 0 {
		return 0
	}
	return int32(v.u32(v.reconsumePos()))
}

// PreparedTransactionOffset returns the prepared transaction offset field.
func (v View) PreparedTransactionOffset() int64 {
	if len(v.b) == 0 {
		return 0
	}
	return int64(v.u64(v.reconsumePos() + 4))
}

// Body returns the stored body (capacity-limited alias).
func (v View) Body() []byte {
	end := v.bodyPos + v.bodyLen
	return v.b[v.bodyPos:end:end]
}

// Topic returns the topic bytes (capacity-limited alias).
func (v View) Topic() []byte {
	end := v.topicPos + v.topicLen
	return v.b[v.topicPos:end:end]
}

// PropertiesBytes returns the raw properties string (capacity-limited alias).
func (v View) PropertiesBytes() []byte {
	end := v.propsPos + v.propsLen
	return v.b[v.propsPos:end:end]
}

// Property looks up one property in place (see LookupProperty).
func (v View) Property(key string) ([]byte, bool) { return LookupProperty(v.PropertiesBytes(), key) }

// Tags returns the TAGS property (nil when absent).
func (v View) Tags() []byte {
	t, _ := v.Property(PropTags)
	return t
}

// TagsCode returns TagsHash of the TAGS property (0 when absent), without
// allocating. The broker stores it in the consume queue (except for delayed
// messages parked in SCHEDULE_TOPIC_XXXX, where RocketMQ stores the delivery
// time instead; that is the broker's business).
func (v View) TagsCode() int64 { return TagsHashBytes(v.Tags()) }

// Keys returns the raw KEYS property (nil when absent); iterate it with
// KeysSeqBytes.
func (v View) Keys() []byte {
	k, _ := v.Property(PropKeys)
	return k
}

// UniqKey returns the UNIQ_KEY property (nil when absent).
func (v View) UniqKey() []byte {
	u, _ := v.Property(PropUniqKey)
	return u
}

// AppendOffsetMsgID appends the record's offset msg id (StoreHost +
// CommitLogOffset field) to dst.
func (v View) AppendOffsetMsgID(dst []byte) []byte {
	return AppendOffsetMsgID(dst, v.StoreHost(), v.CommitLogOffset())
}

// readHost reads address bytes and an int32 port. b has at least the field.
func readHost(b []byte, v6 bool) netip.AddrPort {
	if v6 {
		ip := netip.AddrFrom16([16]byte(b[:16]))
		return netip.AddrPortFrom(ip, uint16(binary.BigEndian.Uint32(b[16:])))
	}
	ip := netip.AddrFrom4([4]byte(b[:4]))
	return netip.AddrPortFrom(ip, uint16(binary.BigEndian.Uint32(b[4:])))
}
