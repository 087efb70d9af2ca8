package jepsen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dledgermq/dledgermq/remoting"
)

// Nemeses that use the broker's test hooks (cli/broker_testhooks.go),
// storage damage of a stopped replica, and a full disk.

// TransferLeader sends SIGUSR1 to the leader every up: it hands leadership
// to a follower without stopping, so leadership moves back and forth
// under load.
func TransferLeader(up Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		for Sleep(ctx, up.draw(env.Rand)) {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ls, err := pickLeader(env)(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("transfer-leader: %w", err)
			}
			if err := env.Fault("transfer-leader", ls[0].ID, func() error {
				return env.Cluster.Signal(ls[0], syscall.SIGUSR1)
			}); err != nil {
				return err
			}
		}
		return nil
	}
}

// ClockJumpArgs are the broker arguments ClockJumpLeader needs: every
// SIGUSR2 moves a node's store clock by jump and the next one back. skewed,
// if not empty, also runs that node's clock skew ahead from the start.
func ClockJumpArgs(jump time.Duration, skewed string, skew time.Duration) func(string) []string {
	return func(id string) []string {
		args := []string{"--clock-jump", jump.String()}
		if id == skewed {
			args = append(args, "--clock-skew", skew.String())
		}
		return args
	}
}

// ClockJumpLeader jumps the leader's wall clock (SIGUSR2, see
// ClockJumpArgs) for down, then jumps it back on the same node.
func ClockJumpLeader(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		sig := func(ns []*Node) error { return env.Cluster.Signal(ns[0], syscall.SIGUSR2) }
		return cycle(ctx, env, up, down, "clock-jump", "clock-jump-back", pickLeader(env), sig, sig)
	}
}

// segmentDir is a node's commit-log directory.
func segmentDir(n *Node) string { return filepath.Join(n.Data, "dledger", "commitlog") }

// SyncPoint reads the sync point recorded in a segment's header (bytes
// [48, 56), little-endian; commitlog/FORMAT.md) and returns it relative
// to the file (absolute offset minus the base offset at [16, 24)).
func SyncPoint(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("jepsen: sync point: %w", err)
	}
	defer f.Close()
	var h [64]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return 0, fmt.Errorf("jepsen: sync point: %w", err)
	}
	base := int64(binary.LittleEndian.Uint64(h[16:]))
	return int64(binary.LittleEndian.Uint64(h[48:])) - base, nil
}

// stopNode terminates n the way a crash does (SIGKILL) and waits for it.
func stopNode(env *Env, n *Node) error { return env.Cluster.Kill(n) }

// CorruptFollowerOutcome is what FlipBitFollower observed.
type CorruptFollowerOutcome struct {
	Node      string
	Segment   string
	Offset    int64 // flipped byte, relative to the segment file
	SyncPoint int64
	// Refused: the replica exited at start instead of serving (required).
	// ClearError: its log names the commit-log corruption (expected; a
	// panic instead is a finding, see JEPSEN.md).
	Refused, ClearError bool
	Exit                string
}

// FlipBitFollower, once, after up: kills a follower, flips one bit in the
// middle of the synced part of its newest segment (before the sync point
// recorded in the header), and restarts it. Expected (DESIGN.md item 7):
// the replica refuses to start with a commit-log corruption error — it
// never serves or replicates the damaged record. The nemesis then plays
// the operator: it wipes the replica's data directory and starts it
// again; it rejoins from the others and must end with an identical log
// (the final drain and the divergence check). A replica that starts on the
// damaged log fails the nemesis (recorded as a failed fault and returned
// as ErrSystem).
func FlipBitFollower(up Span, out *CorruptFollowerOutcome) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		n, err := killFollowerAfter(ctx, env, up, "flip-bit")
		if n == nil || err != nil {
			return err
		}
		out.Node = n.ID
		err = env.Fault("flip-bit", n.ID, func() error {
			seg, err := NewestSegment(segmentDir(n))
			if err != nil {
				return err
			}
			sp, err := SyncPoint(seg)
			if err != nil {
				return err
			}
			if sp <= 64+64 {
				return fmt.Errorf("%w: sync point %d of %s leaves nothing synced to damage", ErrSystem, sp, seg)
			}
			off := 64 + (sp-64)/2
			out.Segment, out.Offset, out.SyncPoint = seg, off, sp
			_, _, err = FlipBit(seg, off, uint(env.Rand.IntN(8)))
			return err
		})
		if err != nil {
			return err
		}
		// The replica must refuse to start.
		err = env.Fault("restart-corrupt", n.ID, func() error {
			rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// The broker listens before it opens its store: accepting
			// connections says nothing; it must exit soon after.
			rerr := env.Cluster.Restart(rctx, n)
			if p := n.Proc(); rerr == nil && p != nil {
				select {
				case <-p.Done():
					_, rerr = p.Exited()
					if rerr == nil {
						rerr = errors.New("exited with status 0")
					}
				case <-time.After(10 * time.Second):
					return fmt.Errorf("%w: %s runs on a commit log with a flipped bit at %d (sync point %d)", ErrSystem, n.ID, out.Offset, out.SyncPoint)
				}
			}
			out.Exit = fmt.Sprint(rerr)
			out.Refused = true
			logText, _ := os.ReadFile(env.Cluster.run.LogPath(n.ID))
			out.ClearError = strings.Contains(strings.ToLower(tail(string(logText), 4096)), "corrupt")
			return nil
		})
		if err != nil {
			_ = env.Cluster.Kill(n)
			return err
		}
		return env.Fault("wipe-and-rejoin", n.ID, func() error { return wipeAndStart(n, env.Cluster.Restart) })
	}
}

// killFollowerAfter waits up, then picks a follower and kills it. It
// returns a nil node when ctx ended first.
func killFollowerAfter(ctx context.Context, env *Env, up Span, what string) (*Node, error) {
	if !Sleep(ctx, up.draw(env.Rand)) {
		return nil, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	fs, err := pickFollower(env)(pctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	n := fs[0]
	return n, env.Fault("kill-follower", n.ID, func() error { return stopNode(env, n) })
}

// wipeAndStart removes a stopped node's data and starts it again with
// start (Cluster.Restart or Cluster.RestartJoin).
func wipeAndStart(n *Node, start func(context.Context, *Node) error) error {
	if err := os.RemoveAll(n.Data); err != nil {
		return err
	}
	if err := os.MkdirAll(n.Data, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return start(ctx, n)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TruncateTailFollower kills a follower every cycle, truncates the tail of
// its newest segment (the last written bytes zeroed, as a torn write
// inside a preallocated file leaves them; or, every other time, the file
// cut short, which recovery must also treat as a torn tail only if it
// lies past the sync point) and restarts it. Expected: recovery truncates
// the torn tail, reports it, and the replica catches up from the leader.
// The damage stays past the sync point (records the replica acknowledged
// as synced are never touched): a follower that lost synced records
// could, with another failure, lose acknowledged data — which is what the
// flipped-bit scenario covers.
func TruncateTailFollower(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		return cycle(ctx, env, up, down, "truncate-tail", "restart", pickFollower(env),
			func(ns []*Node) error {
				n := ns[0]
				if err := stopNode(env, n); err != nil {
					return err
				}
				seg, err := NewestSegment(segmentDir(n))
				if err != nil {
					return err
				}
				end, err := DataEnd(seg)
				if err != nil {
					return err
				}
				sp, err := SyncPoint(seg)
				if err != nil {
					return err
				}
				cut := min(end-sp, 4096)
				if cut <= 0 {
					// Everything written is below the sync point: a torn
					// tail there is not a torn tail but corruption. Cut the
					// EOS marker and zero padding only.
					return nil
				}
				_, err = ZeroTail(seg, cut)
				return err
			},
			env.restartAll)
	}
}

// DiskFullLeader moves leadership to node (SIGUSR1 to whoever leads, up to
// 20 times) and, after up, fills the free space of node's data directory
// (a tmpfs: ClusterConfig.TmpfsData) up to leave bytes, so its commit
// log's next segment cannot be allocated. After down it frees the space
// (the operator deleting the filler). Expected: the full node's acks stop
// (appends fail with ENOSPC, it steps down), nothing acknowledged is lost,
// another node leads and the group keeps acknowledging; the full node
// catches up once space is back.
func DiskFullLeader(node string, leave int64, up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		n := env.Cluster.Node(node)
		if n == nil {
			return fmt.Errorf("%w: disk-full: no node %q", ErrInvalidConfig, node)
		}
		for i := 0; i < 20 && ctx.Err() == nil; i++ {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ls, err := pickLeader(env)(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("disk-full: %w", err)
			}
			if ls[0] == n {
				break
			}
			if err := env.Fault("transfer-leader", ls[0].ID, func() error {
				return env.Cluster.Signal(ls[0], syscall.SIGUSR1)
			}); err != nil {
				return err
			}
			Sleep(ctx, time.Second)
		}
		if !Sleep(ctx, up.draw(env.Rand)) {
			return nil
		}
		filler := filepath.Join(n.Data, "jepsen-filler")
		if err := env.Fault("disk-full", n.ID, func() error { return fillDisk(n.Data, filler, leave) }); err != nil {
			return err
		}
		// The full node's next segment cannot be allocated: its appends
		// fail, raft steps it down and another node leads. Record when
		// leadership has left it (bounded by the fill's duration), so the
		// scenario proves acks stopped there rather than assuming it.
		fillEnd := time.Now().Add(down.draw(env.Rand))
		for moved := false; !moved && time.Now().Before(fillEnd) && ctx.Err() == nil; {
			pctx, cancel := context.WithTimeout(ctx, time.Until(fillEnd))
			ls, err := pickLeader(env)(pctx)
			cancel()
			if err == nil && ls[0] != n {
				moved = true
				if err := env.Fault("leader-left-full-node", ls[0].ID, func() error { return nil }); err != nil {
					return err
				}
				break
			}
			Sleep(ctx, 100*time.Millisecond)
		}
		Sleep(ctx, time.Until(fillEnd))
		return env.Fault("disk-free", n.ID, func() error { return os.Remove(filler) })
	}
}

// fillDisk writes (allocates) a file at path taking all of dir's file
// system's free space but leave bytes.
func fillDisk(dir, path string, leave int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("jepsen: statfs %s: %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	size := free - leave
	if size <= 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("jepsen: fill disk: %w", err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	return errors.Join(err, f.Close())
}

// ReplaceFollower, once, after up, plays the operator replacing a dead
// replica (README, "Replacing a dead replica"): it kills a follower,
// removes it from the group (DLEDGER_MEMBERS, forwarded to the leader),
// lets the group run on two members for gap, wipes the replica's data,
// starts it again with --join and adds it back. The rejoined replica must
// end with an identical log (the final drain and the divergence check).
func ReplaceFollower(up, gap Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		n, err := killFollowerAfter(ctx, env, up, "replace-follower")
		if n == nil || err != nil {
			return err
		}
		if err := env.Fault("remove-member", n.ID, func() error { return changeMember(env, "remove", n) }); err != nil {
			return err
		}
		Sleep(ctx, gap.draw(env.Rand))
		err = env.Fault("wipe-and-join", n.ID, func() error { return wipeAndStart(n, env.Cluster.RestartJoin) })
		if err != nil {
			return err
		}
		return env.Fault("add-member", n.ID, func() error { return changeMember(env, "add", n) })
	}
}

// changeMember sends one DLEDGER_MEMBERS change for n to a running node
// (which forwards it to the leader), retrying across leader changes for up
// to 30 s: both changes are idempotent, so a retry after an unknown outcome
// is safe.
func changeMember(env *Env, op string, n *Node) error {
	cfg := env.Cluster.ClientConfig("nemesis").Remoting
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for try := 0; time.Now().Before(deadline); try++ {
		if try > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		for _, via := range env.Cluster.Nodes {
			if via == n || !via.Running() {
				continue
			}
			last = invokeMembers(cfg, via.Client.String(), op, n)
			if last == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("members %s %s: %w", op, n.ID, last)
}

func invokeMembers(cfg remoting.ClientConfig, addr, op string, n *Node) error {
	cl, err := remoting.NewClient(addr, cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Invoke(ctx, remoting.NewRequest(remoting.DLedgerMembers,
		map[string]string{"op": op, "id": n.ID, "addr": n.Raft.String()}, nil))
	if err != nil {
		return err
	}
	if resp.ResponseCode() != remoting.Success {
		return fmt.Errorf("%s: %s", resp.ResponseCode(), resp.Remark)
	}
	return nil
}
