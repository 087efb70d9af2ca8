package commitlog

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Benchmarks run on the real file system (b.TempDir()) with the default
// 1 GiB segments; each has its baseline in the same run:
//
//	go test -run '^$' -bench 'BenchmarkAppend$' -benchtime 200000x ./commitlog/
//	go test -run '^$' -bench 'BenchmarkAppendSync' -benchtime 2s ./commitlog/
//	go test -run '^$' -bench 'BenchmarkRead' -benchtime 3000000x ./commitlog/

const benchRecSize = 1 << 10

func benchOptions(b *testing.B, mode FlushMode) Options {
	o := DefaultOptions(b.TempDir())
	o.Flush = mode
	o.FlushInterval = time.Hour // "no sync": the benchmark measures the copy path
	o.Logger = slog.New(slog.DiscardHandler)
	return o
}

func benchRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = rec(i, benchRecSize)
	}
	return recs
}

// mappedRegion returns a fresh preallocated file of size bytes, mapped.
func mappedRegion(b *testing.B, size int64) ([]byte, func()) {
	f, err := vfs.OS.Create(filepath.Join(b.TempDir(), "baseline"))
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Allocate(size); err != nil {
		b.Fatal(err)
	}
	m, err := f.Map(int(size))
	if err != nil {
		b.Fatal(err)
	}
	return m.Bytes(), func() { m.Unmap(); f.Close() }
}

// BenchmarkAppend: 1 KiB records in batches of 1/16/256 without syncing,
// against a plain memcpy of the same bytes into a freshly mapped,
// preallocated file region.
func BenchmarkAppend(b *testing.B) {
	b.Run("baseline=memcpy-mmap", func(b *testing.B) {
		src := benchRecords(1)[0].Data
		dst, done := mappedRegion(b, int64(b.N+1)*benchRecSize)
		defer done()
		b.SetBytes(benchRecSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			copy(dst[i*benchRecSize:], src)
		}
	})
	for _, wm := range []WriteMethod{WriteMmap, WritePwrite} {
		for _, batch := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("write=%s/batch=%d", wm, batch), func(b *testing.B) {
				o := benchOptions(b, FlushAsync)
				o.Write = wm
				l, err := Open(o)
				if err != nil {
					b.Fatal(err)
				}
				recs := benchRecords(batch)
				offs := make([]int64, 0, batch)
				b.SetBytes(benchRecSize)
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; done += batch {
					n := min(batch, b.N-done)
					if offs, err = l.AppendInto(offs[:0], recs[:n]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				l.Close()
			})
		}
	}
}

// BenchmarkAppendSync: batches of 256 × 1 KiB with one sync per batch
// (FlushSync), against pwrite + fdatasync of the same bytes to a
// preallocated file.
func BenchmarkAppendSync(b *testing.B) {
	const batch = 256
	b.Run("baseline=pwrite-fdatasync", func(b *testing.B) {
		f, err := vfs.OS.Create(filepath.Join(b.TempDir(), "baseline"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, batch*(benchRecSize+RecordHeaderSize))
		if err := f.Allocate(int64(b.N+1) * int64(len(buf))); err != nil {
			b.Fatal(err)
		}
		f.Sync()
		b.SetBytes(batch * benchRecSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.WriteAt(buf, int64(i)*int64(len(buf))); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, wm := range []WriteMethod{WritePwrite, WriteMmap} {
		b.Run("log=FlushSync/write="+wm.String(), func(b *testing.B) {
			o := benchOptions(b, FlushSync)
			o.Write = wm
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			recs := benchRecords(batch)
			offs := make([]int64, 0, batch)
			b.SetBytes(batch * benchRecSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if offs, err = l.AppendInto(offs[:0], recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendSyncRetained: the steady state of a log whose retention
// drops segments: batches of 256 × 1 KiB synced once each, 16 MiB
// segments, and after every roll the segments before the previous one are
// dropped. recycle=on reuses each dropped segment's file as the next
// segment (the default), recycle=off creates every segment anew. A
// tenth of a segment is appended before the timer starts in each run, and
// the log was cycled through four segments first, so both measure
// segments after the first.
//
//	go test -run '^$' -bench 'BenchmarkAppendSyncRetained' -benchtime 2000x ./commitlog/
func BenchmarkAppendSyncRetained(b *testing.B) {
	const batch = 256
	const seg = 16 << 20
	for _, recycle := range []bool{true, false} {
		name := map[bool]string{true: "recycle=on", false: "recycle=off"}[recycle]
		b.Run(name, func(b *testing.B) {
			o := benchOptions(b, FlushSync)
			o.SegmentSize = seg
			o.NoRecycle = !recycle
			l, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			recs := benchRecords(batch)
			offs := make([]int64, 0, batch)
			active := l.End() / seg
			step := func() {
				if offs, err = l.AppendInto(offs[:0], recs); err != nil {
					b.Fatal(err)
				}
				if a := l.End() / seg; a != active {
					active = a
					if _, err := l.DropBefore((a - 1) * seg); err != nil {
						b.Fatal(err)
					}
				}
			}
			for l.End() < 4*seg+seg/10 {
				step()
			}
			b.SetBytes(batch * benchRecSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
		})
	}
}

// BenchmarkRead: sequential iteration over 1 KiB records (CRC-checked,
// copied out), against a memcpy of the same bytes out of a mapped file.
func BenchmarkRead(b *testing.B) {
	const total = 64 << 10 // records in the prepared log: 64 MiB
	b.Run("baseline=memcpy-mmap", func(b *testing.B) {
		src, done := mappedRegion(b, total*benchRecSize)
		defer done()
		for i := range src {
			src[i] = byte(i)
		}
		dst := make([]byte, benchRecSize)
		b.SetBytes(benchRecSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			j := i % total
			copy(dst, src[j*benchRecSize:(j+1)*benchRecSize])
		}
	})
	b.Run("log=iterator", func(b *testing.B) {
		l, err := Open(benchOptions(b, FlushAsync))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		recs := benchRecords(256)
		for i := 0; i < total/256; i++ {
			if _, err := l.Append(recs); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(benchRecSize)
		b.ReportAllocs()
		b.ResetTimer()
		it := l.NewIterator(l.Start())
		for i := 0; i < b.N; i++ {
			if !it.Next() {
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
				it = l.NewIterator(l.Start())
				it.Next()
			}
			_ = it.Record()
		}
	})
}
