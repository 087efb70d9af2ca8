package indexfile

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// FuzzQuery drives an index with tiny files through a random sequence of
// puts, queries, truncations, retention, flushes and reopens decoded from
// the input, comparing every query with the naive twin; then it writes the
// input over the newest index file and opens and queries the damaged index,
// which must not panic. The first byte picks the slot count, the entries per
// file and whether every key hash is forced into one of four values (full
// collisions). FuzzOpenIndexFile opens wholly arbitrary bytes.
func FuzzQuery(f *testing.F) {
	f.Add([]byte{0x00, 0, 1, 5, 0, 2, 3, 1, 5, 1, 2, 5, 0, 2})
	f.Add([]byte{0x13, 0, 1, 1, 0, 1, 2, 0, 2, 3, 5, 0, 0, 6, 1, 0, 3, 1, 5, 3, 7})
	f.Add([]byte{0x87, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 5, 0, 0, 5, 1, 0, 5, 2, 0, 7, 0, 5, 0, 0})
	f.Add([]byte{0xFF, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 6, 3, 0, 5, 5, 7, 1, 5, 2, 7, 2, 0, 6, 6, 5, 6, 0})
	f.Add(slices.Repeat([]byte{0, 3, 2, 1, 7, 5, 4, 0}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || len(data) > 4096 {
			return
		}
		slots, perFile := 1+int(data[0]&3), 1+int(data[0]>>2&7)
		hash := hashKey
		if data[0]&0x80 != 0 {
			hash = collideMod4
		}
		fsys := vfs.NewMem()
		ix := openFS(t, fsys, "/ix", slots, perFile)
		ix.hash = hash
		defer func() {
			if ix != nil {
				ix.Close()
			}
		}()
		w := &twin{hash: hash}
		phys, ts := int64(0), int64(100)
		next := func(i *int) byte {
			if *i >= len(data) {
				return 0
			}
			*i++
			return data[*i-1]
		}
		for i := 1; i < len(data); {
			switch op := next(&i) % 8; op {
			case 0, 1, 2, 3:
				key := fmt.Sprintf("k%d", next(&i)%6)
				phys += int64(next(&i) % 3)
				ts += int64(int8(next(&i))) / 16
				if phys >= ix.DispatchedPhys() {
					w.put(key, phys, ts)
				}
				if err := ix.Put(key, phys, ts); err != nil {
					t.Fatalf("Put: %v", err)
				}
			case 4:
				key := fmt.Sprintf("k%d", next(&i)%6)
				begin := ts - int64(next(&i))
				end := begin + int64(next(&i))
				max := int(next(&i)%9) + 1
				got, err := ix.Query(key, begin, end, max)
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				if want := w.query(key, begin, end, max, 1<<62); !slices.Equal(got, want) {
					t.Fatalf("Query(%s, %d, %d, %d) = %v, twin %v", key, begin, end, max, got, want)
				}
			case 5:
				if len(w.puts) == 0 {
					continue
				}
				cut := w.puts[int(next(&i))%len(w.puts)].Phys
				if err := ix.TruncatePhys(cut); err != nil {
					t.Fatalf("TruncatePhys: %v", err)
				}
				w.truncate(cut)
				phys = cut
			case 6:
				switch next(&i) % 3 {
				case 0:
					if err := ix.Flush(); err != nil {
						t.Fatal(err)
					}
				case 1:
					if err := ix.Close(); err != nil {
						t.Fatal(err)
					}
					ix = openFS(t, fsys, "/ix", slots, perFile)
					ix.hash = hash
				case 2:
					if len(w.puts) == 0 {
						continue
					}
					mp := w.puts[int(next(&i))%len(w.puts)].Phys
					if err := ix.DropBeforePhys(mp); err != nil {
						t.Fatal(err)
					}
					w.minPhys = max(w.minPhys, mp)
				}
			case 7:
				ix.AdvanceDispatched(phys + 1)
			}
		}
		w.check(t, ix, []string{"k0", "k1", "k2", "k3", "k4", "k5"}, 1<<62)

		// Then the input itself is written over the newest file, and the
		// damaged index must open (or fail with ErrCorrupt) without panicking
		// and answer queries (or fail with ErrCorrupt).
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		names, _ := fsys.List("/ix")
		var newest string
		for _, n := range names {
			if _, ok := parseFileName(n); ok {
				newest = n
			}
		}
		if newest == "" {
			return
		}
		fh, err := fsys.Open("/ix/" + newest)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := fh.Size()
		fh.WriteAt(data, int64(data[0])*7%max(size, 1))
		fh.Close()
		ix, err = Open(Options{Dir: "/ix", FS: fsys, SlotCount: slots, EntriesPerFile: perFile})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open damaged: %v", err)
			}
			ix = nil
			return
		}
		ix.hash = hash
		for k := range 6 {
			if _, err := ix.Query(fmt.Sprintf("k%d", k), -1<<62, 1<<62, 50); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Query damaged: %v", err)
			}
		}
	})
}

// validIndexFile returns the bytes of file 0 of a real index (4 slots, 8
// entries per file) holding n entries.
func validIndexFile(t testing.TB, n int, closeCleanly bool) []byte {
	ix, fsys := openMem(t, 4, 8)
	for i := 0; i < n; i++ {
		mustPut(t, ix, fmt.Sprintf("k%d", i%3), int64(i*10), int64(i))
	}
	if closeCleanly {
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := ix.Flush(); err != nil {
			t.Fatal(err)
		}
		ix.crash()
	}
	fh, err := fsys.Open("/ix/" + fileName(0))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, layoutFor(4, 8).size)
	if _, err := fh.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzOpenIndexFile opens an index whose only file holds arbitrary bytes.
// Open may fail with ErrCorrupt but must not panic; whatever it accepts
// must answer queries (or report ErrCorrupt), take puts and truncate. The
// first byte picks the checkpoint's DispatchedPhys.
func FuzzOpenIndexFile(f *testing.F) {
	full := validIndexFile(f, 8, true)
	f.Add(append([]byte{1}, full...))
	f.Add(append([]byte{0}, full...))
	f.Add(append([]byte{1}, validIndexFile(f, 5, false)...))
	f.Add(append([]byte{1}, full[:200]...))
	f.Add(append([]byte{1}, full[:headerSize]...))
	f.Add([]byte{1})
	damaged := append([]byte{1}, full...)
	damaged[1+int(layoutFor(4, 8).entryOff(3))+2] ^= 0x10
	f.Add(damaged)
	slotHit := append([]byte{1}, full...)
	slotHit[1+headerSize+1] = 0x7F
	f.Add(slotHit)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 1<<16 {
			return
		}
		fsys := vfs.NewMem()
		ix := openFS(t, fsys, "/ix", 4, 8)
		if data[0]&1 == 1 {
			ix.AdvanceDispatched(1 << 40)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		fh, err := fsys.Create("/ix/" + fileName(0))
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteAt(data[1:], 0)
		fh.Close()
		ix, err = Open(Options{Dir: "/ix", FS: fsys, SlotCount: 4, EntriesPerFile: 8})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: unexpected error class: %v", err)
			}
			return
		}
		defer ix.Close()
		for _, k := range []string{"k0", "k1", "k2", "zz"} {
			if _, err := ix.Query(k, -1<<62, 1<<62, 100); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Query: %v", err)
			}
		}
		if err := ix.Put("k0", 1<<41, 5); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Put: %v", err)
		}
		if err := ix.TruncatePhys(15); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("TruncatePhys: %v", err)
		}
	})
}
