package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPacerCountsAndBatches(t *testing.T) {
	p := NewPacer(time.Now(), 0, 4, 10) // 10 messages in batches of 4: 4, 4, 2
	var got []int
	for {
		_, n, _, ok := p.Next(context.Background())
		if !ok {
			break
		}
		got = append(got, n)
	}
	if len(got) != 3 || got[0] != 4 || got[1] != 4 || got[2] != 2 {
		t.Fatalf("batches %v, want [4 4 2]", got)
	}
	if p.Claimed() != 3 || p.OpenLoop() {
		t.Fatalf("claimed %d, open %v", p.Claimed(), p.OpenLoop())
	}
}

func TestPacerScheduleIsFixed(t *testing.T) {
	start := time.Now()
	p := NewPacer(start, 1000, 2, 0) // 1000 msgs/s in pairs: one op every 2 ms
	if !p.OpenLoop() {
		t.Fatal("rate > 0 must be open loop")
	}
	for k := int64(0); k < 5; k++ {
		if want := start.Add(time.Duration(k) * 2 * time.Millisecond); !p.Due(k).Equal(want) {
			t.Fatalf("due(%d) = %v, want %v", k, p.Due(k).Sub(start), want.Sub(start))
		}
	}
	// A late claimer gets the old due time, not "now": queueing counts.
	time.Sleep(20 * time.Millisecond)
	k, _, due, ok := p.Next(context.Background())
	if !ok || k != 0 || !due.Equal(start) {
		t.Fatalf("late claim: k %d due %v ok %v", k, due.Sub(start), ok)
	}
}

// TestPacerRateAccuracy: four goroutines claiming as fast as they can get
// as many operations as the rate allows over the window, and none early.
func TestPacerRateAccuracy(t *testing.T) {
	const rate, window = 20000.0, 400 * time.Millisecond
	start := time.Now()
	p := NewPacer(start, rate, 1, 0)
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(window))
	defer cancel()
	var n, early atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, _, due, ok := p.Next(ctx)
				if !ok {
					return
				}
				if time.Now().Before(due) {
					early.Add(1)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	want := rate * window.Seconds()
	if got := float64(n.Load()); got < 0.95*want || got > 1.02*want+8 {
		t.Fatalf("%v operations in %v at %v/s, want %v ±5%%", got, window, rate, want)
	}
	if early.Load() != 0 {
		t.Fatalf("%d operations started before they were due", early.Load())
	}
}

func TestPacerStopsOnContext(t *testing.T) {
	p := NewPacer(time.Now(), 1, 1, 0) // one per second
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, _, ok := p.Next(ctx); !ok { // op 0 is due now
		t.Fatal("first op refused")
	}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	t0 := time.Now()
	if _, _, _, ok := p.Next(ctx); ok {
		t.Fatal("op 1 granted after cancel")
	}
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("cancel took %v to stop the wait", d)
	}
}
