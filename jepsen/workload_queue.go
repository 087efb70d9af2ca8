package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/message"
)

// QueueWorkload sends unique values from several producers and reads
// queue offsets from the leader, recording every operation. Values are
// "p<process>-<n>", stored as the message body; with Keys > 0 each value
// also carries a sharding key (SHARDING_KEY) and producers use
// client.ByShardingKey, so each key's messages share a queue.
type QueueWorkload struct {
	Topic  string
	Queues []client.MessageQueue
	// Producers, Readers and Committers are the process counts. Producers
	// are processes 0..Producers-1, readers follow, then committers.
	// A committer owns the consumer group "jepsen-offsets-p<process>" and
	// alternates, on random queues, commits of a per-queue offset that
	// only grows (UPDATE_CONSUMER_OFFSET) with queries
	// (QUERY_CONSUMER_OFFSET), both through the route's master.
	Producers, Readers, Committers int
	// Keys is the number of sharding keys (0: none). Producer p uses keys
	// p, p+Producers, ... so a key has a single sender and its sends are
	// sequential.
	Keys int
	// Pause is the think time between a process's operations.
	Pause time.Duration
	// Seed drives value/key/offset choices (stream "workload/<process>").
	Seed uint64

	acked []atomic.Int64 // per queue index: 1 + highest acked offset
}

// QueueOf converts a client queue to a history queue.
func QueueOf(mq client.MessageQueue) Queue {
	return Queue{Topic: mq.Topic, Broker: mq.BrokerName, ID: mq.QueueID}
}

func (w *QueueWorkload) queueIndex(mq client.MessageQueue) int {
	for i, q := range w.Queues {
		if q == mq {
			return i
		}
	}
	return -1
}

// Run runs the workload until ctx ends, then waits for the operations in
// flight (each is bounded by the client's timeouts). newClient makes one
// client per process (its own connections).
func (w *QueueWorkload) Run(ctx context.Context, rec *Recorder, cl ReplicaSet, newClient func(name string, selector client.QueueSelector) (*client.Client, error)) error {
	if len(w.Queues) == 0 || w.Producers < 1 {
		return fmt.Errorf("%w: workload needs queues and producers", ErrInvalidConfig)
	}
	w.acked = make([]atomic.Int64, len(w.Queues))
	var wg sync.WaitGroup
	errs := make([]error, w.Producers+w.Readers+w.Committers)
	for p := range w.Producers + w.Readers + w.Committers {
		sel := client.RoundRobin()
		if p < w.Producers && w.Keys > 0 {
			sel = client.ByShardingKey()
		}
		c, err := newClient("p"+strconv.Itoa(p), sel)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			rng := NewRand(w.Seed, "workload/"+strconv.Itoa(p))
			switch {
			case p < w.Producers:
				errs[p] = w.produce(ctx, rec, c, p, rng)
			case p < w.Producers+w.Readers:
				errs[p] = w.read(ctx, rec, cl, c, p, rng)
			default:
				errs[p] = w.commitOffsets(ctx, rec, c, p, rng)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *QueueWorkload) sleep(ctx context.Context) bool {
	if w.Pause <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(w.Pause)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// produce sends values until ctx ends. Sends run on their own context: the
// end of the workload must not turn a send's outcome into "unknown".
func (w *QueueWorkload) produce(ctx context.Context, rec *Recorder, c *client.Client, p int, rng *rand.Rand) error {
	cfg := c.Config()
	sendBudget := time.Duration(cfg.Retries+1)*(cfg.SendTimeout+cfg.MaxRetryBackoff) + time.Second
	for n := 0; w.sleep(ctx); n++ {
		v := "p" + strconv.Itoa(p) + "-" + strconv.Itoa(n)
		key := ""
		if w.Keys > 0 {
			per := max(1, (w.Keys-p+w.Producers-1)/w.Producers) // keys p, p+P, ... below Keys
			key = "k" + strconv.Itoa(p+w.Producers*rng.IntN(per))
		}
		inv, err := rec.Invoke(Op{Process: p, Kind: KindSend, Value: v, Key: key})
		if err != nil {
			return err
		}
		msg := &message.Message{Topic: w.Topic, Body: []byte(v)}
		if key != "" {
			msg.Properties.Set(message.PropShardingKey, key)
		}
		sctx, cancel := context.WithTimeout(context.Background(), sendBudget)
		res, err := c.Producer().Send(sctx, msg)
		cancel()
		done := inv.As(OK)
		done.Attempts = res.Attempts
		done.MsgID = res.MsgID
		switch res.Outcome {
		case client.OutcomeOK:
			done.Queue, done.Offset, done.MaybeDup = QueueOf(res.Queue), res.QueueOffset, res.MaybeDuplicated
			if i := w.queueIndex(res.Queue); i >= 0 && res.QueueOffset >= 0 {
				for {
					cur := w.acked[i].Load()
					if res.QueueOffset+1 <= cur || w.acked[i].CompareAndSwap(cur, res.QueueOffset+1) {
						break
					}
				}
			}
		case client.OutcomeFailed:
			done.Type = Fail
		default:
			done.Type = Info
		}
		if err != nil {
			done.Error = err.Error()
		}
		if _, err := rec.Complete(done); err != nil {
			return err
		}
	}
	return nil
}

// read reads random offsets near the acknowledged tail of random queues
// from the current master (the route's brokerId 0).
func (w *QueueWorkload) read(ctx context.Context, rec *Recorder, cl ReplicaSet, c *client.Client, p int, rng *rand.Rand) error {
	cs := c.Consumer("jepsen-reader")
	for w.sleep(ctx) {
		i := rng.IntN(len(w.Queues))
		mq := w.Queues[i]
		tail := w.acked[i].Load()
		off := max(0, tail-3+rng.Int64N(5)) // around the acked tail
		inv, err := rec.Invoke(Op{Process: p, Kind: KindRead, Queue: QueueOf(mq), Offset: off})
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := cs.Pull(rctx, mq, off, 1)
		cancel()
		done := inv.As(OK)
		done.Node = replicaID(cl, res.Addr)
		if err == nil {
			done.MaxOffset = res.MaxOffset
			done.Note = fmt.Sprintf("%s min=%d max=%d next=%d suggest=%d", res.Status, res.MinOffset, res.MaxOffset, res.NextBeginOffset, res.SuggestWhichBrokerID)
		}
		switch {
		case err != nil:
			done.Type, done.Error = Fail, err.Error()
		case res.Status == client.PullFound && len(res.Messages) > 0:
			m := res.Messages[0]
			if m.QueueOffset != off {
				done.Type, done.Error = Fail, fmt.Sprintf("pulled offset %d, asked %d", m.QueueOffset, off)
			} else {
				done.Value = string(m.Body)
			}
		case res.Status == client.PullNoNewMsg || res.Status == client.PullOffsetIllegal:
			// Nothing at off yet: the read returns nothing.
		default:
			done.Type, done.Error = Fail, "pull status "+res.Status.String()
		}
		if _, err := rec.Complete(done); err != nil {
			return err
		}
	}
	return nil
}

// commitOffsets commits and queries consumer offsets of its own group until
// ctx ends. Commits of a queue only grow; a commit whose outcome is not
// known is recorded as info (it may take effect later), a query that
// errs as fail (reads have no effect).
func (w *QueueWorkload) commitOffsets(ctx context.Context, rec *Recorder, c *client.Client, p int, rng *rand.Rand) error {
	group := "jepsen-offsets-p" + strconv.Itoa(p)
	cs := c.Consumer(group)
	next := make([]int64, len(w.Queues))
	for w.sleep(ctx) {
		i := rng.IntN(len(w.Queues))
		mq := w.Queues[i]
		commit := rng.IntN(2) == 0
		op := Op{Process: p, Kind: KindQueryOffset, Group: group, Queue: QueueOf(mq), Offset: NoOffset}
		if commit {
			next[i] += 1 + rng.Int64N(3)
			op.Kind, op.Offset = KindCommitOffset, next[i]
		}
		inv, err := rec.Invoke(op)
		if err != nil {
			return err
		}
		octx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		done := inv.As(OK)
		if commit {
			if err := cs.CommitOffset(octx, mq, op.Offset); err != nil {
				done.Type, done.Error = Info, err.Error()
			}
		} else {
			off, err := cs.QueryOffset(octx, mq)
			switch {
			case errors.Is(err, client.ErrNoOffset):
				done.Offset = NoOffset
			case err != nil:
				done.Type, done.Error = Fail, err.Error()
			default:
				done.Offset = off
			}
		}
		cancel()
		if _, err := rec.Complete(done); err != nil {
			return err
		}
	}
	return nil
}
