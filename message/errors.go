package message

import "errors"

// Sentinel errors. Decoders wrap them with %w and context (offset, field).
// The broker maps the validation errors (ErrTopic*, ErrBodyTooLarge,
// ErrProperties*) to the MESSAGE_ILLEGAL (13) response code.
var (
	// ErrTruncated: the input ends before the record (or field) it announces.
	ErrTruncated = errors.New("message: truncated")
	// ErrCorrupt: a length or size field is negative, out of range, or
	// inconsistent with the record's TOTALSIZE.
	ErrCorrupt = errors.New("message: corrupt record")
	// ErrBadMagic: the MAGICCODE is neither V1 nor V2 (this includes the
	// commit-log BLANK magic, which never appears inside our records).
	ErrBadMagic = errors.New("message: bad magic code")

	// ErrTopicEmpty: the topic is the empty string.
	ErrTopicEmpty = errors.New("message: topic empty")
	// ErrTopicTooLong: the topic is longer than MaxTopicLen bytes.
	ErrTopicTooLong = errors.New("message: topic too long")
	// ErrTopicInvalid: the topic has a character outside [%|a-zA-Z0-9_-].
	ErrTopicInvalid = errors.New("message: topic has illegal characters")
	// ErrBodyTooLarge: a body (or a batch body) is larger than MaxBodySize,
	// or a decompressed body exceeds the caller's limit.
	ErrBodyTooLarge = errors.New("message: body too large")
	// ErrPropertiesTooLarge: the encoded properties exceed MaxPropertiesLen.
	ErrPropertiesTooLarge = errors.New("message: properties too large")
	// ErrPropertyInvalid: a property key or value is empty or contains a
	// separator byte (0x01 in a key, 0x02 anywhere) and cannot be encoded.
	ErrPropertyInvalid = errors.New("message: invalid property")
	// ErrHostFamily: a host address's family does not match the layout
	// (PatchStoreHost cannot change an IPv4 slot into IPv6 or back) or the
	// address is not valid.
	ErrHostFamily = errors.New("message: host address family mismatch")

	// ErrBadMsgID: a message id (offset msg id or UNIQ_KEY) has the wrong
	// length or a non-hex character.
	ErrBadMsgID = errors.New("message: malformed message id")

	// ErrCompressedCorrupt: a compressed body is not a valid zlib stream.
	ErrCompressedCorrupt = errors.New("message: corrupt compressed body")
	// ErrCompressLevel: a compression level outside 1..9.
	ErrCompressLevel = errors.New("message: bad compression level")
)
