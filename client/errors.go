package client

import (
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/remoting"
)

// Sentinel errors. Errors returned by this package wrap one of them (and
// usually the underlying cause) with %w.
var (
	// ErrUnknown: a send whose outcome is unknown. The request may have
	// reached the broker and been stored (the response timed out, or the
	// connection broke while the request was in flight), or it may not.
	// A later read is the only way to know. Jepsen records such operations
	// as indeterminate. OutcomeOf maps it to OutcomeUnknown.
	ErrUnknown = errors.New("client: outcome unknown")
	// ErrClosed: the Client (or a producer/assignment on it) is closed.
	ErrClosed = errors.New("client: closed")
	// ErrInvalidConfig: Config.Validate failed.
	ErrInvalidConfig = errors.New("client: invalid config")
	// ErrInvalidMessage: a message failed validation (topic, body size,
	// properties) or a batch mixes topics; nothing was sent.
	ErrInvalidMessage = errors.New("client: invalid message")
	// ErrBatchTooLarge: an encoded batch exceeds Config.MaxBatchBytes.
	ErrBatchTooLarge = errors.New("client: batch too large")
	// ErrTopicNotExist: every name server answered TOPIC_NOT_EXIST (17).
	ErrTopicNotExist = errors.New("client: topic does not exist")
	// ErrNoRoute: the topic's route has no usable queue (no writable queue
	// on a broker with a brokerId-0 address for sends, no readable queue
	// for consumers) or no master for the queue's broker.
	ErrNoRoute = errors.New("client: no route")
	// ErrNameServer: no name server could be reached or answered sensibly.
	ErrNameServer = errors.New("client: name server unavailable")
	// ErrBadRoute: a route body that does not parse.
	ErrBadRoute = errors.New("client: malformed route data")
	// ErrBadResponse: a broker response lacks a field the protocol requires
	// (e.g. nextBeginOffset of a PULL reply) or carries an unparsable one.
	ErrBadResponse = errors.New("client: malformed response")
	// ErrBroker is the parent of every *BrokerError (a response code that
	// is not a success for the request).
	ErrBroker = errors.New("client: broker error")
	// ErrNoOffset: QUERY_CONSUMER_OFFSET answered QUERY_NOT_FOUND (22): the
	// group has no committed offset for the queue.
	ErrNoOffset = errors.New("client: no committed offset")
	// ErrOffsetMoved: a pull asked for an offset outside the queue
	// (PULL_OFFSET_MOVED, 21); Assign reports it to OnError and continues
	// from the broker's nextBeginOffset.
	ErrOffsetMoved = errors.New("client: pull offset moved")
	// ErrWaitRoute: WaitForRoute gave up before the route appeared.
	ErrWaitRoute = errors.New("client: route did not appear in time")
)

// BrokerError is a response code that is not a success for the request.
// errors.Is(err, ErrBroker) holds for every BrokerError.
type BrokerError struct {
	Request remoting.RequestCode
	Code    remoting.ResponseCode
	Remark  string
	Addr    string
}

func (e *BrokerError) Error() string {
	return fmt.Sprintf("client: %s to %s: %s (%d): %s", e.Request, e.Addr, e.Code, int32(e.Code), e.Remark)
}

// Is makes errors.Is(err, ErrBroker) true.
func (e *BrokerError) Is(target error) bool { return target == ErrBroker }

func brokerError(req remoting.RequestCode, resp *remoting.Command, addr string) *BrokerError {
	return &BrokerError{Request: req, Code: resp.ResponseCode(), Remark: resp.Remark, Addr: addr}
}

// ResponseCodeOf returns the broker response code carried by err, if any.
func ResponseCodeOf(err error) (remoting.ResponseCode, bool) {
	var be *BrokerError
	if errors.As(err, &be) {
		return be.Code, true
	}
	return 0, false
}

// Outcome is the three-way result of a send, as a history checker needs it.
// The zero value is invalid.
type Outcome uint8

const (
	// OutcomeOK: the broker acknowledged the message(s) as stored.
	OutcomeOK Outcome = 1
	// OutcomeFailed: the message(s) were definitely not stored: the broker
	// refused every attempt, or no attempt left the process.
	OutcomeFailed Outcome = 2
	// OutcomeUnknown: at least one attempt may have been stored and none was
	// acknowledged (timeout or broken connection after the request was
	// queued for writing).
	OutcomeUnknown Outcome = 3
)

func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "fail"
	case OutcomeUnknown:
		return "info" // jepsen's name for an indeterminate operation
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// OutcomeOf classifies the error of a send: nil is OutcomeOK, an error
// wrapping ErrUnknown is OutcomeUnknown, anything else OutcomeFailed.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrUnknown):
		return OutcomeUnknown
	}
	return OutcomeFailed
}
