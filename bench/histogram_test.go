package bench

import (
	"sync"
	"testing"
	"time"
)

func TestRecorderWeightsLatencyPerMessage(t *testing.T) {
	r := NewRecorder(4, nil)
	now := time.Now()
	r.Shard(0).Record(100*time.Microsecond, -1, 1, 10, OK, now)
	r.Shard(1).Record(2*time.Millisecond, -1, 9, 90, OK, now) // a batch of 9
	r.Shard(2).Record(time.Second, -1, 5, 50, SendFailed, now)
	r.Shard(3).Record(time.Second, -1, 3, 30, ResponseFailed, now)

	w := newWindow()
	r.Drain(&w)
	if w.OK != 10 || w.SendFailed != 5 || w.RespFailed != 3 || w.Errors() != 8 || w.Ops != 4 || w.Bytes != 100 {
		t.Fatalf("counters: %+v", w)
	}
	p := PercentilesOf(w.Lat)
	if p.Count != 10 {
		t.Fatalf("latency samples %d, want 10 (failures are not latency samples)", p.Count)
	}
	// 9 of 10 messages waited 2 ms: the median is the batch's latency.
	if p.P50 < 1990 || p.P50 > 2010 || p.Max < 1990 || p.Max > 2010 {
		t.Fatalf("p50 %d max %d, want ~2000 µs", p.P50, p.Max)
	}
	if r.Acked() != 10 {
		t.Fatalf("Acked %d", r.Acked())
	}

	// Drain empties the shards but not Acked.
	w2 := newWindow()
	r.Drain(&w2)
	if w2.OK != 0 || w2.Lat.TotalCount() != 0 || r.Acked() != 10 {
		t.Fatalf("second drain: %+v, acked %d", w2, r.Acked())
	}
}

func TestRecorderClampsAndFloors(t *testing.T) {
	r := NewRecorder(1, nil)
	r.Shard(0).Record(2*time.Minute, -1, 2, 0, OK, time.Now())
	r.Shard(0).Record(0, 5*time.Millisecond, 1, 0, OK, time.Now())
	w := newWindow()
	r.Drain(&w)
	if w.Clamped != 2 {
		t.Fatalf("clamped %d, want 2", w.Clamped)
	}
	if w.Lat.Max() < histMaxUS || w.Lat.Min() != histMinUS {
		t.Fatalf("min %d max %d", w.Lat.Min(), w.Lat.Max())
	}
	if w.Lag.TotalCount() != 1 || w.Lag.Max() < 4990 || w.Lag.Max() > 5010 {
		t.Fatalf("lag: %d samples, max %d", w.Lag.TotalCount(), w.Lag.Max())
	}
}

func TestRecorderConcurrent(t *testing.T) {
	const goroutines, each = 64, 500
	r := NewRecorder(goroutines, nil)
	if len(r.shards) != maxShards {
		t.Fatalf("%d shards, want %d", len(r.shards), maxShards)
	}
	var wg sync.WaitGroup
	total := newWindow()
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() { // a reporter draining while goroutines record
		defer close(drained)
		w := newWindow()
		for {
			select {
			case <-stop:
				r.Drain(&w)
				total.add(&w)
				return
			default:
				r.Drain(&w)
				total.add(&w)
				w.reset()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r.Shard(g).Record(time.Duration(i+1)*time.Microsecond, -1, 1, 1, OK, time.Now())
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-drained
	if total.OK != goroutines*each || total.Lat.TotalCount() != goroutines*each {
		t.Fatalf("recorded %d (%d samples), want %d", total.OK, total.Lat.TotalCount(), goroutines*each)
	}
	if p := PercentilesOf(total.Lat); p.Max < 499 || p.Max > 501 {
		t.Fatalf("max %d, want 500", p.Max)
	}
}

func TestPercentilesOfEmpty(t *testing.T) {
	if p := PercentilesOf(newHist()); p != (Percentiles{}) {
		t.Fatalf("empty histogram: %+v", p)
	}
}
