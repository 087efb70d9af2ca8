package indexfile

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

const benchKeys = 1 << 20

func benchKeyNames(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("ORDER-%010d-%08x", i, uint32(i)*2654435761)
	}
	return keys
}

// openBench opens an index with RocketMQ's default file geometry (5M
// slots, 20M entries: 660 MB files) on the real file system.
func openBench(b *testing.B) *Index {
	b.Helper()
	ix, err := Open(Options{Dir: b.TempDir(), FS: vfs.OS})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	return ix
}

// BenchmarkPut measures indexing one key (one 32-byte entry); the baseline
// appends the offset to a Go map of slices.
func BenchmarkPut(b *testing.B) {
	keys := benchKeyNames(benchKeys)
	b.Run("index", func(b *testing.B) {
		ix := openBench(b)
		b.SetBytes(entrySize)
		b.ReportAllocs()
		var phys int64
		for b.Loop() {
			if err := ix.Put(keys[phys&(benchKeys-1)], phys, phys); err != nil {
				b.Fatal(err)
			}
			phys++
		}
	})
	b.Run("baseline-map", func(b *testing.B) {
		m := make(map[string][]int64, benchKeys)
		b.SetBytes(entrySize)
		b.ReportAllocs()
		var phys int64
		for b.Loop() {
			k := keys[phys&(benchKeys-1)]
			m[k] = append(m[k], phys)
			phys++
		}
	})
}

// BenchmarkQuery measures a lookup returning one offset (2^20 distinct
// keys) and one returning 100 offsets (10,486 keys with 100 entries each),
// against a Go map of slices holding the same data.
func BenchmarkQuery(b *testing.B) {
	keys := benchKeyNames(benchKeys)
	for _, tc := range []struct {
		name    string
		perKey  int
		distinc int
	}{
		{"1-hit", 1, benchKeys},
		{"100-hits", 100, benchKeys / 100},
	} {
		ix := openBench(b)
		m := make(map[string][]int64, tc.distinc)
		for phys := int64(0); phys < int64(tc.perKey*tc.distinc); phys++ {
			k := keys[int(phys)%tc.distinc]
			if err := ix.Put(k, phys, phys); err != nil {
				b.Fatal(err)
			}
			m[k] = append(m[k], phys)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		probes := make([]string, 4096)
		for i := range probes {
			probes[i] = keys[rng.IntN(tc.distinc)]
		}
		buf := make([]int64, 0, 128)
		b.Run(tc.name+"/index", func(b *testing.B) {
			b.SetBytes(int64(8 * tc.perKey))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				got, err := ix.QueryAppend(buf[:0], probes[i&4095], 0, 1<<62, 128)
				if err != nil || len(got) != tc.perKey {
					b.Fatalf("%d results, %v", len(got), err)
				}
				i++
			}
		})
		b.Run(tc.name+"/index-parallel", func(b *testing.B) {
			b.SetBytes(int64(8 * tc.perKey))
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]int64, 0, 128)
				i := 0
				for pb.Next() {
					if got, err := ix.QueryAppend(buf[:0], probes[i&4095], 0, 1<<62, 128); err != nil || len(got) != tc.perKey {
						b.Fatalf("%d results, %v", len(got), err)
					}
					i++
				}
			})
		})
		b.Run(tc.name+"/baseline-map", func(b *testing.B) {
			b.SetBytes(int64(8 * tc.perKey))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				got := append(buf[:0], m[probes[i&4095]]...)
				if len(got) != tc.perKey {
					b.Fatal(len(got))
				}
				i++
			}
		})
	}
}
