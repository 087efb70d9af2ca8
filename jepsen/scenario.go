package jepsen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dledgermq/dledgermq/client"
)

// Scenario is one fault × workload run against the real binaries.
type Scenario struct {
	// Name names the run directory ("kill-leader-queue").
	Name string
	// Duration is how long the workload runs (faults happen inside it).
	Duration time.Duration
	// Queues is the topic's queue count.
	Queues int
	// Producers, Readers, Committers, Keys, Pause: see QueueWorkload.
	Producers, Readers, Committers, Keys int
	Pause                                time.Duration
	// Nemesis runs while the workload runs, on its own goroutine. It
	// returns when ctx ends, having healed what it broke (restarted nodes,
	// removed rules): the final drain needs every replica.
	Nemesis func(ctx context.Context, env *Env) error
	// BeforeDrain, if set, runs after the heal and before the replicas
	// settle and are drained (damage that only the final state should
	// show; the harness's own canary wipes every replica here).
	BeforeDrain func(ctx context.Context, env *Env) error
	// Cluster adjusts the cluster configuration (nil: defaults).
	Cluster func(*ClusterConfig)
	// Check are the checker options (VisualizeDir is set to the run
	// directory). Zero value: DefaultCheckOptions.
	Check CheckOptions
	// SettleTimeout bounds waiting for replicas to catch up before the
	// drain. Default 20 s.
	SettleTimeout time.Duration
}

// Validate reports every invalid field at once, wrapped in
// ErrInvalidConfig.
func (sc Scenario) Validate() error {
	var errs []error
	if !runNameRE.MatchString(sc.Name) {
		errs = append(errs, fmt.Errorf("Name %q must be letters, digits, '-', '_' or '.'", sc.Name))
	}
	if sc.Duration <= 0 {
		errs = append(errs, fmt.Errorf("Duration %v must be positive", sc.Duration))
	}
	if sc.Queues < 1 || sc.Producers < 1 || sc.Readers < 0 || sc.Committers < 0 || sc.Keys < 0 || sc.Pause < 0 {
		errs = append(errs, fmt.Errorf("need Queues >= 1 (%d), Producers >= 1 (%d), Readers, Keys, Pause >= 0", sc.Queues, sc.Producers))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: scenario: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Env is what a nemesis works with.
type Env struct {
	Cluster *Cluster
	Rec     *Recorder
	Rand    *rand.Rand // stream "nemesis" of the run's seed
	Client  *client.Client
	Topic   string
	Log     *slog.Logger
	// Firewall is nil when iptables is missing; nemeses that need it fail
	// with ErrToolMissing.
	Firewall *Firewall
}

// Fault records a nemesis action around f: an invoke, then ok (or fail
// with f's error).
func (e *Env) Fault(name, node string, f func() error) error {
	inv, err := e.Rec.Invoke(Op{Process: NemesisProcess, Kind: KindNemesis, Fault: name, Node: node})
	if err != nil {
		return err
	}
	e.Log.Info("nemesis", "fault", name, "node", node)
	ferr := f()
	done := inv.As(OK)
	if ferr != nil {
		done.Type, done.Error = Fail, ferr.Error()
	}
	if _, err := e.Rec.Complete(done); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}

// Sleep waits d or until ctx ends; false when ctx ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Outcome is what a scenario run produced.
type Outcome struct {
	Seed    uint64
	Dir     string // run directory (removed when the run passed, unless kept)
	Kept    bool
	Report  Report
	History History
	// Failed is the verdict: a harness error, an invalid report, or a
	// workload that acknowledged nothing.
	Failed   bool
	Problems []string
}

// RunScenario starts a cluster in a fresh network namespace, runs the
// workload and the nemesis for sc.Duration, heals, waits for the replicas
// to settle, drains every queue from every replica and checks the
// history. The run directory is kept when the run fails. err is a harness
// failure (the cluster did not start, a fault could not be injected); the
// verdict on the system under test is Outcome.Failed.
func RunScenario(ctx context.Context, sc Scenario, bin Binaries, seed uint64, log *slog.Logger) (Outcome, error) {
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
	err = runScenario(ctx, sc, bin, seed, run, log, &out)
	if err != nil {
		out.Failed = true
		out.Problems = append(out.Problems, "harness: "+err.Error())
	}
	kept, ferr := run.Finish(out.Failed, out.Problems...)
	out.Kept = kept
	return out, errors.Join(err, ferr)
}

func runScenario(ctx context.Context, sc Scenario, bin Binaries, seed uint64, run *Run, log *slog.Logger, out *Outcome) (err error) {
	rec, err := run.NewRecorder()
	if err != nil {
		return err
	}
	ns, err := NewNetns(ctx, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ns.Close()) }()
	ccfg := DefaultClusterConfig(bin)
	ccfg.Logger = log
	if sc.Cluster != nil {
		sc.Cluster(&ccfg)
	}
	cl, err := StartCluster(ctx, ccfg, run, ns)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.Close()) }()

	env := &Env{Cluster: cl, Rand: NewRand(seed, "nemesis"), Log: log, Rec: rec}
	if CheckTools(FirewallTools...) == nil {
		if env.Firewall, err = NewFirewall(ctx, ns, false); err != nil {
			return err
		}
	}
	var addrs []string
	for _, n := range cl.Nodes {
		addrs = append(addrs, n.Client.String())
	}
	d := driver{sc: sc, rs: cl, rec: rec, run: run, log: log, addrs: addrs, clientConfig: cl.ClientConfig,
		setup: func(admin *client.Client, topic string) { env.Client, env.Topic = admin, topic }}
	if sc.Nemesis != nil {
		d.nemesis = func(ctx context.Context) error { return sc.Nemesis(ctx, env) }
	}
	d.heal = func(hctx context.Context) error {
		return env.Fault("heal", "", func() error {
			var errs []error
			if env.Firewall != nil {
				errs = append(errs, env.Firewall.Heal(hctx))
			}
			errs = append(errs, cl.StartNamesrv(hctx), cl.RestartAll(hctx))
			return errors.Join(errs...)
		})
	}
	if sc.BeforeDrain != nil {
		d.beforeDrain = func(hctx context.Context) error { return sc.BeforeDrain(hctx, env) }
	}
	return d.drive(ctx, seed, out)
}

// driver runs a workload against a replica set, with a nemesis, then
// heals, settles, drains and checks: the part of a scenario that does not
// depend on how the nodes run (processes in a namespace, or in-process).
type driver struct {
	sc           Scenario
	rs           ReplicaSet
	rec          *Recorder
	run          *Run
	log          *slog.Logger
	addrs        []string // where to create the topic
	clientConfig func(instance string) client.Config
	setup        func(admin *client.Client, topic string)
	nemesis      func(ctx context.Context) error
	heal         func(ctx context.Context) error
	beforeDrain  func(ctx context.Context) error
}

func (d *driver) drive(ctx context.Context, seed uint64, out *Outcome) error {
	sc, rec, run, log := d.sc, d.rec, d.run, d.log
	admin, err := client.New(d.clientConfig("admin"))
	if err != nil {
		return err
	}
	defer admin.Close()
	topic := "jepsen"
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := admin.Admin().CreateTopic(tctx, client.NewTopicConfig(topic, sc.Queues), d.addrs...); err != nil {
		return err
	}
	route, err := admin.Admin().WaitForRoute(tctx, topic, sc.Queues)
	if err != nil {
		return err
	}
	queues := route.PublishQueues()
	log.Info("topic ready", "topic", topic, "queues", len(queues))
	if d.setup != nil {
		d.setup(admin, topic)
	}

	w := &QueueWorkload{Topic: topic, Queues: queues, Producers: sc.Producers, Readers: sc.Readers,
		Committers: sc.Committers, Keys: sc.Keys, Pause: sc.Pause, Seed: seed}
	wctx, wcancel := context.WithTimeout(ctx, sc.Duration)
	defer wcancel()
	nemErr := make(chan error, 1)
	go func() {
		if d.nemesis == nil {
			nemErr <- nil
			return
		}
		nemErr <- d.nemesis(wctx)
	}()
	werr := w.Run(wctx, rec, d.rs, func(name string, sel client.QueueSelector) (*client.Client, error) {
		cfg := d.clientConfig(name)
		cfg.Selector = sel
		return client.New(cfg)
	})
	wcancel()
	if err := errors.Join(werr, <-nemErr); err != nil {
		return err
	}

	// Heal, settle, drain.
	hctx, hcancel := context.WithTimeout(ctx, 60*time.Second)
	defer hcancel()
	if d.heal != nil {
		if err := d.heal(hctx); err != nil {
			return err
		}
	}
	if d.beforeDrain != nil {
		if err := d.beforeDrain(hctx); err != nil {
			return err
		}
	}
	settled, offsets := Settle(hctx, d.rs, admin, queues, sc.SettleTimeout)
	log.Info("replicas settled", "converged", settled, "max_offsets", offsets)
	if err := DrainAll(hctx, rec, d.rs, admin, queues); err != nil {
		return err
	}
	if n := rec.CompleteAllInFlight("run ended"); n > 0 {
		log.Warn("operations still in flight at the end", "n", n)
	}
	if err := rec.SinkErr(); err != nil {
		return err
	}

	out.History = rec.History()
	opts := sc.Check
	opts.VisualizeDir = run.Dir
	rep, err := CheckAll(out.History, opts)
	if err != nil {
		return err
	}
	out.Report = rep
	if err := run.WriteJSON("results.json", &rep); err != nil {
		return err
	}
	if !settled {
		out.Problems = append(out.Problems, fmt.Sprintf("replicas did not converge within %v: %v", sc.SettleTimeout, offsets))
	}
	if !rep.Valid {
		out.Failed = true
		for _, line := range strings.Split(rep.Summary(), "\n") {
			if strings.HasPrefix(line, "INVALID") {
				out.Problems = append(out.Problems, line)
			}
		}
	}
	if rep.Lost.Acked == 0 {
		out.Failed = true
		out.Problems = append(out.Problems, "the workload acknowledged nothing")
	}
	log.Info("scenario checked", "valid", rep.Valid, "acked", rep.Lost.Acked, "ops", len(out.History))
	return nil
}
