package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Config configures a Client and everything built on it (Producer,
// BatchingProducer, Consumer, Admin).
type Config struct {
	// NameServers are the name-server addresses, "ip:port" IP literals
	// (REMOTING.md §8 item 14). Route queries try them in order, starting
	// with the last one that answered. Required; no default.
	NameServers []string
	// ProducerGroup is the producer group sent with every SEND. Default
	// "DEFAULT_PRODUCER".
	ProducerGroup string
	// InstanceName distinguishes client objects in one process. Default the
	// process id.
	InstanceName string
	// ClientID identifies this client to brokers. Default
	// "<first non-loopback IPv4>@<InstanceName>", RocketMQ's form.
	ClientID string

	// SendTimeout bounds one SEND attempt, from queueing the request to its
	// response, and one offset/admin request. A SEND attempt that exceeds it
	// has an unknown outcome. Default 3 s (the RocketMQ clients' value).
	SendTimeout time.Duration
	// Retries is how many times a failed send is retried (so at most
	// Retries+1 attempts), after refreshing the route. Retried: response
	// codes SYSTEM_ERROR (1), SYSTEM_BUSY (2), SERVICE_NOT_AVAILABLE (14),
	// NO_PERMISSION (16), TOPIC_NOT_EXIST (17), and transport errors
	// (dial failures, broken connections, timeouts). Default 2.
	Retries int
	// RetryBackoff is the pause before the first retry; it doubles per
	// retry up to MaxRetryBackoff. Default 50 ms.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps RetryBackoff's doubling. Default 1 s.
	MaxRetryBackoff time.Duration
	// CompressThreshold: single-message bodies of at least this many bytes
	// are zlib-compressed (sysFlag bit 0). 0 disables compression. Batch
	// members are never compressed (REMOTING.md §3.2). Default 4096
	// (RocketMQ's compressMsgBodyOverHowmuch).
	CompressThreshold int
	// CompressLevel is the zlib level, 1..9. Default 5 (RocketMQ's).
	CompressLevel int
	// MaxBatchBytes is the largest SEND_BATCH body (bytes); larger batches
	// fail with ErrBatchTooLarge. Default 4 MiB (the broker's limit); at
	// most message.MaxBodySize.
	MaxBatchBytes int
	// MaxAsyncInFlight bounds SendAsync operations in flight per Client;
	// SendAsync blocks (until its context is done) while the bound is
	// reached. Default 4096.
	MaxAsyncInFlight int
	// LegacySendHeader sends single messages as SEND_MESSAGE (10) with the
	// long V1 header names instead of SEND_MESSAGE_V2 (310) with the short
	// ones. Batches always use SEND_BATCH_MESSAGE (320) with the V2 header.
	// Default false.
	LegacySendHeader bool

	// RouteRefreshInterval is how often every topic this client has used
	// is re-queried. Routes are also re-queried at once after a failed
	// send. Default 30 s.
	RouteRefreshInterval time.Duration
	// RouteQueryTimeout bounds one route query to one name server.
	// Default 3 s.
	RouteQueryTimeout time.Duration
	// PullTimeoutMargin is added to a pull's suspend time to get the
	// request timeout. Default 5 s.
	PullTimeoutMargin time.Duration
	// MaxInflatedBody bounds the inflated size of one compressed message
	// body received by a consumer (bytes). Default 16 MiB.
	MaxInflatedBody int

	// Selector picks the queue for sends that do not name one. Default
	// RoundRobin().
	Selector QueueSelector
	// Observer, if set, sees every request this client makes (bench
	// latency histograms). It is called on the goroutine that completes
	// the request and must not block. Default nil.
	Observer Observer
	// IDs generates UNIQ_KEY values. Default a message.IDGenerator with
	// message.DefaultIDGeneratorConfig().
	IDs *message.IDGenerator
	// Remoting configures the broker and name-server connections. Default
	// remoting.DefaultClientConfig() with Logger as its logger.
	Remoting remoting.ClientConfig
	// Logger receives retries, route changes and consumer errors. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config for the given
// name servers.
func DefaultConfig(nameServers ...string) Config {
	logger := slog.Default()
	rc := remoting.DefaultClientConfig()
	rc.Conn.Logger = logger
	inst := strconv.Itoa(os.Getpid())
	return Config{
		NameServers:          nameServers,
		ProducerGroup:        "DEFAULT_PRODUCER",
		InstanceName:         inst,
		SendTimeout:          3 * time.Second,
		Retries:              2,
		RetryBackoff:         50 * time.Millisecond,
		MaxRetryBackoff:      time.Second,
		CompressThreshold:    message.CompressThreshold,
		CompressLevel:        message.DefaultCompressLevel,
		MaxBatchBytes:        message.MaxBodySize,
		MaxAsyncInFlight:     4096,
		RouteRefreshInterval: 30 * time.Second,
		RouteQueryTimeout:    3 * time.Second,
		PullTimeoutMargin:    5 * time.Second,
		MaxInflatedBody:      16 << 20,
		Selector:             RoundRobin(),
		Remoting:             rc,
		Logger:               logger,
	}
}

// Validate reports every invalid field at once (errors.Join), wrapped in
// ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.NameServers) == 0 {
		add("NameServers is empty")
	}
	for i, ns := range c.NameServers {
		if _, err := netip.ParseAddrPort(ns); err != nil {
			add("NameServers[%d] %q is not an ip:port literal: %v", i, ns, err)
		}
	}
	if c.ProducerGroup == "" {
		add("ProducerGroup is empty")
	}
	if c.SendTimeout <= 0 {
		add("SendTimeout %v must be positive", c.SendTimeout)
	}
	if c.Retries < 0 {
		add("Retries %d is negative", c.Retries)
	}
	if c.RetryBackoff < 0 {
		add("RetryBackoff %v is negative", c.RetryBackoff)
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		add("MaxRetryBackoff %v is below RetryBackoff %v", c.MaxRetryBackoff, c.RetryBackoff)
	}
	if c.CompressThreshold < 0 {
		add("CompressThreshold %d is negative", c.CompressThreshold)
	}
	if c.CompressLevel < 1 || c.CompressLevel > 9 {
		add("CompressLevel %d outside 1..9", c.CompressLevel)
	}
	if c.MaxBatchBytes < 1 || c.MaxBatchBytes > message.MaxBodySize {
		add("MaxBatchBytes %d outside 1..%d", c.MaxBatchBytes, message.MaxBodySize)
	}
	if c.MaxAsyncInFlight < 1 {
		add("MaxAsyncInFlight %d < 1", c.MaxAsyncInFlight)
	}
	if c.RouteRefreshInterval <= 0 {
		add("RouteRefreshInterval %v must be positive", c.RouteRefreshInterval)
	}
	if c.RouteQueryTimeout <= 0 {
		add("RouteQueryTimeout %v must be positive", c.RouteQueryTimeout)
	}
	if c.PullTimeoutMargin <= 0 {
		add("PullTimeoutMargin %v must be positive", c.PullTimeoutMargin)
	}
	if c.MaxInflatedBody < 1 {
		add("MaxInflatedBody %d < 1", c.MaxInflatedBody)
	}
	if c.Selector == nil {
		add("Selector is nil")
	}
	if c.Logger == nil {
		add("Logger is nil")
	}
	if err := c.Remoting.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}
