package remoting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// ConnConfig is what every connection (accepted or dialed) is run with.
type ConnConfig struct {
	// Limits bounds incoming frames; see Limits. Default DefaultLimits().
	Limits Limits
	// IdleTimeout closes a connection from which no frame has been read for
	// this long (the effective bound is between 7/8 and 1 times the value)
	// while no request sent on it awaits an answer; a request waits as
	// long as its own timeout. 0 disables it. Default 120 s, the Go client's read deadline.
	IdleTimeout time.Duration
	// WriteTimeout bounds one batch of writes to the socket; a peer that does
	// not read for this long has its connection closed. 0 disables it.
	// Default 30 s.
	WriteTimeout time.Duration
	// MaxConcurrent is the number of requests of one connection whose
	// handlers may run at once when the request code has no Executor; the
	// connection stops reading while all slots are busy. Default 256.
	MaxConcurrent int
	// SendQueue is the capacity (frames) of a connection's write queue;
	// writers block while it is full. Default 1024.
	SendQueue int
	// ReadBufferSize and WriteBufferSize are the bufio sizes (bytes). Headers
	// up to ReadBufferSize are decoded without a copy. Default 64 KiB each.
	ReadBufferSize  int
	WriteBufferSize int
	// Logger receives connection errors. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConnConfig returns the defaults documented on ConnConfig.
func DefaultConnConfig() ConnConfig {
	return ConnConfig{
		Limits:          DefaultLimits(),
		IdleTimeout:     120 * time.Second,
		WriteTimeout:    30 * time.Second,
		MaxConcurrent:   256,
		SendQueue:       1024,
		ReadBufferSize:  64 << 10,
		WriteBufferSize: 64 << 10,
		Logger:          slog.Default(),
	}
}

func (c *ConnConfig) validate() []error {
	var errs []error
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("IdleTimeout %v is negative", c.IdleTimeout))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("WriteTimeout %v is negative", c.WriteTimeout))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("MaxConcurrent %d < 1", c.MaxConcurrent))
	}
	if c.SendQueue < 1 {
		errs = append(errs, fmt.Errorf("SendQueue %d < 1", c.SendQueue))
	}
	if c.ReadBufferSize < 512 {
		errs = append(errs, fmt.Errorf("ReadBufferSize %d < 512", c.ReadBufferSize))
	}
	if c.WriteBufferSize < 512 {
		errs = append(errs, fmt.Errorf("WriteBufferSize %d < 512", c.WriteBufferSize))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("Logger is nil"))
	}
	return errs
}

// Validate reports every invalid field.
func (c ConnConfig) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return fmt.Errorf("remoting: invalid connection config: %w", errors.Join(errs...))
	}
	return nil
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Conn applies to every accepted connection. Default DefaultConnConfig().
	Conn ConnConfig
	// Executors runs the requests of the given codes instead of the
	// connection's MaxConcurrent slots, e.g. long-poll PULL_MESSAGE on its
	// own executor so held pulls never block SEND or HEART_BEAT on the same
	// connection. Default none.
	Executors map[RequestCode]Executor
	// OnConnect, if set, is called (on the accept goroutine) for every new
	// connection before its first frame is read.
	OnConnect func(*Conn)
	// OnClose, if set, is called exactly once per connection after it is
	// closed, with the reason (nil after Conn.Close / Server.Close).
	OnClose func(c *Conn, err error)
}

// DefaultServerConfig returns the defaults documented on ServerConfig.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Conn: DefaultConnConfig()}
}

// Validate reports every invalid field.
func (c ServerConfig) Validate() error {
	errs := c.Conn.validate()
	for code, e := range c.Executors {
		if e == nil {
			errs = append(errs, fmt.Errorf("Executors[%s] is nil", code))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remoting: invalid server config: %w", errors.Join(errs...))
	}
	return nil
}

// DialFunc opens a connection; net.Dialer.DialContext has this type.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ClientConfig configures a Client or a Pool.
type ClientConfig struct {
	// Conn applies to every dialed connection. Default DefaultConnConfig().
	Conn ConnConfig
	// DialTimeout bounds one connection attempt (also bounded by the
	// caller's context). Default 3 s.
	DialTimeout time.Duration
	// Dial opens connections. Default (&net.Dialer{}).DialContext.
	Dial DialFunc
	// Handler serves requests the server sends on the connection
	// (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...). Default
	// nil: every such request is answered REQUEST_CODE_NOT_SUPPORTED.
	Handler Handler
	// Executors: as ServerConfig.Executors, for Handler.
	Executors map[RequestCode]Executor
	// OnClose, if set, is called once per connection after it is closed.
	OnClose func(c *Conn, err error)
}

// DefaultClientConfig returns the defaults documented on ClientConfig.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Conn:        DefaultConnConfig(),
		DialTimeout: 3 * time.Second,
		Dial:        (&net.Dialer{}).DialContext,
	}
}

// Validate reports every invalid field.
func (c ClientConfig) Validate() error {
	errs := c.Conn.validate()
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("DialTimeout %v must be positive", c.DialTimeout))
	}
	if c.Dial == nil {
		errs = append(errs, errors.New("Dial is nil"))
	}
	for code, e := range c.Executors {
		if e == nil {
			errs = append(errs, fmt.Errorf("Executors[%s] is nil", code))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remoting: invalid client config: %w", errors.Join(errs...))
	}
	return nil
}
