package remoting

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Server accepts remoting connections and serves their requests with one
// Handler. See Conn for the per-connection goroutines.
type Server struct {
	cfg ServerConfig
	env *connEnv

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup // accept loop
}

// NewServer returns a server that serves requests with h.
func NewServer(cfg ServerConfig, h Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("remoting: NewServer: nil handler")
	}
	s := &Server{cfg: cfg, conns: make(map[*Conn]struct{})}
	s.env = &connEnv{
		cfg:       cfg.Conn,
		handler:   h,
		executors: cfg.Executors,
		side:      "server",
		onClose:   s.connClosed,
	}
	return s, nil
}

// ListenAndServe listens on the TCP address addr and serves it; see Serve.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("remoting: listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve accepts connections on ln until Close; it returns ErrServerClosed
// after Close, or the listener's error. The server owns ln. Serve may be
// called once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	if s.ln != nil {
		s.mu.Unlock()
		return errors.New("remoting: Serve called twice")
	}
	s.ln = ln
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	s.cfg.Conn.Logger.Info("remoting: serving", "addr", ln.Addr().String())
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Conn.Logger.Warn("remoting: accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("remoting: accept: %w", err)
		}
		backoff = 0
		s.accept(nc)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) accept(nc net.Conn) {
	c := newConn(nc, s.env)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(c)
	}
	c.start()
}

func (s *Server) connClosed(c *Conn, err error) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(c, err)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addr returns the listener's address, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// NumConns returns the number of open connections.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, closes every connection and waits for the accept
// loop, the connections' goroutines and their handlers to return (handlers
// see their context cancelled).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	for _, c := range conns {
		c.wait()
	}
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("remoting: close listener: %w", err)
	}
	return nil
}
