package cli

// TEST HOOKS for the jepsen fault-injection harness (package jepsen). They
// are hidden from --help and inert unless used:
//
//   - SIGUSR1: if this replica leads its group, hand leadership to a
//     follower (raft leadership transfer), without stopping. Lets a harness
//     move leadership back and forth under load.
//   - --clock-skew D (hidden): the store's clock (the leader's store
//     timestamp, see store.Config.Clock) runs D ahead of (negative: behind)
//     the wall clock from the start.
//   - --clock-jump J (hidden): each SIGUSR2 adds J to the clock's offset,
//     the next one takes it off again (a wall-clock jump and its undo).
//     SIGUSR2 is only handled when --clock-jump is set.

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dledgermq/dledgermq/store"
)

// testHookFlags are the hidden flags of the test hooks.
func testHookFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "clock-skew", Hidden: true, Usage: "test hook: offset of the store clock"},
		&cli.DurationFlag{Name: "clock-jump", Hidden: true, Usage: "test hook: SIGUSR2 toggles this extra store-clock offset"},
	}
}

// testClock is the store clock with the hooks' offset.
type testClock struct {
	offset atomic.Int64 // nanoseconds
	jump   time.Duration
	jumped bool
}

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// toggle applies or removes the jump; it returns the new offset.
func (c *testClock) toggle() time.Duration {
	c.jumped = !c.jumped
	if c.jumped {
		return time.Duration(c.offset.Add(int64(c.jump)))
	}
	return time.Duration(c.offset.Add(-int64(c.jump)))
}

// applyTestClock installs the clock hooks into scfg; it returns the clock
// (nil when neither flag is set).
func applyTestClock(c *cli.Context, scfg *store.Config) *testClock {
	skew, jump := c.Duration("clock-skew"), c.Duration("clock-jump")
	if skew == 0 && jump == 0 {
		return nil
	}
	tc := &testClock{jump: jump}
	tc.offset.Store(int64(skew))
	scfg.Clock = tc.now
	return tc
}

// runTestHooks handles SIGUSR1 (leadership transfer) and, with a clock
// whose jump is set, SIGUSR2 (clock jump) until ctx ends.
func runTestHooks(ctx context.Context, st *store.Store, tc *testClock, log *slog.Logger) {
	ch := make(chan os.Signal, 4)
	sigs := []os.Signal{syscall.SIGUSR1}
	if tc != nil && tc.jump != 0 {
		sigs = append(sigs, syscall.SIGUSR2)
	}
	signal.Notify(ch, sigs...)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-ch:
				switch sig {
				case syscall.SIGUSR1:
					if !st.IsLeader() {
						log.Info("test hook: SIGUSR1 ignored, not the leader")
						continue
					}
					go func() {
						err := st.Node().TransferLeadership()
						log.Info("test hook: SIGUSR1 leadership transfer", "err", err)
					}()
				case syscall.SIGUSR2:
					log.Info("test hook: SIGUSR2 clock jump", "offset", tc.toggle())
				}
			}
		}
	}()
}
