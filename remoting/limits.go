package remoting

import (
	"errors"
	"fmt"
)

// Limits bounds what a FrameReader accepts. Every length is checked against
// its limit before anything of that size is allocated.
//
// MaxFrame and MaxHeader violations are frame errors (the connection is
// closed). MaxBody, MaxProperties and MaxTopic apply to requests only and are
// request errors (ErrIllegalRequest): the stream stays in sync and the server
// answers MessageIllegal (13) without calling the handler.
type Limits struct {
	// MaxFrame is the largest frameLen accepted (bytes, not counting the
	// 4-byte length itself). Default 16 MiB, Java's cap. At most 2^31-1.
	MaxFrame int
	// MaxHeader is the largest header accepted (bytes). Default 64 KiB. At
	// most 2^24-1 (the header length is a 24-bit field).
	MaxHeader int
	// MaxBody is the largest request body accepted (bytes). Default 4 MiB,
	// RocketMQ's maxMessageSize. Responses are bounded by MaxFrame only.
	MaxBody int
	// MaxProperties is the longest request extField "properties" (and "i",
	// its name in SEND_MESSAGE_V2/SEND_BATCH_MESSAGE headers) accepted
	// (bytes). Default 32767: the store format has an int16 length.
	MaxProperties int
	// MaxTopic is the longest request extField "topic" (and "b" in V2
	// headers) accepted (bytes). Default 127, Java's limit for the V1 store
	// format.
	MaxTopic int
}

// DefaultLimits returns the limits documented on Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxFrame:      16 << 20,
		MaxHeader:     64 << 10,
		MaxBody:       4 << 20,
		MaxProperties: 32767,
		MaxTopic:      127,
	}
}

// maxHeaderField is the largest length the 24-bit header-length field holds.
const maxHeaderField = 1<<24 - 1

// Validate reports every invalid field.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxFrame < 8 || int64(l.MaxFrame) > 1<<31-1 {
		errs = append(errs, fmt.Errorf("MaxFrame %d out of range [8, 2^31-1]", l.MaxFrame))
	}
	if l.MaxHeader < 1 || l.MaxHeader > maxHeaderField {
		errs = append(errs, fmt.Errorf("MaxHeader %d out of range [1, 2^24-1]", l.MaxHeader))
	} else if l.MaxHeader > l.MaxFrame-4 && l.MaxFrame >= 8 {
		errs = append(errs, fmt.Errorf("MaxHeader %d does not fit in MaxFrame %d", l.MaxHeader, l.MaxFrame))
	}
	if l.MaxBody < 0 {
		errs = append(errs, fmt.Errorf("MaxBody %d is negative", l.MaxBody))
	}
	if l.MaxProperties < 0 {
		errs = append(errs, fmt.Errorf("MaxProperties %d is negative", l.MaxProperties))
	}
	if l.MaxTopic < 0 {
		errs = append(errs, fmt.Errorf("MaxTopic %d is negative", l.MaxTopic))
	}
	if len(errs) > 0 {
		return fmt.Errorf("remoting: invalid limits: %w", errors.Join(errs...))
	}
	return nil
}

// checkRequest applies the properties and topic limits to a decoded request.
// V2 send headers carry topic and properties under one-letter keys.
func (l *Limits) checkRequest(c *Command) error {
	if c.IsResponse() || len(c.ExtFields) == 0 {
		return nil
	}
	topicKey, propsKey := "topic", "properties"
	switch RequestCode(c.Code) {
	case SendMessageV2, SendBatchMessage, SendReplyMessageV2:
		topicKey, propsKey = "b", "i"
	}
	if n := len(c.ExtFields[topicKey]); n > l.MaxTopic {
		return fmt.Errorf("%w: %d bytes > %d", ErrTopicTooLong, n, l.MaxTopic)
	}
	if n := len(c.ExtFields[propsKey]); n > l.MaxProperties {
		return fmt.Errorf("%w: %d bytes > %d", ErrPropertiesTooLarge, n, l.MaxProperties)
	}
	return nil
}
