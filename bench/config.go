package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/message"
)

// Mode is what a run exercises.
type Mode string

const (
	// ModeProduce sends messages through the broker (client → broker →
	// raft → majority durable) and measures the acknowledgements.
	ModeProduce Mode = "produce"
	// ModeConsume pulls a backlog and measures consume throughput, the pull
	// round trip, and born/store-to-consume latency.
	ModeConsume Mode = "consume"
	// ModeE2E produces and consumes at the same time and measures, besides
	// the send acknowledgements, the produce-to-consume latency of every
	// message (a nanosecond timestamp carried in the body).
	ModeE2E Mode = "e2e"
	// ModeDLedger applies raw entries through a three-node in-process raft
	// group on loopback TCP (no broker, no message encoding).
	ModeDLedger Mode = "dledger"
	// ModeCommitLog appends raw records to a local commit log.
	ModeCommitLog Mode = "commitlog"
)

// Modes lists every mode, in the order the CLI shows them.
var Modes = []Mode{ModeProduce, ModeConsume, ModeE2E, ModeDLedger, ModeCommitLog}

// clusterMode reports whether m talks to a broker cluster.
func (m Mode) clusterMode() bool { return m == ModeProduce || m == ModeConsume || m == ModeE2E }

// sends reports whether m has a sending side measured with Send TPS lines.
func (m Mode) sends() bool { return m != ModeConsume }

// Defaults.
const (
	DefaultTopic     = "BenchmarkTest" // RocketMQ's benchmark topic
	DefaultQueues    = 8
	DefaultSize      = 1024
	DefaultInterval  = time.Second
	DefaultDuration  = 10 * time.Second
	DefaultPullBatch = 32
	// MinE2ESize is the smallest body e2e mode accepts: it carries an
	// 8-byte magic and an 8-byte send timestamp.
	MinE2ESize = 16
)

// Config configures one benchmark run. Start from DefaultConfig(mode); the
// CLI maps one flag to each field.
type Config struct {
	// Mode is what the run exercises. Required.
	Mode Mode

	// NameServer is the "ip:port" of a running NameServer (produce,
	// consume, e2e). Exactly one of NameServer and Embedded. Default "".
	NameServer string
	// Embedded starts a NameServer and a three-node broker group in this
	// process, in temporary directories, on 127.0.0.1 (produce, consume,
	// e2e). Default false.
	Embedded bool
	// Topic is the topic produced to and consumed from; created with
	// Queues queues when it does not exist. Default "BenchmarkTest".
	Topic string
	// Queues is the queue count of the topic when the tool creates it.
	// Default 8.
	Queues int

	// Size is the body size of a message, the data size of a raft entry
	// (dledger) or of a record (commitlog), in bytes. Default 1024.
	Size int
	// Producers is the number of producers: each has its own client (own
	// connections) in produce/e2e; in dledger and commitlog modes the
	// number of writers is Producers × Inflight. Default 1.
	Producers int
	// Inflight is how many operations each producer keeps outstanding
	// (pipelining). 1 is a synchronous producer. Default 1.
	Inflight int
	// Batch is the number of messages per SEND_BATCH request (produce,
	// e2e; with Coalesce, the most per coalesced batch), or of records per
	// Append (commitlog). dledger mode takes 1 only. Default 1.
	Batch int
	// Coalesce sends every message on its own through client's
	// BatchingProducer, which packs concurrently waiting messages into
	// SEND_BATCH requests of at most Batch messages. Default false.
	Coalesce bool
	// Linger is how long a coalesced batch may wait for company (see
	// client.BatchOptions.Linger). Default 0.
	Linger time.Duration

	// Count is the number of messages (entries, records) to send; 0 means
	// the run is bounded by Duration. Count and Duration exclude each
	// other. In consume mode with Embedded, Count is the backlog size.
	// Default 0.
	Count int64
	// Duration bounds the measured run; 0 with Count 0 means
	// DefaultDuration (10 s). Default 0.
	Duration time.Duration
	// Warmup runs the same load for this long before the measured run;
	// nothing of it is reported. Default 0.
	Warmup time.Duration
	// Rate, when positive, makes the run open-loop: operations are
	// scheduled at Rate messages per second (each operation carries Batch
	// messages), whatever the responses do, and latency is measured from
	// each operation's scheduled start, so queueing behind slow responses
	// is counted (no coordinated omission). Inflight still bounds the
	// operations outstanding per producer; a schedule that runs ahead of
	// it shows up as latency. 0 is closed-loop. Default 0.
	Rate float64

	// KillLeaderAt, when positive, kills the group's leader (a crash: no
	// leadership transfer) this long into the measured run and reports
	// the producer-visible gap. Embedded produce and e2e only. Default 0.
	KillLeaderAt time.Duration

	// Interval is the period of the progress lines. Default 1 s.
	Interval time.Duration
	// JSON adds one JSON object as the last line of output. Default false.
	JSON bool

	// Flush is the commit-log flush mode (commitlog, dledger and the
	// embedded group). Default commitlog.FlushSync.
	Flush commitlog.FlushMode
	// LogStore is the raft log store of dledger mode. Default
	// dledger.LogStoreCommitLog.
	LogStore dledger.LogStoreKind
	// SegmentSize is the commit-log segment size in bytes (commitlog,
	// dledger and the embedded group). Default 1 GiB.
	SegmentSize int64
	// WarmSegments writes commit-log segments with zeros before use
	// (commitlog.Options.WarmSegments; broker.conf warmMapedFileEnable).
	// The first segment is warmed before the run starts.
	WarmSegments bool
	// Retain (dledger mode, commit-log store) is how many bytes of commit
	// log each node keeps: every 200 ms older segments are dropped, as
	// far as raft has compacted its log (for that the nodes snapshot every
	// 8,192 entries and keep 4,096 behind a snapshot). 0: no retention, the log only grows. Measures a
	// group whose retention is deleting segments (recycled segments,
	// commitlog/warm.go).
	Retain int64
	// Dir is where data goes (commitlog, dledger, embedded); "" means a
	// fresh temporary directory removed after the run. A given Dir is
	// kept. Default "".
	Dir string

	// PullBatch is the most messages asked for per pull (consume, e2e);
	// the broker caps it (PullMaxMsgNums, 64 by default). Default 32.
	PullBatch int
	// PullSuspend is the long-poll hold of e2e pulls. Default 2 s.
	PullSuspend time.Duration

	// CPUProfile, if set, is a file the CPU profile of the measured run is
	// written to (go tool pprof). Default "".
	CPUProfile string
	// MemProfile, if set, is a file a heap profile is written to when the
	// measured run ends (after a GC: what is live). Default "".
	MemProfile string

	// Logger receives setup progress and the embedded cluster's warnings.
	// Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config for mode.
func DefaultConfig(mode Mode) Config {
	return Config{
		Mode:        mode,
		Topic:       DefaultTopic,
		Queues:      DefaultQueues,
		Size:        DefaultSize,
		Producers:   1,
		Inflight:    1,
		Batch:       1,
		Interval:    DefaultInterval,
		Flush:       commitlog.FlushSync,
		LogStore:    dledger.LogStoreCommitLog,
		SegmentSize: commitlog.DefaultSegmentSize,
		PullBatch:   DefaultPullBatch,
		PullSuspend: 2 * time.Second,
	}
}

// Concurrency is the number of operations in flight at once at most:
// Producers × Inflight.
func (c Config) Concurrency() int { return c.Producers * c.Inflight }

// runDuration is the bound on the measured run (0: bounded by Count).
func (c Config) runDuration() time.Duration {
	if c.Duration == 0 && c.Count == 0 {
		return DefaultDuration
	}
	return c.Duration
}

// Validate reports every problem at once (errors.Join), each wrapping
// ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	known := false
	for _, m := range Modes {
		known = known || c.Mode == m
	}
	if !known {
		bad("mode %q is not one of produce, consume, e2e, dledger, commitlog", c.Mode)
	}
	if c.Mode.clusterMode() {
		switch {
		case c.NameServer == "" && !c.Embedded:
			bad("%s needs --namesrv ADDR or --embedded", c.Mode)
		case c.NameServer != "" && c.Embedded:
			bad("--namesrv and --embedded exclude each other")
		case c.NameServer != "":
			if ap, err := netip.ParseAddrPort(c.NameServer); err != nil || ap.Port() == 0 {
				bad("--namesrv %q is not an ip:port", c.NameServer)
			}
		}
		if err := message.ValidateTopic(c.Topic); err != nil {
			bad("--topic: %v", err)
		}
		if c.Queues < 1 || c.Queues > 1024 {
			bad("--queues %d must be in [1, 1024]", c.Queues)
		}
		if c.PullBatch < 1 || c.PullBatch > 1024 {
			bad("--pull-batch %d must be in [1, 1024]", c.PullBatch)
		}
		if c.PullSuspend < 0 {
			bad("--pull-suspend %v is negative", c.PullSuspend)
		}
	} else if known {
		if c.NameServer != "" || c.Embedded {
			bad("%s runs its own storage; --namesrv and --embedded do not apply", c.Mode)
		}
	}
	if c.Size < 1 {
		bad("--size %d must be positive", c.Size)
	}
	if c.Mode == ModeE2E && c.Size < MinE2ESize {
		bad("--size %d: e2e needs at least %d bytes (magic and send time ride in the body)", c.Size, MinE2ESize)
	}
	if c.Mode.clusterMode() && c.Size > message.MaxBodySize {
		bad("--size %d above the %d-byte message limit", c.Size, message.MaxBodySize)
	}
	if c.Producers < 1 || c.Producers > 4096 {
		bad("--producers %d must be in [1, 4096]", c.Producers)
	}
	if c.Inflight < 1 || c.Inflight > 65536 {
		bad("--inflight %d must be in [1, 65536]", c.Inflight)
	}
	if c.Batch < 1 || c.Batch > 4096 {
		bad("--batch %d must be in [1, 4096]", c.Batch)
	}
	if c.Mode == ModeDLedger && c.Batch != 1 {
		bad("--batch %d: dledger mode applies one entry per operation (use --inflight for concurrency)", c.Batch)
	}
	if (c.Mode == ModeProduce || c.Mode == ModeE2E) && !c.Coalesce && c.Batch > 1 && int64(c.Batch)*int64(c.Size+200) > message.MaxBodySize {
		bad("--batch %d × --size %d does not fit a %d-byte SEND_BATCH body", c.Batch, c.Size, message.MaxBodySize)
	}
	if c.Coalesce && c.Mode != ModeProduce && c.Mode != ModeE2E {
		bad("--coalesce applies to produce and e2e only")
	}
	if c.Linger < 0 {
		bad("--linger %v is negative", c.Linger)
	}
	if c.Linger > 0 && !c.Coalesce {
		bad("--linger needs --coalesce")
	}
	if c.Count < 0 {
		bad("--count %d is negative", c.Count)
	}
	if c.Duration < 0 {
		bad("--duration %v is negative", c.Duration)
	}
	if c.Count > 0 && c.Duration > 0 {
		bad("--count and --duration exclude each other")
	}
	if c.Warmup < 0 {
		bad("--warmup %v is negative", c.Warmup)
	}
	if c.Rate < 0 {
		bad("--rate %v is negative", c.Rate)
	}
	if c.Mode == ModeConsume && c.Rate > 0 {
		bad("--rate does not apply to consume (it drains a backlog)")
	}
	if c.Mode == ModeConsume && c.Embedded && c.Count == 0 {
		bad("consume --embedded needs --count N: the backlog it preloads and then consumes")
	}
	if c.KillLeaderAt < 0 {
		bad("--kill-leader-at %v is negative", c.KillLeaderAt)
	}
	if c.KillLeaderAt > 0 {
		if !c.Embedded || (c.Mode != ModeProduce && c.Mode != ModeE2E) {
			bad("--kill-leader-at needs produce or e2e with --embedded")
		}
		if d := c.runDuration(); d > 0 && c.KillLeaderAt >= d {
			bad("--kill-leader-at %v is not before the end of the run (%v)", c.KillLeaderAt, d)
		}
	}
	if c.Interval < 10*time.Millisecond {
		bad("--interval %v below 10ms", c.Interval)
	}
	if c.Flush != commitlog.FlushSync && c.Flush != commitlog.FlushAsync {
		bad("--flush %v is not sync or async", c.Flush)
	}
	if c.LogStore != dledger.LogStoreCommitLog && c.LogStore != dledger.LogStoreBolt && c.LogStore != dledger.LogStoreMemory {
		bad("--log-store %q is not commitlog, bolt or memory", c.LogStore)
	}
	if c.Mode != ModeDLedger && c.LogStore != dledger.LogStoreCommitLog {
		bad("--log-store applies to dledger mode only (the message store needs the commit log)")
	}
	if c.Retain != 0 && (c.Mode != ModeDLedger || c.LogStore != dledger.LogStoreCommitLog || c.Retain < 2*c.SegmentSize) {
		bad("--retain %d applies to dledger mode with the commit-log store and must be at least two segments (%d)", c.Retain, 2*c.SegmentSize)
	}
	if c.SegmentSize < commitlog.MinSegmentSize || c.SegmentSize > commitlog.MaxSegmentSize || c.SegmentSize%4096 != 0 {
		bad("--segment-size %d must be a multiple of 4096 in [%d, %d]", c.SegmentSize, commitlog.MinSegmentSize, int64(commitlog.MaxSegmentSize))
	}
	if c.Mode == ModeCommitLog || c.Mode == ModeDLedger {
		per := int64(c.Size) + 1024 // record and entry headers, generously
		if c.Mode == ModeCommitLog {
			per *= int64(c.Batch)
		}
		if per > c.SegmentSize/2 {
			bad("--size %d (× --batch) does not fit a %d-byte segment", c.Size, c.SegmentSize)
		}
	}
	return errors.Join(errs...)
}

// parseFlush maps "sync"/"async" to a FlushMode.
func ParseFlush(s string) (commitlog.FlushMode, error) {
	switch s {
	case "sync", "SYNC_FLUSH":
		return commitlog.FlushSync, nil
	case "async", "ASYNC_FLUSH":
		return commitlog.FlushAsync, nil
	}
	return 0, fmt.Errorf("%w: --flush %q is not sync or async", ErrConfig, s)
}
