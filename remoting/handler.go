package remoting

import (
	"context"
)

// Handler serves requests arriving on a connection.
//
// ServeRemoting runs on its own goroutine; requests of one connection are
// served concurrently. It returns the response (Respond fills in the opaque,
// the response flag and the request's serialization type), or nil to send
// nothing now (the handler may answer later with Conn.Respond, e.g. a parked
// long-poll). Responses to oneway requests are dropped. ctx is cancelled when
// the connection closes; a handler must return soon after. A panic is
// recovered and answered SYSTEM_ERROR.
//
// A Handler sees only well-formed requests within the limits: requests that
// exceed a request limit are answered MESSAGE_ILLEGAL by the connection.
// Unknown codes are the handler's business: answer NotSupported(req).
type Handler interface {
	ServeRemoting(ctx context.Context, c *Conn, req *Command) *Command
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn, req *Command) *Command

// ServeRemoting calls f.
func (f HandlerFunc) ServeRemoting(ctx context.Context, c *Conn, req *Command) *Command {
	return f(ctx, c, req)
}

var _ Handler = HandlerFunc(nil)

// ServeMux dispatches requests by code and answers REQUEST_CODE_NOT_SUPPORTED
// (3) for codes without a handler. Register every handler before serving:
// Handle is not safe to call concurrently with ServeRemoting.
type ServeMux struct {
	handlers map[RequestCode]Handler
}

var _ Handler = (*ServeMux)(nil)

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux {
	return &ServeMux{handlers: make(map[RequestCode]Handler)}
}

// Handle registers h for code, replacing any previous handler.
func (m *ServeMux) Handle(code RequestCode, h Handler) { m.handlers[code] = h }

// HandleFunc registers f for code.
func (m *ServeMux) HandleFunc(code RequestCode, f func(ctx context.Context, c *Conn, req *Command) *Command) {
	m.handlers[code] = HandlerFunc(f)
}

// Handles reports whether a handler is registered for code.
func (m *ServeMux) Handles(code RequestCode) bool {
	_, ok := m.handlers[code]
	return ok
}

// ServeRemoting dispatches req to the handler registered for its code.
func (m *ServeMux) ServeRemoting(ctx context.Context, c *Conn, req *Command) *Command {
	if h, ok := m.handlers[RequestCode(req.Code)]; ok {
		return h.ServeRemoting(ctx, c, req)
	}
	return NotSupported(req)
}

// Executor runs request handlers for the codes it is configured for.
// Execute must not block: it starts task (on any goroutine) and reports true,
// or reports false when it is saturated, in which case the request is
// answered SYSTEM_BUSY (2), as a Java broker does when a processor's thread
// pool queue is full.
type Executor interface {
	Execute(task func()) bool
}

// GoExecutor runs each task on a new goroutine, at most Limit at once across
// every connection that uses it (0 = no limit).
type GoExecutor struct {
	sem chan struct{}
}

var _ Executor = (*GoExecutor)(nil)

// NewGoExecutor returns a GoExecutor running at most limit tasks at once
// (0 = unlimited).
func NewGoExecutor(limit int) *GoExecutor {
	e := &GoExecutor{}
	if limit > 0 {
		e.sem = make(chan struct{}, limit)
	}
	return e
}

// Execute starts task on a new goroutine unless limit tasks are running.
func (e *GoExecutor) Execute(task func()) bool {
	if e.sem == nil {
		go task()
		return true
	}
	select {
	case e.sem <- struct{}{}:
		go func() {
			defer func() { <-e.sem }()
			task()
		}()
		return true
	default:
		return false
	}
}
