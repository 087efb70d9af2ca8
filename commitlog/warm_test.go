package commitlog

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// firstHole returns where the first hole at or after from is in path, as
// the file system reports it (SEEK_HOLE; ext4 and xfs report preallocated,
// never written blocks as holes).
func firstHole(t *testing.T, path string, from int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, err := unix.Seek(int(f.Fd()), from, unix.SEEK_HOLE)
	if err != nil {
		t.Skipf("SEEK_HOLE on %s: %v", path, err)
	}
	return off
}

// skipUnlessUnwrittenIsHole skips the test on file systems that do not
// report fallocated blocks as holes (the check below would prove nothing).
func skipUnlessUnwrittenIsHole(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "probe")
	f, err := vfs.OS.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	defer f.Close()
	if err := f.Allocate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if firstHole(t, p, 0) != 0 {
		t.Skip("the file system does not report preallocated blocks as holes")
	}
}

// TestWarmSegmentsWritten: with WarmSegments the first segment is written
// in full by Open, each later one is the warmer's spare renamed into place
// at the roll, and records survive a reopen.
func TestWarmSegmentsWritten(t *testing.T) {
	dir := t.TempDir()
	skipUnlessUnwrittenIsHole(t, dir)
	const seg = 64 << 10
	o := testOptions(t, vfs.OS, dir)
	o.SegmentSize = seg
	o.WarmSegments = true
	o.WarmRate = -1
	l := mustOpen(t, o)
	if h := firstHole(t, filepath.Join(dir, segmentName(0)), SegmentHeaderSize); h != seg {
		t.Fatalf("first segment has a hole at %d: not written before use", h)
	}

	var want []Record
	id := uint64(0)
	for base := int64(seg); base <= 4*seg; base += seg {
		spare := filepath.Join(dir, segmentName(base)+warmSuffix)
		deadline := time.Now().Add(10 * time.Second)
		for {
			l.warm.mu.Lock()
			ready := l.warm.base == base && l.warm.spare != nil
			l.warm.mu.Unlock()
			if ready {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("spare for base %d not ready", base)
			}
			time.Sleep(5 * time.Millisecond)
		}
		for l.End() < base {
			id++
			r := sweepRecord(id, 3000)
			if _, err := l.Append([]Record{r}); err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
		if _, err := os.Stat(spare); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("spare %s still there after the roll (err %v)", spare, err)
		}
		if h := firstHole(t, filepath.Join(dir, segmentName(base)), SegmentHeaderSize); h != seg {
			t.Fatalf("segment %d has a hole at %d: the roll did not use the warmed spare", base, h)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := vfs.OS.List(dir)
	for _, n := range names {
		if filepath.Ext(n) == warmSuffix {
			t.Fatalf("Close left %s", n)
		}
	}
	l = mustOpen(t, o)
	defer l.Close()
	checkRecords(t, l, want)
}

// checkRecords reads the whole log and compares it with want.
func checkRecords(t *testing.T, l *Log, want []Record) {
	t.Helper()
	it := l.NewIterator(l.Start())
	i := 0
	for it.Next() {
		r := it.Record()
		if i >= len(want) || r.Type != want[i].Type || string(r.Data) != string(want[i].Data) {
			t.Fatalf("record %d differs", i)
		}
		i++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("read %d records, want %d", i, len(want))
	}
}

// TestWarmLeftoversRemoved: a spare left by a crash is deleted on open.
func TestWarmLeftoversRemoved(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(t, vfs.OS, dir)
	l := mustOpen(t, o)
	if _, err := l.Append([]Record{sweepRecord(1, 100)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, segmentName(o.SegmentSize)+warmSuffix)
	if err := os.WriteFile(left, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	defer l.Close()
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover spare not removed: %v", err)
	}
	checkRecords(t, l, []Record{sweepRecord(1, 100)})
}

// TestWarmSegmentsPowerLoss: power cuts at random moments of a workload
// that rolls through warmed spares never lose an appended record (FlushSync)
// and recovery leaves no spare behind.
func TestWarmSegmentsPowerLoss(t *testing.T) {
	seed := time.Now().UnixNano()
	iters := 30
	if testing.Short() {
		iters = 8
	}
	t.Logf("seed %d", seed)
	for i := range iters {
		s := seed + int64(i)
		rng := rand.New(rand.NewSource(s))
		c := vfs.NewCrash(s)
		o := testOptions(t, c, "/log")
		o.SegmentSize = 8 << 10
		o.WarmSegments = true
		o.WarmRate = -1
		l, err := Open(o)
		if err != nil {
			t.Fatalf("seed %d: open: %v", s, err)
		}
		var acked []Record
		n := 1 + rng.Intn(60)
		for j := range n {
			r := sweepRecord(uint64(j+1), 200+rng.Intn(2000))
			if _, err := l.Append([]Record{r}); err != nil {
				t.Fatalf("seed %d: append %d: %v", s, j, err)
			}
			acked = append(acked, r)
			if rng.Intn(4) == 0 {
				time.Sleep(time.Duration(rng.Intn(300)) * time.Microsecond) // let the warmer run
			}
		}
		l.warm.halt() // no writes during the cut; a spare may be left on disk
		c.Crash([]vfs.CrashMode{vfs.DropAll, vfs.Random, vfs.KeepAll}[rng.Intn(3)])
		o.WarmSegments = false // so that any spare found below is a leftover
		l2, err := Open(o)
		if err != nil {
			t.Fatalf("seed %d: reopen after the power cut: %v", s, err)
		}
		checkRecords(t, l2, acked)
		names, _ := c.List("/log")
		for _, nm := range names {
			if filepath.Ext(nm) == warmSuffix {
				t.Fatalf("seed %d: %s survived recovery", s, nm)
			}
		}
		_ = l2.Close()
		_ = l.Close()
	}
}

// TestWarmPacerFollowsAppendRate: the warmer aims to finish at 80% of the
// time the active segment has left at the observed append rate, within
// [minWarmRate, max].
func TestWarmPacerFollowsAppendRate(t *testing.T) {
	o := testOptions(t, vfs.OS, t.TempDir())
	o.SegmentSize = 1 << 20
	l := mustOpen(t, o)
	defer l.Close()
	p := &warmPacer{l: l, max: 256 << 20, size: 1 << 20, at: time.Now(), end: l.End(), measured: true}
	left := float64(int64(1<<20) - l.End()) // bytes until the active segment is full

	p.appRate = 0
	if got := p.rate(0); got != minWarmRate {
		t.Errorf("idle log: rate %d, want the minimum %d", got, minWarmRate)
	}
	p.appRate = 10 << 20
	want := float64(1<<20) / (0.8 * left / float64(10<<20))
	if got := float64(p.rate(0)); got < 0.99*want || got > 1.01*want {
		t.Errorf("10 MiB/s of appends: rate %.0f, want %.0f", got, want)
	}
	if got := float64(p.rate(1 << 19)); got < 0.49*want || got > 0.51*want {
		t.Errorf("half warmed: rate %.0f, want %.0f", got, want/2)
	}
	p.appRate = 1 << 40
	if got := p.rate(0); got != 256<<20 {
		t.Errorf("flood of appends: rate %d, want the cap %d", got, 256<<20)
	}
}
