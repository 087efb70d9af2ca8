package commitlog

import "errors"

// Errors returned by the commit log. They are wrapped with context; test
// with errors.Is.
var (
	// ErrCorrupt reports damaged data that recovery or a read cannot explain
	// as a torn tail: a bad segment header, a CRC failure before the last
	// sync point, a gap between segments, an invalid record in a sealed
	// segment.
	ErrCorrupt = errors.New("commitlog: segment corrupt")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("commitlog: log closed")
	// ErrOutOfRange is returned for an offset outside [Start, End) (or not a
	// record boundary where one is required).
	ErrOutOfRange = errors.New("commitlog: offset out of range")
	// ErrRecordTooLarge is returned by Append, before anything is written,
	// for a record whose data does not fit in one segment.
	ErrRecordTooLarge = errors.New("commitlog: record too large")
	// ErrInvalidRecord is returned by Append, before anything is written,
	// for a record of type 0.
	ErrInvalidRecord = errors.New("commitlog: invalid record type 0")
	// ErrFailed is returned by every write after a failure that leaves the
	// on-disk state unknown (a failed sync, a failed removal): the log must
	// be closed and reopened, which runs recovery. Nothing that was not
	// durable has been acknowledged.
	ErrFailed = errors.New("commitlog: log failed, reopen to recover")
	// ErrSegmentSize is returned by Open when the segments on disk were
	// written with a different SegmentSize than Options asks for.
	ErrSegmentSize = errors.New("commitlog: segment size mismatch")
)
