package dledger

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var _ raft.StreamLayer = (*StreamLayer)(nil)

// StreamLayer is a raft.StreamLayer over TCP whose outgoing connections leave
// from the node's own IP address (net.Dialer.LocalAddr), unlike raft's
// TCPStreamLayer. On 127.0.0.x that makes every connection's source address
// name the node that opened it, which is what address-based partitioning
// (iptables in jepsen runs) needs.
//
// It also carries in-process fault injection for tests: Isolate cuts the node
// off (every open connection closed, dials refused, accepted connections
// dropped) and Block refuses dials to chosen addresses. All methods are safe
// for concurrent use.
type StreamLayer struct {
	ln     net.Listener
	addr   net.Addr
	dialer net.Dialer

	mu       sync.Mutex
	conns    map[*trackedConn]struct{}
	blocked  map[string]bool
	isolated bool
	closed   bool
}

// NewStreamLayer listens on bind ("host:port", host an IP address) and dials
// from the same IP. advertise, if not nil, is the address reported by Addr;
// otherwise the listener's address is.
func NewStreamLayer(bind string, advertise net.Addr) (*StreamLayer, error) {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("dledger: stream layer bind %q: %w", bind, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("dledger: stream layer bind %q: need a concrete IP address: %w", bind, ErrConfig)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("dledger: stream layer listen %s: %w", bind, err)
	}
	s := &StreamLayer{
		ln:      ln,
		addr:    advertise,
		dialer:  net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}},
		conns:   make(map[*trackedConn]struct{}),
		blocked: make(map[string]bool),
	}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	return s, nil
}

// LocalIP is the address outgoing connections are bound to.
func (s *StreamLayer) LocalIP() net.IP { return s.dialer.LocalAddr.(*net.TCPAddr).IP }

// Dial implements raft.StreamLayer.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, fmt.Errorf("dledger: dial %s: %w", address, ErrClosed)
	case s.isolated || s.blocked[string(address)]:
		s.mu.Unlock()
		return nil, fmt.Errorf("dledger: dial %s: %w", address, ErrPartitioned)
	}
	s.mu.Unlock()

	d := s.dialer
	d.Timeout = timeout
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, err
	}
	return s.track(c, string(address))
}

// Accept implements net.Listener. While isolated, incoming connections are
// closed as soon as they arrive.
func (s *StreamLayer) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		tc, err := s.track(c, "")
		if err == nil {
			return tc, nil
		}
		// Dropped because isolated; keep accepting.
	}
}

func (s *StreamLayer) track(c net.Conn, target string) (*trackedConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.isolated || (target != "" && s.blocked[target]) {
		_ = c.Close()
		return nil, ErrPartitioned
	}
	tc := &trackedConn{Conn: c, s: s, target: target}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// Close implements net.Listener: it stops the listener and closes every
// connection the layer opened or accepted, like a process exit would.
func (s *StreamLayer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.takeConnsLocked(func(*trackedConn) bool { return true })
	s.mu.Unlock()
	err := s.ln.Close()
	closeAll(conns)
	return err
}

// Addr implements net.Listener.
func (s *StreamLayer) Addr() net.Addr { return s.addr }

// Isolate cuts the node off the network (on) or reconnects it (off). Cutting
// off closes every open connection, refuses dials and drops accepted
// connections.
func (s *StreamLayer) Isolate(on bool) {
	s.mu.Lock()
	s.isolated = on
	var conns []*trackedConn
	if on {
		conns = s.takeConnsLocked(func(*trackedConn) bool { return true })
	}
	s.mu.Unlock()
	closeAll(conns)
}

// Block refuses dials to the given addresses and closes connections this
// layer dialed to them. Connections the peers dialed to us are not affected;
// block on both sides for a symmetric partition.
func (s *StreamLayer) Block(addrs ...string) {
	s.mu.Lock()
	for _, a := range addrs {
		s.blocked[a] = true
	}
	conns := s.takeConnsLocked(func(c *trackedConn) bool { return s.blocked[c.target] })
	s.mu.Unlock()
	closeAll(conns)
}

// Unblock undoes Block for the given addresses (all of them when none given).
func (s *StreamLayer) Unblock(addrs ...string) {
	s.mu.Lock()
	if len(addrs) == 0 {
		clear(s.blocked)
	}
	for _, a := range addrs {
		delete(s.blocked, a)
	}
	s.mu.Unlock()
}

func (s *StreamLayer) takeConnsLocked(match func(*trackedConn) bool) []*trackedConn {
	var out []*trackedConn
	for c := range s.conns {
		if match(c) {
			out = append(out, c)
			delete(s.conns, c)
		}
	}
	return out
}

func closeAll(conns []*trackedConn) {
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

// trackedConn removes itself from its layer when closed.
type trackedConn struct {
	net.Conn
	s      *StreamLayer
	target string // dialed address; "" for accepted connections
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// TransportConfig tunes the raft network transport built by NewTransport.
type TransportConfig struct {
	// MaxPool is the number of idle outgoing connections kept per peer.
	// Default 3.
	MaxPool int
	// Timeout is the I/O deadline of one RPC (scaled up for snapshots).
	// Default 2 s.
	Timeout time.Duration
	// MaxInFlight bounds the AppendEntries a leader keeps in flight to one
	// follower on the append protocol (append_transport.go). Default 8.
	MaxInFlight int
}

func (c TransportConfig) withDefaults() TransportConfig {
	if c.MaxPool <= 0 {
		c.MaxPool = 3
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.MaxInFlight < 2 {
		c.MaxInFlight = 8
	}
	return c
}

// NewTransport builds raft's NetworkTransport (msgpack RPCs, pipelined
// AppendEntries) over the stream layer. Closing the transport closes the
// layer.
func NewTransport(s *StreamLayer, cfg TransportConfig, logger *slog.Logger) *raft.NetworkTransport {
	return newNetworkTransport(s, cfg.withDefaults(), logger)
}

func newNetworkTransport(s raft.StreamLayer, cfg TransportConfig, logger *slog.Logger) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s,
		MaxPool: cfg.MaxPool,
		Timeout: cfg.Timeout,
		Logger:  NewHCLogger(logger, "raft-net"),
	})
}
