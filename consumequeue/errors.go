package consumequeue

import "errors"

// Errors returned by this package. They are wrapped with context; test with
// errors.Is.
var (
	// ErrCorrupt reports damage that recovery cannot tell from a torn tail:
	// a bad checksum or header, a gap between files, entries that are out of
	// order, or a missing checkpoint. The caller should Rebuild from the
	// commit log.
	ErrCorrupt = errors.New("consumequeue: corrupt")
	// ErrClosed is returned after Close (or by a Queue handle that Reset or
	// Close discarded).
	ErrClosed = errors.New("consumequeue: closed")
	// ErrOutOfRange is returned for a queue offset outside [MinOffset, MaxOffset)
	// (Get) or outside [MinOffset, MaxOffset] (Read, Range).
	ErrOutOfRange = errors.New("consumequeue: offset out of range")
	// ErrGap is returned by Put for a queue offset beyond MaxOffset.
	ErrGap = errors.New("consumequeue: queue offset gap")
	// ErrConflict is returned by Put for an existing queue offset whose stored
	// entry differs from the one given.
	ErrConflict = errors.New("consumequeue: conflicting entry")
	// ErrInvalid reports an invalid argument: a bad topic name or queue id,
	// an entry with Size <= 0 or Phys < 0, or a physical offset that does not
	// increase along the queue.
	ErrInvalid = errors.New("consumequeue: invalid argument")
)
