package bench

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them (and the
// underlying cause, if any) with %w; test with errors.Is.
var (
	// ErrConfig reports an invalid Config; Validate joins one per problem.
	ErrConfig = errors.New("bench: invalid config")
	// ErrCluster reports that the embedded cluster or the dledger group
	// could not be started, or did not elect a leader in time.
	ErrCluster = errors.New("bench: cluster setup failed")
	// ErrSetup reports a failure preparing a run against an existing
	// cluster (route lookup, topic creation, backlog preload).
	ErrSetup = errors.New("bench: setup failed")
	// ErrAborted reports a run stopped by a fatal storage error (a
	// commit-log append failure makes the log refuse every later write).
	ErrAborted = errors.New("bench: run aborted")
)
