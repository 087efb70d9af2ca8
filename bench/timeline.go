package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timeline counts successful and failed operations per millisecond of a
// run, so the failover report can find the longest stretch without a
// success. Memory grows in chunks of about 65 s (512 KiB each) as the run
// goes on. Mark is safe for concurrent use and lock-free after a chunk
// exists.
type Timeline struct {
	start  time.Time
	mu     sync.Mutex // serializes chunk creation
	chunks [tlMaxChunks]atomic.Pointer[tlChunk]
}

const (
	tlChunkMS   = 1 << 16
	tlMaxChunks = 1 << 12 // about 74 hours
)

type tlChunk struct {
	ok, fail [tlChunkMS]atomic.Uint32
}

// NewTimeline returns a timeline whose millisecond 0 starts at start.
func NewTimeline(start time.Time) *Timeline { return &Timeline{start: start} }

// Start returns the timeline's origin.
func (t *Timeline) Start() time.Time { return t.start }

// Mark counts one operation finished at at.
func (t *Timeline) Mark(at time.Time, ok bool) {
	ms := at.Sub(t.start).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	ci := ms / tlChunkMS
	if ci >= tlMaxChunks {
		return
	}
	c := t.chunks[ci].Load()
	if c == nil {
		t.mu.Lock()
		if c = t.chunks[ci].Load(); c == nil {
			c = new(tlChunk)
			t.chunks[ci].Store(c)
		}
		t.mu.Unlock()
	}
	if ok {
		c.ok[ms%tlChunkMS].Add(1)
	} else {
		c.fail[ms%tlChunkMS].Add(1)
	}
}

// counts returns the successes and failures of millisecond ms.
func (t *Timeline) counts(ms int64) (ok, fail uint32) {
	ci := ms / tlChunkMS
	if ms < 0 || ci >= tlMaxChunks {
		return 0, 0
	}
	c := t.chunks[ci].Load()
	if c == nil {
		return 0, 0
	}
	return c.ok[ms%tlChunkMS].Load(), c.fail[ms%tlChunkMS].Load()
}

// GapReport is what the producer saw around a leader kill. Times are
// offsets from the timeline's start with millisecond resolution; negative
// means "did not happen".
type GapReport struct {
	// KillAt is when the leader was killed.
	KillAt time.Duration
	// LongestGap is the longest interval between two consecutive
	// successful completions in the run (or from the last success to the
	// end of the run, if successes stopped: Open is then set), from
	// GapFrom to GapTo.
	LongestGap     time.Duration
	GapFrom, GapTo time.Duration
	Open           bool
	// FirstFailure is the first failed operation at or after KillAt;
	// FirstSuccessAfter the first success after it, and FailToSuccess
	// their distance (0 when no operation failed: client retries hid the
	// failover, which then shows only in LongestGap and latency).
	FirstFailure      time.Duration
	FirstSuccessAfter time.Duration
	FailToSuccess     time.Duration
	// FailedAfterKill counts failed operations from KillAt on.
	FailedAfterKill int64
}

// Gaps analyses the first end of the timeline (end: the run's length)
// around a kill at killAt.
func (t *Timeline) Gaps(killAt, end time.Duration) GapReport {
	r := GapReport{KillAt: killAt, GapFrom: -1, GapTo: -1, FirstFailure: -1, FirstSuccessAfter: -1}
	endMS := end.Milliseconds()
	killMS := killAt.Milliseconds()
	last := int64(-1) // last millisecond with a success
	for ms := int64(0); ms <= endMS; ms++ {
		ok, fail := t.counts(ms)
		if fail > 0 && ms >= killMS {
			r.FailedAfterKill += int64(fail)
			if r.FirstFailure < 0 {
				r.FirstFailure = time.Duration(ms) * time.Millisecond
			}
		}
		if ok == 0 {
			continue
		}
		if r.FirstFailure >= 0 && r.FirstSuccessAfter < 0 && ms > r.FirstFailure.Milliseconds() {
			r.FirstSuccessAfter = time.Duration(ms) * time.Millisecond
			r.FailToSuccess = r.FirstSuccessAfter - r.FirstFailure
		}
		if last >= 0 && time.Duration(ms-last)*time.Millisecond > r.LongestGap {
			r.LongestGap = time.Duration(ms-last) * time.Millisecond
			r.GapFrom, r.GapTo = time.Duration(last)*time.Millisecond, time.Duration(ms)*time.Millisecond
		}
		last = ms
	}
	if last >= 0 && time.Duration(endMS-last)*time.Millisecond > r.LongestGap {
		r.LongestGap = time.Duration(endMS-last) * time.Millisecond
		r.GapFrom, r.GapTo, r.Open = time.Duration(last)*time.Millisecond, end, true
	}
	return r
}
