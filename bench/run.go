package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Run runs the benchmark cfg describes and writes its report to out: the
// parameter banner, a progress line per interval, the summary and, with
// cfg.JSON, one JSON object as the last line. When ctx is cancelled
// (Ctrl-C) the run stops issuing operations, waits for those in flight,
// and reports what it measured so far (Result.Interrupted). The error is
// about setup or a fatal storage failure; failed sends are counted, not
// returned.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &session{cfg: cfg, out: &lockedWriter{w: out}, log: cfg.Logger, res: &Result{Config: cfg}}
	dir, cleanup, err := dataDir(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	switch cfg.Mode {
	case ModeCommitLog:
		err = s.runLocal(ctx, func() (load, func() error, []string, error) { return commitLogLoad(cfg, dir) })
	case ModeDLedger:
		err = s.runLocal(ctx, func() (load, func() error, []string, error) {
			return dledgerLoad(ctx, cfg, dir, clusterLogger(cfg.Logger, &s.quiet))
		})
	case ModeProduce, ModeE2E:
		err = s.runProduce(ctx, dir)
	case ModeConsume:
		err = s.runConsume(ctx, dir)
	}
	if err != nil && !errors.Is(err, ErrAborted) {
		return s.res, err
	}
	// An aborted run (fatal storage error) still reports what it measured.
	s.res.Interrupted = s.res.Interrupted || ctx.Err() != nil || err != nil
	s.finish()
	return s.res, err
}

// session is one run's shared state.
type session struct {
	cfg Config
	out *lockedWriter
	log *slog.Logger
	res *Result
	tl  *Timeline // the measured run's timeline (KillLeaderAt only)
	// quiet mutes the in-process cluster's logs during teardown (raft
	// reports every connection it loses).
	quiet atomic.Bool
}

// lockedWriter serializes writes from the reporter and the kill watcher.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) println(s string) { _, _ = l.Write([]byte(s + "\n")) }

// finish writes the summary and the JSON line.
func (s *session) finish() {
	writeSummary(s.out, s.res)
	if s.cfg.JSON {
		if err := writeJSON(s.out, s.res); err != nil {
			s.log.Error("bench: JSON summary", "err", err)
		}
	}
}

// dataDir returns the run's data directory and a cleanup: a fresh
// temporary directory (removed afterwards) unless cfg.Dir names one.
func dataDir(cfg Config) (string, func(), error) {
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrSetup, err)
		}
		return cfg.Dir, func() {}, nil
	}
	if cfg.Mode.clusterMode() && !cfg.Embedded { // nothing stored locally
		return "", func() {}, nil
	}
	dir, err := os.MkdirTemp("", "dledgermq-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// clusterLogger is what in-process clusters log to: the run's logger, at
// warnings and above unless it is enabled for debug (raft is chatty), and
// silent while muted is set.
func clusterLogger(l *slog.Logger, muted *atomic.Bool) *slog.Logger {
	min := slog.LevelWarn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		min = slog.LevelDebug
	}
	return slog.New(filterHandler{Handler: l.Handler(), min: min, muted: muted})
}

// filterHandler drops records below min, and every record while muted.
type filterHandler struct {
	slog.Handler
	min   slog.Level
	muted *atomic.Bool
}

func (h filterHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && !h.muted.Load() && h.Handler.Enabled(ctx, l)
}

func (h filterHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.muted.Load() {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h filterHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return filterHandler{Handler: h.Handler.WithAttrs(as), min: h.min, muted: h.muted}
}

func (h filterHandler) WithGroup(name string) slog.Handler {
	return filterHandler{Handler: h.Handler.WithGroup(name), min: h.min, muted: h.muted}
}

// runLocal runs a mode that needs no broker (commitlog, dledger).
func (s *session) runLocal(ctx context.Context, open func() (load, func() error, []string, error)) error {
	l, closeFn, setup, err := open()
	if err != nil {
		return err
	}
	s.res.Setup = setup
	writeBanner(s.out, s.cfg, setup)
	err = s.measureSend(ctx, l, sendHooks{})
	s.quiet.Store(true)
	if cerr := closeFn(); cerr != nil && err == nil {
		s.log.Warn("bench: close", "err", cerr)
	}
	return err
}

// sendHooks lets a mode attach to the measured run.
type sendHooks struct {
	// onStart runs when the measured run starts (after warmup).
	onStart func(start time.Time)
	// onEnd runs after every operation finished, before the summary.
	onEnd func(start, end time.Time)
	// consumer, if set, reports its lines alongside the send lines.
	consumer *consumerSide
}

// measureSend runs the optional warmup, then the measured run of l with a
// reporter printing one line per interval, and fills s.res.
func (s *session) measureSend(ctx context.Context, l load, h sendHooks) error {
	cfg := s.cfg
	opBatch := cfg.opBatch()
	if cfg.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.Warmup)
		werr := drive(wctx, NewPacer(time.Now(), cfg.Rate, opBatch, 0), NewRecorder(l.workers, nil), l, &errSample{})
		cancel()
		if werr != nil {
			return werr
		}
		if ctx.Err() != nil {
			s.res.Interrupted = true
			return nil
		}
	}
	m, err := s.beginMeasure()
	if err != nil {
		return err
	}
	start := time.Now()
	if cfg.KillLeaderAt > 0 {
		s.tl = NewTimeline(start)
	}
	rec := NewRecorder(l.workers, s.tl)
	mctx := ctx
	if d := cfg.runDuration(); d > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithDeadline(ctx, start.Add(d))
		defer cancel()
	}
	total := newWindow()
	if h.consumer != nil {
		h.consumer.begin(start)
	}
	rep := s.startReporter(start, rec, &total, h.consumer)
	if h.onStart != nil {
		h.onStart(start)
	}
	errs := &errSample{}
	err = drive(mctx, NewPacer(start, cfg.Rate, opBatch, cfg.Count), rec, l, errs)
	end := time.Now()
	rep.sendDone.Store(true)
	s.res.Start, s.res.Elapsed = start, end.Sub(start)
	s.res.Interrupted = ctx.Err() != nil
	if h.onEnd != nil {
		h.onEnd(start, end)
	}
	var missing int64
	if cs := h.consumer; cs != nil {
		missing = cs.catchUp(ctx, rec.Acked())
		cs.stop()
	}
	m.end(s.res)
	rep.stop()
	s.res.Send = &total
	s.res.Errors = errs.list()
	if cs := h.consumer; cs != nil {
		cend := cs.lastArrival()
		if cend.IsZero() {
			cend = end
		}
		s.res.Consume = cs.result(cend)
		s.res.Consume.Missing = missing
	}
	return err
}

// opBatch is the number of messages one scheduled operation carries: one
// when the client coalesces single sends, Batch otherwise.
func (c Config) opBatch() int {
	if c.Coalesce {
		return 1
	}
	return c.Batch
}

// reporter prints the interval lines.
type reporter struct {
	stopCh   chan struct{}
	done     chan struct{}
	sendDone atomic.Bool // the sending side finished: no more send lines
}

// startReporter starts printing a line per interval for the sending side
// (rec, accumulated into total) and the consuming side (cs, if set).
func (s *session) startReporter(start time.Time, rec *Recorder, total *Window, cs *consumerSide) *reporter {
	r := &reporter{stopCh: make(chan struct{}), done: make(chan struct{})}
	win := newWindow()
	var cw *consumeWindow
	if cs != nil {
		cw = newConsumeWindow()
	}
	last := start
	tick := func(now time.Time, final bool) {
		span := now.Sub(last)
		last = now
		if rec != nil {
			rec.Drain(&win)
			total.add(&win)
			if win.Ops > 0 || (!final && !r.sendDone.Load()) {
				s.out.println(sendLine(now, span, &win, progress(s.cfg, now.Sub(start), total.OK+total.Errors())))
			}
			win.reset()
		}
		if cs != nil {
			cs.drain(cw)
			if !final || cw.msgs() > 0 {
				prog := ""
				if s.cfg.Mode == ModeConsume {
					prog = cs.progress()
				}
				s.out.println(consumeLine(now, span, cw, s.cfg.Mode == ModeE2E, prog))
			}
			cw.reset()
		}
	}
	go func() {
		defer close(r.done)
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				tick(now, false)
			case <-r.stopCh:
				tick(time.Now(), true)
				return
			}
		}
	}()
	return r
}

// stop prints the last partial interval and waits for the reporter.
func (r *reporter) stop() {
	close(r.stopCh)
	<-r.done
}
