package dledger

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

func benchStores(b *testing.B) map[string]func() raft.LogStore {
	return map[string]func() raft.LogStore{
		"commitlog": func() raft.LogStore {
			o := DefaultLogStoreOptions(b.TempDir())
			o.SegmentSize = 128 << 20
			s, err := OpenLogStore(o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"commitlog-nocache": func() raft.LogStore {
			o := DefaultLogStoreOptions(b.TempDir())
			o.SegmentSize = 128 << 20
			o.CacheEntries = 0
			s, err := OpenLogStore(o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"bolt": func() raft.LogStore {
			s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(b.TempDir(), "raft.db")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

// BenchmarkLogStoreGetLog reads back the most recent entries, as raft does
// when it sends new entries to followers and applies them.
//
//	go test -run '^$' -bench LogStoreGetLog ./dledger/
func BenchmarkLogStoreGetLog(b *testing.B) {
	for _, name := range []string{"commitlog", "commitlog-nocache", "bolt"} {
		b.Run(name, func(b *testing.B) {
			s := benchStores(b)[name]()
			const n = 4096
			for i := uint64(1); i <= n; i += 64 {
				if err := s.StoreLogs(mkLogs(i, i+63, 1, 1024)); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(1024)
			b.ReportAllocs()
			b.ResetTimer()
			var l raft.Log
			for i := 0; i < b.N; i++ {
				if err := s.GetLog(uint64(n-i%1024), &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogStoreStoreLogs appends batches of 1 KiB entries, each batch
// durable before the next (one sync per batch for the commit log; a bolt
// transaction commit for bolt), with one store or with three stores writing
// in parallel on the same disk, as the three replicas of the in-process
// cluster do. entries/s is the total over the stores.
//
//	go test -run '^$' -bench LogStoreStoreLogs ./dledger/
func BenchmarkLogStoreStoreLogs(b *testing.B) {
	for _, stores := range []int{1, 3} {
		for _, batch := range []int{1, 32} {
			for _, name := range []string{"commitlog", "bolt"} {
				b.Run(fmt.Sprintf("%s/stores=%d/batch=%d", name, stores, batch), func(b *testing.B) {
					benchStoreLogs(b, name, stores, batch)
				})
			}
		}
	}
}

func benchStoreLogs(b *testing.B, name string, stores, batch int) {
	ss := make([]raft.LogStore, stores)
	for i := range ss {
		ss[i] = benchStores(b)[name]()
	}
	b.SetBytes(int64(1024 * batch))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	errc := make(chan error, stores)
	for w, s := range ss {
		n := b.N / stores
		if w < b.N%stores {
			n++
		}
		wg.Add(1)
		go func(s raft.LogStore, n int) {
			defer wg.Done()
			logs := mkLogs(1, uint64(batch), 1, 1024)
			next := uint64(1)
			for i := 0; i < n; i++ {
				for k, l := range logs {
					l.Index = next + uint64(k)
				}
				if err := s.StoreLogs(logs); err != nil {
					errc <- err
					return
				}
				next += uint64(batch)
			}
		}(s, n)
	}
	wg.Wait()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}
