package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
)

// Writes on a follower.
//
// Producers keep the old leader's address for up to 30 s after a failover
// (their route poll), and the Go client's retries all go to that same
// address. So a follower does not merely refuse a write: it forwards the
// request to the leader's broker address and relays the answer; the
// producer sees a normal (slightly slower) SEND. When the leader's address
// is not known yet (the election is a few hundred milliseconds old), or the
// forward fails, the follower answers SERVICE_NOT_AVAILABLE (14), which the
// Go producer retries, with a remark naming the leader. A forwarded request
// carries extForwarded; a node that receives one while not leader refuses
// it instead of forwarding again, so requests never loop.
//
// The leader's broker address comes from the NameServers (brokerId 0 of
// this broker group, GET_BROKER_CLUSTER_INFO); it is cached for the current
// Raft leader and looked up again when the leader changes, after
// forwardCacheTTL, or after a failed forward.
const (
	// extForwarded marks a request a follower forwarded to the leader.
	extForwarded = "_dledgermqForwarded"
	// extForwardedBornHost carries the producer's address across a forward.
	extForwardedBornHost = "_dledgermqBornHost"
	// forwardCacheTTL bounds how long a looked-up leader address is used.
	forwardCacheTTL = 5 * time.Second
)

// ErrLeaderUnknown: the leader's broker address could not be found.
var ErrLeaderUnknown = errors.New("broker: leader address unknown")

type forwarder struct {
	b    *Broker
	pool *remoting.Pool

	mu       sync.Mutex
	raftID   string // the Raft leader the cached address belongs to
	addr     string
	fetched  time.Time
	inflight chan struct{} // non-nil while a lookup runs
}

func newForwarder(b *Broker) (*forwarder, error) {
	// Retire an idle forwarding connection well before the leader's idle
	// deadline (the same serverChannelMaxIdleTime across a group) closes it:
	// a forward written just as the leader closes the connection has an
	// unknown outcome, which the producer would see as an error.
	cc := b.cfg.Client
	if idle := b.cfg.ServerChannelMaxIdleTime; idle > 0 && (cc.Conn.IdleTimeout == 0 || cc.Conn.IdleTimeout > idle/2) {
		cc.Conn.IdleTimeout = idle / 2
	}
	pool, err := remoting.NewPool(cc)
	if err != nil {
		return nil, fmt.Errorf("broker: forward client: %w", err)
	}
	return &forwarder{b: b, pool: pool}, nil
}

func (f *forwarder) close() error { return f.pool.Close() }

// leaderAddr returns the current leader's client-facing address.
func (f *forwarder) leaderAddr(ctx context.Context) (string, error) {
	raftID, _ := f.b.store.Leader()
	if raftID == "" {
		return "", fmt.Errorf("%w: no leader elected", ErrLeaderUnknown)
	}
	for {
		f.mu.Lock()
		if f.raftID == raftID && f.addr != "" && f.b.cfg.Now().Sub(f.fetched) < forwardCacheTTL {
			a := f.addr
			f.mu.Unlock()
			return a, nil
		}
		if ch := f.inflight; ch != nil {
			f.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan struct{})
		f.inflight = ch
		f.mu.Unlock()

		addr, err := f.lookup(ctx)
		f.mu.Lock()
		f.inflight = nil
		if err == nil {
			f.raftID, f.addr, f.fetched = raftID, addr, f.b.cfg.Now()
		}
		f.mu.Unlock()
		close(ch)
		return addr, err
	}
}

// lookup asks the NameServers for this group's brokerId 0.
func (f *forwarder) lookup(ctx context.Context) (string, error) {
	var errs []error
	for _, ns := range f.b.cfg.NamesrvAddrs() {
		cl, err := f.b.reg.pool.Client(ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		ci, err := namesrv.GetClusterInfo(lctx, cl)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if bd, ok := ci.BrokerAddrTable[f.b.cfg.BrokerName]; ok {
			if a := bd.BrokerAddrs[namesrv.MasterID]; a != "" && a != f.b.addrStr {
				return a, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %w", ErrLeaderUnknown, errors.Join(errs...))
}

// invalidate drops the cached address (after a failed forward).
func (f *forwarder) invalidate(addr string) {
	f.mu.Lock()
	if f.addr == addr {
		f.addr = ""
	}
	f.mu.Unlock()
}

// forward relays req to the leader and returns the leader's answer as the
// response to req.
func (f *forwarder) forward(ctx context.Context, c *remoting.Conn, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, f.b.cfg.WriteTimeout)
	defer cancel()
	addr, err := f.leaderAddr(ctx)
	if err != nil {
		return nil, err
	}
	ext := maps.Clone(req.ExtFields)
	if ext == nil {
		ext = make(map[string]string, 2)
	}
	// Not forwarded before, so the peer is the producer (a client-set value
	// is overwritten).
	ext[extForwarded] = f.b.addrStr
	ext[extForwardedBornHost] = addrPortOf(c.RemoteAddr()).String()
	fwd := remoting.NewRequest(req.RequestCode(), ext, req.Body)
	fwd.Language, fwd.Version = req.Language, req.Version
	// Dial first: a request that never left this node is a definite
	// refusal; once it may have reached the leader, a lost answer means the
	// outcome is unknown (the leader may have stored it), which the producer
	// must not take for a failure.
	cl, err := f.pool.Client(addr)
	if err != nil {
		return nil, fmt.Errorf("broker: forward to leader %s: %w", addr, err)
	}
	conn, err := cl.Conn(ctx)
	if err != nil {
		f.invalidate(addr)
		return nil, fmt.Errorf("broker: forward to leader %s: %w", addr, err)
	}
	resp, err := conn.Invoke(ctx, fwd)
	if err != nil {
		f.invalidate(addr)
		return nil, fmt.Errorf("%w: leader %s: %w", errForwardUnknown, addr, err)
	}
	out := remoting.NewResponse(req, remoting.ResponseCode(resp.Code), resp.Remark)
	out.ExtFields, out.Body = resp.ExtFields, resp.Body
	return out, nil
}

// errForwardUnknown: a forwarded request was sent to the leader and no
// answer came back; it may have taken effect there.
var errForwardUnknown = errors.New("broker: forwarded request's outcome unknown")

// forwardOrRefuse answers a write that reached a follower: forwarded to the
// leader when possible, else SERVICE_NOT_AVAILABLE naming the leader (the
// request was not sent), or SYSTEM_ERROR when it was sent and no answer came
// (it may be stored; a producer must not count it as failed).
func (b *Broker) forwardOrRefuse(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	if req.Ext(extForwarded) == "" && !b.closing() {
		resp, err := b.fwd.forward(ctx, c, req)
		if err == nil {
			return resp
		}
		b.log.Debug("broker: forward to leader failed", "code", req.RequestCode(), "err", err)
		if errors.Is(err, errForwardUnknown) {
			return remoting.NewResponse(req, remoting.SystemError, "forwarded to the leader, no answer: the request may or may not have taken effect: "+err.Error())
		}
	}
	return remoting.NewResponse(req, remoting.ServiceNotAvailable, b.notLeaderRemark())
}
