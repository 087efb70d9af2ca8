package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Group commit. A batcher packs the writes that arrive while earlier
// entries are in flight into one Raft entry, so the per-entry cost of Raft
// (about 10 µs of CPU per entry and replica, DESIGN.md decision 5) is paid
// per batch, not per message. Up to MaxInflight entries are proposed at
// once (pipelined ApplyAsync); while all slots are busy, arriving writes
// queue up and the next entry takes all of them (up to the limits). At low
// load an entry carries a single call and nothing waits for company: a
// caller that finds the queue empty and a slot free proposes its entry
// itself. One waiter goroutine per entry in flight resolves the Raft
// future, frees the slot and wakes the entry's callers.
//
// Lock order: batcher.mu is taken before Raft's apply queue (propose runs
// under it so entries are proposed in the order requests were taken).

// request states.
const (
	reqQueued    int32 = iota // in the batcher's queue
	reqTaken                  // packed into an entry (outcome now up to Raft)
	reqCancelled              // the caller gave up before it was taken
)

// request is one caller's write: its encoded items with room for the entry
// header in front, so an entry of one request needs no copy.
type request struct {
	data  []byte // entryHeaderLen reserved bytes, then the items
	items int
	state atomic.Int32
	done  chan struct{}
	// Set before done is closed.
	res   any // the entry's apply result
	first int // index of this request's first item in the entry
	err   error
}

func newRequest(data []byte, items int) *request {
	return &request{data: data, items: items, done: make(chan struct{})}
}

func (r *request) finish(res any, err error) {
	r.res, r.err = res, err
	close(r.done)
}

// batcher is the group-commit queue of one command type (messages, or
// offset commits).
type batcher struct {
	s        *Store
	cmd      cmdType
	maxItems int
	maxBytes int

	mu     sync.Mutex
	queue  []*request
	closed bool

	wake    chan struct{} // a request was queued (capacity 1)
	slots   chan struct{} // entries in flight (capacity MaxInflight)
	quit    chan struct{}
	run     sync.WaitGroup       // the packing loop
	flights map[*flight]struct{} // entries in flight; guarded by mu

	entries, packed atomic.Int64 // statistics: entries proposed, requests packed
}

func newBatcher(s *Store, cmd cmdType, maxItems, maxBytes int) *batcher {
	b := &batcher{
		s: s, cmd: cmd, maxItems: maxItems, maxBytes: maxBytes,
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, s.cfg.MaxInflight),
		quit:    make(chan struct{}),
		flights: map[*flight]struct{}{},
	}
	b.run.Add(1)
	go b.loop()
	return b
}

// do submits r and waits for its outcome or ctx. It returns the entry's
// apply result and r's first item index in the entry. When nothing is
// queued and a slot is free, the caller proposes r itself (one goroutine
// hop less for a lone writer); otherwise r is queued for the packing loop.
func (b *batcher) do(ctx context.Context, r *request) (any, int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, 0, ErrClosed
	}
	direct := false
	if len(b.queue) == 0 {
		select {
		case b.slots <- struct{}{}:
			direct = true
		default:
		}
	}
	if direct {
		r.state.Store(reqTaken)
		b.propose([]*request{r}, r.items, len(r.data)-entryHeaderLen)
		b.mu.Unlock()
	} else {
		b.queue = append(b.queue, r)
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	select {
	case <-r.done:
		return r.res, r.first, r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return nil, 0, fmt.Errorf("store: write not proposed: %w", ctx.Err())
		}
		return nil, 0, fmt.Errorf("store: write proposed, outcome unknown: %w", ctx.Err())
	}
}

// loop packs queued requests into entries whenever a slot is free.
func (b *batcher) loop() {
	defer b.run.Done()
	for {
		select {
		case <-b.quit:
			b.failQueued(ErrClosed)
			return
		case <-b.wake:
		}
		for {
			select {
			case b.slots <- struct{}{}:
			case <-b.quit:
				b.failQueued(ErrClosed)
				return
			}
			b.mu.Lock()
			reqs, items, size := b.takeLocked()
			if len(reqs) == 0 {
				b.mu.Unlock()
				<-b.slots
				break
			}
			b.propose(reqs, items, size)
			b.mu.Unlock()
		}
	}
}

// flight is a proposed entry and the requests it carries.
type flight struct {
	reqs []*request
	done atomic.Bool // outcome handed out (by the waiter or by abandon)
}

// propose packs reqs into one entry and proposes it; a waiter goroutine
// hands out the outcome and frees the slot the caller acquired. Caller
// holds mu, so entries are proposed in the order requests were taken.
func (b *batcher) propose(reqs []*request, items, size int) {
	data := b.pack(reqs, items, size)
	f := b.s.node.ApplyAsync(data, b.s.cfg.ApplyTimeout)
	b.entries.Add(1)
	b.packed.Add(int64(len(reqs)))
	fl := &flight{reqs: reqs}
	b.flights[fl] = struct{}{}
	go func() {
		err := f.Error()
		var res any
		if err == nil {
			res = f.Response()
		}
		b.deliver(fl, res, mapRaftErr(err))
	}()
}

// deliver hands out a flight's outcome once and frees its slot.
func (b *batcher) deliver(fl *flight, res any, err error) {
	if !fl.done.CompareAndSwap(false, true) {
		return
	}
	b.mu.Lock()
	delete(b.flights, fl)
	b.mu.Unlock()
	<-b.slots
	for _, r := range fl.reqs {
		r.finish(res, err)
	}
}

// abandon fails the entries still in flight once the Raft node has
// stopped. hashicorp/raft never answers a future that was still in its
// apply queue when it shut down (ApplyFuture.Error blocks for ever), but an
// entry it had already appended and sent to followers may be answered late
// or not at all and still commit on the others: the outcome is unknown, so
// callers get ErrLeadershipLost (which also satisfies ErrClosed here).
// Their waiter goroutines stay blocked on the dead future.
func (b *batcher) abandon() {
	b.mu.Lock()
	fls := make([]*flight, 0, len(b.flights))
	for fl := range b.flights {
		fls = append(fls, fl)
	}
	b.mu.Unlock()
	for _, fl := range fls {
		b.deliver(fl, nil, errStoppedInFlight)
	}
}

// takeLocked removes the requests for the next entry from the queue.
// Caller holds mu.
func (b *batcher) takeLocked() (reqs []*request, items, size int) {
	n := 0
	for ; n < len(b.queue); n++ {
		r := b.queue[n]
		sz := len(r.data) - entryHeaderLen
		if len(reqs) > 0 && (items+r.items > b.maxItems || size+sz > b.maxBytes) {
			break
		}
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // cancelled by its caller
		}
		reqs = append(reqs, r)
		items += r.items
		size += sz
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return reqs, items, size
}

// pack builds the entry. A lone request's buffer is used as is.
func (b *batcher) pack(reqs []*request, items, size int) []byte {
	if len(reqs) == 1 {
		putEntryHeader(reqs[0].data, b.cmd, items)
		return reqs[0].data
	}
	buf := make([]byte, entryHeaderLen, entryHeaderLen+size)
	putEntryHeader(buf, b.cmd, items)
	first := 0
	for _, r := range reqs {
		r.first = first
		first += r.items
		buf = append(buf, r.data[entryHeaderLen:]...)
	}
	return buf
}

func (b *batcher) failQueued(err error) {
	b.mu.Lock()
	b.closed = true
	q := b.queue
	b.queue = nil
	b.mu.Unlock()
	for _, r := range q {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			r.finish(nil, err)
		}
	}
}

// close stops taking requests; queued ones fail with ErrClosed. Entries in
// flight complete when Raft resolves them (or shuts down).
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
}

// stop waits for the packing loop, then (the node having stopped) fails
// whatever is still in flight.
func (b *batcher) stop() {
	b.run.Wait()
	b.abandon()
}

// proposeDirect proposes one entry outside any batcher (group commit off,
// metadata commands) and waits for its outcome, for ctx, or for the node
// to stop (see batcher.abandon).
func (s *Store) proposeDirect(ctx context.Context, data []byte) (any, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	f := s.node.ApplyAsync(data, s.cfg.ApplyTimeout)
	how, err := s.awaitRaft(ctx, f.Error)
	switch how {
	case raftTimedOut:
		return nil, fmt.Errorf("store: write proposed, outcome unknown: %w", err)
	case raftStopped:
		return nil, errStoppedInFlight
	}
	if err != nil {
		return nil, mapRaftErr(err)
	}
	return f.Response(), nil
}

// How a raft call awaited by awaitRaft ended.
type raftWait int

const (
	raftAnswered raftWait = iota // the call returned (its error, if any)
	raftTimedOut                 // ctx ended first (ctx's error)
	raftStopped                  // the node stopped first
)

// awaitRaft runs call, a hashicorp/raft call that may never return once the
// node stops (its futures are then never answered, see batcher.abandon),
// and waits for it, for ctx, or for the node to stop. An answer that is
// already there when the node stops wins.
func (s *Store) awaitRaft(ctx context.Context, call func() error) (raftWait, error) {
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return raftAnswered, err
	case <-ctx.Done():
		return raftTimedOut, ctx.Err()
	case <-s.node.Stopped():
		select {
		case err := <-done:
			return raftAnswered, err
		default:
			return raftStopped, nil
		}
	}
}

// errStoppedInFlight is the answer to a write proposed to Raft when the
// node stopped before the write's outcome was known: it may have been
// appended, replicated and committed by the others (found by the jepsen
// power-loss scenarios, where such writes were reported as failed yet
// stored).
var errStoppedInFlight = fmt.Errorf("%w (%w): the node stopped with the write proposed", ErrLeadershipLost, ErrClosed)

// mapRaftErr turns raft's errors into the store's sentinels.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w (%w): %w", ErrLeadershipLost, ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return fmt.Errorf("store: raft: %w", err)
}
