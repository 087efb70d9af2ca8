package jepsen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/broker"
	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/freeport"
	"github.com/dledgermq/dledgermq/internal/vfs"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/store"
)

// InprocCluster is a NameServer and a three-node broker group in the test
// process, each node a store.Open + broker.New on its own crash file
// systems (vfs.NewCrash): one for the commit log and Raft index, one for
// the consume queues and key index. Power loss (PowerLoss) makes those
// file systems drop, keep or tear what was not synced — which real
// processes cannot do, since a killed process's page cache survives it.
// Clients reach it over real TCP on 127.0.0.1. The Raft stable store
// (raft-boltdb, fsync on every write) stays on the real disk in Dirs.
type InprocCluster struct {
	log    *slog.Logger
	ns     *namesrv.Server
	nsAddr string
	peers  []dledger.Peer
	addrs  []string // client-facing address of each node, fixed across restarts
	dirs   []string
	logFS  []*vfs.CrashFS
	cqFS   []*vfs.CrashFS

	mu      sync.Mutex
	brokers []*broker.Broker
	stores  []*store.Store
}

var _ ReplicaSet = (*InprocCluster)(nil)

// StartInprocCluster starts the NameServer and three nodes whose real
// directories (bolt stable stores) live under dataDir; crash file systems
// are seeded from seed.
func StartInprocCluster(dataDir string, seed uint64, log *slog.Logger) (*InprocCluster, error) {
	c := &InprocCluster{log: log}
	nscfg := namesrv.DefaultConfig()
	nscfg.ListenAddr = "127.0.0.1:0"
	nscfg.BrokerExpiry = 10 * time.Second
	nscfg.ScanInterval = time.Second
	nscfg.Logger = log.With("node", "namesrv")
	ns, err := namesrv.New(nscfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = ns.Serve(ln) }()
	c.ns, c.nsAddr = ns, ln.Addr().String()
	raftAddrs, err := freeport.Loopback(6)
	if err != nil {
		_ = ns.Close()
		return nil, err
	}
	for i := range 3 {
		id := "n" + strconv.Itoa(i)
		c.peers = append(c.peers, dledger.Peer{ID: id, Addr: raftAddrs[i]})
		c.addrs = append(c.addrs, raftAddrs[3+i])
		d := filepath.Join(dataDir, id)
		if err := os.MkdirAll(filepath.Join(d, "dledger"), 0o755); err != nil {
			_ = ns.Close()
			return nil, err
		}
		c.dirs = append(c.dirs, d)
		c.logFS = append(c.logFS, vfs.NewCrash(int64(seed)+int64(2*i)))
		c.cqFS = append(c.cqFS, vfs.NewCrash(int64(seed)+int64(2*i+1)))
	}
	c.brokers, c.stores = make([]*broker.Broker, 3), make([]*store.Store, 3)
	for i := range 3 {
		if err := c.Start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Namesrv returns the NameServer's address.
func (c *InprocCluster) Namesrv() string { return c.nsAddr }

// Replicas returns every node's id and client address.
func (c *InprocCluster) Replicas() []Replica {
	out := make([]Replica, len(c.peers))
	for i, p := range c.peers {
		out[i] = Replica{ID: p.ID, Addr: c.addrs[i]}
	}
	return out
}

// Running reports whether node i is up.
func (c *InprocCluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.brokers[i] != nil
}

// Start opens node i's store on its (possibly crashed) file systems and
// starts its broker on its fixed address. No-op if it runs.
func (c *InprocCluster) Start(i int) error {
	if c.Running(i) {
		return nil
	}
	log := c.log.With("node", c.peers[i].ID)
	host, port, _ := net.SplitHostPort(c.addrs[i])
	p, _ := strconv.Atoi(port)
	cfg := broker.DefaultConfig()
	cfg.BrokerName, cfg.BrokerIP1, cfg.ListenPort = "broker-a", host, p
	cfg.NamesrvAddr, cfg.DLedgerSelfID, cfg.Logger = c.nsAddr, c.peers[i].ID, log
	var ln net.Listener
	var addr netip.AddrPort
	var err error
	for try := 0; ; try++ { // the port may linger briefly after a crash
		if ln, addr, err = broker.Listen(cfg); err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	cfg.Listener = ln

	scfg := store.DefaultConfig()
	scfg.Dir = c.dirs[i]
	scfg.DLedger.ID, scfg.DLedger.Peers = c.peers[i].ID, c.peers
	scfg.DLedger.FS = c.logFS[i]
	scfg.DLedger.SegmentSize = 1 << 20
	scfg.DLedger.IndexSlotsPerFile = 4096
	scfg.DLedger.HeartbeatTimeout, scfg.DLedger.ElectionTimeout = 500*time.Millisecond, 500*time.Millisecond
	scfg.DLedger.LeaderLeaseTimeout = 250 * time.Millisecond
	scfg.DLedger.CommitTimeout = 5 * time.Millisecond
	scfg.DLedger.SnapshotThreshold = 1 << 40
	scfg.DLedger.SnapshotInterval = time.Hour
	scfg.DLedger.ShutdownTransferTimeout = time.Second
	// The commit log's background flusher must never race a power cut
	// (under FlushSync it only refreshes the header's sync point).
	scfg.DLedger.FlushInterval = time.Hour
	scfg.FS = c.cqFS[i]
	scfg.StoreHost = addr
	scfg.ConsumeQueueEntriesPerFile = 1024
	scfg.Index = store.IndexConfig{SlotCount: 1024, EntriesPerFile: 4096}
	scfg.FlushInterval = 100 * time.Millisecond
	scfg.Logger = log
	st, err := store.Open(scfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("open store %s: %w", c.peers[i].ID, err)
	}
	b, err := broker.New(cfg, st)
	if err != nil {
		_ = st.Kill()
		return err
	}
	if err := b.Start(); err != nil {
		_ = b.Close()
		return err
	}
	c.mu.Lock()
	c.brokers[i], c.stores[i] = b, st
	c.mu.Unlock()
	return nil
}

// PowerLoss cuts the power of the given nodes at once: each node's Raft
// stops (no leadership transfer), its commit-log file system loses what
// was not synced (mode), the broker stops, and its consume-queue file
// system crashes the same way. Restart them with Start.
func (c *InprocCluster) PowerLoss(mode vfs.CrashMode, nodes ...int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for k, i := range nodes {
		c.mu.Lock()
		b, st := c.brokers[i], c.stores[i]
		c.brokers[i], c.stores[i] = nil, nil
		c.mu.Unlock()
		if b == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = st.Node().Crash(func() { c.logFS[i].Crash(mode) })
		}()
		defer func() {
			// After every node's Raft stopped: stop the brokers (their
			// unregistration is the only clean step left) and crash the
			// derived state.
			_ = b.Close()
			c.cqFS[i].Crash(mode)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops every node (crash-style) and the NameServer.
func (c *InprocCluster) Close() error {
	var all []int
	for i := range c.peers {
		all = append(all, i)
	}
	err := c.PowerLoss(vfs.KeepAll, all...)
	return errors.Join(err, c.ns.Close())
}

// ClientConfig returns a client configuration for the cluster.
func (c *InprocCluster) ClientConfig(instance string) client.Config {
	cfg := client.DefaultConfig(c.nsAddr)
	cfg.InstanceName = instance
	cfg.ClientID = "jepsen@" + instance
	cfg.Logger = slog.New(minLevel{c.log.Handler(), slog.LevelWarn}).With("client", instance)
	cfg.Remoting.Conn.Logger = cfg.Logger
	cfg.Remoting.DialTimeout = time.Second
	cfg.SendTimeout = time.Second
	cfg.RouteRefreshInterval = time.Second
	cfg.RouteQueryTimeout = time.Second
	cfg.PullTimeoutMargin = 2 * time.Second
	return cfg
}

// Leader returns the index of the node whose store leads and is ready, or
// -1.
func (c *InprocCluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, st := range c.stores {
		if st != nil && st.LeaderReady() {
			return i
		}
	}
	return -1
}

// InprocEnv is what an in-process nemesis works with.
type InprocEnv struct {
	Cluster *InprocCluster
	Rec     *Recorder
	Rand    *rand.Rand // stream "nemesis" of the run's seed
	Log     *slog.Logger
}

// Fault records a nemesis action around f (see Env.Fault).
func (e *InprocEnv) Fault(name, node string, f func() error) error {
	return (&Env{Rec: e.Rec, Log: e.Log}).Fault(name, node, f)
}

// InprocScenario is a scenario against an InprocCluster. Scenario's
// Nemesis, BeforeDrain and Cluster are ignored; Nemesis here is used.
type InprocScenario struct {
	Scenario
	Nemesis func(ctx context.Context, env *InprocEnv) error
}

// RunInprocScenario runs sc like RunScenario, against an in-process
// group on crash file systems (no namespace, no root needed). The heal
// starts every stopped node.
func RunInprocScenario(ctx context.Context, sc InprocScenario, seed uint64, log *slog.Logger) (Outcome, error) {
	out := Outcome{Seed: seed}
	if err := sc.Validate(); err != nil {
		return out, err
	}
	if log == nil {
		log = slog.Default()
	}
	if sc.Check.MaxExamples == 0 {
		sc.Check = DefaultCheckOptions()
	}
	if sc.SettleTimeout <= 0 {
		sc.SettleTimeout = 20 * time.Second
	}
	rcfg := DefaultRunConfig(sc.Name, seed)
	rcfg.Logger = log
	run, err := NewRun(rcfg)
	if err != nil {
		return out, err
	}
	out.Dir = run.Dir
	log = log.With("scenario", sc.Name, "seed", seed)
	err = runInproc(ctx, sc, seed, run, log, &out)
	if err != nil {
		out.Failed = true
		out.Problems = append(out.Problems, "harness: "+err.Error())
	}
	kept, ferr := run.Finish(out.Failed, out.Problems...)
	out.Kept = kept
	return out, errors.Join(err, ferr)
}

func runInproc(ctx context.Context, sc InprocScenario, seed uint64, run *Run, log *slog.Logger, out *Outcome) (err error) {
	rec, err := run.NewRecorder()
	if err != nil {
		return err
	}
	dataDir, err := run.DataDir("inproc")
	if err != nil {
		return err
	}
	// Node logs go to logs/inproc.log (info and above).
	lf, err := os.OpenFile(run.LogPath("inproc"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	nodeLog := slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl, err := StartInprocCluster(dataDir, seed, nodeLog)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.Close()) }()
	env := &InprocEnv{Cluster: cl, Rec: rec, Rand: NewRand(seed, "nemesis"), Log: log}
	d := driver{sc: sc.Scenario, rs: cl, rec: rec, run: run, log: log, addrs: cl.addrs, clientConfig: cl.ClientConfig}
	if sc.Nemesis != nil {
		d.nemesis = func(ctx context.Context) error { return sc.Nemesis(ctx, env) }
	}
	d.heal = func(context.Context) error {
		return env.Fault("heal", "", func() error {
			var errs []error
			for i := range cl.peers {
				errs = append(errs, cl.Start(i))
			}
			return errors.Join(errs...)
		})
	}
	return d.drive(ctx, seed, out)
}

// PowerLossNemesis cuts the power of one random node (all == false) or of
// all three at once, every cycle, in crash mode mode, and powers them on
// after down.
func PowerLossNemesis(all bool, mode vfs.CrashMode, up, down Span) func(context.Context, *InprocEnv) error {
	return func(ctx context.Context, env *InprocEnv) error {
		cl := env.Cluster
		for Sleep(ctx, up.draw(env.Rand)) {
			nodes := []int{0, 1, 2}
			name := "power-loss-all"
			if !all {
				// Prefer the leader half of the time.
				i := env.Rand.IntN(3)
				if l := cl.Leader(); l >= 0 && env.Rand.IntN(2) == 0 {
					i = l
				}
				nodes, name = []int{i}, "power-loss"
			}
			ids := ""
			for k, i := range nodes {
				if k > 0 {
					ids += ","
				}
				ids += cl.peers[i].ID
			}
			if err := env.Fault(name, ids, func() error { return cl.PowerLoss(mode, nodes...) }); err != nil {
				return err
			}
			Sleep(ctx, down.draw(env.Rand))
			if err := env.Fault("power-on", ids, func() error {
				var errs []error
				for _, i := range nodes {
					errs = append(errs, cl.Start(i))
				}
				return errors.Join(errs...)
			}); err != nil {
				return err
			}
		}
		return nil
	}
}
