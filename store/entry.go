package store

import (
	"encoding/binary"
	"fmt"

	"github.com/dledgermq/dledgermq/message"
)

// Raft entry payload (FORMAT.md, "Raft entries"). Frozen: a new layout gets
// a new version or command type.
const (
	// entryHeaderLen is the fixed header of every store entry.
	entryHeaderLen = 8
	// entryVersion is the payload layout version in byte 1.
	entryVersion = 1
	// maxEntryItems bounds an entry's item count.
	maxEntryItems = 1 << 20
)

// cmdType is byte 0 of an entry: what the payload holds. 0 is invalid.
type cmdType uint8

const (
	cmdInvalid       cmdType = 0
	cmdMessages      cmdType = 1 // stored-layout messages, concatenated
	cmdPutTopic      cmdType = 2 // one TopicConfig (create or replace)
	cmdDeleteTopic   cmdType = 3 // one topic name
	cmdPutGroup      cmdType = 4 // one SubscriptionGroupConfig
	cmdDeleteGroup   cmdType = 5 // one group name
	cmdCommitOffsets cmdType = 6 // OffsetCommit items
)

func (c cmdType) String() string {
	switch c {
	case cmdMessages:
		return "messages"
	case cmdPutTopic:
		return "put-topic"
	case cmdDeleteTopic:
		return "delete-topic"
	case cmdPutGroup:
		return "put-group"
	case cmdDeleteGroup:
		return "delete-group"
	case cmdCommitOffsets:
		return "commit-offsets"
	}
	return fmt.Sprintf("cmd(%d)", uint8(c))
}

// putEntryHeader writes the header into b[:entryHeaderLen].
func putEntryHeader(b []byte, c cmdType, count int) {
	b[0] = byte(c)
	b[1] = entryVersion
	b[2], b[3] = 0, 0
	binary.LittleEndian.PutUint32(b[4:], uint32(count))
}

// appendEntryHeader appends a header.
func appendEntryHeader(b []byte, c cmdType, count int) []byte {
	var h [entryHeaderLen]byte
	putEntryHeader(h[:], c, count)
	return append(b, h[:]...)
}

// parseEntryHeader checks the header and returns the command, the item
// count and the payload after the header.
func parseEntryHeader(data []byte) (cmdType, int, []byte, error) {
	if len(data) < entryHeaderLen {
		return cmdInvalid, 0, nil, fmt.Errorf("%w: entry of %d bytes, shorter than its header", ErrEntryFormat, len(data))
	}
	c := cmdType(data[0])
	if c == cmdInvalid || c > cmdCommitOffsets {
		return c, 0, nil, fmt.Errorf("%w: unknown command type %d", ErrEntryFormat, data[0])
	}
	if data[1] != entryVersion || data[2] != 0 || data[3] != 0 {
		return c, 0, nil, fmt.Errorf("%w: %v entry version %d flags %#x", ErrEntryFormat, c, data[1], binary.LittleEndian.Uint16(data[2:]))
	}
	n := binary.LittleEndian.Uint32(data[4:])
	if n > maxEntryItems {
		return c, 0, nil, fmt.Errorf("%w: %v entry with %d items", ErrEntryFormat, c, n)
	}
	return c, int(n), data[entryHeaderLen:], nil
}

// forEachMessage calls fn for each of the n stored messages in payload with
// its position in the payload. It checks each record's structure
// (message.ParseView) and that the records fill the payload exactly.
func forEachMessage(payload []byte, n int, fn func(pos int, v message.View) error) error {
	pos := 0
	for i := 0; i < n; i++ {
		v, err := message.ParseView(payload[pos:])
		if err != nil {
			return fmt.Errorf("%w: message %d of %d at payload offset %d: %w", ErrEntryFormat, i, n, pos, err)
		}
		if err := fn(pos, v); err != nil {
			return err
		}
		pos += v.Len()
	}
	if pos != len(payload) {
		return fmt.Errorf("%w: %d messages end at %d, payload has %d bytes", ErrEntryFormat, n, pos, len(payload))
	}
	return nil
}

// Metadata entries.

func encodePutTopic(t TopicConfig) []byte {
	return appendTopicConfig(appendEntryHeader(nil, cmdPutTopic, 1), t)
}

func encodeDeleteTopic(name string) []byte {
	return appendStr(appendEntryHeader(nil, cmdDeleteTopic, 1), name)
}

func encodePutGroup(g SubscriptionGroupConfig) []byte {
	return appendGroupConfig(appendEntryHeader(nil, cmdPutGroup, 1), g)
}

func encodeDeleteGroup(name string) []byte {
	return appendStr(appendEntryHeader(nil, cmdDeleteGroup, 1), name)
}
