package dledger

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these
// (or an error of a package it calls, such as commitlog or raft) with %w and
// context; test with errors.Is.
var (
	// ErrConfig reports an invalid Config; Validate joins one per problem.
	ErrConfig = errors.New("dledger: invalid config")
	// ErrNotContiguous is returned by LogStore.StoreLogs when a batch does
	// not continue the log exactly (a gap, an overlap or an index going
	// backwards). The commit-log store keeps raft indexes dense so that the
	// index file can map them to physical offsets by position.
	ErrNotContiguous = errors.New("dledger: log entries not contiguous")
	// ErrUnsupportedRange is returned by LogStore.DeleteRange for a range
	// that is neither a prefix nor a suffix of the log; raft never asks for
	// one.
	ErrUnsupportedRange = errors.New("dledger: delete range neither prefix nor suffix")
	// ErrEntryCorrupt reports a commit-log record that does not decode as a
	// raft entry, or whose raft index is not the one the index file expects.
	ErrEntryCorrupt = errors.New("dledger: raft entry record corrupt")
	// ErrIndexCorrupt reports an index file whose header or slot fails its
	// checks. Opening a store repairs a damaged index from the commit log;
	// this error surfaces only for damage found while serving reads.
	ErrIndexCorrupt = errors.New("dledger: index file corrupt")
	// ErrSnapshotFormat reports a snapshot stream that does not decode.
	ErrSnapshotFormat = errors.New("dledger: snapshot format invalid")
	// ErrSnapshotMismatch reports a snapshot whose log range does not agree
	// with the local commit log in a way that restoring cannot repair.
	ErrSnapshotMismatch = errors.New("dledger: snapshot does not match local log")
	// ErrClosed is returned by a LogStore or Node after Close/Shutdown.
	ErrClosed = errors.New("dledger: closed")
	// ErrNotLeader is returned by operations that need leadership.
	ErrNotLeader = errors.New("dledger: not the leader")
	// ErrPartitioned is returned by StreamLayer.Dial while the stream layer
	// is isolated or the target is blocked (fault injection).
	ErrPartitioned = errors.New("dledger: peer unreachable (partitioned)")
)
