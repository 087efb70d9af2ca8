package remoting

import (
	"errors"
	"fmt"
)

// Frame errors. A FrameReader that returns one of these (or an I/O error) has
// lost its place in the byte stream: the connection must be closed. They are
// never returned together with a Command.
var (
	// ErrFrameTooLarge: the frame length prefix exceeds Limits.MaxFrame.
	ErrFrameTooLarge = errors.New("remoting: frame too large")
	// ErrHeaderTooLarge: the header length exceeds Limits.MaxHeader.
	ErrHeaderTooLarge = errors.New("remoting: header too large")
	// ErrMalformed: impossible lengths, an unknown serialize type, a header
	// that does not decode, or a stream that ends inside a frame.
	ErrMalformed = errors.New("remoting: malformed frame")
)

// ErrIllegalRequest is the parent of the request-limit errors below. A
// FrameReader returns it *together with* the decoded Command: the frame was
// well formed and the stream is still in sync, but the request must not reach
// a handler. The server answers such a request with MessageIllegal (13).
// Test with errors.Is(err, ErrIllegalRequest).
var ErrIllegalRequest = errors.New("remoting: illegal request")

// Request-limit errors; each wraps ErrIllegalRequest.
var (
	// ErrBodyTooLarge: a request body exceeds Limits.MaxBody. The body was
	// skipped on the wire without being allocated; Command.Body is nil.
	ErrBodyTooLarge = fmt.Errorf("%w: body too large", ErrIllegalRequest)
	// ErrPropertiesTooLarge: the properties extField exceeds Limits.MaxProperties.
	ErrPropertiesTooLarge = fmt.Errorf("%w: properties too large", ErrIllegalRequest)
	// ErrTopicTooLong: the topic extField exceeds Limits.MaxTopic.
	ErrTopicTooLong = fmt.Errorf("%w: topic too long", ErrIllegalRequest)
)

// Connection and invocation errors.
var (
	// ErrClosed: the connection, client, pool or server is closed. Errors for
	// calls cut short by a broken connection wrap it together with the cause.
	ErrClosed = errors.New("remoting: closed")
	// ErrEncode: a command cannot be represented in its serialization type
	// (a code or version outside int16 for the binary header, a key longer
	// than 32767 bytes) or the encoded frame exceeds Limits.MaxFrame.
	ErrEncode = errors.New("remoting: cannot encode command")
	// ErrServerClosed is returned by Server.Serve after Server.Close.
	ErrServerClosed = errors.New("remoting: server closed")
)
