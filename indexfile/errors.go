package indexfile

import "errors"

// Errors returned by this package. They are wrapped with context; test with
// errors.Is.
var (
	// ErrCorrupt reports damage recovery cannot tell from a torn write: a
	// bad checksum, header or chain link in data the checkpoint says was
	// durable, or a missing checkpoint. The caller should Rebuild.
	ErrCorrupt = errors.New("indexfile: corrupt")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("indexfile: closed")
	// ErrInvalid reports an invalid argument or option: an empty key, a
	// negative physical offset, a physical offset below the previous one.
	ErrInvalid = errors.New("indexfile: invalid argument")
)
