package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/message"
)

// Client identities the tool uses.
const (
	benchProducerGroup = "BenchmarkProducer"
	benchConsumerGroup = "BenchmarkConsumer"
	autoCreateTopic    = "TBW102"
	// readyWait bounds waiting for the embedded group's first leader.
	readyWait = 60 * time.Second
	// routeWait bounds waiting for a created topic's route.
	routeWait = 30 * time.Second
)

// newBenchClient returns a client on nameServer. Compression is off (the
// filler bodies compress to nothing, which would flatter every figure).
func newBenchClient(cfg Config, nameServer, instance string, obs client.Observer, log *slog.Logger) (*client.Client, error) {
	cc := client.DefaultConfig(nameServer)
	cc.ProducerGroup = benchProducerGroup
	cc.InstanceName = instance
	cc.CompressThreshold = 0
	cc.MaxAsyncInFlight = max(cc.MaxAsyncInFlight, cfg.Inflight)
	cc.Observer = obs
	cc.Logger = log
	cc.Remoting.Conn.Logger = log
	c, err := client.New(cc)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %w", ErrSetup, err)
	}
	return c, nil
}

// target is the cluster a produce/consume/e2e run talks to.
type target struct {
	nameServer string
	cluster    *Cluster // nil unless embedded
}

// connect starts the embedded cluster (waiting for a registered leader) or
// uses the configured NameServer.
func (s *session) connect(ctx context.Context, dir string) (*target, func(), error) {
	if !s.cfg.Embedded {
		s.res.Setup = append(s.res.Setup, "namesrv "+s.cfg.NameServer)
		return &target{nameServer: s.cfg.NameServer}, func() {}, nil
	}
	s.log.Info("bench: starting the embedded cluster", "dir", dir)
	cc := DefaultClusterConfig(dir)
	cc.Flush, cc.SegmentSize, cc.Logger = s.cfg.Flush, s.cfg.SegmentSize, clusterLogger(s.log, &s.quiet)
	cc.WarmSegments = s.cfg.WarmSegments
	c, err := StartCluster(cc)
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() {
		s.quiet.Store(true)
		if err := c.Close(); err != nil {
			s.log.Warn("bench: closing the embedded cluster", "err", err)
		}
	}
	leader, err := c.WaitReady(ctx, readyWait)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	s.res.Setup = append(s.res.Setup, fmt.Sprintf("embedded namesrv %s, brokers %v, leader %s, data in %s", c.NameServer, c.BrokerAddrs(), leader, dir))
	return &target{nameServer: c.NameServer, cluster: c}, closeFn, nil
}

// ensureTopic makes sure topic exists: when the NameServer does not know
// it, it is created with queues queues on the master of every broker group
// the auto-create route (TBW102) lists. It returns the publish queues.
func ensureTopic(ctx context.Context, c *client.Client, topic string, queues int) ([]client.MessageQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, routeWait)
	defer cancel()
	r, err := c.RefreshRoute(ctx, topic)
	if err == nil && len(r.PublishQueues()) > 0 {
		return r.PublishQueues(), nil
	}
	if err != nil && !errors.Is(err, client.ErrTopicNotExist) {
		return nil, fmt.Errorf("%w: route of %q: %w", ErrSetup, topic, err)
	}
	tbw, err := c.RefreshRoute(ctx, autoCreateTopic)
	if err != nil {
		return nil, fmt.Errorf("%w: no route for %s to find the brokers: %w", ErrSetup, autoCreateTopic, err)
	}
	groups := 0
	for _, b := range tbw.Brokers {
		addr, ok := tbw.MasterAddr(b.Name)
		if !ok {
			continue
		}
		if _, err := c.Admin().CreateTopic(ctx, client.NewTopicConfig(topic, queues), addr); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSetup, err)
		}
		groups++
	}
	if groups == 0 {
		return nil, fmt.Errorf("%w: no broker group with a master to create %q on", ErrSetup, topic)
	}
	r, err = c.Admin().WaitForRoute(ctx, topic, groups*queues)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return r.PublishQueues(), nil
}

// classify maps a send's outcome to the benchmark's counters.
func classify(r client.SendResult, err error) (Outcome, error) {
	if err != nil {
		if _, ok := client.ResponseCodeOf(err); ok {
			return ResponseFailed, err
		}
		return SendFailed, err
	}
	if r.Status != client.SendOK {
		return ResponseFailed, fmt.Errorf("bench: send status %s", r.Status)
	}
	return OK, nil
}

// producers are the clients of a produce or e2e run.
type producers struct {
	clients  []*client.Client
	batching []*client.BatchingProducer // with Coalesce
}

func (s *session) newProducers(nameServer string) (*producers, error) {
	ps := &producers{}
	for i := 0; i < s.cfg.Producers; i++ {
		c, err := newBenchClient(s.cfg, nameServer, fmt.Sprintf("bench-producer-%d", i), nil, s.log)
		if err != nil {
			ps.close()
			return nil, err
		}
		ps.clients = append(ps.clients, c)
		if s.cfg.Coalesce {
			o := client.DefaultBatchOptions()
			o.MaxMessages, o.MaxBytes, o.Linger = s.cfg.Batch, message.MaxBodySize, s.cfg.Linger
			bp, err := c.NewBatchingProducer(o)
			if err != nil {
				ps.close()
				return nil, fmt.Errorf("%w: %w", ErrSetup, err)
			}
			ps.batching = append(ps.batching, bp)
		}
	}
	return ps, nil
}

func (ps *producers) close() {
	for _, b := range ps.batching {
		_ = b.Close()
	}
	for _, c := range ps.clients {
		_ = c.Close()
	}
}

// sendLoad is the producing load: one dispatcher per producer keeping
// Inflight operations outstanding, each a SEND of one message, a
// SEND_BATCH of Batch messages, or (Coalesce) one message handed to the
// batching producer. With stamped (e2e), every in-flight slot owns its
// messages and each body carries the operation's scheduled send time;
// otherwise all operations share one read-only set of messages.
func (s *session) sendLoad(ps *producers, topic string, stamped bool, size int) load {
	cfg := s.cfg
	n := cfg.opBatch()
	newMsgs := func() []*message.Message {
		body := payload(size)
		ms := make([]*message.Message, n)
		for i := range ms {
			b := body
			if stamped {
				b = append([]byte(nil), body...)
			}
			ms[i] = &message.Message{Topic: topic, Body: b}
		}
		return ms
	}
	shared := newMsgs()
	var perSlot [][][]*message.Message // [producer][slot]
	if stamped {
		perSlot = make([][][]*message.Message, cfg.Producers)
		for p := range perSlot {
			perSlot[p] = make([][]*message.Message, cfg.Inflight)
			for sl := range perSlot[p] {
				perSlot[p][sl] = newMsgs()
			}
		}
	}
	opCtx := context.Background() // each attempt is bounded by the client's SendTimeout
	return load{
		workers:  cfg.Producers,
		slots:    cfg.Inflight,
		msgBytes: size,
		async: func(w, slot, k int, due time.Time, done func(Outcome, error)) {
			ms := shared[:k]
			if stamped {
				ms = perSlot[w][slot][:k]
				for _, m := range ms {
					stamp(m.Body, due)
				}
			}
			cb := func(r client.SendResult, err error) { done(classify(r, err)) }
			var err error
			switch {
			case cfg.Coalesce:
				err = ps.batching[w].SendAsync(opCtx, ms[0], cb)
			case cfg.Batch == 1:
				err = ps.clients[w].Producer().SendAsync(opCtx, ms[0], cb)
			default:
				err = ps.clients[w].Producer().SendBatchAsync(opCtx, ms, cb)
			}
			if err != nil {
				done(SendFailed, err)
			}
		},
	}
}

// runProduce runs produce and e2e.
func (s *session) runProduce(ctx context.Context, dir string) error {
	cfg := s.cfg
	tgt, closeTgt, err := s.connect(ctx, dir)
	if err != nil {
		return err
	}
	defer closeTgt()
	ps, err := s.newProducers(tgt.nameServer)
	if err != nil {
		return err
	}
	defer ps.close()
	qs, err := ensureTopic(ctx, ps.clients[0], cfg.Topic, cfg.Queues)
	if err != nil {
		return err
	}
	s.res.Setup = append(s.res.Setup, fmt.Sprintf("topic %s: %d publish queues", cfg.Topic, len(qs)))
	for _, c := range ps.clients[1:] {
		if _, err := c.Route(ctx, cfg.Topic); err != nil {
			return fmt.Errorf("%w: route: %w", ErrSetup, err)
		}
	}

	var h sendHooks
	if cfg.Mode == ModeE2E {
		cs := newConsumerSide(cfg, len(qs), 0)
		ccl, err := newBenchClient(cfg, tgt.nameServer, "bench-consumer", cs.observer(), s.log)
		if err != nil {
			return err
		}
		defer ccl.Close()
		a, err := cs.assign(ctx, ccl, cfg.Topic, client.StartLast)
		if err != nil {
			return err
		}
		defer a.Close()
		if err := waitPositions(ctx, a, routeWait); err != nil {
			return err
		}
		h.consumer = cs
	}
	if cfg.KillLeaderAt > 0 {
		s.killHooks(ctx, tgt.cluster, &h)
	}
	writeBanner(s.out, cfg, s.res.Setup)
	return s.measureSend(ctx, s.sendLoad(ps, cfg.Topic, cfg.Mode == ModeE2E, cfg.Size), h)
}

// killHooks schedules the leader kill KillLeaderAt into the measured run
// and fills the failover report when the run ends.
func (s *session) killHooks(ctx context.Context, c *Cluster, h *sendHooks) {
	type killInfo struct {
		node       string
		at         time.Time
		newLeader  string
		elected    time.Duration
		routed     time.Duration
		err        error
		killed     bool
		finishedAt time.Time
	}
	done := make(chan killInfo, 1)
	wctx, cancel := context.WithCancel(ctx)
	h.onStart = func(start time.Time) {
		go func() {
			var ki killInfo
			defer func() { done <- ki }()
			if !sleepCtx(wctx, time.Until(start.Add(s.cfg.KillLeaderAt))) {
				return
			}
			ki.node, ki.at, ki.err = c.KillLeader()
			if ki.err != nil {
				return
			}
			ki.killed = true
			s.out.println(fmt.Sprintf("Current Time: %s | killed leader %s (%v into the run)", ki.at.Format("15:04:05.000"), ki.node, ki.at.Sub(start).Round(time.Millisecond)))
			ki.newLeader, ki.elected, ki.routed = c.WatchFailover(wctx, ki.at, ki.at.Add(30*time.Second))
			if ki.routed >= 0 {
				s.out.println(fmt.Sprintf("Current Time: %s | new leader %s ready %v after the kill, NameServer route %v", time.Now().Format("15:04:05.000"),
					ki.newLeader, ki.elected.Round(time.Millisecond), ki.routed.Round(time.Millisecond)))
			}
		}()
	}
	h.onEnd = func(start, end time.Time) {
		// Give the watcher a little time to see the route if the run ended
		// right after the kill, then stop it.
		t := time.AfterFunc(5*time.Second, cancel)
		var ki killInfo
		select {
		case ki = <-done:
		case <-time.After(2 * teardownWait):
			ki.err = fmt.Errorf("%w: the leader kill did not finish", ErrCluster)
		}
		t.Stop()
		cancel()
		if ki.err != nil {
			s.log.Error("bench: leader kill failed", "err", ki.err)
		}
		if !ki.killed {
			return
		}
		tl := s.tl
		rep := &FailoverReport{KilledNode: ki.node, NewLeader: ki.newLeader, ElectedAfter: ki.elected, RouteAfter: ki.routed}
		if tl != nil {
			rep.GapReport = tl.Gaps(ki.at.Sub(start), end.Sub(start))
		}
		s.res.Failover = rep
	}
}
