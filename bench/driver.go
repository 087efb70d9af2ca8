package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// load is what a driver runs: either synchronous operations on a pool of
// goroutines, or asynchronous ones issued by one dispatcher per producer
// with a fixed number of in-flight slots.
type load struct {
	// workers is the number of goroutines (sync) or dispatchers (async).
	workers int
	// slots is the in-flight bound per dispatcher (async only).
	slots int
	// msgBytes is the payload of one message, for MB/s.
	msgBytes int
	// sync performs one operation of msgs messages and classifies it.
	// An error wrapping ErrAborted stops the run.
	sync func(ctx context.Context, worker int, msgs int, due time.Time) (Outcome, error)
	// async starts one operation; done is called exactly once with its
	// outcome, possibly before async returns, on any goroutine. slot
	// identifies the in-flight slot (0..slots-1) the operation occupies
	// until done, so per-slot buffers can be reused.
	async func(worker, slot, msgs int, due time.Time, done func(Outcome, error))
}

// errSample keeps the first few distinct failure messages of a run, for the
// summary (a run with a million failures should say why, once).
type errSample struct {
	mu   sync.Mutex
	seen map[string]int64
	keys []string
}

const maxErrSamples = 5

func (e *errSample) add(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]int64{}
	}
	if _, ok := e.seen[msg]; !ok {
		if len(e.keys) >= maxErrSamples {
			return
		}
		e.keys = append(e.keys, msg)
	}
	e.seen[msg]++
}

// ErrorCount is one distinct error message and how often it was seen.
type ErrorCount struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

func (e *errSample) list() []ErrorCount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ErrorCount, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, ErrorCount{Error: k, Count: e.seen[k]})
	}
	return out
}

// drainTimeout bounds how long a driver waits for operations in flight
// when the run ends (client sends are bounded by their own timeouts and
// retries, well below this).
const drainTimeout = 30 * time.Second

// drive runs l until the pacer runs out or ctx ends, recording into rec,
// and returns once every operation it started has finished (or
// drainTimeout passed). Operations are started with pacer-side ctx only:
// the ones in flight when ctx ends complete normally.
func drive(ctx context.Context, p *Pacer, rec *Recorder, l load, errs *errSample) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var aborted atomic.Pointer[error]
	fail := func(o Outcome, err error) {
		if o == OK || err == nil {
			return
		}
		errs.add(err)
		if errors.Is(err, ErrAborted) && aborted.CompareAndSwap(nil, &err) {
			cancel()
		}
	}
	lagOf := func(due, issued time.Time) time.Duration {
		if !p.OpenLoop() {
			return -1
		}
		return max(issued.Sub(due), 0)
	}
	var wg sync.WaitGroup
	for w := 0; w < l.workers; w++ {
		wg.Add(1)
		sh := rec.Shard(w)
		if l.sync != nil {
			go func() {
				defer wg.Done()
				opCtx := context.WithoutCancel(ctx)
				for {
					_, msgs, due, ok := p.Next(ctx)
					if !ok {
						return
					}
					lag := lagOf(due, time.Now())
					o, err := l.sync(opCtx, w, msgs, due)
					now := time.Now()
					sh.Record(now.Sub(due), lag, msgs, msgs*l.msgBytes, o, now)
					fail(o, err)
				}
			}()
			continue
		}
		go func() {
			defer wg.Done()
			slots := make(chan int, l.slots)
			for s := 0; s < l.slots; s++ {
				slots <- s
			}
		issue:
			for {
				var slot int
				select {
				case slot = <-slots:
				case <-ctx.Done():
					break issue
				}
				_, msgs, due, ok := p.Next(ctx)
				if !ok {
					slots <- slot
					break
				}
				lag := lagOf(due, time.Now())
				l.async(w, slot, msgs, due, func(o Outcome, err error) {
					now := time.Now()
					sh.Record(now.Sub(due), lag, msgs, msgs*l.msgBytes, o, now)
					fail(o, err)
					slots <- slot
				})
			}
			// Wait for the operations in flight: every slot comes back.
			t := time.NewTimer(drainTimeout)
			defer t.Stop()
			for back := 0; back < l.slots; back++ {
				select {
				case <-slots:
				case <-t.C:
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := aborted.Load(); e != nil {
		return *e
	}
	return nil
}
