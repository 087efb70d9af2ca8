package broker

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
)

// registrar keeps this node registered with every NameServer
// (REGISTER_BROKER, REMOTING.md §2.4): periodically, at once when kicked
// (topic change, leadership change, a NameServer connection that closed),
// and UNREGISTER_BROKER on shutdown.
//
// The Raft leader registers as brokerId 0 with its term in the
// dledgerTerm extField (the NameServer keeps the highest term's master);
// a follower registers as its follower id, which also removes any stale
// brokerId-0 entry of its address.
//
// With a group address (Config.BrokerVIP) the leader registers the group
// address instead of its own; right after such a registration replaced one
// of its own address, that one is unregistered (so the route does not list
// the leader twice). The group address itself is never unregistered: by
// the time this node stops holding it a successor may have registered it.
type registrar struct {
	cfg      *Config
	addrs    []string // NameServers
	addr     string   // our own client-facing ip:port
	log      *slog.Logger
	pool     *remoting.Pool
	snapshot func() registration // what to register now
	started  time.Time

	kicks []chan struct{} // per NameServer, capacity 1: a registration is due
	done  chan struct{}   // closed when run returns

	mu      sync.Mutex
	last    registration // last successful registration
	lastOwn int64        // id of the last successful registration of addr (UNREGISTER_BROKER uses it)
}

// registration is one REGISTER_BROKER's content.
type registration struct {
	addr     string // the registered address: our own, or the group address
	brokerID int64
	term     uint64
	topics   map[string]namesrv.TopicConfig
}

func newRegistrar(cfg *Config, addr string, log *slog.Logger, snapshot func() registration) (*registrar, error) {
	ccfg := cfg.Client
	r := &registrar{cfg: cfg, addrs: cfg.NamesrvAddrs(), addr: addr, log: log, snapshot: snapshot,
		started: cfg.Now(), done: make(chan struct{})}
	for range r.addrs {
		r.kicks = append(r.kicks, make(chan struct{}, 1))
	}
	userOnClose := ccfg.OnClose
	ccfg.OnClose = func(c *remoting.Conn, err error) {
		if userOnClose != nil {
			userOnClose(c, err)
		}
		// The NameServer drops registrations made over a closed
		// connection: register again over a new one.
		r.trigger()
	}
	pool, err := remoting.NewPool(ccfg)
	if err != nil {
		return nil, fmt.Errorf("broker: namesrv client: %w", err)
	}
	r.pool = pool
	return r, nil
}

// trigger asks for a registration with every NameServer as soon as
// possible (coalesced per NameServer).
func (r *registrar) trigger() {
	for _, k := range r.kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// run keeps one loop per NameServer, so a slow or unreachable one never
// delays the others (a leader's registration must land within a second),
// until ctx is done. A registration in progress when ctx is done is
// finished (bounded by RegisterBrokerTimeoutMills), not abandoned: a
// REGISTER_BROKER still on its way could otherwise land after the
// UNREGISTER_BROKER of a shutdown.
func (r *registrar) run(ctx context.Context) {
	defer close(r.done)
	var wg sync.WaitGroup
	for i, ns := range r.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, ns, r.kicks[i])
		}()
	}
	wg.Wait()
}

func (r *registrar) loop(ctx context.Context, ns string, kick <-chan struct{}) {
	t := time.NewTicker(r.cfg.RegisterNameServerPeriod)
	defer t.Stop()
	var prev registration // last successful registration with ns
	for {
		reg := r.snapshot()
		if err := r.registerOne(context.Background(), ns, r.request(reg)); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("broker: register with namesrv failed", "namesrv", ns, "err", err)
			}
		} else {
			if prev.addr == r.addr && reg.addr != r.addr {
				// Our own address gave way to the group address.
				r.unregisterOne(context.Background(), ns, prev.addr, prev.brokerID)
			}
			prev = reg
			r.mu.Lock()
			r.last = reg
			if reg.addr == r.addr {
				r.lastOwn = reg.brokerID
			}
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// request builds the namesrv registration.
func (r *registrar) request(reg registration) namesrv.Registration {
	return namesrv.Registration{
		ClusterName:  r.cfg.BrokerClusterName,
		BrokerName:   r.cfg.BrokerName,
		BrokerAddr:   reg.addr,
		HAServerAddr: reg.addr,
		BrokerID:     reg.brokerID,
		Term:         int64(reg.term),
		Topics:       reg.topics,
		DataVersion:  namesrv.DataVersion{Timestamp: r.started.UnixMilli(), Counter: topicsVersion(reg.topics)},
	}
}

func (r *registrar) registerOne(ctx context.Context, ns string, reg namesrv.Registration) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RegisterBrokerTimeoutMills)
	defer cancel()
	cl, err := r.pool.Client(ns)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegister, ns, err)
	}
	if _, err := namesrv.RegisterBroker(ctx, cl, reg); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRegister, ns, err)
	}
	return nil
}

// unregisterAll sends UNREGISTER_BROKER for our own address, with the id
// it was last registered with, to every NameServer (best effort, bounded by
// ctx and the register timeout). A group address registration is left
// alone (see registrar); it goes with our NameServer connections unless a
// successor registered it meanwhile.
func (r *registrar) unregisterAll(ctx context.Context) {
	r.mu.Lock()
	id := r.lastOwn
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, ns := range r.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.unregisterOne(ctx, ns, r.addr, id)
		}()
	}
	wg.Wait()
}

// unregisterOne sends one UNREGISTER_BROKER of addr as brokerId id (best
// effort, bounded by ctx and the register timeout).
func (r *registrar) unregisterOne(ctx context.Context, ns, addr string, id int64) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RegisterBrokerTimeoutMills)
	defer cancel()
	cl, err := r.pool.Client(ns)
	if err == nil {
		err = namesrv.UnregisterBroker(ctx, cl, r.cfg.BrokerClusterName, r.cfg.BrokerName, addr, id)
	}
	if err != nil {
		r.log.Info("broker: unregister from namesrv failed", "namesrv", ns, "addr", addr, "brokerId", id, "err", err)
	}
}

func (r *registrar) close() error { return r.pool.Close() }

// topicsVersion is a content hash of the topic table: the NameServer
// re-applies a master's topics when its DataVersion changes.
func topicsVersion(topics map[string]namesrv.TopicConfig) int64 {
	h := fnv.New64a()
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := topics[n]
		fmt.Fprintf(h, "%s|%d|%d|%d|%d|%t\n", n, t.ReadQueueNums, t.WriteQueueNums, t.Perm, t.TopicSysFlag, t.Order)
	}
	return int64(h.Sum64() & (1<<63 - 1))
}
