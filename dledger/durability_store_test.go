package dledger

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// holdSyncs wraps base so that syncs wait for release while hold is set.
func holdSyncs(base vfs.FS) (vfs.FS, *atomic.Bool, chan struct{}) {
	hold := new(atomic.Bool)
	release := make(chan struct{})
	return vfs.NewErr(base, func(op vfs.Op, _ string) error {
		if op == vfs.OpSync && hold.Load() {
			<-release
		}
		return nil
	}), hold, release
}

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
	gated, hold, release := holdSyncs(crash)
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

// TestTermStartFollowsTheLog: the store knows where the last term in its
// log began through appends (terms changing inside a batch too), suffix
// truncations, a reopen and a snapshot restore; and waitApplicable waits
// for that entry's sync, not only for the entries being applied.
func TestTermStartFollowsTheLog(t *testing.T) {
	crash := vfs.NewCrash(1)
	gated, hold, release := holdSyncs(crash)
	s, err := OpenLogStore(testStoreOpts(gated, "/s"))
	if err != nil {
		t.Fatal(err)
	}
	want := func(what string, term, start uint64) {
		t.Helper()
		if gt, gs := s.TermStart(); gt != term || gs != start {
			t.Fatalf("%s: term %d from %d, want term %d from %d", what, gt, gs, term, start)
		}
	}
	want("empty", 0, 0)
	if err := s.StoreLogs(mkLogs(1, 5, 1, 100)); err != nil {
		t.Fatal(err)
	}
	want("one term", 1, 1)
	if err := s.StoreLogs(append(mkLogs(6, 8, 2, 100), mkLogs(9, 12, 4, 100)...)); err != nil {
		t.Fatal(err)
	}
	want("two terms in one batch", 4, 9)
	if err := s.DeleteRange(11, 12); err != nil {
		t.Fatal(err)
	}
	want("cut inside the last term", 4, 9)
	if err := s.DeleteRange(9, 10); err != nil {
		t.Fatal(err)
	}
	want("cut to the term before", 2, 6)
	if err := s.DeleteRange(3, 8); err != nil {
		t.Fatal(err)
	}
	want("cut to the first term", 1, 1)
	if err := s.StoreLogs(mkLogs(3, 40, 5, 100)); err != nil {
		t.Fatal(err)
	}
	want("long term", 5, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenLogStore(testStoreOpts(gated, "/s")); err != nil {
		t.Fatal(err)
	}
	want("reopened", 5, 3)

	// A deferred batch of a new term: entries of the earlier term are not
	// applicable until the new term's first entry is durable.
	s.SetDeferProbe(func() bool { return true })
	hold.Store(true)
	if err := s.StoreLogs(mkLogs(41, 42, 6, 100)); err != nil {
		t.Fatal(err)
	}
	want("deferred batch", 6, 41)
	done := make(chan error, 1)
	go func() { done <- s.waitApplicable(40) }()
	select {
	case err := <-done:
		t.Fatalf("entry 40 applicable (%v) with entry 41, the term's first, not durable", err)
	case <-time.After(100 * time.Millisecond):
	}
	hold.Store(false)
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitApplicable still blocked after the sync")
	}
	if d := s.DurableIndex(); d < 41 {
		t.Fatalf("waitApplicable(40) returned with durable %d", d)
	}

	// A replica restored from a snapshot of this log continues its terms.
	lastOff, endOff, err := s.snapshotPosition(30, 5)
	if err != nil {
		t.Fatal(err)
	}
	full, r, err := s.snapshotRecords(snapHeader{Form: formCompact, LastIndex: 30, LastTerm: 5, LastOffset: lastOff, EndOffset: endOff})
	if err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, testStoreOpts(vfs.NewMem(), "/dst"))
	defer dst.Close()
	if err := dst.restoreSnapshotRange(full, r); err != nil {
		t.Fatal(err)
	}
	if term, start := dst.TermStart(); term != 5 || start != max(3, full.StartIndex) {
		t.Fatalf("restored replica (records from %d): term %d from %d, want term 5 from %d",
			full.StartIndex, term, start, max(3, full.StartIndex))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
