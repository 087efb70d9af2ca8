package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/bench"
	"github.com/dledgermq/dledgermq/dledger"
)

// BenchApp is the `bench` binary: benchmark drivers for the broker
// (produce, consume, e2e), the raft group (dledger) and the commit log
// (commitlog). See package bench for what each mode measures.
func BenchApp() *cli.App {
	cmds := make([]*cli.Command, 0, len(bench.Modes))
	for _, m := range bench.Modes {
		cmds = append(cmds, benchCommand(m))
	}
	return &cli.App{
		Name:  "bench",
		Usage: "benchmark the broker, the raft group and the commit log",
		Description: "Each subcommand prints a parameter banner, one progress line per --interval with RocketMQ's\n" +
			"benchmark fields (Send TPS, Max RT, Average RT, Send Failed, Response Failed) plus p99, and a\n" +
			"summary with HDR-histogram percentiles (µs). --json makes the last line one JSON object.\n" +
			"Ctrl-C stops the run and prints the summary so far.",
		Commands:        cmds,
		HideHelpCommand: true,
	}
}

var benchUsage = map[bench.Mode]string{
	bench.ModeProduce:   "send messages through a broker group and measure acknowledgements (durable on a majority)",
	bench.ModeConsume:   "pull a backlog (preloaded with --embedded) and measure consume rate and latency",
	bench.ModeE2E:       "produce and consume at once; measure send acks and produce-to-consume latency",
	bench.ModeDLedger:   "apply raw entries through a three-node in-process raft group on loopback TCP",
	bench.ModeCommitLog: "append raw records to a local commit log (one sync per batch, or async)",
}

// benchFlags returns the flags mode accepts, with the defaults of
// bench.DefaultConfig.
func benchFlags(m bench.Mode) []cli.Flag {
	def := bench.DefaultConfig(m)
	cluster := m == bench.ModeProduce || m == bench.ModeConsume || m == bench.ModeE2E
	sends := m != bench.ModeConsume
	var fs []cli.Flag
	if cluster {
		fs = append(fs,
			&cli.StringFlag{Name: "namesrv", Usage: "NameServer `ADDR` (ip:port) of a running cluster"},
			&cli.BoolFlag{Name: "embedded", Usage: "start a NameServer and a three-node broker group in this process (temp dirs, 127.0.0.1)"},
			&cli.StringFlag{Name: "topic", Value: def.Topic, Usage: "topic to use (created if missing)"},
			&cli.IntFlag{Name: "queues", Value: def.Queues, Usage: "queues of the topic when the tool creates it"},
		)
	}
	if m == bench.ModeConsume || m == bench.ModeE2E {
		fs = append(fs, &cli.IntFlag{Name: "pull-batch", Value: def.PullBatch, Usage: "messages asked for per pull (the broker caps it at 64 by default)"})
	}
	fs = append(fs, &cli.IntFlag{Name: "size", Value: def.Size, Usage: "bytes per message body / entry / record"})
	if sends {
		fs = append(fs,
			&cli.IntFlag{Name: "producers", Value: def.Producers, Usage: "producers (own client each); dledger/commitlog: writers = producers × inflight"},
			&cli.IntFlag{Name: "inflight", Value: def.Inflight, Usage: "operations each producer keeps outstanding (1 = synchronous)"},
			&cli.Float64Flag{Name: "rate", Usage: "open loop: offered msgs/s, latency from each operation's scheduled start (0 = closed loop)"},
		)
		if m != bench.ModeDLedger {
			fs = append(fs, &cli.IntFlag{Name: "batch", Value: def.Batch, Usage: "messages per SEND_BATCH (records per Append in commitlog)"})
		}
	}
	if m == bench.ModeProduce || m == bench.ModeE2E {
		fs = append(fs,
			&cli.BoolFlag{Name: "coalesce", Usage: "send messages singly through the client's batching producer (up to --batch per SEND_BATCH)"},
			&cli.DurationFlag{Name: "linger", Usage: "with --coalesce: how long a batch may wait for company"},
			&cli.DurationFlag{Name: "kill-leader-at", Usage: "with --embedded: kill the leader this far into the run and report the failover gap"},
		)
	}
	countUsage := "messages to send (excludes --duration)"
	if m == bench.ModeConsume {
		countUsage = "with --embedded: backlog to preload and consume; with --namesrv: messages to consume (0: drain to the end)"
	}
	fs = append(fs,
		&cli.Int64Flag{Name: "count", Usage: countUsage},
		&cli.DurationFlag{Name: "duration", Usage: "length of the measured run (default 10s when --count is not given)"},
		&cli.DurationFlag{Name: "interval", Value: def.Interval, Usage: "progress line period"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object as the last line"},
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the measured run to `FILE` (in-process clusters included)"},
		&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile at the end of the measured run to `FILE`"},
	)
	if sends {
		fs = append(fs, &cli.DurationFlag{Name: "warmup", Usage: "run the load this long before measuring (not reported)"})
	}
	if m == bench.ModeDLedger {
		fs = append(fs, &cli.StringFlag{Name: "log-store", Value: string(def.LogStore), Usage: "raft log store: commitlog, bolt (baseline) or memory (no disk: what raft itself costs)"})
	}
	if m == bench.ModeCommitLog || m == bench.ModeDLedger || cluster {
		fs = append(fs,
			&cli.StringFlag{Name: "flush", Value: "sync", Usage: "commit-log flush: sync (durable before the ack) or async"},
			&cli.Int64Flag{Name: "segment-size", Value: def.SegmentSize, Usage: "commit-log segment size in bytes"},
			&cli.BoolFlag{Name: "warm-segments", Usage: "write commit-log segments with zeros before use (broker.conf warmMapedFileEnable)"},
			&cli.Int64Flag{Name: "retain", Usage: "dledger mode: bytes of commit log each node keeps, older segments dropped as raft compacts (0 = none)"},
			&cli.StringFlag{Name: "dir", Usage: "data directory (default: a temporary one, removed afterwards)"},
		)
	}
	return append(fs, logFlags()...)
}

func benchCommand(m bench.Mode) *cli.Command {
	return &cli.Command{
		Name:   string(m),
		Usage:  benchUsage[m],
		Flags:  benchFlags(m),
		Action: func(c *cli.Context) error { return runBench(c, m) },
	}
}

// benchConfig maps the flags of c to a bench.Config and validates it.
func benchConfig(c *cli.Context, m bench.Mode) (bench.Config, error) {
	cfg := bench.DefaultConfig(m)
	var errs []error
	set := func(name string, f func()) {
		if hasFlag(c, name) {
			f()
		}
	}
	set("namesrv", func() { cfg.NameServer = c.String("namesrv") })
	set("embedded", func() { cfg.Embedded = c.Bool("embedded") })
	set("topic", func() { cfg.Topic = c.String("topic") })
	set("queues", func() { cfg.Queues = c.Int("queues") })
	set("pull-batch", func() { cfg.PullBatch = c.Int("pull-batch") })
	set("size", func() { cfg.Size = c.Int("size") })
	set("producers", func() { cfg.Producers = c.Int("producers") })
	set("inflight", func() { cfg.Inflight = c.Int("inflight") })
	set("batch", func() { cfg.Batch = c.Int("batch") })
	set("rate", func() { cfg.Rate = c.Float64("rate") })
	set("coalesce", func() { cfg.Coalesce = c.Bool("coalesce") })
	set("linger", func() { cfg.Linger = c.Duration("linger") })
	set("kill-leader-at", func() { cfg.KillLeaderAt = c.Duration("kill-leader-at") })
	set("count", func() { cfg.Count = c.Int64("count") })
	set("duration", func() { cfg.Duration = c.Duration("duration") })
	set("interval", func() { cfg.Interval = c.Duration("interval") })
	set("json", func() { cfg.JSON = c.Bool("json") })
	set("warmup", func() { cfg.Warmup = c.Duration("warmup") })
	set("log-store", func() { cfg.LogStore = dledger.LogStoreKind(c.String("log-store")) })
	set("segment-size", func() { cfg.SegmentSize = c.Int64("segment-size") })
	set("warm-segments", func() { cfg.WarmSegments = c.Bool("warm-segments") })
	set("retain", func() { cfg.Retain = c.Int64("retain") })
	set("dir", func() { cfg.Dir = c.String("dir") })
	set("cpuprofile", func() { cfg.CPUProfile = c.String("cpuprofile") })
	set("memprofile", func() { cfg.MemProfile = c.String("memprofile") })
	set("flush", func() {
		f, err := bench.ParseFlush(c.String("flush"))
		if err != nil {
			errs = append(errs, err)
		}
		cfg.Flush = f
	})
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// hasFlag reports whether the command defines a flag called name (so its
// default, which may differ from bench.DefaultConfig's zero, applies).
func hasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

func runBench(c *cli.Context, m bench.Mode) error {
	if c.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected arguments %q", m, c.Args().Slice())
	}
	log, err := newLogger(c, os.Stderr)
	if err != nil {
		return err
	}
	cfg, err := benchConfig(c, m)
	if err != nil {
		return err
	}
	cfg.Logger = log
	ctx, stop := signalContext(c.Context)
	defer stop()
	_, err = bench.Run(ctx, cfg, c.App.Writer)
	return err
}
