package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// Broker is one node of a broker group: the remoting server in front of one
// replica of the group's store. See the package documentation.
type Broker struct {
	cfg    Config
	store  MessageStore
	log    *slog.Logger
	delays []time.Duration // delay of level i+1

	ln       net.Listener
	addr     netip.AddrPort // client-facing address
	addrStr  string
	server   *remoting.Server
	scfg     remoting.ServerConfig // also serves the group address
	handler  remoting.Handler
	vip      *groupAddr // nil without Config.BrokerVIP
	clients  *clientManager
	lp       *longPoll
	reg      *registrar
	fwd      *forwarder
	sched    *scheduleService
	txn      txnState
	txnCheck txnChecker
	locks    lockTable
	followID int64
	metrics  *metrics
	stats    *runtimeStats

	term atomic.Uint64 // term of the last leadership this node reported

	roleCh chan struct{} // capacity 1: leadership changed

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	started    bool
	shutdown   bool
	metricsSrv *metricsServer // nil while the exporter is off
}

// New builds a broker over st. It listens at once (so Addr is known) but
// serves nothing until Start. The broker owns st from now on: Shutdown
// closes it (after handing leadership over).
func New(cfg Config, st MessageStore) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	delays, _ := ParseDelayLevels(cfg.MessageDelayLevel)
	b := &Broker{
		cfg:     cfg,
		store:   st,
		log:     cfg.Logger.With("broker", cfg.BrokerName),
		delays:  delays,
		clients: newClientManager(),
		lp:      newLongPoll(),
		roleCh:  make(chan struct{}, 1),
	}
	ln, addr, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	b.ln, b.addr, b.addrStr = ln, addr, addr.String()
	b.followID = cfg.FollowerBrokerID("")

	scfg := cfg.Server
	scfg.Conn.IdleTimeout = cfg.ServerChannelMaxIdleTime
	userOnClose := scfg.OnClose
	scfg.OnClose = func(c *remoting.Conn, err error) {
		if userOnClose != nil {
			userOnClose(c, err)
		}
		b.connClosed(c)
	}
	execs := make(map[remoting.RequestCode]remoting.Executor, len(scfg.Executors)+1)
	for k, v := range scfg.Executors {
		execs[k] = v
	}
	if _, ok := execs[remoting.PullMessage]; !ok {
		// Held pulls must never take the connection's slots (REMOTING.md §1.3).
		execs[remoting.PullMessage] = remoting.NewGoExecutor(cfg.PullThreads)
	}
	scfg.Executors = execs
	b.metrics, b.stats = newMetrics(b), newRuntimeStats(cfg.Now())
	b.scfg, b.handler = scfg, b.metrics.instrument(b.mux())
	b.server, err = b.newServer()
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	b.reg, err = newRegistrar(&b.cfg, b.addrStr, b.log, b.registration)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	b.fwd, err = newForwarder(b)
	if err != nil {
		_ = ln.Close()
		_ = b.reg.close()
		return nil, err
	}
	if cfg.BrokerVIP != "" {
		b.vip = newGroupAddr(b, cfg.BrokerVIP)
	}
	b.sched = newScheduleService(b)
	b.txnCheck.b = b
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

// newServer returns a remoting server with the broker's handler: the one of
// its own address, and one per holding period of the group address.
func (b *Broker) newServer() (*remoting.Server, error) {
	return remoting.NewServer(b.scfg, b.handler)
}

// Listen binds the client-facing listener cfg describes (BrokerIP1,
// ListenPort) and returns it with the address clients will reach, which is
// also what the store must stamp as STOREHOSTADDRESS (store.Config.StoreHost).
// A binary calls it before opening the store and hands the listener over in
// Config.Listener. With cfg.Listener already set it just reports its address.
func Listen(cfg Config) (net.Listener, netip.AddrPort, error) {
	if err := cfg.Validate(); err != nil {
		return nil, netip.AddrPort{}, err
	}
	return listen(cfg)
}

func listen(cfg Config) (net.Listener, netip.AddrPort, error) {
	host, err := cfg.advertiseHost()
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	ln := cfg.Listener
	if ln == nil {
		bind := ":" + strconv.Itoa(cfg.ListenPort)
		if cfg.BrokerIP1 != "" {
			bind = net.JoinHostPort(cfg.BrokerIP1, strconv.Itoa(cfg.ListenPort))
		}
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("broker: listen %s: %w", bind, err)
		}
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, netip.AddrPort{}, fmt.Errorf("%w: listener address %v is not TCP", ErrConfig, ln.Addr())
	}
	return ln, netip.AddrPortFrom(host, uint16(tcp.Port)), nil
}

// Addr returns the client-facing address ("ip:port") the broker registers.
func (b *Broker) Addr() string { return b.addrStr }

// Start serves requests, registers with the NameServers and follows the
// store's leadership. It returns at once.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shutdown {
		return ErrClosed
	}
	if b.started {
		return errors.New("broker: Start called twice")
	}
	ms, err := b.startMetrics()
	if err != nil {
		return err
	}
	b.started, b.metricsSrv = true, ms
	b.store.OnArrive(b.onArrive)
	b.store.OnLeaderChange(func(ch dledger.LeaderChange) {
		if ch.IsLeader {
			b.term.Store(ch.Term)
		}
		b.kickRole()
	})
	b.kickRole() // the store may have become leader before the hook
	b.goRun(func() {
		if err := b.server.Serve(b.ln); err != nil && !errors.Is(err, remoting.ErrServerClosed) {
			b.log.Error("broker: serve", "err", err)
		}
	})
	b.goRun(func() { b.reg.run(b.ctx) })
	b.goRun(b.roleLoop)
	b.goRun(b.housekeeping)
	b.goRun(b.statsLoop)
	b.log.Info("broker: started", "addr", b.addrStr, "cluster", b.cfg.BrokerClusterName, "namesrv", b.cfg.NamesrvAddrs())
	return nil
}

func (b *Broker) goRun(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// Close is Shutdown with a 15 s bound.
func (b *Broker) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return b.Shutdown(ctx)
}

// Shutdown stops the broker: the leader-only services stop, the store hands
// leadership to a follower and stops (so the new leader registers as
// brokerId 0 while this node is still reachable), this node unregisters
// from every NameServer, and the server closes its connections (held pulls
// end). ctx bounds the unregistration.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.shutdown {
		b.mu.Unlock()
		return nil
	}
	b.shutdown = true
	started := b.started
	b.mu.Unlock()

	b.stopLeaderServices()
	storeErr := b.store.Close()
	// Leadership is handed over: free the group address for the successor
	// (the role loop may be doing so already; release waits for it).
	b.releaseGroupAddr("shutdown")
	b.cancel() // registrar, role loop, housekeeping
	if started {
		select {
		case <-b.reg.done: // no registration in flight any more
		case <-ctx.Done():
		}
		b.reg.unregisterAll(ctx)
	}
	var srvErr error
	if started {
		srvErr = errors.Join(b.server.Close(), b.metricsSrv.close())
	} else {
		srvErr = b.ln.Close()
	}
	b.lp.wakeAll()
	b.wg.Wait()
	b.stopLeaderServices() // the role loop may have started them again meanwhile
	err := errors.Join(storeErr, srvErr, b.reg.close(), b.fwd.close())
	b.log.Info("broker: stopped", "addr", b.addrStr)
	return err
}

// releaseGroupAddr frees the group address for good (shutdown, crash).
func (b *Broker) releaseGroupAddr(reason string) {
	if b.vip != nil {
		b.vip.close(reason)
	}
}

// closing reports whether Shutdown has begun.
func (b *Broker) closing() bool { return b.ctx.Err() != nil || b.isShutdown() }

func (b *Broker) isShutdown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.shutdown
}

// registration is what the registrar sends now: brokerId 0 and the term
// while this node is the ready leader, its follower id otherwise. With a
// group address the leader registers that address as brokerId 0 once it
// serves it (until then, as a follower; after vipFallbackAfter without a
// bind, its own address as brokerId 0).
func (b *Broker) registration() registration {
	reg := registration{addr: b.addrStr, brokerID: b.followID, topics: b.topicTable()}
	if !b.store.LeaderReady() {
		return reg
	}
	switch {
	case b.vip == nil || b.vip.fallback():
		reg.brokerID, reg.term = namesrv.MasterID, b.term.Load()
	case b.vip.held():
		reg.addr, reg.brokerID, reg.term = b.vip.addr, namesrv.MasterID, b.term.Load()
	}
	return reg
}

// topicTable is the topic table registered with the NameServers, with the
// broker's permission applied.
func (b *Broker) topicTable() map[string]namesrv.TopicConfig {
	topics := b.store.Topics()
	out := make(map[string]namesrv.TopicConfig, len(topics))
	for _, t := range topics {
		perm := int(t.Perm)
		if !isSystemTopic(t.Name) {
			perm &= b.cfg.BrokerPermission | PermInherit | PermPriority
		}
		out[t.Name] = namesrv.TopicConfig{
			TopicName: t.Name, ReadQueueNums: int(t.ReadQueueNums), WriteQueueNums: int(t.WriteQueueNums),
			Perm: perm, TopicFilterType: t.FilterType.String(), TopicSysFlag: int(t.TopicSysFlag), Order: t.Order,
		}
	}
	return out
}

// kickRole asks the role loop to look at the store's leadership.
func (b *Broker) kickRole() {
	select {
	case b.roleCh <- struct{}{}:
	default:
	}
}

// roleLoop follows leadership: a new leader registers as brokerId 0 at once
// (the store reports leadership after its barrier, so the node's state is
// complete), creates the system topics and runs the leader-only services;
// a node that lost leadership stops them and registers as a follower.
func (b *Broker) roleLoop() {
	wasLeader := false
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.roleCh:
		}
		leader := b.store.LeaderReady()
		if leader && b.term.Load() == 0 {
			// Elected before Start registered the hook.
			if t, ok := b.currentTerm(); ok {
				b.term.Store(t)
			}
		}
		if leader == wasLeader && !leader {
			continue
		}
		b.reg.trigger()
		if leader && !wasLeader {
			if b.vip != nil {
				b.log.Info("broker: became leader; binding the group address, then registering it as brokerId 0",
					"term", b.term.Load(), "groupAddr", b.vip.addr)
				b.vip.acquire()
			} else {
				b.log.Info("broker: became leader; registering as brokerId 0", "term", b.term.Load())
			}
			b.ensureSystemTopics()
			b.startLeaderServices()
		} else if !leader && wasLeader {
			b.log.Info("broker: lost leadership; registering as follower", "brokerId", b.followID)
			if b.vip != nil {
				b.vip.release("lost leadership")
			}
			b.stopLeaderServices()
			b.lp.wakeAll()
		}
		wasLeader = leader
	}
}

// startLeaderServices runs what only the leader runs: the delay service and
// the transaction check.
func (b *Broker) startLeaderServices() {
	b.sched.start()
	b.txnCheck.start()
}

// stopLeaderServices stops them and forgets leader-only state.
func (b *Broker) stopLeaderServices() {
	b.sched.stop()
	b.txnCheck.stop()
	b.txn.reset()
	b.locks.reset()
}

// currentTerm reads the Raft term when the store exposes its node.
func (b *Broker) currentTerm() (uint64, bool) {
	if n, ok := b.store.(interface{ Node() *dledger.Node }); ok {
		return n.Node().Term(), true
	}
	return 0, false
}

// ensureSystemTopics creates TBW102 (when auto-creation is on) and the
// schedule topic on a new leader.
func (b *Broker) ensureSystemTopics() {
	want := []store.TopicConfig{
		{Name: ScheduleTopic, ReadQueueNums: int32(len(b.delays)), WriteQueueNums: int32(len(b.delays)), Perm: PermRead | PermWrite},
	}
	if b.cfg.AutoCreateTopicEnable {
		n := int32(b.cfg.DefaultTopicQueueNums)
		want = append(want, store.TopicConfig{Name: AutoCreateTopicKey, ReadQueueNums: n, WriteQueueNums: n,
			Perm: PermRead | PermWrite | PermInherit})
	}
	for _, t := range want {
		if cur, ok := b.store.Topic(t.Name); ok && cur == t {
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.WriteTimeout)
		err := b.store.CreateTopic(ctx, t)
		cancel()
		if err != nil {
			b.log.Warn("broker: create system topic failed", "topic", t.Name, "err", err)
			continue
		}
		b.reg.trigger()
	}
}

// housekeeping expires clients that stopped sending heartbeats.
func (b *Broker) housekeeping() {
	t := time.NewTicker(b.cfg.ClientScanInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		changed := b.clients.expire(b.cfg.Now().Add(-b.cfg.ChannelExpiredTimeout))
		for _, g := range changed {
			b.log.Info("broker: consumer expired", "group", g)
		}
		b.notifyConsumerIDsChanged(changed)
	}
}

// connClosed drops the members that used c.
func (b *Broker) connClosed(c *remoting.Conn) {
	b.notifyConsumerIDsChanged(b.clients.connClosed(c))
}

// onArrive is the store's arrival hook: it runs on the FSM goroutine and
// only signals.
func (b *Broker) onArrive(topic string, queueID int32, maxOffset int64) {
	b.lp.notify(topic, queueID, maxOffset)
	if topic == ScheduleTopic {
		b.sched.arrived(queueID)
	}
}

// notifyConsumerIDsChanged pushes NOTIFY_CONSUMER_IDS_CHANGED (40) to every
// member of each group, oneway, as RocketMQ does.
func (b *Broker) notifyConsumerIDsChanged(groups []string) {
	if !b.cfg.NotifyConsumerIdsChangedEnable || b.closing() {
		return
	}
	for _, g := range groups {
		for _, c := range b.clients.consumerConns(g) {
			req := remoting.NewRequest(remoting.NotifyConsumerIDsChanged, map[string]string{"consumerGroup": g}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := c.InvokeOneway(ctx, req); err != nil {
				b.log.Debug("broker: notify consumer ids changed", "group", g, "remote", c.RemoteAddr(), "err", err)
			}
			cancel()
		}
	}
}
