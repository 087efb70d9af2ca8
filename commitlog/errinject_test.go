package commitlog

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// nameSwitch fails the next operation of kind op on a file whose name
// passes match, once.
type nameSwitch struct {
	mu    sync.Mutex
	op    vfs.Op
	match func(string) bool
	err   error
	fired int
}

func (s *nameSwitch) arm(op vfs.Op, err error, match func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = vfs.ErrInjected
	}
	s.op, s.err, s.match = op, err, match
}

func (s *nameSwitch) inject(op vfs.Op, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.match == nil || op != s.op || !s.match(name) {
		return nil
	}
	s.match = nil
	s.fired++
	return fmt.Errorf("%s %s: %w", op, name, s.err)
}

var writeMethods = []WriteMethod{WriteMmap, WritePwrite}

// errLog opens a FlushSync log on a crash FS behind a switchable injector.
func errLog(t *testing.T, wm WriteMethod) (*Log, *vfs.CrashFS, *vfs.Switch, *nameSwitch) {
	t.Helper()
	c := vfs.NewCrash(3)
	sw := &vfs.Switch{}
	ns := &nameSwitch{}
	o := testOptions(t, vfs.NewErr(c, vfs.Chain(sw.Inject, ns.inject)), "/log")
	o.Write = wm
	return mustOpen(t, o), c, sw, ns
}

// durabilityOp is the operation that makes a batch durable.
func durabilityOp(wm WriteMethod) vfs.Op {
	if wm == WritePwrite {
		return vfs.OpSync
	}
	return vfs.OpFlush
}

// checkExactly reopens the crashed FS and checks the log holds exactly the
// acked records.
func checkExactly(t *testing.T, c *vfs.CrashFS, acked []int64, ids []uint64) {
	t.Helper()
	l := mustOpen(t, testOptions(t, c, "/log"))
	defer l.Close()
	offs, recs := readAll(t, l)
	if len(offs) != len(acked) {
		t.Fatalf("after crash: %d records, want the %d acknowledged ones", len(offs), len(acked))
	}
	for i := range offs {
		id, good := checkSweepRecord(recs[i])
		if offs[i] != acked[i] || !good || id != ids[i] {
			t.Fatalf("record %d: id %d at %d, want id %d at %d", i, id, offs[i], ids[i], acked[i])
		}
	}
	// And the log takes appends.
	if _, err := l.Append([]Record{sweepRecord(999, 10)}); err != nil {
		t.Fatal(err)
	}
}

func TestFailedSyncIsNeverAcknowledged(t *testing.T) {
	for _, wm := range writeMethods {
		t.Run(wm.String(), func(t *testing.T) {
			l, c, sw, _ := errLog(t, wm)
			var acked []int64
			var ids []uint64
			id := uint64(1)
			for i := 0; i < 30; i++ { // fills a couple of segments
				offs := mustAppend(t, l, sweepRecord(id, 1200))
				acked, ids, id = append(acked, offs...), append(ids, id), id+1
			}
			sw.Arm(nil, false, durabilityOp(wm))
			offs, err := l.Append([]Record{sweepRecord(id, 1200), sweepRecord(id+1, 1200)})
			if err == nil || len(offs) != 0 {
				t.Fatalf("Append with a failing %v: %v, %v", durabilityOp(wm), offs, err)
			}
			if !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("failed flush: %v, want ErrFailed wrapping the cause", err)
			}
			sw.Disarm()
			// The log is failed: nothing more is acknowledged.
			if _, err := l.Append([]Record{sweepRecord(id+2, 10)}); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after a failed flush: %v, want ErrFailed", err)
			}
			if err := l.Sync(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Sync after a failed flush: %v", err)
			}
			if err := l.Truncate(l.Start()); !errors.Is(err, ErrFailed) {
				t.Fatalf("Truncate after a failed flush: %v", err)
			}
			c.Crash(vfs.DropAll)
			l.Close()
			checkExactly(t, c, acked, ids)
		})
	}
}

func TestFailedWriteOrRollKeepsTheLogUsable(t *testing.T) {
	notFirst := func(name string) bool { return !strings.HasSuffix(name, segmentName(0)) }
	for _, wm := range writeMethods {
		for _, tc := range []struct {
			name  string
			op    vfs.Op
			err   error
			match func(string) bool
		}{
			{"allocate ENOSPC", vfs.OpAllocate, syscall.ENOSPC, nil},
			{"create", vfs.OpCreate, nil, nil},
			{"map", vfs.OpMap, nil, nil},
			{"sync new segment", vfs.OpSync, syscall.EIO, notFirst},
			{"sync directory", vfs.OpSyncDir, syscall.EIO, nil},
			{"write", vfs.OpWrite, syscall.EIO, nil},
		} {
			if tc.op == vfs.OpWrite && wm != WritePwrite {
				continue // the mmap path does not write(2)
			}
			t.Run(wm.String()+"/"+tc.name, func(t *testing.T) {
				l, c, _, sw := errLog(t, wm)
				var acked []int64
				var ids []uint64
				id := uint64(1)
				appendOK := func(n int) {
					t.Helper()
					offs := mustAppend(t, l, sweepRecord(id, n))
					acked, ids, id = append(acked, offs...), append(ids, id), id+1
				}
				for i := 0; i < 10; i++ {
					appendOK(1200)
				}
				match := tc.match
				if match == nil {
					match = func(string) bool { return true }
				}
				sw.arm(tc.op, tc.err, match)
				// Append until a batch hits the failure.
				var err error
				for i := 0; i < 40 && err == nil; i++ {
					var offs []int64
					offs, err = l.Append([]Record{sweepRecord(id, 1200), sweepRecord(id+1, 1200)})
					if err == nil {
						acked, ids = append(acked, offs...), append(ids, id, id+1)
					} else if len(offs) != 0 {
						t.Fatalf("failed Append returned offsets %v", offs)
					}
					id += 2
				}
				if err == nil || sw.fired != 1 {
					t.Fatalf("no append failed (fired %d)", sw.fired)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("error %v does not wrap %v", err, tc.err)
				}
				if errors.Is(err, ErrFailed) {
					t.Fatalf("a failed %s failed the whole log: %v", tc.name, err)
				}
				// Usable again.
				appendOK(1200)
				appendOK(1200)
				c.Crash(vfs.DropAll)
				l.Close()
				checkExactly(t, c, acked, ids)
			})
		}
	}
}

func TestFailedRollWithoutCrash(t *testing.T) {
	// Without a crash the rolled-back batch must not reappear either.
	for _, wm := range writeMethods {
		t.Run(wm.String(), func(t *testing.T) {
			l, c, sw, _ := errLog(t, wm)
			var acked []int64
			var ids []uint64
			for i := 0; i < 13; i++ {
				offs := mustAppend(t, l, sweepRecord(uint64(i+1), 1200))
				acked, ids = append(acked, offs...), append(ids, uint64(i+1))
			}
			sw.Arm(syscall.ENOSPC, false, vfs.OpAllocate)
			if _, err := l.Append([]Record{sweepRecord(100, 1200), sweepRecord(101, 1200), sweepRecord(102, 1200)}); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append across a failing roll: %v", err)
			}
			sw.Disarm()
			offs := mustAppend(t, l, sweepRecord(200, 50))
			acked, ids = append(acked, offs...), append(ids, 200)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			checkExactly(t, c, acked, ids)
		})
	}
}

func TestBackgroundFlushFailureFailsTheLog(t *testing.T) {
	c := vfs.NewCrash(3)
	sw := &vfs.Switch{}
	o := testOptions(t, vfs.NewErr(c, sw.Inject), "/log")
	o.Flush = FlushAsync
	o.FlushInterval = 5 * time.Millisecond
	l := mustOpen(t, o)
	defer l.Close()
	mustAppend(t, l, sweepRecord(1, 100))
	sw.Arm(syscall.EIO, false, vfs.OpFlush)
	mustAppend(t, l, sweepRecord(2, 100))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := l.Append([]Record{sweepRecord(3, 100)})
		if errors.Is(err, ErrFailed) && errors.Is(err, syscall.EIO) {
			break
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a failing background flush never failed the log")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFailedTruncateStaysConsistent(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpRemove, vfs.OpSyncDir, vfs.OpFlush} {
		t.Run(op.String(), func(t *testing.T) {
			l, c, sw, _ := errLog(t, WriteAuto)
			var offs []int64
			for i := 0; i < 40; i++ {
				offs = append(offs, mustAppend(t, l, sweepRecord(uint64(i+1), 1000))...)
			}
			sw.Arm(nil, true, op)
			err := l.Truncate(offs[5])
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("Truncate with a failing %v: %v", op, err)
			}
			c.Crash(vfs.Random)
			l.Close()
			l = mustOpen(t, testOptions(t, c, "/log"))
			defer l.Close()
			// Either state is fine, as long as it is a prefix of the log
			// that keeps at least the records Truncate was not removing.
			got, recs := readAll(t, l)
			if len(got) < 5 {
				t.Fatalf("%d records after a failed Truncate(offs[5]), want at least 5", len(got))
			}
			for i := range got {
				if id, good := checkSweepRecord(recs[i]); got[i] != offs[i] || !good || id != uint64(i+1) {
					t.Fatalf("record %d differs after a failed Truncate", i)
				}
			}
		})
	}
}
