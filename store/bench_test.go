package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/vfs"
	"github.com/dledgermq/dledgermq/message"
)

// BenchmarkPutMessages measures PutMessages of 1 KiB messages (one per
// call, like SEND) through a three-node group over loopback TCP, with the
// commit log synced per batch (FlushSync), at 1, 16 and 256 concurrent
// callers, with group commit on and off in the same run (off is the
// baseline: one Raft entry per call).
//
//	go test -run '^$' -bench BenchmarkPutMessages -benchtime 30000x ./store/
//
// STORE_BENCH_INFLIGHT=n overrides Config.MaxInflight (tuning runs).
func BenchmarkPutMessages(b *testing.B) { benchPutCluster(b, false) }

// BenchmarkPutMessagesMemFS is BenchmarkPutMessages with the commit log,
// consume queues and index on an in-memory file system: what the store
// reaches when syncs cost nothing (the CPU-bound ceiling).
func BenchmarkPutMessagesMemFS(b *testing.B) { benchPutCluster(b, true) }

func benchPutCluster(b *testing.B, memFS bool) {
	c := newCluster(b, 3, func(i int, cfg *Config) {
		if memFS {
			cfg.FS, cfg.DLedger.FS = vfs.NewMem(), nil
		}
		cfg.DLedger.SegmentSize = 256 << 20
		// Long timeouts: a loaded machine must not cost a leader change
		// in the middle of a measurement.
		cfg.DLedger.HeartbeatTimeout = 2 * time.Second
		cfg.DLedger.ElectionTimeout = 2 * time.Second
		cfg.DLedger.LeaderLeaseTimeout = 1500 * time.Millisecond
		cfg.ConsumeQueueEntriesPerFile = 300_000
		cfg.Index = IndexConfig{SlotCount: 1 << 20, EntriesPerFile: 4 << 20}
		cfg.FlushInterval = time.Second
		cfg.MaxBatchBytes = 4 << 20
		if v, err := strconv.Atoi(os.Getenv("STORE_BENCH_INFLIGHT")); err == nil {
			cfg.MaxInflight = v
		}
	})
	body := []byte(strings.Repeat("b", 1024))
	// Warm up: connections, pipelines, and the consume-queue and index
	// files of every queue the benchmark writes.
	for i := 0; i < 64; i++ {
		m := msg("BenchTopic", int32(i%8), string(body), message.PropUniqKey, fmt.Sprintf("W%d", i))
		c.put([]*message.MessageExt{m})
	}
	for _, gc := range []bool{true, false} {
		for _, conc := range []int{1, 16, 256} {
			name := fmt.Sprintf("groupcommit=%v/callers=%d", gc, conc)
			b.Run(name, func(b *testing.B) {
				for _, s := range c.running() {
					s.cfg.GroupCommit = gc // no write is in flight between sub-benchmarks
				}
				benchPut(b, c, body, conc)
			})
		}
	}
}

func benchPut(b *testing.B, c *cluster, body []byte, conc int) {
	s := c.leader()
	b.SetBytes(int64(len(body)))
	lat := make([][]time.Duration, conc)
	var next, failed atomic.Int64
	entries0, packed0 := s.msgBatcher.entries.Load(), s.msgBatcher.packed.Load()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &message.MessageExt{QueueID: int32(w % 8)}
			m.Topic = "BenchTopic"
			m.Body = body
			m.Properties.Set(message.PropUniqKey, fmt.Sprintf("U%08d", w))
			m.Properties.Set(message.PropTags, "TagA")
			msgs := []*message.MessageExt{m}
			s := s
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := s.PutMessages(context.Background(), msgs); err != nil {
					// A leader change under load: count the write as
					// failed, follow the new leader.
					if !errors.Is(err, ErrNotLeader) {
						b.Errorf("put: %v", err)
						return
					}
					failed.Add(1)
					s = c.leader()
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) }
	b.ReportMetric(float64(len(all))/el.Seconds(), "msgs/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	if n := failed.Load(); n > 0 {
		b.Logf("%d writes failed over a leader change", n)
	}
	if e := s.msgBatcher.entries.Load() - entries0; e > 0 {
		b.ReportMetric(float64(s.msgBatcher.packed.Load()-packed0)/float64(e), "calls/entry")
	}
}

// BenchmarkApplyMessages measures one replica's apply cost per message
// (decode, queue offset, consume-queue and index dispatch) without Raft:
// 64 messages of 1 KiB per entry, 8 queues, a UNIQ_KEY and a tag each.
//
//	go test -run '^$' -bench BenchmarkApplyMessages ./store/
func BenchmarkApplyMessages(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	cfg.Index = IndexConfig{SlotCount: 1 << 20, EntriesPerFile: 4 << 20}
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, logger: cfg.Logger, qs: newQueueState(), meta: newMetaState(), ready: make(chan struct{})}
	var err error
	if s.cq, err = s.openConsumeQueue(); err != nil {
		b.Fatal(err)
	}
	if s.ix, err = s.openKeyIndex(); err != nil {
		b.Fatal(err)
	}
	defer s.cq.Close()
	defer s.ix.close()
	const perEntry = 64
	body := []byte(strings.Repeat("b", 1024))
	mk := func(n int) []byte {
		data := appendEntryHeader(nil, cmdMessages, perEntry)
		for i := 0; i < perEntry; i++ {
			m := &message.MessageExt{QueueID: int32(i % 8), StoreTimestamp: 1700000000000}
			m.Topic, m.Body = "BenchTopic", body
			m.Properties.Set(message.PropUniqKey, fmt.Sprintf("U%016d", n*perEntry+i))
			m.Properties.Set(message.PropTags, "TagA")
			data = message.Encode(data, m)
		}
		return data
	}
	entries := make([][]byte, 64)
	for i := range entries {
		entries[i] = mk(i)
	}
	b.SetBytes(int64(len(body)) * perEntry)
	off := int64(64)
	for i := -len(entries); i < b.N; i++ { // the first round creates the files
		if i == 0 {
			b.ResetTimer()
		}
		data := entries[(i+len(entries))%len(entries)]
		e := dledger.Entry{Index: uint64(i + 1 + len(entries)), Data: data, DataOffset: off, RecordOffset: off - 41}
		s.fsmMu.Lock()
		if r := s.applyEntry(&e).(*msgBatchResult); r.err != nil || len(r.pos) != perEntry {
			b.Fatalf("apply: %v", r.err)
		}
		s.arrivals = nil
		s.fsmMu.Unlock()
		off += int64(len(data)) + 41
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perEntry), "ns/msg")
	if p := s.degraded.Load(); p != nil {
		b.Fatal(*p)
	}
}
