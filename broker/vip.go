package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// Group address (Config.BrokerVIP): a floating master address.
//
// The Go client sends only to the brokerId-0 address of its cached route,
// refreshes routes every 30 s and not on a failed send, so after a hard
// kill of the leader it keeps dialing the dead address for up to 30 s.
// With a group address the route's brokerId 0 never changes: the ready
// leader listens on it, and after a failover the next leader does, so the
// client's reconnect reaches the new leader as soon as it binds.
//
// While the node is the ready leader (store.LeaderReady) a bind loop tries
// to listen on the address, retrying with a short backoff: on one host the
// previous holder (a partitioned leader until its lease expires, a leader
// handing over) may hold it for a moment (EADDRINUSE). Once bound, a second
// remoting.Server with the broker's handler serves it, and the registrar
// registers the group address as brokerId 0 (until then the node keeps
// registering as a follower, so the route names no master that is not
// serving). If the address cannot be bound within vipFallbackAfter (the IP
// is not local and no VIP manager moved it, a misconfiguration) the node
// registers its own address as brokerId 0, as without a group address, and
// keeps trying. On losing leadership, shutdown or crash the server is
// closed: its listener and every connection accepted on it, so clients
// reconnect and reach the new holder.
const (
	// vipRetryMin and vipRetryMax bound the wait between two bind attempts.
	vipRetryMin = 10 * time.Millisecond
	vipRetryMax = 250 * time.Millisecond
	// vipFallbackAfter is how long a ready leader tries to bind before it
	// registers its own address as brokerId 0 meanwhile.
	vipFallbackAfter = 5 * time.Second
	// vipLogEvery spaces the warnings of a bind loop that keeps failing.
	vipLogEvery = 5 * time.Second
)

// groupAddr holds the group address while this node leads. Safe for
// concurrent use: mu guards the fields; relMu serialises releases so a
// release returns only once the address is really free.
type groupAddr struct {
	b    *Broker
	addr string
	log  *slog.Logger

	relMu sync.Mutex

	mu        sync.Mutex
	closed    bool          // no more acquisitions (shutdown, crash)
	stop      chan struct{} // closed to end the running bind loop; nil when none
	loopDone  chan struct{} // closed when that bind loop returned
	wantSince time.Time     // when the running acquisition began
	srv       *remoting.Server
	srvDone   chan struct{} // closed when srv.Serve returned
	heldSince time.Time
}

func newGroupAddr(b *Broker, addr string) *groupAddr {
	return &groupAddr{b: b, addr: addr, log: b.log.With("groupAddr", addr)}
}

// held reports whether this node serves the group address now.
func (g *groupAddr) held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.srv != nil
}

// server returns the group address's server while held (tests).
func (g *groupAddr) server() *remoting.Server {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.srv
}

// fallback reports whether an acquisition has been failing for
// vipFallbackAfter: the node then registers its own address as brokerId 0.
func (g *groupAddr) fallback() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.srv == nil && g.stop != nil && g.b.cfg.Now().Sub(g.wantSince) >= vipFallbackAfter
}

// acquire starts binding the group address unless it is held or being
// bound already. It returns at once.
func (g *groupAddr) acquire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.stop != nil {
		return
	}
	g.stop, g.loopDone, g.wantSince = make(chan struct{}), make(chan struct{}), g.b.cfg.Now()
	go g.bindLoop(g.stop, g.loopDone, g.wantSince)
}

// bindLoop tries to listen on the group address until it succeeds or stop
// is closed; on success it starts serving it and asks for a registration.
func (g *groupAddr) bindLoop(stop, done chan struct{}, since time.Time) {
	defer close(done)
	backoff := vipRetryMin
	var lastLog time.Time
	fellBack := false
	for attempt := 1; ; attempt++ {
		ln, err := listenGroupAddr(g.addr)
		if err == nil {
			g.serve(stop, ln, since, attempt)
			return
		}
		now := g.b.cfg.Now()
		if now.Sub(lastLog) >= vipLogEvery {
			g.log.Warn("broker: cannot bind group address yet; retrying", "attempt", attempt, "err", err)
			lastLog = now
		}
		if !fellBack && now.Sub(since) >= vipFallbackAfter {
			fellBack = true
			g.log.Error("broker: group address not bound; registering own address as brokerId 0 meanwhile",
				"own", g.b.addrStr, "after", now.Sub(since).Round(time.Millisecond), "err", err)
			g.b.reg.trigger()
		}
		t := time.NewTimer(backoff)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, vipRetryMax)
	}
}

// serve starts serving ln unless the acquisition was called off meanwhile.
func (g *groupAddr) serve(stop chan struct{}, ln net.Listener, since time.Time, attempt int) {
	g.mu.Lock()
	select {
	case <-stop:
		g.mu.Unlock()
		_ = ln.Close()
		return
	default:
	}
	srv, err := g.b.newServer()
	if err != nil { // the config was validated in New: not expected
		g.mu.Unlock()
		_ = ln.Close()
		g.log.Error("broker: group address server", "err", err)
		return
	}
	done := make(chan struct{})
	g.srv, g.srvDone, g.heldSince = srv, done, g.b.cfg.Now()
	g.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, remoting.ErrServerClosed) {
			g.log.Error("broker: serve group address", "err", err)
		}
	}()
	g.log.Info(fmt.Sprintf("broker: holding group address %s", g.addr), "term", g.b.term.Load(),
		"bindAttempts", attempt, "after", g.b.cfg.Now().Sub(since).Round(time.Microsecond))
	g.b.reg.trigger()
}

// release stops an acquisition in progress and, if the address is held,
// closes its listener and every connection accepted on it (waiting for
// their handlers). It returns once the address is free.
func (g *groupAddr) release(reason string) {
	g.relMu.Lock()
	defer g.relMu.Unlock()
	g.mu.Lock()
	stop, loopDone := g.stop, g.loopDone
	g.stop, g.loopDone, g.wantSince = nil, nil, time.Time{}
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		<-loopDone // after this the loop cannot install a server any more
	}
	g.mu.Lock()
	srv, srvDone, since := g.srv, g.srvDone, g.heldSince
	g.srv, g.srvDone = nil, nil
	g.mu.Unlock()
	if srv == nil {
		return
	}
	conns := srv.NumConns()
	err := srv.Close()
	<-srvDone
	g.log.Info(fmt.Sprintf("broker: released group address %s", g.addr), "reason", reason,
		"heldFor", g.b.cfg.Now().Sub(since).Round(time.Millisecond), "connsClosed", conns, "err", err)
}

// close releases the address for good: no acquisition after it.
func (g *groupAddr) close(reason string) {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.release(reason)
}

// listenGroupAddr listens on addr with SO_REUSEADDR (Go's default for
// listeners on Unix: a new holder can bind while connections of the old
// one linger in TIME_WAIT) and, on Linux, IP_FREEBIND (the bind succeeds
// before a VIP manager has moved the IP to this host).
func listenGroupAddr(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: freeBindControl}
	ln, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on group address %s: %w", addr, err)
	}
	return ln, nil
}
