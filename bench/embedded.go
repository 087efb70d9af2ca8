package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/broker"
	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/freeport"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/store"
)

// EmbeddedBrokerName is the broker group name of the embedded cluster.
const EmbeddedBrokerName = "broker-a"

// ClusterConfig configures an embedded cluster.
type ClusterConfig struct {
	// Dir holds the nodes' data (Dir/n0..n2). Required.
	Dir string
	// Flush is the commit-log flush mode of every node. Default FlushSync.
	Flush commitlog.FlushMode
	// SegmentSize is the commit-log segment size in bytes. Default 1 GiB.
	SegmentSize int64
	// WarmSegments is commitlog.Options.WarmSegments for every node.
	WarmSegments bool
	// Logger receives the cluster's logs. Default: discard.
	Logger *slog.Logger
}

// DefaultClusterConfig returns the defaults documented on ClusterConfig
// for a cluster in dir.
func DefaultClusterConfig(dir string) ClusterConfig {
	return ClusterConfig{Dir: dir, Flush: commitlog.FlushSync, SegmentSize: commitlog.DefaultSegmentSize}
}

// Validate reports every problem at once.
func (c ClusterConfig) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: ClusterConfig.Dir is empty", ErrConfig))
	}
	if c.Flush != commitlog.FlushSync && c.Flush != commitlog.FlushAsync {
		errs = append(errs, fmt.Errorf("%w: ClusterConfig.Flush %v unknown", ErrConfig, c.Flush))
	}
	if c.SegmentSize < commitlog.MinSegmentSize || c.SegmentSize > commitlog.MaxSegmentSize || c.SegmentSize%4096 != 0 {
		errs = append(errs, fmt.Errorf("%w: ClusterConfig.SegmentSize %d must be a multiple of 4096 in [%d, %d]",
			ErrConfig, c.SegmentSize, commitlog.MinSegmentSize, int64(commitlog.MaxSegmentSize)))
	}
	return errors.Join(errs...)
}

// Cluster is a NameServer and a three-node broker group (one raft group)
// running in this process on 127.0.0.1, each node a store.Store behind a
// broker.Broker with default settings apart from addresses, flush mode
// and segment size. It is what --embedded runs.
//
// Why in-process rather than child processes: the bench binary needs no
// broker binary beside it, tests drive it with -race, and a kill is
// deterministic. A kill (KillLeader) stops the leader the way a crashed
// process looks to everyone else: the store is killed (raft stops without
// a leadership transfer, its transport and connections drop, nothing is
// flushed), then the broker's server and NameServer connections close.
// The NameServer drops a broker's registration when its connection
// closes, as it would after a real crash. What in-process cannot show is
// the separate scheduling and GC of four processes; on this 2-core host
// the brokers and the load generator share one Go runtime.
type Cluster struct {
	// NameServer is the NameServer's "ip:port".
	NameServer string

	cfg   ClusterConfig
	log   *slog.Logger
	ns    *namesrv.Server
	peers []dledger.Peer

	mu    sync.Mutex
	nodes []*clusterNode // nil while killed
}

type clusterNode struct {
	id  string
	st  *store.Store
	br  *broker.Broker
	dir string
}

// StartCluster starts the NameServer and the three nodes; it returns once
// they run (not yet once a leader is elected: see WaitReady).
func StartCluster(cfg ClusterConfig) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: logger}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	nscfg := namesrv.DefaultConfig()
	nscfg.ListenAddr = "127.0.0.1:0"
	nscfg.Logger = logger.With("node", "namesrv")
	nscfg.Conn.Logger = nscfg.Logger
	if c.ns, err = namesrv.New(nscfg); err != nil {
		return nil, fmt.Errorf("%w: namesrv: %w", ErrCluster, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%w: namesrv listen: %w", ErrCluster, err)
	}
	go func() { _ = c.ns.Serve(ln) }()
	c.NameServer = ln.Addr().String()

	addrs, err := freeport.Loopback(3)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCluster, err)
	}
	for i, a := range addrs {
		c.peers = append(c.peers, dledger.Peer{ID: fmt.Sprintf("n%d", i), Addr: a})
	}
	c.nodes = make([]*clusterNode, len(c.peers))
	for i := range c.peers {
		n, err := c.startNode(i)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.nodes[i] = n
		c.mu.Unlock()
	}
	return c, nil
}

func (c *Cluster) startNode(i int) (*clusterNode, error) {
	id := c.peers[i].ID
	log := c.log.With("node", id)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%w: %s listen: %w", ErrCluster, id, err)
	}
	scfg := store.DefaultConfig()
	scfg.Dir = filepath.Join(c.cfg.Dir, id)
	scfg.DLedger.ID, scfg.DLedger.Peers = id, c.peers
	scfg.DLedger.Flush, scfg.DLedger.SegmentSize = c.cfg.Flush, c.cfg.SegmentSize
	scfg.DLedger.WarmSegments = c.cfg.WarmSegments
	scfg.StoreHost = netip.MustParseAddrPort(ln.Addr().String())
	scfg.Logger = c.log // the raft node adds its own node attribute
	st, err := store.Open(scfg)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %s store: %w", ErrCluster, id, err)
	}
	bcfg := broker.DefaultConfig()
	bcfg.BrokerName = EmbeddedBrokerName
	bcfg.BrokerIP1 = "127.0.0.1"
	bcfg.Listener = ln
	bcfg.NamesrvAddr = c.NameServer
	bcfg.DLedgerSelfID = id
	if c.cfg.Flush == commitlog.FlushAsync {
		bcfg.FlushDiskType = "ASYNC_FLUSH"
	}
	bcfg.Logger = log
	bcfg.Server.Conn.Logger = log
	bcfg.Client.Conn.Logger = log
	br, err := broker.New(bcfg, st)
	if err != nil {
		_ = st.Kill()
		return nil, fmt.Errorf("%w: %s broker: %w", ErrCluster, id, err)
	}
	if err := br.Start(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("%w: %s broker start: %w", ErrCluster, id, err)
	}
	return &clusterNode{id: id, st: st, br: br, dir: scfg.Dir}, nil
}

// master returns the NameServer's brokerId-0 address of the group.
func (c *Cluster) master() string {
	rd, ok := c.ns.Route(broker.AutoCreateTopicKey)
	if !ok {
		return ""
	}
	for _, bd := range rd.BrokerDatas {
		if bd.BrokerName == EmbeddedBrokerName {
			return bd.BrokerAddrs[namesrv.MasterID]
		}
	}
	return ""
}

// readyLeader returns the live node whose store is the ready leader and
// which the NameServer names as master (nil if none).
func (c *Cluster) readyLeader(needRoute bool) *clusterNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := ""
	if needRoute {
		m = c.master()
	}
	for _, n := range c.nodes {
		if n != nil && n.st.LeaderReady() && (!needRoute || n.br.Addr() == m) {
			return n
		}
	}
	return nil
}

// WaitReady waits until a leader is elected, ready, and registered with
// the NameServer as the master; it returns the leader's ID.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if n := c.readyLeader(true); n != nil {
			return n.id, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: no registered leader within %v", ErrCluster, timeout)
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return "", fmt.Errorf("%w: %w", ErrCluster, ctx.Err())
		}
	}
}

// BrokerAddrs returns the client addresses of the live brokers.
func (c *Cluster) BrokerAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n.br.Addr())
		}
	}
	return out
}

// KillLeader crashes the current leader (see Cluster) and returns its ID
// and when it was killed.
func (c *Cluster) KillLeader() (string, time.Time, error) {
	c.mu.Lock()
	var victim *clusterNode
	idx := -1
	for i, n := range c.nodes {
		if n != nil && n.st.IsLeader() {
			victim, idx = n, i
			break
		}
	}
	if victim == nil {
		c.mu.Unlock()
		return "", time.Time{}, fmt.Errorf("%w: no leader to kill", ErrCluster)
	}
	c.nodes[idx] = nil
	c.mu.Unlock()
	at := time.Now()
	// The crash itself: raft stops without a leadership transfer and its
	// transport closes. Then the store and the broker are torn down, each
	// bounded: a teardown that hangs must not stall the benchmark.
	_ = victim.st.Node().Kill()
	if !bounded(teardownWait, func() { _ = victim.st.Kill() }) {
		c.log.Error("bench: store.Kill of the killed leader did not return; continuing", "node", victim.id, "after", teardownWait)
	}
	// The store is closed now (Kill marks it closed before anything that
	// can block), so Shutdown only closes the server, the NameServer
	// connections and the broker's services. Its best-effort
	// unregistration gets no time; the NameServer drops the registration
	// when the connection closes, as after a real crash.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !bounded(teardownWait, func() { _ = victim.br.Shutdown(ctx) }) {
		c.log.Error("bench: broker shutdown of the killed leader did not return; continuing", "node", victim.id, "after", teardownWait)
	}
	c.log.Warn("bench: killed the leader", "node", victim.id)
	return victim.id, at, nil
}

// WatchFailover polls (every millisecond, until deadline) for a new ready
// leader and for the NameServer to name it master; it returns its ID and
// both times after killedAt (negative: not seen).
func (c *Cluster) WatchFailover(ctx context.Context, killedAt, deadline time.Time) (string, time.Duration, time.Duration) {
	id, elected, routed := "", time.Duration(-1), time.Duration(-1)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if elected < 0 {
			if n := c.readyLeader(false); n != nil {
				id, elected = n.id, time.Since(killedAt)
			}
		}
		if elected >= 0 {
			if n := c.readyLeader(true); n != nil {
				id, routed = n.id, time.Since(killedAt)
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	return id, elected, routed
}

// teardownWait bounds each step of stopping a node.
const teardownWait = 10 * time.Second

// bounded runs f and waits at most d for it; false if it did not return
// (it keeps running in the background).
func bounded(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Close stops every node and the NameServer. Nodes are stopped as crashes
// (concurrently, without leadership transfers) since a benchmark's data
// needs no clean shutdown; the commit log recovers on a later open.
func (c *Cluster) Close() error {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			ok := bounded(teardownWait, func() {
				err = n.st.Kill()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				err = errors.Join(err, n.br.Shutdown(ctx))
			})
			mu.Lock()
			if ok {
				errs = append(errs, err)
			} else {
				errs = append(errs, fmt.Errorf("%w: node %s did not stop within %v", ErrCluster, n.id, teardownWait))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if c.ns != nil {
		errs = append(errs, c.ns.Close())
	}
	return errors.Join(errs...)
}
