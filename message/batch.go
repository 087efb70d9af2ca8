package message

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// SEND_BATCH_MESSAGE body (RocketMQ MessageDecoder.encodeMessages): entries
// back to back, each
//
//	TOTALSIZE int32 | MAGICCODE int32 (0) | BODYCRC int32 (0) | FLAG int32 |
//	BODYLEN int32 | BODY | PROPSLEN int16 | PROPS
//
// with TOTALSIZE = 22 + BODYLEN + PROPSLEN. There is no topic: all entries go
// to the request's topic and queue.

// batchHeaderLen is the fixed part of a batch entry (everything but the body
// and the properties).
const batchHeaderLen = 4 + 4 + 4 + 4 + 4 + 2

// BatchEncodedSize is the size of AppendBatch's output for msgs.
func BatchEncodedSize(msgs []Message) int {
	n := 0
	for i := range msgs {
		n += batchHeaderLen + len(msgs[i].Body) + msgs[i].Properties.EncodedLen()
	}
	return n
}

// AppendBatch appends the batch body for msgs to dst (magic and body CRC are
// written as 0, like the Go and Java clients). Topics are ignored. The same
// validity precondition as Encode applies to each message; ValidateBatch
// checks it.
func AppendBatch(dst []byte, msgs []Message) []byte {
	dst = slices.Grow(dst, BatchEncodedSize(msgs))
	be := binary.BigEndian
	for i := range msgs {
		m := &msgs[i]
		pl := m.Properties.EncodedLen()
		dst = be.AppendUint32(dst, uint32(batchHeaderLen+len(m.Body)+pl))
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, 0)
		dst = be.AppendUint32(dst, uint32(m.Flag))
		dst = be.AppendUint32(dst, uint32(len(m.Body)))
		dst = append(dst, m.Body...)
		dst = be.AppendUint16(dst, uint16(pl))
		dst = m.Properties.Append(dst)
	}
	return dst
}

// ValidateBatch checks a batch before sending: at least one message, every
// message valid, one topic for all, and the encoded batch within MaxBodySize.
func ValidateBatch(msgs []Message) error {
	if len(msgs) == 0 {
		return fmt.Errorf("%w: empty batch", ErrCorrupt)
	}
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return fmt.Errorf("batch message %d: %w", i, err)
		}
		if msgs[i].Topic != msgs[0].Topic {
			return fmt.Errorf("%w: batch message %d has topic %q, first has %q",
				ErrTopicInvalid, i, msgs[i].Topic, msgs[0].Topic)
		}
	}
	return ValidateBodySize(BatchEncodedSize(msgs))
}

// DecodeBatch decodes a SEND_BATCH_MESSAGE body and appends the messages to
// dst. Topics are left empty (the request header carries the topic); bodies
// alias b; each message's property strings share one copied string. Magic
// and body CRC fields are ignored (clients write 0). The body must be
// non-empty and at most MaxBodySize bytes, and every entry's TOTALSIZE must
// match its fields. On error dst is returned as given.
func DecodeBatch(b []byte, dst []Message) ([]Message, error) {
	if len(b) == 0 {
		return dst, fmt.Errorf("%w: empty batch", ErrCorrupt)
	}
	if err := ValidateBodySize(len(b)); err != nil {
		return dst, err
	}
	start := len(dst)
	off := 0
	for off < len(b) {
		flag, body, props, n, err := batchEntry(b[off:])
		if err != nil {
			return dst[:start], fmt.Errorf("batch entry %d at offset %d: %w", len(dst)-start, off, err)
		}
		m := Message{Flag: flag, Properties: ParsePropertiesBytes(props)}
		if len(body) > 0 {
			m.Body = body
		}
		dst = append(dst, m)
		off += n
	}
	return dst, nil
}

// batchEntry parses one batch entry at the start of b.
func batchEntry(b []byte) (flag int32, body, props []byte, n int, err error) {
	if len(b) < batchHeaderLen {
		return 0, nil, nil, 0, fmt.Errorf("%w: %d bytes, need %d", ErrTruncated, len(b), batchHeaderLen)
	}
	be := binary.BigEndian
	total := int(int32(be.Uint32(b)))
	if total < batchHeaderLen {
		return 0, nil, nil, 0, fmt.Errorf("%w: total size %d below %d", ErrCorrupt, total, batchHeaderLen)
	}
	if total > len(b) {
		return 0, nil, nil, 0, fmt.Errorf("%w: entry of %d bytes, have %d", ErrTruncated, total, len(b))
	}
	flag = int32(be.Uint32(b[12:]))
	bodyLen := int(int32(be.Uint32(b[16:])))
	if bodyLen < 0 || bodyLen > total-batchHeaderLen {
		return 0, nil, nil, 0, fmt.Errorf("%w: body length %d does not fit in total size %d", ErrCorrupt, bodyLen, total)
	}
	p := 20 + bodyLen
	propsLen := int(int16(be.Uint16(b[p:])))
	if propsLen < 0 || p+2+propsLen != total {
		return 0, nil, nil, 0, fmt.Errorf("%w: properties length %d inconsistent with total size %d", ErrCorrupt, propsLen, total)
	}
	return flag, b[20:p:p], b[p+2 : total : total], total, nil
}
