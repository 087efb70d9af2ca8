package compat

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const (
	// childEnv marks the re-executed test binary (HOME already private).
	childEnv = "DLEDGERMQ_COMPAT_CHILD"
	// keepEnv keeps the work directory (process and client logs) even when
	// every test passed.
	keepEnv = "DLEDGERMQ_COMPAT_KEEP"
	// workDirEnv hands the parent's work directory to the child.
	workDirEnv = "DLEDGERMQ_COMPAT_WORKDIR"
)

var (
	// binDir holds the namesrv and dledger-broker binaries built once.
	binDir string
	// workDir holds everything of this run that is not a test's TempDir:
	// binaries, the private HOME, the client log, logs kept from failed
	// clusters. The parent process creates and removes it.
	workDir string
	// clientLog is the official client's log file (rlog).
	clientLog string
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "" {
		os.Exit(parent())
	}
	os.Exit(runChild(m))
}

// clientRaceSuppressions are data races inside rocketmq-client-go v2.1.2
// itself, seen by running these tests with -race; the race detector would
// otherwise fail every test that happens to be running when one fires. Each
// entry names a client function on one side of the race (the detector
// suppresses a report when any frame of either access matches), chosen so
// that no stack through our own code (consume callbacks, test helpers)
// matches. Anything not listed still fails the run. The parent passes the
// file to the child through GORACE=suppressions=...
const clientRaceSuppressions = `# rocketmq-client-go v2.1.2 internal data races (see main_test.go)
# SubscriptionData.SubVersion is rewritten by a rebalance
# (pushConsumer.messageQueueChanged) while the route poll clones it.
race:github.com/apache/rocketmq-client-go/v2/internal.(*SubscriptionData).Clone
race:github.com/apache/rocketmq-client-go/v2/consumer.(*pushConsumer).messageQueueChanged
# rmqClient.close is written by Shutdown and read without synchronisation by
# InvokeSync/InvokeAsync/InvokeOneWay on other goroutines.
race:github.com/apache/rocketmq-client-go/v2/internal.(*rmqClient).Shutdown
`

// parent builds the server binaries (with the caller's HOME, so the go
// command uses the usual module and build caches), then runs this test
// binary again with HOME pointing at a fresh directory: the client reads
// HOME for its broadcasting offset files in a package init
// (consumer/offset_store.go), i.e. before TestMain runs, so setting HOME
// here would be too late; a child process sees it from the start.
func parent() (code int) {
	dir, err := os.MkdirTemp("", "dledgermq-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	defer func() {
		if code != 0 || os.Getenv(keepEnv) != "" {
			log := filepath.Join(dir, "rocketmq-client.log")
			fmt.Fprintf(os.Stderr, "compat: logs kept in %s (client log: %s)\n", dir, log)
			if code != 0 {
				fmt.Fprintf(os.Stderr, "compat: tail of the client log:\n%s\n", tailFile(log, 60))
			}
			_ = os.RemoveAll(filepath.Join(dir, "bin"))
			_ = os.RemoveAll(filepath.Join(dir, "home"))
			return
		}
		_ = os.RemoveAll(dir)
	}()
	if err := buildBinaries(filepath.Join(dir, "bin")); err != nil {
		fmt.Fprintln(os.Stderr, "compat: build:", err)
		return 1
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	supp := filepath.Join(dir, "race-suppressions.txt")
	if err := os.WriteFile(supp, []byte(clientRaceSuppressions), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "compat: race suppressions:", err)
		return 1
	}
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " suppressions=" + supp)
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+home, childEnv+"=1", workDirEnv+"="+dir, "GORACE="+gorace)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	setParentDeathSignal(cmd)
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if code := ee.ExitCode(); code > 0 {
			return code
		}
		return 1
	default:
		fmt.Fprintln(os.Stderr, "compat: re-exec:", err)
		return 1
	}
}

// runChild runs the tests; the parent prepared workDir and owns it.
func runChild(m *testing.M) (code int) {
	workDir = os.Getenv(workDirEnv)
	if workDir == "" {
		fmt.Fprintln(os.Stderr, "compat:", workDirEnv, "not set")
		return 1
	}
	binDir = filepath.Join(workDir, "bin")
	clientLog = filepath.Join(workDir, "rocketmq-client.log")
	rlog.SetLogLevel("error")
	if err := rlog.SetOutputPath(clientLog); err != nil {
		fmt.Fprintln(os.Stderr, "compat: client log:", err)
		return 1
	}
	primitive.PanicHandler = recordPanic
	code = m.Run()
	if p := panics(); len(p) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "compat: client panicked after the tests:\n%s\n", strings.Join(p, "\n"))
		code = 1
	}
	return code
}

// buildBinaries builds the two server binaries from the parent module, as a
// user would (no -race: the servers are not under test for races here).
func buildBinaries(dir string) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go tool not found: %w", err)
	}
	start := time.Now()
	cmd := exec.Command(gobin, "build", "-o", dir+string(filepath.Separator), "./cmd/namesrv", "./cmd/dledger-broker")
	cmd.Dir = root
	// Never let the build edit the parent module's go.mod.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", root, err, out)
	}
	fmt.Fprintf(os.Stderr, "compat: built namesrv and dledger-broker in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

var (
	panicMu   sync.Mutex
	panicList []string
)

// recordPanic is primitive.PanicHandler: the client calls it from its own
// goroutines, where t.Fatal is not allowed, so it records the panic and the
// tests check the record (checkNoPanics).
func recordPanic(v interface{}) {
	panicMu.Lock()
	defer panicMu.Unlock()
	panicList = append(panicList, fmt.Sprintf("panic: %v\n%s", v, debug.Stack()))
}

func panics() []string {
	panicMu.Lock()
	defer panicMu.Unlock()
	return append([]string(nil), panicList...)
}

// checkNoPanics fails t at its end if the client panicked at any time.
func checkNoPanics(t *testing.T) {
	t.Cleanup(func() {
		if p := panics(); len(p) > 0 {
			t.Errorf("the client panicked (primitive.PanicHandler):\n%s", strings.Join(p, "\n"))
		}
	})
}

// tailFile returns the last n lines of a file ("" if unreadable).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
