package bench

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/dledgermq/dledgermq/internal/testutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
)

// lastJSON parses the last line of out as the JSON summary.
func lastJSON(t *testing.T, out string) JSONResult {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var j JSONResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &j); err != nil {
		t.Fatalf("last line is not the JSON summary: %v\n%s", err, out)
	}
	return j
}

// testLogger keeps the run's logs for a failed test.
func testLogger(t *testing.T) *slog.Logger {
	var buf testutil.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// run runs cfg with a bound and returns its output and result.
func run(t *testing.T, cfg Config, timeout time.Duration) (string, *Result) {
	t.Helper()
	cfg.JSON, cfg.Logger = true, testLogger(t)
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out testutil.LogBuffer
	res, err := Run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("run did not finish within %v:\n%s", timeout, out.String())
	}
	return out.String(), res
}

func checkSent(t *testing.T, out string, want int64) JSONResult {
	t.Helper()
	j := lastJSON(t, out)
	if j.Sent != want || j.Errors != 0 {
		t.Fatalf("sent %d errors %d, want %d and 0:\n%s", j.Sent, j.Errors, want, out)
	}
	if j.MsgsPerSec <= 0 || j.MBPerSec <= 0 || j.P50us <= 0 || j.P99us < j.P50us || j.P999us < j.P99us || j.MaxUS < j.P999us {
		t.Fatalf("implausible figures: %+v", j)
	}
	for _, s := range []string{"=== dledgermq bench: ", "Send TPS: ", "=== summary: "} {
		if !strings.Contains(out, s) {
			t.Fatalf("output lacks %q:\n%s", s, out)
		}
	}
	return j
}

func TestRunCommitLog(t *testing.T) {
	for _, flush := range []string{"sync", "async"} {
		t.Run(flush, func(t *testing.T) {
			cfg := DefaultConfig(ModeCommitLog)
			cfg.Flush, _ = ParseFlush(flush)
			cfg.Count, cfg.Batch, cfg.Producers, cfg.Inflight, cfg.SegmentSize = 301, 8, 2, 2, 1<<20
			cfg.Interval = 20 * time.Millisecond
			out, res := run(t, cfg, 30*time.Second)
			checkSent(t, out, 301)
			if res.Send.Ops != 38 { // 37 batches of 8 and one of 5
				t.Fatalf("%d appends, want 38", res.Send.Ops)
			}
		})
	}
}

// TestRunOpenLoopKeepsSchedule: 400 records offered at 4000/s take about
// 100 ms however fast the log is, and the start lag is reported.
func TestRunOpenLoopKeepsSchedule(t *testing.T) {
	cfg := DefaultConfig(ModeCommitLog)
	cfg.Flush, _ = ParseFlush("async")
	cfg.Count, cfg.Rate, cfg.Inflight, cfg.SegmentSize = 400, 4000, 4, 1<<20
	out, res := run(t, cfg, 30*time.Second)
	j := checkSent(t, out, 400)
	if res.Elapsed < 99*time.Millisecond {
		t.Fatalf("open loop at 4000/s finished 400 records in %v (< 100 ms)", res.Elapsed)
	}
	if j.LagP99us == nil || res.Send.Lag.TotalCount() != 400 {
		t.Fatalf("start lag not reported: %+v", j)
	}
	if !strings.Contains(out, "start lag µs") {
		t.Fatalf("summary lacks the start lag:\n%s", out)
	}
}

func TestRunDLedger(t *testing.T) {
	for _, kind := range []dledger.LogStoreKind{dledger.LogStoreCommitLog, dledger.LogStoreBolt} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := DefaultConfig(ModeDLedger)
			cfg.LogStore, cfg.Count, cfg.Inflight, cfg.SegmentSize = kind, 120, 4, 4<<20
			out, _ := run(t, cfg, 60*time.Second)
			j := checkSent(t, out, 120)
			if j.LogStore != string(kind) || !strings.Contains(out, "log store "+string(kind)) {
				t.Fatalf("log store not reported: %q\n%s", j.LogStore, out)
			}
		})
	}
}

// TestRunDLedgerRetention: --retain drops the oldest commit-log segments
// on every node while the group runs (once raft has compacted past them).
func TestRunDLedgerRetention(t *testing.T) {
	cfg := DefaultConfig(ModeDLedger)
	cfg.Duration, cfg.Inflight, cfg.Size = 4*time.Second, 64, 100
	cfg.SegmentSize, cfg.Retain, cfg.Dir = 64<<10, 256<<10, t.TempDir()
	out, _ := run(t, cfg, 120*time.Second)
	if !strings.Contains(out, "retaining 262144 B") {
		t.Fatalf("retention not reported:\n%s", out)
	}
	for _, n := range []string{"n0", "n1", "n2"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, n, "commitlog", "00000000000000000000")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still has its first segment (err %v)", n, err)
		}
	}
}

// TestRunInterruptedPrintsSummary: cancelling the context (Ctrl-C) stops
// a long run promptly with the summary so far.
func TestRunInterruptedPrintsSummary(t *testing.T) {
	cfg := DefaultConfig(ModeCommitLog)
	cfg.Flush, _ = ParseFlush("async")
	cfg.Duration, cfg.SegmentSize, cfg.JSON, cfg.Dir = time.Hour, 1<<20, true, t.TempDir()
	cfg.Size = 100
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out testutil.LogBuffer
	t0 := time.Now()
	res, err := Run(ctx, cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("interrupted run took %v to stop", d)
	}
	j := lastJSON(t, out.String())
	if !res.Interrupted || !j.Interrupted || j.Sent == 0 {
		t.Fatalf("interrupted %v/%v, sent %d", res.Interrupted, j.Interrupted, j.Sent)
	}
	if !strings.Contains(out.String(), "summary (interrupted") {
		t.Fatalf("summary does not say it was interrupted:\n%s", out.String())
	}
}

func embeddedConfig(mode Mode) Config {
	cfg := DefaultConfig(mode)
	cfg.Embedded, cfg.SegmentSize, cfg.Queues = true, 8<<20, 4
	cfg.Interval = 250 * time.Millisecond
	return cfg
}

func TestRunProduceEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node broker group")
	}
	cfg := embeddedConfig(ModeProduce)
	cfg.Count, cfg.Inflight, cfg.Batch = 300, 4, 3
	out, res := run(t, cfg, 60*time.Second)
	checkSent(t, out, 300)
	if !strings.Contains(out, "embedded namesrv") || !strings.Contains(out, "4 publish queues") {
		t.Fatalf("setup not in the banner:\n%s", out)
	}
	if res.Send.Ops != 100 {
		t.Fatalf("%d SEND_BATCH requests, want 100", res.Send.Ops)
	}
}

// TestRunE2EEmbeddedWithLeaderKill: producing through a coalescing client
// while a consumer follows, the leader is killed mid-run: the failover is
// reported, and every acknowledged message is consumed.
func TestRunE2EEmbeddedWithLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node broker group")
	}
	cfg := embeddedConfig(ModeE2E)
	cfg.Duration, cfg.KillLeaderAt = 4*time.Second, 1500*time.Millisecond
	cfg.Coalesce, cfg.Batch, cfg.Inflight, cfg.Rate = true, 32, 64, 500
	out, res := run(t, cfg, 90*time.Second)
	j := lastJSON(t, out)
	f := res.Failover
	if f == nil || f.KilledNode == "" || j.FailoverGapMS == nil {
		t.Fatalf("no failover report:\n%s", out)
	}
	if f.ElectedAfter <= 0 || f.LongestGap <= 0 || f.LongestGap > 3*time.Second {
		t.Fatalf("failover: elected after %v, gap %v\n%s", f.ElectedAfter, f.LongestGap, out)
	}
	if j.Sent < 500 || j.Consumed == nil || *j.Consumed < j.Sent || *j.Missing != 0 {
		t.Fatalf("sent %d, consumed %v, missing %v\n%s", j.Sent, j.Consumed, j.Missing, out)
	}
	if j.E2EP50us == nil || *j.E2EP50us <= 0 || !strings.Contains(out, "Consume TPS: ") || !strings.Contains(out, "killed leader") {
		t.Fatalf("e2e figures missing:\n%s", out)
	}
}

func TestRunConsumeEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node broker group")
	}
	cfg := embeddedConfig(ModeConsume)
	cfg.Count, cfg.PullBatch = 1000, 64
	out, res := run(t, cfg, 60*time.Second)
	j := lastJSON(t, out)
	if res.Backlog != 1000 || j.Sent != 1000 || j.Consumed == nil || *j.Consumed != 1000 || j.Errors != 0 {
		t.Fatalf("backlog %d, consumed %v, errors %d:\n%s", res.Backlog, j.Consumed, j.Errors, out)
	}
	if j.MsgsPerSec <= 0 || j.P50us <= 0 || j.S2CP50us == nil || *j.S2CP50us <= 0 || !strings.Contains(out, "Consume TPS: ") {
		t.Fatalf("consume figures missing: %+v\n%s", j, out)
	}
}
