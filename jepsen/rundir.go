package jepsen

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Environment variables a run honours besides JEPSEN_SEED.
const (
	// RunDirEnv overrides RunConfig.BaseDir.
	RunDirEnv = "JEPSEN_RUN_DIR"
	// KeepEnv=1 keeps the directories of passing runs too.
	KeepEnv = "JEPSEN_KEEP"
)

// RunConfig configures a run directory. Start from DefaultRunConfig.
type RunConfig struct {
	// Name is the scenario ("kill-leader-queue"); letters, digits, '-',
	// '_' and '.' only. Required.
	Name string
	// Seed is the run's seed, written to run.json and the directory name.
	Seed uint64
	// BaseDir holds one directory per run. Default $JEPSEN_RUN_DIR, else
	// $TMPDIR/jepsen-runs.
	BaseDir string
	// KeepPassed keeps the directory of a run that passed (failed runs are
	// always kept). Default true when JEPSEN_KEEP=1.
	KeepPassed bool
	// Logger receives where the run lives. Default slog.Default().
	Logger *slog.Logger
}

// DefaultRunConfig returns the defaults documented on RunConfig.
func DefaultRunConfig(name string, seed uint64) RunConfig {
	base := os.Getenv(RunDirEnv)
	if base == "" {
		base = filepath.Join(os.TempDir(), "jepsen-runs")
	}
	return RunConfig{Name: name, Seed: seed, BaseDir: base, KeepPassed: os.Getenv(KeepEnv) == "1", Logger: slog.Default()}
}

var runNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate reports every invalid field at once, wrapped in
// ErrInvalidConfig.
func (c RunConfig) Validate() error {
	var errs []error
	if !runNameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("Name %q must be non-empty letters, digits, '-', '_' or '.'", c.Name))
	}
	if c.BaseDir == "" {
		errs = append(errs, errors.New("BaseDir is empty"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("Logger is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Run is the directory of one run:
//
//	<base>/<name>-<UTC time>-seed<seed>/
//	  run.json        name, seed, start, the rerun command, outcome
//	  history.jsonl   the history, written as it is recorded
//	  results.json    checker report
//	  logs/<proc>.log stdout+stderr of every process
//	  data/<node>/    data directories
//
// Finish removes it when the run passed (unless KeepPassed) and keeps it
// otherwise.
type Run struct {
	Dir  string
	cfg  RunConfig
	meta runMeta

	mu      sync.Mutex
	history *os.File
}

type runMeta struct {
	Name     string    `json:"name"`
	Seed     uint64    `json:"seed"`
	Rerun    string    `json:"rerun"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
	Outcome  string    `json:"outcome,omitempty"` // "passed", "failed"
	Problems []string  `json:"problems,omitempty"`
}

// NewRun creates the run directory with logs/ and data/, and run.json.
func NewRun(cfg RunConfig) (*Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now().UTC()
	dir := filepath.Join(cfg.BaseDir, fmt.Sprintf("%s-%s-seed%d", cfg.Name, start.Format("20060102T150405.000"), cfg.Seed))
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("jepsen: run dir: %w", err)
		}
	}
	r := &Run{Dir: dir, cfg: cfg, meta: runMeta{Name: cfg.Name, Seed: cfg.Seed, Rerun: RerunHint(cfg.Seed, ""), Start: start}}
	if err := r.WriteJSON("run.json", r.meta); err != nil {
		return nil, err
	}
	cfg.Logger.Info("jepsen run", "name", cfg.Name, "seed", cfg.Seed, "dir", dir, "rerun", r.meta.Rerun)
	return r, nil
}

// Seed returns the run's seed.
func (r *Run) Seed() uint64 { return r.cfg.Seed }

// LogPath is the log file of one process.
func (r *Run) LogPath(proc string) string { return filepath.Join(r.Dir, "logs", proc+".log") }

// DataDir returns (creating it) the data directory of one node.
func (r *Run) DataDir(node string) (string, error) {
	d := filepath.Join(r.Dir, "data", node)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("jepsen: data dir: %w", err)
	}
	return d, nil
}

// HistoryPath is where the history is written.
func (r *Run) HistoryPath() string { return filepath.Join(r.Dir, "history.jsonl") }

// NewRecorder returns a recorder whose sink is history.jsonl. Finish
// closes the file.
func (r *Run) NewRecorder() (*Recorder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.history != nil {
		return nil, fmt.Errorf("%w: run already has a recorder", ErrInvalidConfig)
	}
	f, err := os.OpenFile(r.HistoryPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jepsen: history file: %w", err)
	}
	r.history = f
	return NewRecorder(f), nil
}

// WriteJSON writes v, indented, to a file of the run directory.
func (r *Run) WriteJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("jepsen: %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, name), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("jepsen: %s: %w", name, err)
	}
	return nil
}

// Finish records the outcome in run.json, closes the history file, and
// removes the directory if the run passed and KeepPassed is off. It
// returns whether the directory was kept. problems (checker summaries,
// errors) go to run.json.
func (r *Run) Finish(failed bool, problems ...string) (kept bool, err error) {
	r.mu.Lock()
	if r.history != nil {
		if cerr := r.history.Sync(); cerr != nil {
			err = fmt.Errorf("jepsen: history file: %w", cerr)
		}
		if cerr := r.history.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("jepsen: history file: %w", cerr)
		}
		r.history = nil
	}
	r.mu.Unlock()
	r.meta.End = time.Now().UTC()
	r.meta.Outcome = "passed"
	if failed {
		r.meta.Outcome = "failed"
	}
	r.meta.Problems = problems
	if werr := r.WriteJSON("run.json", r.meta); werr != nil && err == nil {
		err = werr
	}
	if failed || r.cfg.KeepPassed {
		r.cfg.Logger.Info("jepsen run kept", "outcome", r.meta.Outcome, "dir", r.Dir, "rerun", r.meta.Rerun)
		return true, err
	}
	if rerr := os.RemoveAll(r.Dir); rerr != nil {
		return true, errors.Join(err, fmt.Errorf("jepsen: remove run dir: %w", rerr))
	}
	return false, err
}
