package jepsen

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dledgermq/dledgermq/client"
	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// drainProcess is the process id of final drains.
const drainProcess = 1 << 20

// Replica names one broker replica for settling and draining: its node id
// and client-facing address.
type Replica struct {
	ID   string
	Addr string
}

// ReplicaSet is what the final drain and the workload need of a group:
// its replicas. *Cluster (real processes) and *InprocCluster (in-process
// nodes on crash file systems) implement it.
type ReplicaSet interface {
	Replicas() []Replica
}

// replicaID returns the id of the replica at addr, or "".
func replicaID(rs ReplicaSet, addr string) string {
	for _, r := range rs.Replicas() {
		if r.Addr == addr {
			return r.ID
		}
	}
	return ""
}

// Settle waits until every node reports the same max offset for every
// queue in two polls in a row (replicas caught up), or until timeout. It
// returns whether they converged and the last offsets seen (node → queue
// → max offset, -1 when the node did not answer).
func Settle(ctx context.Context, rs ReplicaSet, c *client.Client, queues []client.MessageQueue, timeout time.Duration) (bool, map[string][]int64) {
	deadline := time.Now().Add(timeout)
	nodes := rs.Replicas()
	var prev map[string][]int64
	for {
		cur := make(map[string][]int64)
		agree := true
		for _, n := range nodes {
			cs := c.Consumer("jepsen-drain").OnBroker(n.Addr)
			for _, mq := range queues {
				qctx, cancel := context.WithTimeout(ctx, time.Second)
				off, err := cs.MaxOffset(qctx, mq)
				cancel()
				if err != nil {
					off, agree = -1, false
				}
				cur[n.ID] = append(cur[n.ID], off)
			}
		}
		for _, n := range nodes[1:] {
			agree = agree && slices.Equal(cur[n.ID], cur[nodes[0].ID])
		}
		stable := agree && prev != nil && slices.Equal(prev[nodes[0].ID], cur[nodes[0].ID])
		if stable {
			return true, cur
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, cur
		}
		prev = cur
		time.Sleep(200 * time.Millisecond)
	}
}

// DrainAll reads every queue from every node, from offset 0 to the end,
// recording one drain operation per (node, queue).
func DrainAll(ctx context.Context, rec *Recorder, rs ReplicaSet, c *client.Client, queues []client.MessageQueue) error {
	for _, n := range rs.Replicas() {
		cs := c.Consumer("jepsen-drain").OnBroker(n.Addr)
		for _, mq := range queues {
			inv, err := rec.Invoke(Op{Process: drainProcess, Kind: KindDrain, Node: n.ID, Queue: QueueOf(mq)})
			if err != nil {
				return err
			}
			es, derr := drainQueue(ctx, cs, mq)
			done := inv.As(OK)
			if derr != nil {
				done.Type, done.Error = Fail, derr.Error()
			} else {
				done.Entries = es
			}
			if _, err := rec.Complete(done); err != nil {
				return err
			}
		}
	}
	return nil
}

// drainLagLimit bounds how long the drain waits for a replica that
// answers "not yet": after a restart a replica serves its consume queues
// (so Settle sees its max offsets) before it has replayed the topic
// metadata from its log, and meanwhile answers PULL with TOPIC_NOT_EXIST or
// "no message" below its max offset. Late, never wrong (the read contract);
// the drain waits it out instead of recording the replica as undrained.
const drainLagLimit = 15 * time.Second

// drainQueue pulls mq from offset 0 until the broker has nothing more.
func drainQueue(ctx context.Context, cs *client.Consumer, mq client.MessageQueue) ([]Entry, error) {
	var es []Entry
	off := int64(0)
	var lagSince time.Time // when the replica started answering "not yet"
	notYet := func() bool {
		if lagSince.IsZero() {
			lagSince = time.Now()
		}
		if time.Since(lagSince) > drainLagLimit || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
		return true
	}
	for range 1 << 20 { // bounded: 32 M messages
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := cs.Pull(pctx, mq, off, 32)
		cancel()
		if err != nil {
			if code, ok := client.ResponseCodeOf(err); ok && code == remoting.TopicNotExist && notYet() {
				continue
			}
			return es, fmt.Errorf("drain %s at %d: %w", mq, off, err)
		}
		switch res.Status {
		case client.PullFound:
			lagSince = time.Time{}
			for _, m := range res.Messages {
				es = append(es, Entry{Offset: m.QueueOffset, Value: string(m.Body),
					Key: m.Properties.Get(message.PropShardingKey), MsgID: m.UniqKey()})
			}
			if res.NextBeginOffset <= off {
				return es, fmt.Errorf("drain %s: next offset %d does not advance past %d", mq, res.NextBeginOffset, off)
			}
			off = res.NextBeginOffset
		case client.PullNoNewMsg, client.PullOffsetIllegal:
			if off < res.MaxOffset {
				if notYet() {
					continue
				}
				return es, fmt.Errorf("drain %s: %s at %d below max offset %d", mq, res.Status, off, res.MaxOffset)
			}
			return es, nil
		default:
			return es, fmt.Errorf("drain %s at %d: status %s", mq, off, res.Status)
		}
	}
	return es, fmt.Errorf("drain %s: too many messages", mq)
}
