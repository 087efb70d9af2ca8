package message

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
)

// Limits. The broker answers MESSAGE_ILLEGAL (13) when Validate fails.
const (
	// MaxTopicLen is the longest topic in bytes (RocketMQ TopicValidator;
	// also the most a V1 record's 1-byte topic length can carry). Frozen.
	MaxTopicLen = 127
	// MaxBodySize is the largest message body, and the largest SEND_BATCH
	// body, in bytes: 4 MiB (RocketMQ maxMessageSize default).
	MaxBodySize = 4 << 20
)

// Message is what a producer sends: topic, user flag, properties and body.
type Message struct {
	Topic      string
	Flag       int32 // user flag, opaque to the broker
	Properties Properties
	Body       []byte // stored verbatim (zlib-compressed when SysFlag&FlagCompressed)
}

// Tags returns the TAGS property ("" when absent).
func (m *Message) Tags() string { return m.Properties.Get(PropTags) }

// TagsCode returns TagsHash of the TAGS property (0 when absent).
func (m *Message) TagsCode() int64 { return TagsHash(m.Tags()) }

// Keys returns the raw KEYS property (space-separated keys).
func (m *Message) Keys() string { return m.Properties.Get(PropKeys) }

// KeyList returns the non-empty keys of the KEYS property.
func (m *Message) KeyList() []string { return SplitKeys(m.Keys()) }

// UniqKey returns the UNIQ_KEY property (the client-side message id).
func (m *Message) UniqKey() string { return m.Properties.Get(PropUniqKey) }

// Validate checks the topic, body size and properties against RocketMQ's
// limits and reports every problem (errors.Join); each wraps a sentinel.
func (m *Message) Validate() error {
	return errors.Join(
		ValidateTopic(m.Topic),
		ValidateBodySize(len(m.Body)),
		m.Properties.Validate(),
	)
}

// ValidateTopic checks a topic name: 1..MaxTopicLen bytes of [%|a-zA-Z0-9_-]
// (RocketMQ TopicValidator).
func ValidateTopic(topic string) error {
	if topic == "" {
		return ErrTopicEmpty
	}
	if len(topic) > MaxTopicLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTopicTooLong, len(topic), MaxTopicLen)
	}
	for i := 0; i < len(topic); i++ {
		if !topicChar(topic[i]) {
			return fmt.Errorf("%w: byte 0x%02x at %d in %q", ErrTopicInvalid, topic[i], i, topic)
		}
	}
	return nil
}

func topicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '%' || c == '|' || c == '_' || c == '-'
}

// ValidateBodySize checks a body (or batch body) length against MaxBodySize.
func ValidateBodySize(n int) error {
	if n > MaxBodySize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, n, MaxBodySize)
	}
	return nil
}

// MessageExt is a stored message: the Message plus everything the broker
// stamps on it. The field set is exactly the stored layout (FORMAT.md).
type MessageExt struct {
	Message
	QueueID                   int32
	SysFlag                   int32          // Flag* and Transaction*Type bits; the host V6 bits are derived from BornHost/StoreHost on Encode
	BornTimestamp             int64          // producer clock, ms since the Unix epoch
	BornHost                  netip.AddrPort // producer address as the broker saw it
	StoreTimestamp            int64          // broker clock, ms since the Unix epoch
	StoreHost                 netip.AddrPort // the broker's client-facing address
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	QueueOffset               int64 // logical offset in the consume queue
	CommitLogOffset           int64 // physical offset of the record
	BodyCRC                   int32 // BodyCRC(Body)
}

// Validate is Message.Validate; it does not look at the broker-stamped fields.
func (m *MessageExt) Validate() error { return m.Message.Validate() }

// OffsetMsgID returns the broker's message id: StoreHost and CommitLogOffset
// in upper-case hex (FORMAT.md).
func (m *MessageExt) OffsetMsgID() string {
	return OffsetMsgID{Host: m.StoreHost, Offset: m.CommitLogOffset}.String()
}

// MsgID returns what clients show as the message id: UNIQ_KEY when present,
// else the offset msg id.
func (m *MessageExt) MsgID() string {
	if u := m.UniqKey(); u != "" {
		return u
	}
	return m.OffsetMsgID()
}

// BodyCRC is RocketMQ's body checksum (UtilAll.crc32): CRC-32 (IEEE) of the
// stored body with the top bit cleared.
func BodyCRC(body []byte) int32 {
	return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF)
}
