package dledger_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dledgermq/dledgermq/dledger"
)

// BenchmarkReplicatedApply: three nodes in this process over loopback TCP,
// 1 KiB entries, conc goroutines each doing Apply on the leader and waiting
// for it (commit on a majority + apply). The commit-log store and the bolt
// baseline run in the same invocation. Reported: entries/s and the p50/p99
// latency of one Apply.
//
//	go test -run '^$' -bench ReplicatedApply -benchtime 20000x ./dledger/
func BenchmarkReplicatedApply(b *testing.B) {
	for _, kind := range []dledger.LogStoreKind{dledger.LogStoreCommitLog, dledger.LogStoreBolt} {
		for _, conc := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("store=%s/conc=%d", kind, conc), func(b *testing.B) {
				benchApply(b, kind, conc, 1024)
			})
		}
	}
}

func benchApply(b *testing.B, kind dledger.LogStoreKind, conc, size int) {
	c := newCluster(b, 3, func(i int, cfg *dledger.Config) {
		cfg.LogStore = kind
		// Steady-state throughput does not depend on failure detection;
		// generous timeouts keep a shared, loaded machine from triggering
		// elections mid-run.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
		cfg.SegmentSize = 128 << 20
		cfg.IndexSlotsPerFile = 1 << 20
		cfg.Logger = slog.New(slog.NewTextHandler(c0logs(b), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	lead := c.waitLeader(5 * time.Second)
	leader := c.nodes[lead]
	data := []byte("bench=" + strings.Repeat("x", size-len("bench=")))
	for i := 0; i < 200; i++ { // warm up connections and pipelines
		if _, _, err := leader.Apply(data, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	hists := make([]*hdrhistogram.Histogram, conc)
	for i := range hists {
		hists[i] = hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	}
	before := make([]dledger.LogStoreStats, len(c.nodes))
	for _, i := range c.up() {
		if ls := c.nodes[i].LogStore(); ls != nil {
			before[i] = ls.Stats()
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, conc)
	for g := 0; g < conc; g++ {
		n := b.N / conc
		if g < b.N%conc {
			n++
		}
		wg.Add(1)
		go func(h *hdrhistogram.Histogram, n int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				t0 := time.Now()
				if _, _, err := leader.Apply(data, 10*time.Second); err != nil {
					errc <- err
					return
				}
				_ = h.RecordValue(time.Since(t0).Microseconds())
			}
		}(hists[g], n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errc:
		b.Fatalf("apply: %v", err)
	default:
	}
	all := hists[0]
	for _, h := range hists[1:] {
		all.Merge(h)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(all.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(all.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(0, "ns/op") // latency is in p50/p99; ns/op would be 1/throughput
	// Where the time goes: per-node StoreLogs batches (commit-log store).
	var st dledger.LogStoreStats
	for _, i := range c.up() {
		if ls := c.nodes[i].LogStore(); ls != nil {
			x := ls.Stats()
			st.Appends += x.Appends - before[i].Appends
			st.Entries += x.Entries - before[i].Entries
			st.AppendTime += x.AppendTime - before[i].AppendTime
		}
	}
	if st.Appends > 0 {
		b.ReportMetric(float64(st.Entries)/float64(st.Appends), "entries/batch")
		b.ReportMetric(float64(st.AppendTime.Microseconds())/float64(st.Appends), "µs/batch")
		b.ReportMetric(st.AppendTime.Seconds()/(3*elapsed.Seconds()), "append-busy")
	}
}

// c0logs is where benchmark clusters log: discarded, or stderr with
// DLEDGER_BENCH_LOG=1 (warnings and up).
func c0logs(testing.TB) io.Writer {
	if os.Getenv("DLEDGER_BENCH_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
