package bench

import (
	"testing"
	"time"
)

func TestTimelineGaps(t *testing.T) {
	start := time.Now()
	tl := NewTimeline(start)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	for ms := 0; ms < 1000; ms += 2 { // steady successes every 2 ms
		tl.Mark(at(ms), true)
	}
	// Kill at 1000 ms: the last success at 998, failures at 1150 and
	// 1300, the first success after them at 1740.
	tl.Mark(at(1150), false)
	tl.Mark(at(1300), false)
	tl.Mark(at(1300), false)
	for ms := 1740; ms < 3000; ms += 2 {
		tl.Mark(at(ms), true)
	}
	r := tl.Gaps(time.Second, 3*time.Second)
	if r.LongestGap != 742*time.Millisecond || r.GapFrom != 998*time.Millisecond || r.GapTo != 1740*time.Millisecond || r.Open {
		t.Fatalf("gap %v (%v → %v, open %v), want 742ms (998ms → 1.74s)", r.LongestGap, r.GapFrom, r.GapTo, r.Open)
	}
	if r.FirstFailure != 1150*time.Millisecond || r.FirstSuccessAfter != 1740*time.Millisecond || r.FailToSuccess != 590*time.Millisecond {
		t.Fatalf("fail→success: %v → %v = %v", r.FirstFailure, r.FirstSuccessAfter, r.FailToSuccess)
	}
	if r.FailedAfterKill != 3 {
		t.Fatalf("failed after kill %d, want 3", r.FailedAfterKill)
	}
}

func TestTimelineOpenGapAndNoFailure(t *testing.T) {
	start := time.Now()
	tl := NewTimeline(start)
	tl.Mark(start.Add(-time.Second), true) // before the start: counted at 0
	tl.Mark(start.Add(100*time.Millisecond), true)
	r := tl.Gaps(50*time.Millisecond, 2*time.Second)
	if !r.Open || r.LongestGap != 1900*time.Millisecond || r.GapTo != 2*time.Second {
		t.Fatalf("open gap: %+v", r)
	}
	if r.FirstFailure != -1 || r.FirstSuccessAfter != -1 || r.FailToSuccess != 0 {
		t.Fatalf("no failure expected: %+v", r)
	}
}

func TestTimelineSpansChunks(t *testing.T) {
	start := time.Now()
	tl := NewTimeline(start)
	tl.Mark(start.Add(tlChunkMS*time.Millisecond-time.Millisecond), true)
	tl.Mark(start.Add(tlChunkMS*time.Millisecond+4*time.Millisecond), true)
	r := tl.Gaps(0, (tlChunkMS+5)*time.Millisecond)
	if r.LongestGap != 5*time.Millisecond {
		t.Fatalf("gap across chunks %v, want 5ms", r.LongestGap)
	}
}
