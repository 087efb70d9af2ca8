package dledger

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// TestDurabilityBookkeeping follows the durable index through the leader's
// deferred path, a suffix truncation, the follower path and Close.
func TestDurabilityBookkeeping(t *testing.T) {
	crash := vfs.NewCrash(1)
	s, err := OpenLogStore(testStoreOpts(crash, "/s"))
	if err != nil {
		t.Fatal(err)
	}
	leader := true
	s.SetDeferProbe(func() bool { return leader })

	if err := s.StoreLogs(mkLogs(1, 10, 1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDurable(10); err != nil {
		t.Fatal(err)
	}
	if d := s.DurableIndex(); d != 10 {
		t.Fatalf("durable %d after WaitDurable(10)", d)
	}

	// raft cuts the tail as a follower: the durable index follows it down,
	// and the rewritten entries are synced before StoreLogs returns.
	leader = false
	if err := s.DeleteRange(8, 10); err != nil {
		t.Fatal(err)
	}
	if d := s.DurableIndex(); d != 7 {
		t.Fatalf("durable %d after truncating to 7", d)
	}
	if err := s.StoreLogs(mkLogs(8, 9, 2, 100)); err != nil {
		t.Fatal(err)
	}
	if d := s.DurableIndex(); d != 9 {
		t.Fatalf("durable %d after a follower batch ending at 9", d)
	}
	if err := s.WaitDurable(10); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("WaitDurable past the log: %v, want ErrLogNotFound", err)
	}

	// A deferred batch is durable once WaitDurable returns: a power cut
	// right after keeps it.
	leader = true
	if err := s.StoreLogs(mkLogs(10, 20, 2, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDurable(20); err != nil {
		t.Fatal(err)
	}
	crash.Crash(vfs.DropAll)
	s.abandon()
	s, err = OpenLogStore(testStoreOpts(crash, "/s"))
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := s.LastIndex(); last != 20 {
		t.Fatalf("last index %d after a power cut, want the durable 20", last)
	}
	if d := s.DurableIndex(); d != 20 {
		t.Fatalf("reopened store reports durable %d, want 20", d)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A node that stops wakes a waiter whose sync is stuck.
	var hold atomic.Bool
	release := make(chan struct{})
	gated := vfs.NewErr(crash, func(op vfs.Op, _ string) error {
		if op == vfs.OpSync && hold.Load() {
			<-release
		}
		return nil
	})
	s, err = OpenLogStore(testStoreOpts(gated, "/s"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeferProbe(func() bool { return true })
	hold.Store(true)
	if err := s.StoreLogs(mkLogs(21, 21, 2, 100)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitDurable(21) }()
	select {
	case err := <-done:
		t.Fatalf("WaitDurable returned (%v) with the sync held", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.interruptWaits()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter after interruptWaits: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitDurable still blocked after interruptWaits")
	}
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
