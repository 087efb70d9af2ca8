package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/message"
)

// Preload shape: SEND_BATCH requests of up to preloadBatch messages from
// preloadProducers clients with preloadInflight batches each in flight.
const (
	preloadBatch     = 64
	preloadProducers = 2
	preloadInflight  = 4
)

// preload sends n messages of the run's size to the topic as fast as it
// can (closed loop, batched), printing a progress line per interval; it
// returns how many were acknowledged.
func (s *session) preload(ctx context.Context, nameServer string, n int64) (int64, error) {
	cfg := s.cfg
	pc := cfg
	pc.Producers, pc.Inflight, pc.Coalesce = preloadProducers, preloadInflight, false
	pc.Batch = max(1, min(preloadBatch, message.MaxBodySize/(cfg.Size+256)))
	ps := &producers{}
	for i := 0; i < pc.Producers; i++ {
		c, err := newBenchClient(pc, nameServer, fmt.Sprintf("bench-preload-%d", i), nil, s.log)
		if err != nil {
			ps.close()
			return 0, err
		}
		ps.clients = append(ps.clients, c)
	}
	defer ps.close()
	ls := &session{cfg: pc, out: s.out, log: s.log, res: &Result{Config: pc}}
	l := ls.sendLoad(ps, cfg.Topic, false, cfg.Size)
	rec := NewRecorder(l.workers, nil)
	start := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.out.println(fmt.Sprintf("Preload: %d/%d messages acknowledged (%.0f msgs/s)", rec.Acked(), n, float64(rec.Acked())/time.Since(start).Seconds()))
			}
		}
	}()
	errs := &errSample{}
	err := drive(ctx, NewPacer(start, 0, pc.Batch, n), rec, l, errs)
	close(stop)
	<-done
	acked := rec.Acked()
	s.res.PreloadElapsed = time.Since(start)
	s.out.println(fmt.Sprintf("Preload: %d/%d messages acknowledged in %.3f s (%.0f msgs/s)", acked, n, s.res.PreloadElapsed.Seconds(),
		float64(acked)/s.res.PreloadElapsed.Seconds()))
	if err != nil {
		return acked, err
	}
	if acked < n && ctx.Err() == nil {
		return acked, fmt.Errorf("%w: preload: %d of %d messages acknowledged (%v)", ErrSetup, acked, n, errs.list())
	}
	return acked, nil
}

// queueSpan returns the number of messages stored in the queues (max -
// min offset summed), what a drain from the first offset reads.
func queueSpan(ctx context.Context, cs *client.Consumer, qs []client.MessageQueue) (int64, error) {
	var total int64
	for _, q := range qs {
		lo, err := cs.MinOffset(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("%w: min offset of %s: %w", ErrSetup, q, err)
		}
		hi, err := cs.MaxOffset(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("%w: max offset of %s: %w", ErrSetup, q, err)
		}
		total += max(0, hi-lo)
	}
	return total, nil
}

// runConsume measures draining a backlog: preloaded (embedded) or already
// in the topic (--namesrv), read from each queue's first offset.
func (s *session) runConsume(ctx context.Context, dir string) error {
	cfg := s.cfg
	tgt, closeTgt, err := s.connect(ctx, dir)
	if err != nil {
		return err
	}
	defer closeTgt()
	var targetMsgs int64
	if cfg.Embedded {
		pc, err := newBenchClient(cfg, tgt.nameServer, "bench-setup", nil, s.log)
		if err != nil {
			return err
		}
		_, err = ensureTopic(ctx, pc, cfg.Topic, cfg.Queues)
		_ = pc.Close()
		if err != nil {
			return err
		}
		s.res.Backlog, err = s.preload(ctx, tgt.nameServer, cfg.Count)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			s.res.Interrupted = true
			return nil
		}
		targetMsgs = s.res.Backlog
	}

	cs := newConsumerSide(cfg, maxShards, 0)
	cl, err := newBenchClient(cfg, tgt.nameServer, "bench-consumer", cs.observer(), s.log)
	if err != nil {
		return err
	}
	defer cl.Close()
	route, err := cl.RefreshRoute(ctx, cfg.Topic)
	if err != nil {
		return fmt.Errorf("%w: route of %q: %w", ErrSetup, cfg.Topic, err)
	}
	qs := route.SubscribeQueues()
	if !cfg.Embedded {
		if targetMsgs = cfg.Count; targetMsgs == 0 {
			if targetMsgs, err = queueSpan(ctx, cl.Consumer(benchConsumerGroup), qs); err != nil {
				return err
			}
		}
	}
	cs.target = targetMsgs // read by the handler, which starts with assign below
	s.res.Setup = append(s.res.Setup, fmt.Sprintf("topic %s: %d queues, %d messages to consume from the first offset", cfg.Topic, len(qs), targetMsgs))
	writeBanner(s.out, cfg, s.res.Setup)
	if targetMsgs == 0 {
		s.out.println("nothing to consume: the topic's queues are empty")
		s.res.Consume = cs.result(time.Now())
		return nil
	}

	m, err := s.beginMeasure()
	if err != nil {
		return err
	}
	start := time.Now()
	cs.begin(start)
	rep := s.startReporter(start, nil, nil, cs)
	a, err := cs.assign(ctx, cl, cfg.Topic, client.StartFirst)
	if err != nil {
		rep.stop()
		m.end(s.res)
		return err
	}
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	reached := false
	select {
	case <-cs.reached:
		reached = true
	case <-deadline:
	case <-ctx.Done():
	}
	end := time.Now()
	if reached {
		end = cs.lastArrival()
	}
	cs.stop()
	m.end(s.res)
	_ = a.Close()
	rep.stop()
	s.res.Consume = cs.result(end)
	s.res.Start, s.res.Elapsed = start, end.Sub(start)
	s.res.Interrupted = ctx.Err() != nil
	return nil
}
