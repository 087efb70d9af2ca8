package jepsen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dledgermq/dledgermq/client"
)

// ClusterConfig describes a NameServer and one broker group, each process
// on its own loopback address inside a Netns. Start from
// DefaultClusterConfig.
type ClusterConfig struct {
	// Bin are the programs to run. Required.
	Bin Binaries
	// Nodes is the group size. Default 3.
	Nodes int
	// BrokerName and ClusterName name the group. Default "broker-a",
	// "DefaultCluster".
	BrokerName  string
	ClusterName string
	// NamesrvAddr is the NameServer's address. Default 127.0.0.2:9876.
	NamesrvAddr netip.AddrPort
	// FirstNodeIP is node n0's address; node i uses the i-th next one.
	// Default 127.0.0.11.
	FirstNodeIP netip.Addr
	// ClientPort and RaftPort are every node's client-facing and Raft
	// ports (each node has its own address). Default 10911, 20911.
	ClientPort, RaftPort uint16
	// ElectionTimeout is the brokers' Raft heartbeat/election timeout.
	// Default 300 ms (fails over in well under a second on loopback).
	ElectionTimeout time.Duration
	// SegmentSize is the commit-log segment size in bytes. Default 8 MiB
	// (segments are preallocated; three replicas of 1 GiB would not fit a
	// test machine's tmp).
	SegmentSize int64
	// BrokerExpiry is how long the NameServer keeps a broker that stopped
	// registering. Default 10 s.
	BrokerExpiry time.Duration
	// RegisterPeriod is the brokers' re-registration period
	// (registerNameServerPeriod, written to a broker.conf in the run
	// directory). It must stay well below BrokerExpiry, or a broker whose
	// role did not change drops out of the routes mid-run. Default 2 s.
	RegisterPeriod time.Duration
	// StartTimeout bounds waiting for a process to accept connections.
	// Default 20 s.
	StartTimeout time.Duration
	// StopGrace is how long SIGTERM may take before SIGKILL. Default 5 s.
	StopGrace time.Duration
	// NodeArgs, if set, returns extra command-line arguments for a node
	// (test hooks such as --clock-jump). Default nil.
	NodeArgs func(id string) []string
	// TmpfsData maps node ids to the size in bytes of a tmpfs mounted on
	// that node's data directory before its first start (the disk-full
	// fault). Close copies its contents to "<data>.tmpfs" and unmounts it.
	// Default none.
	TmpfsData map[string]int64
	// LogLevel is the processes' --log-level. Default "info".
	LogLevel string
	// Logger receives the harness's own events. Default slog.Default().
	Logger *slog.Logger
}

// DefaultClusterConfig returns the defaults documented on ClusterConfig.
func DefaultClusterConfig(bin Binaries) ClusterConfig {
	return ClusterConfig{
		Bin:             bin,
		Nodes:           3,
		BrokerName:      "broker-a",
		ClusterName:     "DefaultCluster",
		NamesrvAddr:     netip.MustParseAddrPort("127.0.0.2:9876"),
		FirstNodeIP:     netip.MustParseAddr("127.0.0.11"),
		ClientPort:      10911,
		RaftPort:        20911,
		ElectionTimeout: 300 * time.Millisecond,
		SegmentSize:     8 << 20,
		BrokerExpiry:    10 * time.Second,
		RegisterPeriod:  2 * time.Second,
		StartTimeout:    20 * time.Second,
		StopGrace:       5 * time.Second,
		LogLevel:        "info",
		Logger:          slog.Default(),
	}
}

// Validate reports every invalid field at once, wrapped in
// ErrInvalidConfig.
func (c ClusterConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Bin.Namesrv == "" || c.Bin.Broker == "" {
		add("Bin needs both binaries")
	}
	if c.Nodes < 1 || c.Nodes > 9 {
		add("Nodes %d outside 1..9", c.Nodes)
	}
	if c.BrokerName == "" || c.ClusterName == "" {
		add("BrokerName and ClusterName are required")
	}
	if !c.NamesrvAddr.IsValid() || !c.NamesrvAddr.Addr().IsLoopback() {
		add("NamesrvAddr %v must be a loopback ip:port", c.NamesrvAddr)
	}
	if !c.FirstNodeIP.Is4() || !c.FirstNodeIP.IsLoopback() || c.FirstNodeIP.As4()[3] > 250 {
		add("FirstNodeIP %v must be a 127.x.y.z address with z <= 250", c.FirstNodeIP)
	}
	if c.ClientPort == 0 || c.RaftPort == 0 || c.ClientPort == c.RaftPort {
		add("ClientPort %d and RaftPort %d must be distinct and non-zero", c.ClientPort, c.RaftPort)
	}
	if c.ElectionTimeout <= 0 || c.SegmentSize <= 0 || c.BrokerExpiry <= 0 || c.StartTimeout <= 0 || c.StopGrace <= 0 {
		add("ElectionTimeout, SegmentSize, BrokerExpiry, StartTimeout and StopGrace must be positive")
	}
	if c.RegisterPeriod <= 0 || 2*c.RegisterPeriod > c.BrokerExpiry {
		add("RegisterPeriod %v must be positive and at most half of BrokerExpiry %v", c.RegisterPeriod, c.BrokerExpiry)
	}
	if c.LogLevel == "" {
		add("LogLevel is empty")
	}
	if c.Logger == nil {
		add("Logger is nil")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Node is one broker replica.
type Node struct {
	ID     string         // "n0"
	IP     netip.Addr     // its own loopback address
	Client netip.AddrPort // client-facing remoting address
	Raft   netip.AddrPort // Raft address
	Data   string         // data directory

	mu   sync.Mutex
	proc *Proc // nil before the first start
	join bool  // start with --join (see RestartJoin)
}

// Proc returns the node's current process (nil if never started).
func (n *Node) Proc() *Proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Running reports whether the node's process is alive (it may be paused).
func (n *Node) Running() bool {
	p := n.Proc()
	if p == nil {
		return false
	}
	exited, _ := p.Exited()
	return !exited
}

// Cluster is a running NameServer and broker group inside a Netns. Safe
// for concurrent use (one node's lifecycle calls serialise on the node).
type Cluster struct {
	cfg   ClusterConfig
	run   *Run
	ns    *Netns
	log   *slog.Logger
	Nodes []*Node

	// brokerConf is the broker.conf every node starts with (RegisterPeriod).
	brokerConf string

	mu      sync.Mutex
	namesrv *Proc
	mounts  []string // tmpfs data directories, unmounted by Close
}

// StartCluster starts the NameServer and every node, and waits until each
// accepts connections. On error everything started is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig, run *Run, ns *Netns) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, run: run, ns: ns, log: cfg.Logger, brokerConf: filepath.Join(run.Dir, "broker.conf")}
	conf := fmt.Sprintf("# written by the jepsen harness\nregisterNameServerPeriod=%d\n", cfg.RegisterPeriod.Milliseconds())
	if err := os.WriteFile(c.brokerConf, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("jepsen: write broker.conf: %w", err)
	}
	ip := cfg.FirstNodeIP.As4()
	var peers []string
	for i := range cfg.Nodes {
		a := ip
		a[3] += byte(i)
		addr := netip.AddrFrom4(a)
		n := &Node{ID: "n" + strconv.Itoa(i), IP: addr,
			Client: netip.AddrPortFrom(addr, cfg.ClientPort), Raft: netip.AddrPortFrom(addr, cfg.RaftPort)}
		d, err := run.DataDir(n.ID)
		if err != nil {
			return nil, err
		}
		n.Data = d
		if size, ok := cfg.TmpfsData[n.ID]; ok {
			if err := MountTmpfs(d, size); err != nil {
				c.Close()
				return nil, err
			}
			c.mounts = append(c.mounts, d)
		}
		c.Nodes = append(c.Nodes, n)
		peers = append(peers, n.ID+"="+n.Raft.String())
	}
	if err := c.StartNamesrv(ctx); err != nil {
		c.Close()
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := c.startNode(n, strings.Join(peers, ",")); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, n := range c.Nodes {
		if err := c.waitListening(ctx, n.ID, n.Client, n.Proc()); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Namesrv returns the NameServer's address.
func (c *Cluster) Namesrv() netip.AddrPort { return c.cfg.NamesrvAddr }

// BrokerName returns the group's broker name.
func (c *Cluster) BrokerName() string { return c.cfg.BrokerName }

// Netns returns the namespace the cluster runs in.
func (c *Cluster) Netns() *Netns { return c.ns }

// StartNamesrv starts the NameServer (again, after StopNamesrv) and waits
// until it accepts connections.
func (c *Cluster) StartNamesrv(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.namesrv != nil {
		if exited, _ := c.namesrv.Exited(); !exited {
			return nil
		}
	}
	p, err := StartProc(ProcSpec{
		Name: "namesrv", Path: c.cfg.Bin.Namesrv, LogPath: c.run.LogPath("namesrv"), Netns: c.ns,
		Args: []string{"--listen", c.cfg.NamesrvAddr.String(), "--broker-expiry", c.cfg.BrokerExpiry.String(),
			"--scan-interval", "1s", "--log-level", c.cfg.LogLevel},
	}, c.log)
	if err != nil {
		return err
	}
	c.namesrv = p
	return c.waitListening(ctx, "namesrv", c.cfg.NamesrvAddr, p)
}

// StopNamesrv kills the NameServer (the "NameServer down" fault).
func (c *Cluster) StopNamesrv() error {
	c.mu.Lock()
	p := c.namesrv
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Kill(c.cfg.StopGrace)
}

func (c *Cluster) startNode(n *Node, peers string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		if exited, _ := n.proc.Exited(); !exited {
			return nil
		}
	}
	args := []string{"--id", n.ID, "--peers", peers, "--listen", n.Client.String(),
		"--namesrv", c.cfg.NamesrvAddr.String(), "--data", n.Data,
		"--broker-name", c.cfg.BrokerName, "--cluster", c.cfg.ClusterName,
		"--segment-size", strconv.FormatInt(c.cfg.SegmentSize, 10), "--index-entries", "65536",
		"--election-timeout", c.cfg.ElectionTimeout.String(), "--log-level", c.cfg.LogLevel,
		"--config", c.brokerConf}
	if c.cfg.NodeArgs != nil {
		args = append(args, c.cfg.NodeArgs(n.ID)...)
	}
	if n.join {
		args = append(args, "--join")
	}
	p, err := StartProc(ProcSpec{Name: n.ID, Path: c.cfg.Bin.Broker, LogPath: c.run.LogPath(n.ID), Netns: c.ns, Args: args}, c.log)
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

func (c *Cluster) peers() string {
	var ps []string
	for _, n := range c.Nodes {
		ps = append(ps, n.ID+"="+n.Raft.String())
	}
	return strings.Join(ps, ",")
}

// waitListening polls addr inside the namespace until it accepts a TCP
// connection, the process exits, or StartTimeout passes.
func (c *Cluster) waitListening(ctx context.Context, name string, addr netip.AddrPort, p *Proc) error {
	deadline := time.Now().Add(c.cfg.StartTimeout)
	for {
		dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		conn, err := c.ns.DialContext(dctx, "tcp", addr.String())
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		if exited, werr := p.Exited(); exited {
			return fmt.Errorf("%w: %s exited while starting (%v); see %s", ErrExited, name, werr, c.run.LogPath(name))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w: %s not accepting on %s after %v: %w", ErrTimeout, name, addr, c.cfg.StartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Node returns the node with the given id, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Replicas returns every node's id and client address.
func (c *Cluster) Replicas() []Replica {
	out := make([]Replica, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = Replica{ID: n.ID, Addr: n.Client.String()}
	}
	return out
}

var _ ReplicaSet = (*Cluster)(nil)

// NodeByClientAddr returns the node serving clients at addr ("ip:port"),
// or nil.
func (c *Cluster) NodeByClientAddr(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Client.String() == addr {
			return n
		}
	}
	return nil
}

// Kill kills a node with SIGKILL (kill -9) and waits for it to exit.
func (c *Cluster) Kill(n *Node) error {
	p := n.Proc()
	if p == nil {
		return nil
	}
	return p.Kill(c.cfg.StopGrace)
}

// Restart starts a node that is not running, with the same data
// directory, and waits until it accepts connections.
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	if err := c.startNode(n, c.peers()); err != nil {
		return err
	}
	return c.waitListening(ctx, n.ID, n.Client, n.Proc())
}

// RestartJoin is Restart with --join from now on: a node whose data was
// wiped after the group's membership changed waits to be added back
// instead of bootstrapping.
func (c *Cluster) RestartJoin(ctx context.Context, n *Node) error {
	n.mu.Lock()
	n.join = true
	n.mu.Unlock()
	return c.Restart(ctx, n)
}

// Signal sends sig to a node's process (test hooks: SIGUSR1 transfers
// leadership, SIGUSR2 jumps the store clock; see cli/broker_testhooks.go).
func (c *Cluster) Signal(n *Node, sig syscall.Signal) error {
	p := n.Proc()
	if p == nil {
		return fmt.Errorf("%w: %s never started", ErrExited, n.ID)
	}
	return p.Signal(sig)
}

// Pause stops a node with SIGSTOP; Resume continues it.
func (c *Cluster) Pause(n *Node) error  { return n.Proc().Pause(c.cfg.StopGrace) }
func (c *Cluster) Resume(n *Node) error { return n.Proc().Resume(c.cfg.StopGrace) }

// RestartAll starts every node that is not running.
func (c *Cluster) RestartAll(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes {
		if p := n.Proc(); p != nil {
			if st, _ := p.Stopped(); st {
				errs = append(errs, c.Resume(n))
			}
		}
		if !n.Running() {
			errs = append(errs, c.Restart(ctx, n))
		}
	}
	return errors.Join(errs...)
}

// Close stops every node (SIGTERM, then SIGKILL after StopGrace) and then
// the NameServer. It never leaves a process running: any failure to stop
// ends in SIGKILL.
func (c *Cluster) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes)+1)
	for i, n := range c.Nodes {
		p := n.Proc()
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Terminate(c.cfg.StopGrace, c.cfg.StopGrace); err != nil {
				errs[i] = fmt.Errorf("stop %s: %w", n.ID, err)
			}
		}()
	}
	wg.Wait()
	c.mu.Lock()
	ns := c.namesrv
	c.mu.Unlock()
	if ns != nil {
		if _, err := ns.Terminate(c.cfg.StopGrace, c.cfg.StopGrace); err != nil {
			errs[len(c.Nodes)] = fmt.Errorf("stop namesrv: %w", err)
		}
	}
	for _, d := range c.mounts {
		// Keep what the tmpfs held next to it (a failed run keeps its data).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, cerr := runTool(ctx, "cp", "-a", d, d+".tmpfs")
		cancel()
		errs = append(errs, cerr, Unmount(d))
	}
	c.mounts = nil
	return errors.Join(errs...)
}

// ClientConfig returns a client configuration that reaches the cluster
// from the test process (connections are opened inside the namespace).
// The caller may adjust it before client.New.
func (c *Cluster) ClientConfig(instance string) client.Config {
	cfg := client.DefaultConfig(c.cfg.NamesrvAddr.String())
	cfg.InstanceName = instance
	cfg.ClientID = "jepsen@" + instance
	cfg.Logger = slog.New(minLevel{c.log.Handler(), slog.LevelWarn}).With("client", instance)
	cfg.Remoting.Conn.Logger = cfg.Logger
	cfg.Remoting.Dial = c.ns.DialContext
	cfg.Remoting.DialTimeout = time.Second
	cfg.SendTimeout = time.Second
	cfg.RouteRefreshInterval = time.Second
	cfg.RouteQueryTimeout = time.Second
	cfg.PullTimeoutMargin = 2 * time.Second
	return cfg
}

var _ slog.Handler = minLevel{}

// minLevel drops records below min: clients log every route change at
// info, which buries the harness's own log.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// Leader asks the NameServer which node is the group's master for topic
// (brokerId 0 of the route) and returns it if it is running. It polls
// until ctx ends while the route names no running node.
func (c *Cluster) Leader(ctx context.Context, cl *client.Client, topic string) (*Node, error) {
	var last error
	for {
		route, err := cl.RefreshRoute(ctx, topic)
		if err == nil {
			addr := route.BrokerAddrs(c.cfg.BrokerName)[0]
			n := c.NodeByClientAddr(addr)
			switch {
			case n == nil:
				err = fmt.Errorf("route names master %q, no node of ours", addr)
			case !n.Running():
				err = fmt.Errorf("route names master %s, which is down", n.ID)
			default:
				return n, nil
			}
		}
		last = err
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: no running leader: %w", ErrTimeout, last)
		}
	}
}
