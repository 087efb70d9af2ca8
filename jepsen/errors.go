package jepsen

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them with %w.
var (
	// ErrBadHistory: a history that breaks the model (a completion with no
	// invoke, two invokes of one process in flight, an unknown type, a
	// line that does not parse).
	ErrBadHistory = errors.New("jepsen: bad history")
	// ErrProcessBusy: Recorder.Invoke for a process whose previous
	// operation has not completed.
	ErrProcessBusy = errors.New("jepsen: process has an operation in flight")
	// ErrNotInvoked: Recorder.Complete for a process with no operation in
	// flight, or of a different kind.
	ErrNotInvoked = errors.New("jepsen: completion without invoke")
	// ErrToolMissing: an external tool (ip, nsenter, iptables) is not on
	// PATH.
	ErrToolMissing = errors.New("jepsen: tool missing")
	// ErrNotPermitted: the operation needs root (namespaces, iptables,
	// mounts).
	ErrNotPermitted = errors.New("jepsen: not permitted")
	// ErrCommand: an external command failed; the error carries its
	// output.
	ErrCommand = errors.New("jepsen: command failed")
	// ErrTimeout: a bounded wait (process exit, stop, start) ran out.
	ErrTimeout = errors.New("jepsen: timed out")
	// ErrSystem: the system under test did something a scenario forbids
	// (a replica started on a corrupt commit log).
	ErrSystem = errors.New("jepsen: system under test misbehaved")
	// ErrExited: a signal or wait on a process that has already exited.
	ErrExited = errors.New("jepsen: process exited")
	// ErrNoSegment: no segment file in the directory.
	ErrNoSegment = errors.New("jepsen: no segment file")
	// ErrOutOfRange: a corruption offset or length outside the file's data.
	ErrOutOfRange = errors.New("jepsen: offset out of range")
	// ErrInvalidConfig: a config failed Validate.
	ErrInvalidConfig = errors.New("jepsen: invalid config")
	// ErrBadSeed: JEPSEN_SEED does not parse as an unsigned integer.
	ErrBadSeed = errors.New("jepsen: bad seed")
)
