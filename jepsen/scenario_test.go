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

// TestScenarioKillLeaderQueue: kill -9 of the leader (and restart) under a
// unique-values workload with sharding keys and leader reads, then a final
// drain of every queue from every replica and every checker. Seeded:
// JEPSEN_SEED replays the fault schedule and the workload's choices.
func TestScenarioKillLeaderQueue(t *testing.T) {
	bin := scenarioBinaries(t)
	seed := TestSeed(t)
	sc := Scenario{
		Name:      "kill-leader-queue",
		Duration:  10 * time.Second,
		Queues:    4,
		Producers: 3,
		Readers:   1,
		Keys:      6,
		Pause:     5 * time.Millisecond,
		Nemesis:   KillLeader(Span{1500 * time.Millisecond, 2500 * time.Millisecond}, Span{time.Second, 2 * time.Second}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := RunScenario(ctx, sc, bin, seed, testLogger(t))
	t.Logf("run directory %s (kept %v)", out.Dir, out.Kept)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("report:\n%s", out.Report.Summary())
	kills := 0
	for _, op := range out.History {
		if op.Kind == KindNemesis && op.Fault == "kill-leader" && op.Type == OK {
			kills++
		}
	}
	if kills == 0 {
		t.Errorf("no leader was killed")
	}
	if out.Failed {
		t.Fatalf("scenario failed (history, logs and data kept in %s): %v", out.Dir, out.Problems)
	}
	if out.Kept {
		if _, err := os.Stat(filepath.Join(out.Dir, "history.jsonl")); err != nil {
			t.Errorf("kept run lacks its history: %v", err)
		}
	}
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

// MatrixEnv=1 runs TestScenarioMatrix: every built fault against the queue
// workload, about 15 s each. Off by default to keep `go test` short.
const MatrixEnv = "JEPSEN_MATRIX"

func TestScenarioMatrix(t *testing.T) {
	if os.Getenv(MatrixEnv) != "1" {
		t.Skipf("skipping: set %s=1 to run every fault scenario (~2 min)", MatrixEnv)
	}
	bin := scenarioBinaries(t)
	up := Span{1500 * time.Millisecond, 2500 * time.Millisecond}
	cases := []struct {
		name    string
		nemesis func(context.Context, *Env) error
		tools   []string
	}{
		{"kill-follower", KillFollower(up, Span{time.Second, 2 * time.Second}), nil},
		{"kill-all", KillAll(up, Span{500 * time.Millisecond, time.Second}), nil},
		{"pause-leader", PauseLeader(up, Span{time.Second, 2 * time.Second}), nil},
		{"isolate-leader", IsolateLeader(up, Span{time.Second, 2 * time.Second}), FirewallTools},
		{"partition-leader-follower", PartitionLeaderFromFollower(up, Span{time.Second, 2 * time.Second}), FirewallTools},
		{"namesrv-down", NamesrvDown(up, Span{time.Second, 2 * time.Second}), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needTools(t, c.tools...)
			seed := TestSeed(t)
			sc := Scenario{Name: c.name + "-queue", Duration: 10 * time.Second, Queues: 4,
				Producers: 3, Readers: 1, Keys: 6, Pause: 5 * time.Millisecond, Nemesis: c.nemesis}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := RunScenario(ctx, sc, bin, seed, testLogger(t))
			if err != nil {
				t.Fatalf("harness (run kept in %s): %v", out.Dir, err)
			}
			t.Logf("report:\n%s", out.Report.Summary())
			if out.Failed {
				t.Fatalf("scenario failed (kept in %s): %v", out.Dir, out.Problems)
			}
		})
	}
}
