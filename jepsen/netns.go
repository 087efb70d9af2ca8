package jepsen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// netnsPrefix starts the name of every namespace this package creates;
// the owner's pid follows, so stale ones can be recognised and removed.
const netnsPrefix = "jepsen-"

// netnsSeq numbers the namespaces of one process.
var netnsSeq atomic.Int64

// Netns is a named network namespace (ip netns add) with only a loopback
// interface, which is up: every 127.0.0.0/8 address is usable inside it,
// so each node gets its own address and iptables rules inside the
// namespace cut traffic between nodes without touching the host.
//
// The test process stays in its own namespace. Commands run inside with
// Command (nsenter --net); Dial and Listen open sockets inside by
// creating them on an OS thread that has joined the namespace (a socket
// belongs to the namespace it was created in, whichever thread uses it
// later).
type Netns struct {
	Name string // "jepsen-<pid>-<n>"
	Path string // /run/netns/<Name>, what nsenter --net wants
	log  *slog.Logger

	mu     sync.Mutex // guards closed
	closed bool
}

// NetnsTools are the external commands a Netns needs: ip (iproute2) and
// nsenter (util-linux).
var NetnsTools = []string{"ip", "nsenter"}

// CheckTools returns an error wrapping ErrToolMissing that names every
// tool not on PATH, or ErrNotPermitted when not running as root.
func CheckTools(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (Debian: apt-get install iproute2 util-linux iptables)", ErrToolMissing, strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces, iptables and mounts need root", ErrNotPermitted)
	}
	return nil
}

// NewNetns creates a fresh namespace and brings its loopback up. It first
// removes namespaces left behind by dead processes of this package. Close
// deletes it.
func NewNetns(ctx context.Context, log *slog.Logger) (*Netns, error) {
	if err := CheckTools(NetnsTools...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	RemoveStaleNetns(ctx, log)
	name := fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsSeq.Add(1))
	n := &Netns{Name: name, Path: filepath.Join("/run/netns", name), log: log.With("netns", name)}
	if _, err := runTool(ctx, "ip", "netns", "add", name); err != nil {
		return nil, err
	}
	if _, err := runTool(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		n.Close()
		return nil, err
	}
	n.log.Info("network namespace created")
	return n, nil
}

// RemoveStaleNetns deletes namespaces named by this package whose owning
// process is gone (a run that crashed before Close). Errors are logged.
func RemoveStaleNetns(ctx context.Context, log *slog.Logger) {
	out, err := runTool(ctx, "ip", "netns", "list")
	if err != nil {
		log.Warn("listing network namespaces", "err", err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if _, err := runTool(ctx, "ip", "netns", "del", name); err != nil {
			log.Warn("removing stale network namespace", "netns", name, "err", err)
		} else {
			log.Info("removed stale network namespace", "netns", name)
		}
	}
}

// processAlive reports whether pid exists (signal 0 succeeds or is refused).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Command returns a command that runs name inside the namespace (nsenter
// --net, which then execs name: the process's pid is name's pid).
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.Path, "--", name}, args...)...)
}

// Run runs name inside the namespace and returns its combined output; a
// failure wraps ErrCommand and carries the output.
func (n *Netns) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runCmd(n.Command(ctx, name, args...))
}

// Do runs f on an OS thread that has joined the namespace. Sockets f
// creates belong to the namespace. f must not start goroutines that
// create sockets (they would run on other threads).
func (n *Netns) Do(f func() error) error {
	target, err := os.Open(n.Path)
	if err != nil {
		return fmt.Errorf("jepsen: open netns %s: %w", n.Name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// If the thread cannot be put back, it stays locked and dies with
		// this goroutine instead of running other goroutines in the wrong
		// namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("jepsen: open own netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("jepsen: setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("jepsen: setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContext opens a connection inside the namespace; addr must be an IP
// literal with a port (name resolution could move the dial to another
// thread). It has the remoting.DialFunc signature.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.DialFrom(ctx, netip.Addr{}, network, addr)
}

// DialFrom is DialContext with the connection's source address bound to
// from (unless it is the zero Addr), so iptables rules on source addresses
// see the node it stands for.
func (n *Netns) DialFrom(ctx context.Context, from netip.Addr, network, addr string) (net.Conn, error) {
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, fmt.Errorf("jepsen: dial in netns: %q is not ip:port: %w", addr, err)
	}
	d := net.Dialer{}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	var conn net.Conn
	err := n.Do(func() error {
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen opens a listener inside the namespace.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// Close deletes the namespace. Processes still inside keep it alive until
// they exit; stop them first. Close is idempotent.
func (n *Netns) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if _, err := runTool(context.Background(), "ip", "netns", "del", n.Name); err != nil {
		return err
	}
	n.log.Info("network namespace deleted")
	return nil
}

// runTool runs an external command in the current namespace.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runCmd(exec.CommandContext(ctx, name, args...))
}

func runCmd(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%w: %s: %w: %s", ErrCommand, strings.Join(cmd.Args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}
