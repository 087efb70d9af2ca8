package message

// Stored layout constants (RocketMQ CommitLog / MessageDecoder). Frozen.
const (
	// MagicV1 marks a record whose topic length is 1 byte (RocketMQ 4.x).
	MagicV1 uint32 = 0xDAA320A7 // int32 -626843481
	// MagicV2 marks a record whose topic length is 2 bytes (RocketMQ 5.x,
	// written only for topics longer than 127 bytes).
	MagicV2 uint32 = 0xDAA320AB // int32 -626843477
	// MagicBlank is RocketMQ's end-of-file filler in its own commit log. Our
	// commit log frames records itself, so it never appears; Decode rejects it.
	MagicBlank uint32 = 0xCBD43194 // int32 -875286124

	// Fixed field positions from the start of a record.
	PosTotalSize     = 0
	PosMagic         = 4
	PosBodyCRC       = 8
	PosQueueID       = 12
	PosFlag          = 16
	PosQueueOffset   = 20
	PosPhysOffset    = 28
	PosSysFlag       = 36
	PosBornTimestamp = 40
	PosBornHost      = 48

	// MinStoredSize is the size of a V1 record with IPv4 hosts and empty
	// body, topic and properties: 91 bytes.
	MinStoredSize = PosBornHost + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2

	hostV4Len = 4 + 4  // address + port
	hostV6Len = 16 + 4 // address + port
)

// hostLen is the size of a BORNHOST/STOREHOSTADDRESS field.
func hostLen(v6 bool) int {
	if v6 {
		return hostV6Len
	}
	return hostV4Len
}

// storedSize is the TOTALSIZE of a record.
func storedSize(bornV6, storeV6, v2 bool, bodyLen, topicLen, propsLen int) int {
	n := MinStoredSize + bodyLen + topicLen + propsLen
	if bornV6 {
		n += hostV6Len - hostV4Len
	}
	if storeV6 {
		n += hostV6Len - hostV4Len
	}
	if v2 {
		n++
	}
	return n
}
