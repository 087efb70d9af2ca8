package bench

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: microsecond resolution, 1 µs to 60 s, 3 significant
// digits (a recorded value is within 0.1% of the true one). Larger values
// are clamped to the maximum and counted in Window.Clamped.
const (
	histMinUS   = 1
	histMaxUS   = int64(60 * time.Second / time.Microsecond)
	histSigFigs = 3
)

// newHist returns an empty histogram with the tool's geometry.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMinUS, histMaxUS, histSigFigs) }

// maxShards bounds the shards of a Recorder: each holds two histograms of
// about 200 KiB, so hundreds of workers share a few dozen shards.
const maxShards = 32

// Outcome classifies a finished operation the way RocketMQ's benchmark
// counts it.
type Outcome uint8

const (
	// OK: acknowledged (stored, applied, appended).
	OK Outcome = iota
	// SendFailed: no usable answer: transport error, timeout, unknown
	// outcome, no route, or a local storage error (RocketMQ's
	// "Send Failed": the send threw before a response).
	SendFailed
	// ResponseFailed: a broker answered with a failure code or a non-OK
	// send status (RocketMQ's "Response Failed").
	ResponseFailed
)

// Recorder collects latencies and outcome counts from many goroutines.
// Each goroutine records through a Shard (shards are shared round-robin
// when there are more goroutines than maxShards); only the reporter, which
// calls Drain, merges them. Latencies are recorded per message: an
// operation carrying n messages adds its latency n times, so percentiles
// describe what a message waited for its acknowledgement.
type Recorder struct {
	shards   []*Shard
	timeline *Timeline // nil unless the run tracks gaps
	acked    atomic.Int64
}

// Shard is one lock-protected slice of a Recorder. Record is safe for
// concurrent use; the lock is uncontended unless shards are shared.
type Shard struct {
	r  *Recorder
	tl *Timeline
	mu sync.Mutex
	w  Window // guarded by mu
}

// Window is what a Recorder saw over some period: the latency and
// start-lag histograms (µs) and the outcome counters (messages). The
// histograms are owned by whoever holds the Window.
type Window struct {
	Lat *hdrhistogram.Histogram // latency of acknowledged messages, µs
	// Lag is how late operations were started against their schedule
	// (open-loop runs; µs): the tool's own delay, part of Lat.
	Lag        *hdrhistogram.Histogram
	OK         int64 // messages acknowledged
	SendFailed int64 // messages whose operation failed without a response
	RespFailed int64 // messages a broker refused
	Ops        int64 // operations finished (any outcome)
	Bytes      int64 // payload bytes acknowledged
	Clamped    int64 // latencies above the histogram maximum (recorded as the maximum)
}

func newWindow() Window { return Window{Lat: newHist(), Lag: newHist()} }

// Errors is the number of messages that failed either way.
func (w *Window) Errors() int64 { return w.SendFailed + w.RespFailed }

// add merges o into w.
func (w *Window) add(o *Window) {
	w.Lat.Merge(o.Lat)
	w.Lag.Merge(o.Lag)
	w.OK += o.OK
	w.SendFailed += o.SendFailed
	w.RespFailed += o.RespFailed
	w.Ops += o.Ops
	w.Bytes += o.Bytes
	w.Clamped += o.Clamped
}

// reset empties w, keeping its histograms.
func (w *Window) reset() {
	w.Lat.Reset()
	w.Lag.Reset()
	w.OK, w.SendFailed, w.RespFailed, w.Ops, w.Bytes, w.Clamped = 0, 0, 0, 0, 0, 0
}

// NewRecorder returns a recorder for n concurrent recording goroutines.
// tl, if not nil, also receives every outcome (failover gap tracking).
func NewRecorder(n int, tl *Timeline) *Recorder {
	n = max(1, min(n, maxShards))
	r := &Recorder{shards: make([]*Shard, n), timeline: tl}
	for i := range r.shards {
		r.shards[i] = &Shard{r: r, tl: tl, w: newWindow()}
	}
	return r
}

// Shard returns the shard goroutine i records through.
func (r *Recorder) Shard(i int) *Shard { return r.shards[i%len(r.shards)] }

// Acked returns the number of messages acknowledged so far (not reset by
// Drain).
func (r *Recorder) Acked() int64 { return r.acked.Load() }

// Timeline returns the recorder's timeline (nil if none).
func (r *Recorder) Timeline() *Timeline { return r.timeline }

// Drain adds everything recorded since the last Drain to into and empties
// the shards.
func (r *Recorder) Drain(into *Window) {
	for _, s := range r.shards {
		s.mu.Lock()
		into.add(&s.w)
		s.w.reset()
		s.mu.Unlock()
	}
}

// Record adds one finished operation of msgs messages carrying bytes
// payload bytes: its latency (counted msgs times, if it succeeded), its
// start lag (open loop; negative means not scheduled) and its outcome.
// done is the completion time (for the timeline).
func (s *Shard) Record(lat, lag time.Duration, msgs, bytes int, o Outcome, done time.Time) {
	us := lat.Microseconds()
	clamped := false
	if us > histMaxUS {
		us, clamped = histMaxUS, true
	} else if us < histMinUS {
		us = histMinUS
	}
	s.mu.Lock()
	w := &s.w
	w.Ops++
	switch o {
	case OK:
		_ = w.Lat.RecordValues(us, int64(msgs))
		w.OK += int64(msgs)
		w.Bytes += int64(bytes)
		if clamped {
			w.Clamped += int64(msgs)
		}
	case SendFailed:
		w.SendFailed += int64(msgs)
	case ResponseFailed:
		w.RespFailed += int64(msgs)
	}
	if lag >= 0 {
		_ = w.Lag.RecordValue(min(max(lag.Microseconds(), histMinUS), histMaxUS))
	}
	s.mu.Unlock()
	if o == OK {
		s.r.acked.Add(int64(msgs))
	}
	if s.tl != nil {
		s.tl.Mark(done, o == OK)
	}
}

// RecordValue adds a plain latency sample (no outcome, no timeline): the
// consume side's born/store-to-consume and pull round-trip histograms.
func (s *Shard) RecordValue(lat time.Duration, n int) {
	us := min(max(lat.Microseconds(), histMinUS), histMaxUS)
	s.mu.Lock()
	_ = s.w.Lat.RecordValues(us, int64(n))
	s.w.OK += int64(n)
	s.mu.Unlock()
}

// Percentiles is the summary of a latency histogram, in µs.
type Percentiles struct {
	P50, P90, P99, P999, Max int64
	Mean                     float64
	Count                    int64
}

// PercentilesOf reads the summary of h.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean(), Count: h.TotalCount(),
	}
}
