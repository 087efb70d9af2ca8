package client

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Header values the RocketMQ clients always send (REMOTING.md §3.1, §3.2).
const (
	defaultTopic          = "TBW102"
	defaultTopicQueueNums = "4"
)

// uniqPropLen is the encoded size of a UNIQ_KEY property with a value of n
// bytes.
func uniqPropLen(n int) int { return len(message.PropUniqKey) + n + 2 }

// encodeProps returns the properties string of m plus UNIQ_KEY=uniq (when
// uniq is not empty), without modifying m.
func encodeProps(m *message.Message, uniq string) string {
	n := m.Properties.EncodedLen()
	if uniq != "" {
		n += uniqPropLen(len(uniq))
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range m.Properties {
		b.WriteString(p.Key)
		b.WriteByte(message.NameValueSeparator)
		b.WriteString(p.Value)
		b.WriteByte(message.PropertySeparator)
	}
	if uniq != "" {
		b.WriteString(message.PropUniqKey)
		b.WriteByte(message.NameValueSeparator)
		b.WriteString(uniq)
		b.WriteByte(message.PropertySeparator)
	}
	return b.String()
}

// batchEntryHeader is the fixed part of a SEND_BATCH body entry (FORMAT.md
// of package message): totalSize, magic, bodyCRC, flag, bodyLen, propsLen.
const batchEntryHeader = 4 + 4 + 4 + 4 + 4 + 2

// batchEntrySize is the encoded size of m in a batch body, UNIQ_KEY=uniq
// added when uniq is not empty.
func batchEntrySize(m *message.Message, uniq string) int {
	n := batchEntryHeader + len(m.Body) + m.Properties.EncodedLen()
	if uniq != "" {
		n += uniqPropLen(len(uniq))
	}
	return n
}

// appendBatchEntry appends m as one SEND_BATCH body entry, exactly as
// message.AppendBatch would for a copy of m with UNIQ_KEY=uniq appended to
// its properties (uniq empty: nothing added), without copying m.
func appendBatchEntry(dst []byte, m *message.Message, uniq string) []byte {
	pl := m.Properties.EncodedLen()
	if uniq != "" {
		pl += uniqPropLen(len(uniq))
	}
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(batchEntryHeader+len(m.Body)+pl))
	dst = be.AppendUint32(dst, 0) // magic: clients write 0
	dst = be.AppendUint32(dst, 0) // body CRC: clients write 0
	dst = be.AppendUint32(dst, uint32(m.Flag))
	dst = be.AppendUint32(dst, uint32(len(m.Body)))
	dst = append(dst, m.Body...)
	dst = be.AppendUint16(dst, uint16(pl))
	dst = m.Properties.Append(dst)
	if uniq != "" {
		dst = message.AppendProperty(dst, message.PropUniqKey, uniq)
	}
	return dst
}

// validateMessage checks m and the room left for a UNIQ_KEY of n bytes.
func validateMessage(m *message.Message, addUniq int) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if addUniq > 0 {
		if n := m.Properties.EncodedLen() + uniqPropLen(addUniq); n > message.MaxPropertiesLen {
			return fmt.Errorf("%w: properties with UNIQ_KEY take %d bytes, limit %d", ErrInvalidMessage, n, message.MaxPropertiesLen)
		}
	}
	return nil
}

// sendHeaderV2 is the SendMessageRequestHeaderV2 extFields (one-letter
// keys), used by SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).
func sendHeaderV2(group, topic string, queueID int32, sysFlag, bornTs, flag, props string, batch bool) map[string]string {
	return map[string]string{
		"a": group,
		"b": topic,
		"c": defaultTopic,
		"d": defaultTopicQueueNums,
		"e": strconv.Itoa(int(queueID)),
		"f": sysFlag,
		"g": bornTs,
		"h": flag,
		"i": props,
		"j": "0",
		"k": "false",
		"l": "0",
		"m": strconv.FormatBool(batch),
	}
}

// sendHeaderV1 is the SendMessageRequestHeader extFields (long names),
// used by SEND_MESSAGE (10).
func sendHeaderV1(group, topic string, queueID int32, sysFlag, bornTs, flag, props string) map[string]string {
	return map[string]string{
		"producerGroup":         group,
		"topic":                 topic,
		"defaultTopic":          defaultTopic,
		"defaultTopicQueueNums": defaultTopicQueueNums,
		"queueId":               strconv.Itoa(int(queueID)),
		"sysFlag":               sysFlag,
		"bornTimestamp":         bornTs,
		"flag":                  flag,
		"properties":            props,
		"reconsumeTimes":        "0",
		"unitMode":              "false",
		"maxReconsumeTimes":     "0",
		"batch":                 "false",
	}
}

// parseSendResponse fills res from a stored-message response (code 0, 10,
// 11 or 12).
func parseSendResponse(res *SendResult, resp *remoting.Command, status SendStatus, mq MessageQueue, n int) error {
	res.Status = status
	res.Queue = mq
	res.QueueOffset = -1
	var errs []string
	if v, ok, err := resp.ExtInt("queueId"); err != nil {
		errs = append(errs, err.Error())
	} else if ok {
		res.Queue.QueueID = int32(v)
	}
	if v, ok, err := resp.ExtInt("queueOffset"); err != nil {
		errs = append(errs, err.Error())
	} else if ok {
		res.QueueOffset = v
	} else {
		errs = append(errs, "queueOffset missing")
	}
	if id := resp.Ext("msgId"); id != "" {
		if n > 1 {
			res.OffsetMsgIDs = strings.Split(id, ",")
			res.OffsetMsgID = res.OffsetMsgIDs[0]
		} else {
			res.OffsetMsgID = id
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: send response: %s", ErrBadResponse, strings.Join(errs, "; "))
	}
	return nil
}
