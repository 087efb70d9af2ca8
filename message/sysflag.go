package message

// SysFlag bits of a stored message (RocketMQ MessageSysFlag). Frozen.
const (
	// FlagCompressed: the body is zlib-compressed (the consumer inflates it).
	FlagCompressed int32 = 0x1
	// FlagMultiTags: broker-internal; the topic's filter type is MULTI_TAG.
	FlagMultiTags int32 = 0x1 << 1

	// Transaction type occupies bits 2-3 (mask TransactionTypeMask).
	TransactionNotType      int32 = 0
	TransactionPreparedType int32 = 0x1 << 2
	TransactionCommitType   int32 = 0x2 << 2
	TransactionRollbackType int32 = 0x3 << 2
	TransactionTypeMask     int32 = 0x3 << 2

	// FlagBornHostV6: BORNHOST is 16 address bytes + 4 port bytes.
	FlagBornHostV6 int32 = 0x1 << 4
	// FlagStoreHostV6: STOREHOSTADDRESS is 16 address bytes + 4 port bytes.
	FlagStoreHostV6 int32 = 0x1 << 5

	// RocketMQ 5.x bits; never set by this broker or the Go client v2.1.2.
	FlagNeedUnwrap int32 = 0x1 << 6
	FlagInnerBatch int32 = 0x1 << 7

	// RocketMQ 5.x compression type (bits 8-10). The Go client ignores them
	// and only understands zlib via FlagCompressed.
	CompressionLZ4Type  int32 = 0x1 << 8
	CompressionZSTDType int32 = 0x2 << 8
	CompressionZLIBType int32 = 0x3 << 8
	CompressionTypeMask int32 = 0x7 << 8
)

// TransactionType returns the transaction type bits of sysFlag
// (one of the Transaction*Type constants).
func TransactionType(sysFlag int32) int32 { return sysFlag & TransactionTypeMask }

// SetTransactionType replaces the transaction type bits of sysFlag with typ.
func SetTransactionType(sysFlag, typ int32) int32 {
	return sysFlag&^TransactionTypeMask | typ&TransactionTypeMask
}

// hostFlags is the mask of the two address-family bits Encode derives.
const hostFlags = FlagBornHostV6 | FlagStoreHostV6
