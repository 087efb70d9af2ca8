package store

import "errors"

// Sentinel errors. Every error the package returns wraps one of these (or an
// error of a package it calls: dledger, commitlog, consumequeue, message)
// with %w and context; test with errors.Is.
var (
	// ErrConfig reports an invalid Config; Validate joins one per problem.
	ErrConfig = errors.New("store: invalid config")
	// ErrNotLeader is returned by every write (PutMessages, metadata and
	// offset commands) on a replica that is not the Raft leader, and when
	// the leader refused the entry before appending it (leadership transfer
	// in progress). Nothing was written: the broker maps it to a code the
	// client retries on (another broker, or this one after the election).
	// Errors that also wrap ErrLeadershipLost satisfy errors.Is(err,
	// ErrNotLeader) too.
	ErrNotLeader = errors.New("store: not the leader")
	// ErrLeadershipLost is returned when leadership was lost after the
	// entry was appended: it may or may not commit (RocketMQ's delivery is
	// at-least-once, so a retry is allowed and may duplicate). Such errors
	// also satisfy errors.Is(err, ErrNotLeader).
	ErrLeadershipLost = errors.New("store: leadership lost, outcome unknown")
	// ErrClosed is returned after Close, and for writes Close refused
	// before proposing them: nothing was written. A write Close cut short
	// after proposing it gets an error wrapping ErrLeadershipLost too
	// (outcome unknown); the broker answers the first SERVICE_NOT_AVAILABLE
	// and the second SYSTEM_ERROR.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid reports a bad argument: an invalid topic, a negative queue
	// id, a message that fails message.Validate, an empty batch.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrTooLarge is returned for a write whose encoded entry does not fit
	// one commit-log record.
	ErrTooLarge = errors.New("store: entry too large")
	// ErrNotFound is returned by lookups (LookupMessage, ConsumerOffset-like
	// getters return ok=false instead) for a message that is not in the
	// store: never written, not yet applied on this replica, or removed by
	// retention.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt reports derived state (consume queue, key index) or a
	// stored message that disagrees with the commit log. Open and snapshot
	// restore rebuild derived state from the commit log when they find it;
	// a read that finds it returns this error.
	ErrCorrupt = errors.New("store: corrupt")
	// ErrEntryFormat reports a Raft entry (or snapshot) whose payload does
	// not decode (FORMAT.md).
	ErrEntryFormat = errors.New("store: bad entry format")
	// ErrDispatch reports that dispatching committed messages to the
	// consume queues or the key index failed on this replica (an I/O
	// error). The replica keeps applying (its Raft state stays correct) but
	// serves no reads until it is reopened, which catches the derived state
	// up from the commit log.
	ErrDispatch = errors.New("store: dispatch to derived state failed")
)

// ErrBusy is returned when Raft did not accept a write within
// Config.ApplyTimeout (its queue stayed full). Nothing was written; the
// broker maps it to SYSTEM_BUSY.
var ErrBusy = errors.New("store: busy, write not accepted in time")

// ErrUnavailable is returned by reads while this replica rebuilds its
// consume queues from the commit log (after a snapshot install or a
// repair): a read then could see queues half rebuilt. Retry shortly.
var ErrUnavailable = errors.New("store: derived state being rebuilt")
