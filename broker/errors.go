package broker

import "errors"

// Sentinel errors. Functions wrap them with %w and context.
var (
	// ErrConfig: a Config field is invalid (Validate joins one per problem).
	ErrConfig = errors.New("broker: invalid config")
	// ErrClosed: the broker is shut down.
	ErrClosed = errors.New("broker: closed")
	// ErrBadRequest: a request header field is missing or malformed.
	ErrBadRequest = errors.New("broker: bad request")
	// ErrTopicNotFound: the topic does not exist and may not be created.
	ErrTopicNotFound = errors.New("broker: topic not found")
	// ErrRegister: a NameServer did not accept a registration.
	ErrRegister = errors.New("broker: namesrv registration failed")
	// ErrMessageNotFound: a message the broker relies on (a delay progress
	// record) cannot be read.
	ErrMessageNotFound = errors.New("broker: message not found")
)
