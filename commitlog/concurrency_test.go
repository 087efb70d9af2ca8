package commitlog

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// TestConcurrentReadersAppendDrop runs readers (Read, ReadAt, tailing
// iterators) against a writer that appends and drops old segments. Under
// -race this checks the locking; the assertions check that a reader never
// sees a half-written or foreign record.
func TestConcurrentReadersAppendDrop(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) (vfs.FS, string)
		mode FlushMode
		wm   WriteMethod
	}{
		// The OS case syncs for real, so it runs fewer batches.
		{"OS/sync/pwrite", func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() }, FlushSync, WritePwrite},
		{"Mem/async/mmap", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/log" }, FlushAsync, WriteMmap},
		{"Mem/sync/mmap", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/log" }, FlushSync, WriteMmap},
		{"Mem/async/pwrite", func(t *testing.T) (vfs.FS, string) { return vfs.NewCrash(2), "/log" }, FlushAsync, WritePwrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, dir := tc.fs(t)
			o := testOptionsW(t, fsys, dir, tc.wm)
			o.Flush = tc.mode
			o.FlushInterval = time.Millisecond
			l := mustOpen(t, o)
			defer l.Close()

			var (
				wg      sync.WaitGroup
				done    atomic.Bool
				offsMu  sync.Mutex
				offs    []int64 // appended, in order
				ids     []uint64
				checked atomic.Int64
			)
			fail := make(chan error, 16)
			report := func(err error) {
				select {
				case fail <- err:
				default:
				}
				done.Store(true)
			}
			// Writer.
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer done.Store(true)
				id := uint64(1)
				batches := 400
				if fsys == vfs.OS {
					batches = 120
				}
				for i := 0; i < batches && !done.Load(); i++ {
					batch := make([]Record, 1+i%5)
					bids := make([]uint64, len(batch))
					for k := range batch {
						batch[k], bids[k] = sweepRecord(id, 50+int(id*37)%1500), id
						id++
					}
					o, err := l.Append(batch)
					if err != nil {
						report(err)
						return
					}
					offsMu.Lock()
					offs, ids = append(offs, o...), append(ids, bids...)
					n := len(offs)
					offsMu.Unlock()
					if i%40 == 39 {
						offsMu.Lock()
						target := offs[n/2]
						offsMu.Unlock()
						if _, err := l.DropBefore(target); err != nil {
							report(err)
							return
						}
					}
				}
			}()
			// Random readers.
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func(r int) {
					defer wg.Done()
					for k := 0; !done.Load(); k++ {
						offsMu.Lock()
						if len(offs) == 0 {
							offsMu.Unlock()
							continue
						}
						i := (k*7919 + r) % len(offs)
						off, id := offs[i], ids[i]
						offsMu.Unlock()
						rec, _, err := l.Read(off)
						if errors.Is(err, ErrOutOfRange) && off < l.Start() {
							continue // dropped meanwhile
						}
						if err != nil {
							report(err)
							return
						}
						if got, good := checkSweepRecord(rec); !good || got != id {
							report(errors.New("Read returned a damaged or foreign record"))
							return
						}
						p := make([]byte, 8)
						if _, err := l.ReadAt(p, l.DataOffset(off)); err != nil && !(errors.Is(err, ErrOutOfRange) && off < l.Start()) {
							report(err)
							return
						}
						checked.Add(1)
					}
				}(r)
			}
			// A tailing iterator from the start; it may fall behind a drop.
			wg.Add(1)
			go func() {
				defer wg.Done()
				it := l.NewIterator(l.Start())
				last := uint64(0)
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					if it.Next() {
						id, good := checkSweepRecord(it.Record())
						if !good || id <= last {
							report(errors.New("iterator returned a damaged or out-of-order record"))
							return
						}
						last = id
						checked.Add(1)
						continue
					}
					if err := it.Err(); err != nil {
						if errors.Is(err, ErrOutOfRange) {
							it = l.NewIterator(l.Start()) // dropped under us: restart
							last = 0
							continue
						}
						report(err)
						return
					}
					if done.Load() && it.NextOffset() >= l.End() {
						return
					}
					time.Sleep(50 * time.Microsecond)
				}
				report(errors.New("iterator did not catch up within 20s"))
			}()
			wg.Wait()
			select {
			case err := <-fail:
				t.Fatal(err)
			default:
			}
			if checked.Load() == 0 {
				t.Fatal("readers checked nothing")
			}
		})
	}
}

func TestIteratorAcrossSegmentsAndTruncate(t *testing.T) {
	l := mustOpen(t, testOptions(t, vfs.NewMem(), "/log"))
	defer l.Close()
	var offs []int64
	for i := 0; i < 50; i++ {
		offs = append(offs, mustAppend(t, l, sweepRecord(uint64(i+1), 700+i*13))...)
	}
	it := l.NewIterator(offs[0])
	for i := 0; i < 20; i++ {
		if !it.Next() || it.Offset() != offs[i] {
			t.Fatalf("record %d: at %d, want %d (%v)", i, it.Offset(), offs[i], it.Err())
		}
	}
	// Truncate under the iterator's buffered copy and append other records:
	// the iterator must read the new ones, not its stale copy.
	if err := l.Truncate(offs[25]); err != nil {
		t.Fatal(err)
	}
	newOffs := mustAppend(t, l, sweepRecord(1000, 10), sweepRecord(1001, 5000))
	for i := 20; i < 25; i++ {
		if !it.Next() || it.Offset() != offs[i] {
			t.Fatalf("record %d after Truncate: at %d (%v)", i, it.Offset(), it.Err())
		}
	}
	for k, want := range []uint64{1000, 1001} {
		if !it.Next() {
			t.Fatalf("new record %d missing: %v", k, it.Err())
		}
		if id, good := checkSweepRecord(it.Record()); it.Offset() != newOffs[k] || !good || id != want {
			t.Fatalf("new record %d: id %d at %d, want %d at %d", k, id, it.Offset(), want, newOffs[k])
		}
	}
	if it.Next() || it.Err() != nil {
		t.Fatalf("iterator past End: %v", it.Err())
	}
	// A tailing iterator picks up later appends.
	more := mustAppend(t, l, sweepRecord(2000, 20))
	if !it.Next() || it.Offset() != more[0] {
		t.Fatalf("tailing iterator missed a new record: %v", it.Err())
	}
	// An iterator whose position was dropped reports ErrOutOfRange.
	it2 := l.NewIterator(offs[0])
	if _, err := l.DropBefore(newOffs[0]); err != nil {
		t.Fatal(err)
	}
	if it2.Next() || !errors.Is(it2.Err(), ErrOutOfRange) {
		t.Fatalf("iterator on a dropped offset: %v", it2.Err())
	}
}

func TestResetIsAtomicAcrossCrashes(t *testing.T) {
	// Crash at every file system operation of a Reset: afterwards the log
	// is either the old one or the new empty one at the reset offset.
	for cutAt := int64(1); cutAt < 20; cutAt++ {
		c := vfs.NewCrash(cutAt)
		var ops atomic.Int64
		var armed, cut atomic.Bool
		fsys := vfs.NewErr(c, func(op vfs.Op, name string) error {
			if armed.Load() && (cut.Load() || ops.Add(1) >= cutAt) {
				cut.Store(true)
				return vfs.ErrInjected
			}
			return nil
		})
		l := mustOpen(t, testOptions(t, fsys, "/log"))
		var offs []int64
		for i := 0; i < 30; i++ {
			offs = append(offs, mustAppend(t, l, sweepRecord(uint64(i+1), 1000))...)
		}
		at := int64(50*testSegSize + 4000)
		armed.Store(true)
		err := l.Reset(at)
		cut.Store(true)
		l.Close()
		c.Crash(vfs.Random)
		l = mustOpen(t, testOptions(t, c, "/log"))
		got, _ := readAll(t, l)
		switch {
		case l.Start() == at && l.End() == at && len(got) == 0:
		case err != nil && l.Start() == offs[0] && len(got) == len(offs):
		default:
			t.Fatalf("cut at op %d (Reset err %v): Start %d End %d, %d records: neither the old nor the reset log",
				cutAt, err, l.Start(), l.End(), len(got))
		}
		l.Close()
	}
}
