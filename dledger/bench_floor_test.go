package dledger_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// BenchmarkCommitFloor is what one replicated commit costs on this machine
// with no raft at all: a "leader" sends a 1 KiB record to two "followers"
// over loopback TCP and appends it to its own commit log (AppendUnsynced +
// Flush, as the leader's log store does); each follower appends it with
// FlushSync and answers. A commit completes when the leader's copy is
// durable and one follower answered; the next starts once both answered,
// as with one sequential writer. Three commit logs on one disk, as in
// BenchmarkReplicatedApply: the p99 here bounds what any implementation of
// the design reaches for a single writer on this machine.
//
//	go test -run '^$' -bench CommitFloor -benchtime 5000x ./dledger/
func BenchmarkCommitFloor(b *testing.B) {
	open := func(dir string) *commitlog.Log {
		o := commitlog.DefaultOptions(dir)
		o.SegmentSize = 256 << 20
		o.Write = commitlog.WritePwrite
		l, err := commitlog.Open(o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = l.Close() })
		return l
	}
	rec := []commitlog.Record{{Type: 1, Data: make([]byte, 1024)}}
	var conns []net.Conn
	for f := 0; f < 2; f++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		fl := open(filepath.Join(b.TempDir(), "f"))
		go func() {
			c, err := ln.Accept()
			_ = ln.Close()
			if err != nil {
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			buf := make([]byte, 1024)
			for {
				if _, err := io.ReadFull(r, buf); err != nil {
					return
				}
				if _, err := fl.Append([]commitlog.Record{{Type: 1, Data: buf}}); err != nil {
					return
				}
				if _, err := c.Write([]byte{1}); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
	}
	acks := make(chan time.Time, 4)
	for _, c := range conns {
		go func(c net.Conn) {
			one := make([]byte, 1)
			for {
				if _, err := c.Read(one); err != nil {
					return
				}
				acks <- time.Now()
			}
		}(c)
	}
	ll := open(filepath.Join(b.TempDir(), "l"))
	h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for _, c := range conns {
			if _, err := c.Write(rec[0].Data); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := ll.AppendUnsynced(nil, rec); err != nil {
			b.Fatal(err)
		}
		if _, err := ll.Flush(); err != nil {
			b.Fatal(err)
		}
		leader := time.Now()
		first, second := <-acks, <-acks
		follower := first
		if second.Before(first) {
			follower = second
		}
		done := leader
		if follower.After(done) {
			done = follower
		}
		_ = h.RecordValue(done.Sub(t0).Microseconds())
	}
	b.StopTimer()
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSyncFloor is the disk's own latency for what every replica does
// per commit, with no log format, network or raft: pwrite of 1 KiB and
// fdatasync, into a preallocated file. streams=3 runs three files at once
// (the three replicas of a group on one machine) and reports the first
// file's latencies; streams=1 is one replica alone. A single writer's
// commit waits for at least two of these.
//
//	go test -run '^$' -bench SyncFloor -benchtime 3000x ./dledger/
func BenchmarkSyncFloor(b *testing.B) {
	for _, streams := range []int{1, 3} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			files := make([]vfs.File, streams)
			for i := range files {
				f, err := vfs.OS.Create(filepath.Join(b.TempDir(), "f"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = f.Close() })
				if err := f.Allocate(int64(b.N+1) << 11); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				files[i] = f
			}
			h := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
			errs := make(chan error, streams)
			b.ResetTimer()
			for i, f := range files {
				go func() {
					buf := make([]byte, 1024)
					for n := 0; n < b.N; n++ {
						t0 := time.Now()
						if _, err := f.WriteAt(buf, int64(n)<<11); err != nil {
							errs <- err
							return
						}
						if err := f.Sync(); err != nil {
							errs <- err
							return
						}
						if i == 0 {
							_ = h.RecordValue(time.Since(t0).Microseconds())
						}
					}
					errs <- nil
				}()
			}
			for range files {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-µs")
			b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}
