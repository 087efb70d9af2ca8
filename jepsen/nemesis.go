package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Nemeses. Each returns a Scenario.Nemesis that, until ctx ends, waits an
// "up" time drawn from [upMin, upMax], breaks something, waits a "down"
// time from [downMin, downMax] and repairs it, recording both steps as
// nemesis operations. Draws come from Env.Rand (stream "nemesis"), so a
// seed replays the schedule. Each repairs what it broke before returning,
// even when ctx ends while things are broken.

// Span is a range of durations a nemesis draws from.
type Span struct{ Min, Max time.Duration }

// draw returns a duration drawn uniformly from s.
func (s Span) draw(r *rand.Rand) time.Duration {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + time.Duration(r.Int64N(int64(s.Max-s.Min)+1))
}

// cycle runs break/repair rounds. pick chooses the targets (it may use the
// leader), brk breaks them, fix repairs them.
func cycle(ctx context.Context, env *Env, up, down Span, brkName, fixName string,
	pick func(ctx context.Context) ([]*Node, error), brk, fix func([]*Node) error) error {
	for Sleep(ctx, up.draw(env.Rand)) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		targets, err := pick(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: %w", brkName, err)
		}
		names := nodeNames(targets)
		if err := env.Fault(brkName, names, func() error { return brk(targets) }); err != nil {
			return err
		}
		Sleep(ctx, down.draw(env.Rand))
		if err := env.Fault(fixName, names, func() error { return fix(targets) }); err != nil {
			return err
		}
	}
	return nil
}

func nodeNames(ns []*Node) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ","
		}
		s += n.ID
	}
	return s
}

// pickLeader chooses the current leader.
func pickLeader(env *Env) func(context.Context) ([]*Node, error) {
	return func(ctx context.Context) ([]*Node, error) {
		l, err := env.Cluster.Leader(ctx, env.Client, env.Topic)
		if err != nil {
			return nil, err
		}
		return []*Node{l}, nil
	}
}

// pickFollower chooses a random running node other than the leader.
func pickFollower(env *Env) func(context.Context) ([]*Node, error) {
	return func(ctx context.Context) ([]*Node, error) {
		l, err := env.Cluster.Leader(ctx, env.Client, env.Topic)
		if err != nil {
			return nil, err
		}
		var fs []*Node
		for _, n := range env.Cluster.Nodes {
			if n != l && n.Running() {
				fs = append(fs, n)
			}
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("no running follower")
		}
		return []*Node{fs[env.Rand.IntN(len(fs))]}, nil
	}
}

func pickAll(env *Env) func(context.Context) ([]*Node, error) {
	return func(context.Context) ([]*Node, error) { return env.Cluster.Nodes, nil }
}

func (env *Env) killAll(ns []*Node) error {
	for _, n := range ns {
		if err := env.Cluster.Kill(n); err != nil {
			return err
		}
	}
	return nil
}

func (env *Env) restartAll(ns []*Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range ns {
		if err := env.Cluster.Restart(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// KillLeader kills the leader with SIGKILL and restarts it.
func KillLeader(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		return cycle(ctx, env, up, down, "kill-leader", "restart", pickLeader(env), env.killAll, env.restartAll)
	}
}

// KillFollower kills a random follower with SIGKILL and restarts it.
func KillFollower(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		return cycle(ctx, env, up, down, "kill-follower", "restart", pickFollower(env), env.killAll, env.restartAll)
	}
}

// KillAll kills every node with SIGKILL and restarts them all.
func KillAll(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		return cycle(ctx, env, up, down, "kill-all", "restart", pickAll(env), env.killAll, env.restartAll)
	}
}

// PauseLeader stops the leader with SIGSTOP (make down longer than the
// election timeout: the others elect a new leader while it sleeps) and
// continues it with SIGCONT.
func PauseLeader(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		return cycle(ctx, env, up, down, "pause-leader", "resume", pickLeader(env),
			func(ns []*Node) error { return env.Cluster.Pause(ns[0]) },
			func(ns []*Node) error { return env.Cluster.Resume(ns[0]) })
	}
}

// IsolateLeader cuts the leader's address off from every other address,
// clients included, then heals.
func IsolateLeader(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		if env.Firewall == nil {
			return fmt.Errorf("isolate-leader: %w: iptables", ErrToolMissing)
		}
		return cycle(ctx, env, up, down, "isolate-leader", "heal-network", pickLeader(env),
			func(ns []*Node) error { return env.Firewall.Isolate(context.Background(), ns[0].IP) },
			func([]*Node) error { return env.Firewall.Heal(context.Background()) })
	}
}

// PartitionLeaderFromFollower cuts the leader from one follower only (a
// partial partition: the third node still talks to both).
func PartitionLeaderFromFollower(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		if env.Firewall == nil {
			return fmt.Errorf("partition-leader: %w: iptables", ErrToolMissing)
		}
		pick := func(ctx context.Context) ([]*Node, error) {
			l, err := pickLeader(env)(ctx)
			if err != nil {
				return nil, err
			}
			f, err := pickFollower(env)(ctx)
			if err != nil {
				return nil, err
			}
			return append(l, f...), nil
		}
		return cycle(ctx, env, up, down, "partition-leader-follower", "heal-network", pick,
			func(ns []*Node) error {
				return env.Firewall.Partition(context.Background(), []netip.Addr{ns[0].IP}, []netip.Addr{ns[1].IP})
			},
			func([]*Node) error { return env.Firewall.Heal(context.Background()) })
	}
}

// NamesrvDown kills the NameServer and starts it again (empty: brokers
// re-register on their next heartbeat).
func NamesrvDown(up, down Span) func(context.Context, *Env) error {
	return func(ctx context.Context, env *Env) error {
		none := func(context.Context) ([]*Node, error) { return nil, nil }
		return cycle(ctx, env, up, down, "namesrv-down", "namesrv-up", none,
			func([]*Node) error { return env.Cluster.StopNamesrv() },
			func([]*Node) error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return env.Cluster.StartNamesrv(ctx)
			})
	}
}
