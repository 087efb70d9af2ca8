package jepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// needTools skips the test, saying what is missing, when the tools or root
// are not available.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if err := CheckTools(tools...); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

func newNetns(t *testing.T) *Netns {
	t.Helper()
	needTools(t, NetnsTools...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := NewNetns(ctx, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("close netns: %v", err)
		}
		if _, err := os.Stat(ns.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns %s still exists after Close: %v", ns.Path, err)
		}
	})
	return ns
}

// echoServer listens inside ns on addr and echoes one line per connection.
func echoServer(t *testing.T, ns *Netns, addr string) netip.AddrPort {
	t.Helper()
	l, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(c, io.LimitReader(c, 5))
			}()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// reach dials to from from inside ns and checks a round trip, within
// timeout.
func reach(ns *Netns, from netip.Addr, to netip.AddrPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := ns.DialFrom(ctx, from, "tcp", to.String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping\n" {
		return errors.New("bad echo " + string(buf))
	}
	return nil
}

var (
	ip2 = netip.MustParseAddr("127.0.0.2")
	ip3 = netip.MustParseAddr("127.0.0.3")
	ip4 = netip.MustParseAddr("127.0.0.4")
)

func TestNetnsIsolatesFromHost(t *testing.T) {
	ns := newNetns(t)
	out, err := ns.Run(context.Background(), "ip", "-o", "link")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Fatalf("namespace should hold only lo, up:\n%s", out)
	}
	srv := echoServer(t, ns, "127.0.0.3:0")
	if err := reach(ns, ip2, srv, 2*time.Second); err != nil {
		t.Fatalf("inside the namespace: %v", err)
	}
	// The host namespace has no such listener: the socket really is inside.
	c, err := net.DialTimeout("tcp", srv.String(), time.Second)
	if err == nil {
		c.Close()
		t.Fatal("host namespace reached a listener opened inside the namespace")
	}
	if _, err := ns.DialContext(context.Background(), "tcp", "localhost:80"); err == nil {
		t.Fatal("dial by name must be refused (it could leave the namespace's thread)")
	}
}

func TestFirewallBlocksLoopbackTCP(t *testing.T) {
	ns := newNetns(t)
	needTools(t, FirewallTools...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fw, err := NewFirewall(ctx, ns, false)
	if err != nil {
		t.Fatal(err)
	}
	srv3 := echoServer(t, ns, "127.0.0.3:0")
	srv2 := echoServer(t, ns, "127.0.0.2:0")
	const short = 300 * time.Millisecond
	mustReach := func(from netip.Addr, to netip.AddrPort) {
		t.Helper()
		if err := reach(ns, from, to, 3*time.Second); err != nil {
			t.Fatalf("%v -> %v should pass: %v", from, to, err)
		}
	}
	mustNotReach := func(from netip.Addr, to netip.AddrPort) {
		t.Helper()
		if err := reach(ns, from, to, short); err == nil {
			t.Fatalf("%v -> %v should be blocked (rules: %s)", from, to, fw)
		}
	}
	mustReach(ip2, srv3)

	// One direction, one pair.
	if err := fw.Block(ctx, ip2, ip3); err != nil {
		t.Fatal(err)
	}
	mustNotReach(ip2, srv3)
	mustReach(ip4, srv3)
	if rules, err := fw.Rules(ctx); err != nil || len(rules) != 1 || !strings.Contains(rules[0], "127.0.0.2") {
		t.Fatalf("rules %v, %v", rules, err)
	}
	if err := fw.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mustReach(ip2, srv3)

	// Isolation cuts a node from everyone, both ways.
	if err := fw.Isolate(ctx, ip3); err != nil {
		t.Fatal(err)
	}
	mustNotReach(ip4, srv3)
	mustNotReach(ip3, srv2)
	mustReach(ip4, srv2)
	if err := fw.Heal(ctx); err != nil {
		t.Fatal(err)
	}

	// Partition {2} | {3}: 4 still reaches both.
	if err := fw.Partition(ctx, []netip.Addr{ip2}, []netip.Addr{ip3}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(ip2, srv3)
	mustNotReach(ip3, srv2)
	mustReach(ip4, srv2)
	mustReach(ip4, srv3)
	if err := fw.Heal(ctx); err != nil {
		t.Fatal(err)
	}

	// One port only.
	if err := fw.BlockPort(ctx, netip.Addr{}, srv3); err != nil {
		t.Fatal(err)
	}
	mustNotReach(ip4, srv3)
	mustReach(ip4, srv2)
	if err := fw.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if rules, _ := fw.Rules(ctx); len(rules) != 0 {
		t.Fatalf("rules after heal: %v", rules)
	}
}

func TestFirewallReject(t *testing.T) {
	ns := newNetns(t)
	needTools(t, FirewallTools...)
	ctx := context.Background()
	fw, err := NewFirewall(ctx, ns, true)
	if err != nil {
		t.Fatal(err)
	}
	srv := echoServer(t, ns, "127.0.0.3:0")
	if err := fw.Block(ctx, ip2, ip3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = reach(ns, ip2, srv, 5*time.Second)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("reject should refuse at once: err %v after %v", err, time.Since(start))
	}
}

func startSleep(t *testing.T, spec ProcSpec) *Proc {
	t.Helper()
	if spec.Path == "" {
		spec.Path, spec.Args = "sleep", []string{"30"}
	}
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(t.TempDir(), "proc.log")
	}
	spec.Name = "sleeper"
	p, err := StartProc(spec, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(5 * time.Second) })
	return p
}

func TestProcKill9(t *testing.T) {
	p := startSleep(t, ProcSpec{})
	if exited, _ := p.Exited(); exited {
		t.Fatal("exited at once")
	}
	if err := p.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	exited, werr := p.Exited()
	var ee *exec.ExitError
	if !exited || !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exited %v, %v; want killed by SIGKILL", exited, werr)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrExited) {
		t.Fatalf("signal after exit: %v", err)
	}
	if err := p.Kill(time.Second); err != nil {
		t.Fatalf("killing a dead process is not an error: %v", err)
	}
	log, _ := os.ReadFile(p.Spec().LogPath)
	if !bytes.Contains(log, []byte("=== jepsen: start sleeper")) || !bytes.Contains(log, []byte("killed")) {
		t.Fatalf("log lacks start/exit lines:\n%s", log)
	}
}

func TestProcPauseResume(t *testing.T) {
	p := startSleep(t, ProcSpec{})
	if err := p.Pause(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Stopped(); err != nil || !st {
		t.Fatalf("stopped %v %v", st, err)
	}
	if err := p.Resume(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.Stopped(); st {
		t.Fatal("still stopped after resume")
	}
	// A stopped process still dies on SIGKILL.
	if err := p.Pause(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Pause(time.Second); !errors.Is(err, ErrExited) {
		t.Fatalf("pause after exit: %v", err)
	}
}

func TestProcTerminate(t *testing.T) {
	// Plain sleep exits on SIGTERM, even when paused first.
	p := startSleep(t, ProcSpec{})
	if err := p.Pause(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	killed, err := p.Terminate(5*time.Second, 5*time.Second)
	if err != nil || killed {
		t.Fatalf("terminate: killed %v, %v", killed, err)
	}
	// A process group that ignores SIGTERM is killed after the grace.
	stubborn := startSleep(t, ProcSpec{Path: "sh", Args: []string{"-c", `trap "" TERM; sleep 30`}})
	waitIgnoresTerm(t, stubborn.PID())
	start := time.Now()
	killed, err = stubborn.Terminate(200*time.Millisecond, 5*time.Second)
	if err != nil || !killed || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("stubborn terminate: killed %v, %v after %v", killed, err, time.Since(start))
	}
	if err := stubborn.Wait(time.Second); err != nil {
		t.Fatal(err)
	}
}

// waitIgnoresTerm waits (bounded) until pid ignores SIGTERM (SigIgn in
// /proc/<pid>/status has bit 15 set).
func waitIgnoresTerm(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				if mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64); err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never ignored SIGTERM", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestProcWaitTimesOut(t *testing.T) {
	p := startSleep(t, ProcSpec{})
	if err := p.Wait(50 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("wait: %v", err)
	}
	if _, err := StartProc(ProcSpec{Name: "x"}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("empty spec: %v", err)
	}
}

func TestProcInsideNetns(t *testing.T) {
	ns := newNetns(t)
	p := startSleep(t, ProcSpec{Netns: ns})
	want, err := os.Stat(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	// nsenter execs the program: wait until it has (bounded), then compare
	// the process's network namespace with ours.
	deadline := time.Now().Add(5 * time.Second)
	for {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/comm")
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never became sleep (comm %q)", p.PID(), comm)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, err := os.Stat("/proc/" + strconv.Itoa(p.PID()) + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(want, got) {
		t.Fatal("process is not in the namespace")
	}
	if err := p.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveStaleNetns(t *testing.T) {
	needTools(t, NetnsTools...)
	ctx := context.Background()
	// A namespace named for a pid that cannot exist (above pid_max).
	stale := netnsPrefix + "999999999-1"
	if _, err := runTool(ctx, "ip", "netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runTool(ctx, "ip", "netns", "del", stale) })
	RemoveStaleNetns(ctx, quietLog())
	if _, err := os.Stat(filepath.Join("/run/netns", stale)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale namespace survived: %v", err)
	}
}

func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := NewestSegment(dir); !errors.Is(err, ErrNoSegment) {
		t.Fatalf("empty dir: %v", err)
	}
	// A preallocated segment: 100 bytes of data, then zeroes.
	seg := make([]byte, 4096)
	for i := range 100 {
		seg[i] = byte(i%250 + 1)
	}
	write("00000000000000000000", seg)
	newest := write("00000000000000004096", seg)
	write("00000000000000099999.tmp", seg)
	write("checkpoint", seg)
	got, err := NewestSegment(dir)
	if err != nil || got != newest {
		t.Fatalf("NewestSegment = %s, %v; want %s", got, err, newest)
	}
	if end, err := DataEnd(newest); err != nil || end != 100 {
		t.Fatalf("DataEnd = %d, %v", end, err)
	}

	before, after, err := FlipBit(newest, 10, 3)
	if err != nil || before != seg[10] || after != seg[10]^8 {
		t.Fatalf("FlipBit = %x %x %v", before, after, err)
	}
	b, _ := os.ReadFile(newest)
	if b[10] != seg[10]^8 || !bytes.Equal(b[:10], seg[:10]) || !bytes.Equal(b[11:], seg[11:]) {
		t.Fatal("FlipBit changed more than one bit")
	}
	if _, _, err := FlipBit(newest, 4096, 0); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("flip past the end: %v", err)
	}
	if _, _, err := FlipBit(newest, 0, 8); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("bit 8: %v", err)
	}

	from, err := ZeroTail(newest, 30)
	if err != nil || from != 70 {
		t.Fatalf("ZeroTail = %d, %v", from, err)
	}
	if end, _ := DataEnd(newest); end != 70 {
		t.Fatalf("DataEnd after ZeroTail = %d", end)
	}
	if fi, _ := os.Stat(newest); fi.Size() != 4096 {
		t.Fatal("ZeroTail changed the file size")
	}
	if _, err := ZeroTail(newest, 71); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("zero more than written: %v", err)
	}

	if err := TruncateFile(newest, 50); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(newest); fi.Size() != 50 {
		t.Fatalf("size after truncate %d", fi.Size())
	}
	if err := TruncateFile(newest, 51); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("truncate up: %v", err)
	}
	zero := write("zeros", make([]byte, 3<<20)) // several DataEnd chunks
	if end, err := DataEnd(zero); err != nil || end != 0 {
		t.Fatalf("DataEnd of zeros = %d, %v", end, err)
	}
}

func TestTmpfsDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting tmpfs needs root")
	}
	dir := t.TempDir()
	if err := MountTmpfs(dir, 64<<10); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Unmount(dir); err != nil {
			t.Error(err)
		}
	})
	err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 1 MiB into a 64 KiB tmpfs: %v, want ENOSPC", err)
	}
}

func TestSeedFromEnv(t *testing.T) {
	t.Setenv(SeedEnv, "12345")
	if s, env, err := SeedFromEnv(); err != nil || !env || s != 12345 {
		t.Fatalf("%d %v %v", s, env, err)
	}
	t.Setenv(SeedEnv, "0x10")
	if s, _, err := SeedFromEnv(); err != nil || s != 16 {
		t.Fatalf("hex: %d %v", s, err)
	}
	t.Setenv(SeedEnv, "twelve")
	if _, _, err := SeedFromEnv(); !errors.Is(err, ErrBadSeed) {
		t.Fatalf("bad seed: %v", err)
	}
	t.Setenv(SeedEnv, "")
	a, env, err := SeedFromEnv()
	b, _, _ := SeedFromEnv()
	if err != nil || env || a == b {
		t.Fatalf("random seeds %d %d %v %v", a, b, env, err)
	}
	r1, r2, r3 := NewRand(7, "nemesis"), NewRand(7, "nemesis"), NewRand(7, "workload")
	x1, x2, x3 := r1.Uint64(), r2.Uint64(), r3.Uint64()
	if x1 != x2 || x1 == x3 {
		t.Fatalf("streams: %d %d %d", x1, x2, x3)
	}
	if h := RerunHint(7, "TestX/sub"); !strings.Contains(h, "JEPSEN_SEED=7") || !strings.Contains(h, "'^TestX$/^sub$'") {
		t.Fatalf("hint %q", h)
	}
}

func TestRunDir(t *testing.T) {
	base := t.TempDir()
	newRun := func(name string, keep bool) *Run {
		cfg := DefaultRunConfig(name, 42)
		cfg.BaseDir, cfg.KeepPassed, cfg.Logger = base, keep, quietLog()
		r, err := NewRun(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRun("passes", false)
	rec, err := r.NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Invoke(Op{Process: 0, Kind: KindSend, Value: "a"}); err != nil {
		t.Fatal(err)
	}
	if d, err := r.DataDir("n0"); err != nil || !strings.HasPrefix(d, r.Dir) {
		t.Fatalf("data dir %s %v", d, err)
	}
	if !strings.Contains(filepath.Base(r.Dir), "seed42") {
		t.Fatalf("dir name %s lacks the seed", r.Dir)
	}
	if kept, err := r.Finish(false); err != nil || kept {
		t.Fatalf("passed run: kept %v, %v", kept, err)
	}
	if _, err := os.Stat(r.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("passed run directory not removed")
	}

	r = newRun("fails", false)
	rec, _ = r.NewRecorder()
	rec.Invoke(Op{Process: 0, Kind: KindSend, Value: "a"})
	os.WriteFile(r.LogPath("n0"), []byte("log"), 0o644)
	if kept, err := r.Finish(true, "lost: 1"); err != nil || !kept {
		t.Fatalf("failed run: kept %v, %v", kept, err)
	}
	h, err := LoadHistory(r.HistoryPath())
	if err != nil || len(h) != 1 {
		t.Fatalf("kept history: %v %v", h, err)
	}
	var meta runMeta
	raw, _ := os.ReadFile(filepath.Join(r.Dir, "run.json"))
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Outcome != "failed" || meta.Seed != 42 ||
		meta.Problems[0] != "lost: 1" || !strings.Contains(meta.Rerun, "JEPSEN_SEED=42") {
		t.Fatalf("run.json %s: %v", raw, err)
	}
	if _, err := os.Stat(r.LogPath("n0")); err != nil {
		t.Fatal("failed run lost its logs")
	}

	r = newRun("kept", true)
	if kept, _ := r.Finish(false); !kept {
		t.Fatal("KeepPassed run removed")
	}

	err = RunConfig{Name: "bad name/"}.Validate()
	if !errors.Is(err, ErrInvalidConfig) || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("Validate must report every field: %v", err)
	}
}
