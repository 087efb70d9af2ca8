package consumequeue

import (
	"math/rand/v2"
	"sort"
	"testing"
)

const benchEntries = 1 << 20

// benchQueue returns a queue of benchEntries entries on the real FS (files
// of the default 300,000 entries) and the same entries as a slice.
func benchQueue(b *testing.B) (*Queue, []Entry) {
	b.Helper()
	s := openTest(b, b.TempDir(), DefaultEntriesPerFile)
	b.Cleanup(func() { s.Close() })
	es := make([]Entry, benchEntries)
	for i := range es {
		es[i] = entryAt(int64(i))
		mustPut(b, s, "T", 0, int64(i), es[i])
	}
	return s.Queue("T", 0), es
}

// BenchmarkPut measures appending one entry (32 bytes) to a queue; the
// baseline stores the same entry into a preallocated Go slice.
func BenchmarkPut(b *testing.B) {
	b.Run("queue", func(b *testing.B) {
		s := openTest(b, b.TempDir(), DefaultEntriesPerFile)
		defer s.Close()
		q, err := s.queueOrCreate("T", 0)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(entrySize)
		b.ReportAllocs()
		var off int64
		for b.Loop() {
			if err := q.Put(off, entryAt(off)); err != nil {
				b.Fatal(err)
			}
			off++
		}
	})
	b.Run("store", func(b *testing.B) { // with the (topic, queue) lookup
		s := openTest(b, b.TempDir(), DefaultEntriesPerFile)
		defer s.Close()
		b.SetBytes(entrySize)
		b.ReportAllocs()
		var off int64
		for b.Loop() {
			if err := s.Put("TopicTest", 3, off, entryAt(off)); err != nil {
				b.Fatal(err)
			}
			off++
		}
	})
	b.Run("baseline-slice", func(b *testing.B) {
		es := make([]Entry, benchEntries)
		b.SetBytes(entrySize)
		b.ReportAllocs()
		var off int64
		for b.Loop() {
			es[off&(benchEntries-1)] = entryAt(off)
			off++
		}
	})
}

// BenchmarkGet measures one random lookup by queue offset.
func BenchmarkGet(b *testing.B) {
	q, es := benchQueue(b)
	rng := rand.New(rand.NewPCG(1, 1))
	offs := make([]int64, 4096)
	for i := range offs {
		offs[i] = rng.Int64N(benchEntries)
	}
	b.Run("queue", func(b *testing.B) {
		b.SetBytes(entrySize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := q.Get(offs[i&4095]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("queue-parallel", func(b *testing.B) {
		b.SetBytes(entrySize)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := q.Get(offs[i&4095]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("baseline-slice", func(b *testing.B) {
		b.SetBytes(entrySize)
		var sink Entry
		i := 0
		for b.Loop() {
			sink = es[offs[i&4095]]
			i++
		}
		_ = sink
	})
}

// BenchmarkRead32 measures what a pull does: read 32 consecutive entries
// into a reused buffer.
func BenchmarkRead32(b *testing.B) {
	q, es := benchQueue(b)
	rng := rand.New(rand.NewPCG(2, 2))
	offs := make([]int64, 4096)
	for i := range offs {
		offs[i] = rng.Int64N(benchEntries - 32)
	}
	buf := make([]Entry, 32)
	b.Run("queue", func(b *testing.B) {
		b.SetBytes(32 * entrySize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if n, err := q.Read(offs[i&4095], buf); err != nil || n != 32 {
				b.Fatal(n, err)
			}
			i++
		}
	})
	b.Run("queue-Range-alloc", func(b *testing.B) {
		b.SetBytes(32 * entrySize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if r, err := q.Range(offs[i&4095], 32); err != nil || len(r) != 32 {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("baseline-slice-copy", func(b *testing.B) {
		b.SetBytes(32 * entrySize)
		i := 0
		for b.Loop() {
			o := offs[i&4095]
			copy(buf, es[o:o+32])
			i++
		}
	})
}

// BenchmarkSearchTime measures a binary search by store time over 2^20
// entries; the baseline is sort.Search over a slice of the times.
func BenchmarkSearchTime(b *testing.B) {
	q, es := benchQueue(b)
	times := make([]int64, len(es))
	for i, e := range es {
		times[i] = e.StoreTime
	}
	rng := rand.New(rand.NewPCG(3, 3))
	probes := make([]int64, 4096)
	for i := range probes {
		probes[i] = times[0] + rng.Int64N(times[len(times)-1]-times[0])
	}
	b.Run("queue", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := q.SearchTime(probes[i&4095]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("baseline-sort.Search", func(b *testing.B) {
		i := 0
		sink := 0
		for b.Loop() {
			ts := probes[i&4095]
			sink += sort.Search(len(times), func(j int) bool { return times[j] >= ts })
			i++
		}
		_ = sink
	})
}
