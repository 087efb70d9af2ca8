package jepsen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ProcSpec says how to start one process.
type ProcSpec struct {
	// Name identifies the process in logs ("n0", "namesrv").
	Name string
	// Path and Args are the program and its arguments (without argv[0]).
	Path string
	Args []string
	// Env is added to the test process's environment.
	Env []string
	// Dir is the working directory. Default: the test's.
	Dir string
	// LogPath receives stdout and stderr, appended (restarts of one node
	// share the file). Required.
	LogPath string
	// Netns, if set, runs the process inside that namespace.
	Netns *Netns
}

// Proc is a started process. Every wait is bounded. A Proc is killed when
// the test process dies (Pdeathsig), so a crashed test leaves nothing
// running; it runs in its own process group, and signals go to the whole
// group. Safe for concurrent use.
type Proc struct {
	spec ProcSpec
	cmd  *exec.Cmd
	pid  int
	log  *slog.Logger
	done chan struct{} // closed when the process has been reaped

	mu      sync.Mutex
	waitErr error // exit status, valid after done
}

// StartProc starts the process described by spec.
func StartProc(spec ProcSpec, log *slog.Logger) (*Proc, error) {
	if spec.Path == "" || spec.LogPath == "" {
		return nil, fmt.Errorf("%w: ProcSpec needs Path and LogPath", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.Default()
	}
	out, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jepsen: start %s: %w", spec.Name, err)
	}
	var cmd *exec.Cmd
	if spec.Netns != nil {
		cmd = spec.Netns.Command(context.Background(), spec.Path, spec.Args...)
	} else {
		cmd = exec.Command(spec.Path, spec.Args...)
	}
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(out, "=== jepsen: start %s at %s: %s %v\n", spec.Name, time.Now().Format(time.RFC3339Nano), spec.Path, spec.Args)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("jepsen: start %s: %w", spec.Name, err)
	}
	p := &Proc{spec: spec, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}),
		log: log.With("proc", spec.Name, "pid", cmd.Process.Pid)}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(out, "=== jepsen: %s exited at %s: %v\n", spec.Name, time.Now().Format(time.RFC3339Nano), exitString(err))
		out.Close()
		p.log.Info("process exited", "status", exitString(err)) // before done: no log after a waiter returns
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	p.log.Info("process started", "path", spec.Path, "args", spec.Args)
	return p, nil
}

func exitString(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// Name returns the spec's name.
func (p *Proc) Name() string { return p.spec.Name }

// PID returns the process id.
func (p *Proc) PID() int { return p.pid }

// Spec returns the spec the process was started with (to restart it).
func (p *Proc) Spec() ProcSpec { return p.spec }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its wait error
// (nil for exit status 0).
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Signal sends sig to the process group. ErrExited once it has exited.
func (p *Proc) Signal(sig syscall.Signal) error {
	if ok, _ := p.Exited(); ok {
		return fmt.Errorf("%w: %s", ErrExited, p.spec.Name)
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("%w: %s", ErrExited, p.spec.Name)
		}
		return fmt.Errorf("jepsen: signal %v to %s: %w", sig, p.spec.Name, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit. ErrTimeout if it is
// still running.
func (p *Proc) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %s still running after %v", ErrTimeout, p.spec.Name, timeout)
	}
}

// Kill sends SIGKILL (kill -9) and waits up to timeout for the exit. A
// process that already exited is not an error.
func (p *Proc) Kill(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, ErrExited) {
		return err
	}
	return p.Wait(timeout)
}

// Terminate sends SIGTERM (and SIGCONT, so a paused process handles it),
// waits up to grace for a clean exit, then kills it. killed reports
// whether SIGKILL was needed.
func (p *Proc) Terminate(grace, killTimeout time.Duration) (killed bool, err error) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, ErrExited) {
			return false, nil
		}
		return false, err
	}
	_ = p.Signal(syscall.SIGCONT)
	if p.Wait(grace) == nil {
		return false, nil
	}
	p.log.Warn("process ignored SIGTERM; killing", "grace", grace)
	return true, p.Kill(killTimeout)
}

// Pause sends SIGSTOP and waits up to timeout until the kernel reports the
// process stopped.
func (p *Proc) Pause(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return p.waitState(timeout, true)
}

// Resume sends SIGCONT and waits up to timeout until the process runs.
func (p *Proc) Resume(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	return p.waitState(timeout, false)
}

// Stopped reports whether the kernel shows the process stopped (state T).
func (p *Proc) Stopped() (bool, error) {
	st, err := procState(p.pid)
	if err != nil {
		return false, err
	}
	return st == 'T', nil
}

func (p *Proc) waitState(timeout time.Duration, stopped bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok, _ := p.Exited(); ok {
			return fmt.Errorf("%w: %s", ErrExited, p.spec.Name)
		}
		st, err := p.Stopped()
		if err == nil && st == stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s not %s after %v", ErrTimeout, p.spec.Name, map[bool]string{true: "stopped", false: "running"}[stopped], timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// procState reads the state letter from /proc/<pid>/stat.
func procState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("jepsen: process state: %w", err)
	}
	i := bytes.LastIndexByte(b, ')') // the command name may contain anything
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("jepsen: process state: malformed stat %q", b)
	}
	return b[i+2], nil
}
