package jepsen

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	bins    Binaries
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// scenarioBinaries builds the binaries once per test process, or skips
// the test when a scenario cannot run here.
func scenarioBinaries(t *testing.T) Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: scenarios start real processes (-short)")
	}
	needTools(t, NetnsTools...)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "jepsen-bin-")
		if binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bins, binErr = BuildBinaries(ctx, binDir)
	})
	if binErr != nil {
		t.Fatalf("building namesrv and dledger-broker: %v", binErr)
	}
	return bins
}

// testLogger writes harness logs to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// TestScenarioCanaryWipedClusterFails is the harness's own canary: after
// the workload every replica's data is wiped. The run must be judged
// failed (acknowledged values are gone), and its directory kept with the
// history, logs and results: a harness that passes this would pass
// anything.
func TestScenarioCanaryWipedClusterFails(t *testing.T) {
	bin := scenarioBinaries(t)
	seed := TestSeed(t)
	sc := Scenario{
		Name:          "canary-wipe-all",
		Duration:      3 * time.Second,
		Queues:        2,
		Producers:     2,
		Pause:         5 * time.Millisecond,
		SettleTimeout: 3 * time.Second,
		BeforeDrain: func(ctx context.Context, env *Env) error {
			return env.Fault("wipe-all-data", "", func() error {
				for _, n := range env.Cluster.Nodes {
					if err := env.Cluster.Kill(n); err != nil {
						return err
					}
				}
				for _, n := range env.Cluster.Nodes {
					if err := os.RemoveAll(n.Data); err != nil {
						return err
					}
					if err := os.MkdirAll(n.Data, 0o755); err != nil {
						return err
					}
				}
				for _, n := range env.Cluster.Nodes {
					if err := env.Cluster.Restart(ctx, n); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := RunScenario(ctx, sc, bin, seed, testLogger(t))
	t.Cleanup(func() { os.RemoveAll(out.Dir) })
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("report:\n%s", out.Report.Summary())
	if !out.Failed || out.Report.Valid || !out.Kept {
		t.Fatalf("wiping every replica went unnoticed: failed %v, valid %v, kept %v", out.Failed, out.Report.Valid, out.Kept)
	}
	if out.Report.Lost.Acked == 0 || (out.Report.Lost.LostEverywhere == 0 && len(out.Report.Undrained) == 0) {
		t.Fatalf("expected acked values lost everywhere (or undrainable queues): %+v", out.Report.Lost)
	}
	for _, f := range []string{"history.jsonl", "results.json", "run.json", "logs/n0.log", "logs/namesrv.log"} {
		if fi, err := os.Stat(filepath.Join(out.Dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("failed run lacks %s: %v", f, err)
		}
	}
	h, err := LoadHistory(filepath.Join(out.Dir, "history.jsonl"))
	if err != nil || len(h) != len(out.History) {
		t.Fatalf("kept history: %d ops, %v; want %d", len(h), err, len(out.History))
	}
}
