package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/dledgermq/dledgermq/bench"
)

// runBenchApp runs the bench binary's app with args and returns its
// standard output.
func runBenchApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := BenchApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, io.Discard
	err := app.Run(append([]string{"bench"}, args...))
	return out.String(), err
}

func TestBenchAppHasEveryModeAndFlag(t *testing.T) {
	app := BenchApp()
	want := map[string][]string{
		"produce":   {"namesrv", "embedded", "topic", "size", "producers", "inflight", "batch", "count", "duration", "rate", "kill-leader-at", "json", "coalesce", "warmup", "flush"},
		"consume":   {"namesrv", "embedded", "topic", "size", "count", "duration", "json", "pull-batch"},
		"e2e":       {"namesrv", "embedded", "topic", "size", "producers", "inflight", "batch", "count", "duration", "rate", "kill-leader-at", "json"},
		"dledger":   {"log-store", "size", "producers", "inflight", "count", "duration", "rate", "json", "flush", "segment-size", "warm-segments"},
		"commitlog": {"flush", "size", "producers", "inflight", "batch", "count", "duration", "rate", "json", "segment-size", "warm-segments", "dir"},
	}
	for name, flags := range want {
		cmd := app.Command(name)
		if cmd == nil {
			t.Errorf("no %q subcommand", name)
			continue
		}
		have := map[string]bool{}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				have[n] = true
			}
		}
		for _, f := range flags {
			if !have[f] {
				t.Errorf("%s lacks --%s", name, f)
			}
		}
	}
}

func TestBenchAppRejectsBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"produce"}, []string{"--namesrv ADDR or --embedded"}},
		{[]string{"produce", "--embedded", "--namesrv", "127.0.0.1:9876"}, []string{"exclude each other"}},
		{[]string{"produce", "--namesrv", "127.0.0.1:9876", "--kill-leader-at", "1s"}, []string{"--kill-leader-at needs produce or e2e with --embedded"}},
		{[]string{"commitlog", "--flush", "sometimes", "--size", "0"}, []string{`--flush "sometimes"`, "--size 0"}},
		{[]string{"dledger", "--log-store", "sqlite"}, []string{`--log-store "sqlite"`}},
		{[]string{"dledger", "--batch", "4"}, []string{"flag provided but not defined: -batch"}},
		{[]string{"commitlog", "--count", "5", "--duration", "1s"}, []string{"--count and --duration exclude each other"}},
		{[]string{"commitlog", "extra"}, []string{"unexpected arguments"}},
		{[]string{"commitlog", "--log-level", "loud"}, []string{"--log-level"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := runBenchApp(t, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestBenchAppCommitLogJSON(t *testing.T) {
	out, err := runBenchApp(t, "commitlog", "--count", "50", "--batch", "5", "--segment-size", "1048576",
		"--dir", t.TempDir(), "--json", "--log-level", "error")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var j bench.JSONResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &j); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	if j.Mode != "commitlog" || j.Sent != 50 || j.Errors != 0 || j.Batch != 5 || j.MsgsPerSec <= 0 || j.P99us <= 0 {
		t.Fatalf("unexpected summary %+v\n%s", j, out)
	}
	if !strings.HasPrefix(out, "=== dledgermq bench: commitlog ===") {
		t.Fatalf("output does not start with the banner:\n%s", out)
	}
}
