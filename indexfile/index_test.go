package indexfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := Options{SlotCount: -1, EntriesPerFile: -1}.Validate()
	for _, want := range []string{"Dir", "FS", "SlotCount", "EntriesPerFile", "Logger"} {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("Validate does not report %s: %v", want, err)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	err = Options{Dir: "/x", FS: vfs.NewMem(), SlotCount: 1 << 31, EntriesPerFile: 1 << 31, Logger: DefaultOptions("").Logger}.Validate()
	if !strings.Contains(fmt.Sprint(err), "-byte files") {
		t.Fatalf("oversized files not reported: %v", err)
	}
}

func TestHashKeyFrozen(t *testing.T) {
	// FORMAT.md pins these values; a change breaks existing files.
	for key, want := range map[string]uint64{
		"":           0xefd01f60ba992926,
		"a":          0x82a2a958a9bece5b,
		"order-1234": 0x315971327768b3ec,
	} {
		if got := hashKey(key); got != want {
			t.Errorf("hashKey(%q) = %#x, want %#x", key, got, want)
		}
	}
}

func TestQueryNewestFirstTimeRangeAndMax(t *testing.T) {
	ix, _ := openMem(t, 16, 1000)
	defer ix.Close()
	for i := int64(0); i < 10; i++ {
		mustPut(t, ix, "k", 100*i, 1000+i)
		mustPut(t, ix, fmt.Sprintf("other%d", i), 100*i, 1000+i)
		mustPut(t, ix, "k", 100*i, 1000+i) // the same key twice in one message
	}
	wantQuery(t, ix, "k", 0, 1<<62, 100, 900, 800, 700, 600, 500, 400, 300, 200, 100, 0)
	wantQuery(t, ix, "k", 1003, 1005, 100, 500, 400, 300)
	wantQuery(t, ix, "k", 0, 1<<62, 3, 900, 800, 700)
	wantQuery(t, ix, "k", 1003, 1005, 2, 500, 400)
	wantQuery(t, ix, "other3", 0, 1<<62, 10, 300)
	wantQuery(t, ix, "missing", 0, 1<<62, 10)
	wantQuery(t, ix, "k", 2000, 3000, 10)
	wantQuery(t, ix, "k", 0, 1<<62, 0)
	wantQuery(t, ix, "k", 5, 4, 10)
	buf := make([]int64, 1, 16)
	buf[0] = 900 // a caller's earlier result is not deduplicated against
	got, err := ix.QueryAppend(buf, "k", 0, 1<<62, 2)
	if err != nil || fmt.Sprint(got) != "[900 900 800]" {
		t.Fatalf("QueryAppend = %v, %v", got, err)
	}
	if err := ix.Put("", 1000, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty key: %v", err)
	}
	if err := ix.Put("k", -1, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative phys: %v", err)
	}
	if err := ix.Put("k", 899, 1); err != nil { // below DispatchedPhys: already indexed
		t.Fatalf("re-put: %v", err)
	}
	wantQuery(t, ix, "k", 0, 1<<62, 1, 900)
	ix.AdvanceDispatched(950)
	if err := ix.Put("k", 920, 1); err != nil {
		t.Fatal(err)
	}
	if ix.DispatchedPhys() != 950 {
		t.Fatalf("DispatchedPhys = %d", ix.DispatchedPhys())
	}
}

// collideAll makes every key hash alike: Query must return every entry in
// range (candidates), which the caller filters by key.
func collideAll(string) uint64 { return 0xDEADBEEF }

// collideMod4 gives only four distinct full hashes.
func collideMod4(k string) uint64 { return hashKey(k) % 4 }

func TestQueryUnderCollisions(t *testing.T) {
	t.Run("one slot, distinct hashes", func(t *testing.T) {
		ix, _ := openMem(t, 1, 64)
		defer ix.Close()
		for i := int64(0); i < 100; i++ {
			mustPut(t, ix, fmt.Sprintf("key%d", i%7), i*10, i)
		}
		wantQuery(t, ix, "key3", 0, 1<<62, 100, 940, 870, 800, 730, 660, 590, 520, 450, 380, 310, 240, 170, 100, 30)
		wantQuery(t, ix, "key3", 0, 30, 100, 240, 170, 100, 30) // store time = phys/10
	})
	t.Run("forced full-hash collisions", func(t *testing.T) {
		ix, _ := openMem(t, 8, 16)
		defer ix.Close()
		ix.hash = collideAll
		for i := int64(0); i < 40; i++ {
			mustPut(t, ix, fmt.Sprintf("key%d", i%5), i*10, i)
		}
		got := mustQuery(t, ix, "anything", 0, 1<<62, 1000)
		if len(got) != 40 || got[0] != 390 || got[39] != 0 {
			t.Fatalf("collisions: %v", got)
		}
		wantQuery(t, ix, "key1", 35, 37, 1000, 370, 360, 350)
	})
}

func TestQueryAgainstTwinRandom(t *testing.T) {
	seed := testSeed(t)
	for _, tc := range []struct {
		name           string
		slots, perFile int
		hash           func(string) uint64
	}{
		{"tiny", 3, 7, hashKey},
		{"one slot", 1, 50, hashKey},
		{"roomy", 257, 1000, hashKey},
		{"collisions mod 4", 5, 13, collideMod4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(tc.slots)))
			ix, fsys := openMem(t, tc.slots, tc.perFile)
			ix.hash = tc.hash
			w := &twin{hash: tc.hash}
			keys := make([]string, 30)
			for i := range keys {
				keys[i] = fmt.Sprintf("key-%d-%x", i, rng.Uint32())
			}
			phys, ts := int64(0), int64(1000)
			for round := 0; round < 12; round++ {
				for range rng.IntN(200) {
					phys += 1 + rng.Int64N(50)
					ts += rng.Int64N(3) - 1 // mostly rising, sometimes back
					for range 1 + rng.IntN(3) {
						k := keys[rng.IntN(len(keys))]
						mustPut(t, ix, k, phys, ts)
						w.put(k, phys, ts)
					}
				}
				switch rng.IntN(4) {
				case 0:
					if len(w.puts) > 0 {
						cut := w.puts[rng.IntN(len(w.puts))].Phys
						if err := ix.TruncatePhys(cut); err != nil {
							t.Fatal(err)
						}
						w.truncate(cut)
						phys = cut
					}
				case 1:
					if err := ix.Close(); err != nil {
						t.Fatal(err)
					}
					ix = openFS(t, fsys, "/ix", tc.slots, tc.perFile)
					ix.hash = tc.hash
					if r := ix.Recovery(); len(r.RebuiltSlots) != 0 || r.Uncheckpointed != 0 {
						t.Fatalf("recovery after a clean close: %+v", r)
					}
				case 2:
					if len(w.puts) > 0 {
						mp := w.puts[rng.IntN(len(w.puts))].Phys
						if err := ix.DropBeforePhys(mp); err != nil {
							t.Fatal(err)
						}
						w.minPhys = max(w.minPhys, mp)
					}
				}
				w.check(t, ix, keys, 1<<62)
			}
			ix.Close()
		})
	}
}

func TestRollOver(t *testing.T) {
	dir := t.TempDir()
	ix := openFS(t, vfs.OS, dir, 4, 10)
	for i := int64(0); i < 35; i++ {
		mustPut(t, ix, "k", i, i)
	}
	if n := ix.fileCount(); n != 4 {
		t.Fatalf("%d files, want 4", n)
	}
	got := mustQuery(t, ix, "k", 0, 1<<62, 100)
	if len(got) != 35 || got[0] != 34 || got[34] != 0 {
		t.Fatalf("across files: %v", got)
	}
	wantQuery(t, ix, "k", 8, 12, 100, 12, 11, 10, 9, 8)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openFS(t, vfs.OS, dir, 4, 10)
	defer ix.Close()
	wantQuery(t, ix, "k", 8, 12, 100, 12, 11, 10, 9, 8)
	for i := int64(35); i < 45; i++ {
		mustPut(t, ix, "k", i, i)
	}
	wantQuery(t, ix, "k", 38, 41, 100, 41, 40, 39, 38)
	if n := ix.fileCount(); n != 5 {
		t.Fatalf("%d files, want 5", n)
	}
}

func TestTruncatePhysThenPut(t *testing.T) {
	ix, _ := openMem(t, 2, 10)
	defer ix.Close()
	for i := int64(0); i < 25; i++ {
		mustPut(t, ix, fmt.Sprintf("k%d", i%3), i*10, i)
	}
	if err := ix.TruncatePhys(125); err != nil { // keeps 0..120 (13 entries, 2 files)
		t.Fatal(err)
	}
	if n := ix.fileCount(); n != 2 {
		t.Fatalf("%d files, want 2", n)
	}
	if ix.DispatchedPhys() != 125 {
		t.Fatalf("DispatchedPhys = %d", ix.DispatchedPhys())
	}
	wantQuery(t, ix, "k0", 0, 1<<62, 100, 120, 90, 60, 30, 0)
	if err := ix.Put("k0", 100, 5); err != nil { // below DispatchedPhys: a re-dispatch, ignored
		t.Fatalf("put below the last phys: %v", err)
	}
	wantQuery(t, ix, "k0", 0, 1<<62, 100, 120, 90, 60, 30, 0)
	// New entries reuse the dropped entry numbers; chains must not reach
	// the dropped ones (k1 at 130, 160, ... and k2 at 140, ...).
	for i := int64(0); i < 6; i++ {
		mustPut(t, ix, "new", 125+i, 100)
	}
	wantQuery(t, ix, "k1", 0, 1<<62, 100, 100, 70, 40, 10)
	wantQuery(t, ix, "k2", 0, 1<<62, 100, 110, 80, 50, 20)
	wantQuery(t, ix, "new", 0, 1<<62, 100, 130, 129, 128, 127, 126, 125)
	if err := ix.TruncatePhys(0); err != nil {
		t.Fatal(err)
	}
	if n := ix.fileCount(); n != 0 {
		t.Fatalf("%d files after truncating everything", n)
	}
	wantQuery(t, ix, "k0", 0, 1<<62, 100)
	mustPut(t, ix, "k0", 7, 7)
	wantQuery(t, ix, "k0", 0, 1<<62, 100, 7)
}

func TestDropBeforePhys(t *testing.T) {
	ix, fsys := openMem(t, 4, 10)
	for i := int64(0); i < 30; i++ {
		mustPut(t, ix, "k", i, i)
	}
	if err := ix.DropBeforePhys(15); err != nil {
		t.Fatal(err)
	}
	if n := ix.fileCount(); n != 2 { // file 0 (0..9) went; file 1 (10..19) keeps 15..19
		t.Fatalf("%d files, want 2", n)
	}
	got := mustQuery(t, ix, "k", 0, 1<<62, 100)
	if len(got) != 15 || got[14] != 15 {
		t.Fatalf("after drop: %v", got)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openFS(t, fsys, "/ix", 4, 10)
	defer ix.Close()
	if ix.MinPhys() != 15 {
		t.Fatalf("MinPhys = %d", ix.MinPhys())
	}
	if got := mustQuery(t, ix, "k", 0, 1<<62, 100); len(got) != 15 {
		t.Fatalf("after reopen: %v", got)
	}
	if err := ix.DropBeforePhys(1000); err != nil {
		t.Fatal(err)
	}
	if n := ix.fileCount(); n != 0 {
		t.Fatalf("%d files after dropping everything", n)
	}
	mustPut(t, ix, "k", 1000, 1)
	wantQuery(t, ix, "k", 0, 1<<62, 100, 1000)
}

func TestResetAndRebuild(t *testing.T) {
	ix, fsys := openMem(t, 8, 16)
	w := &twin{hash: hashKey}
	keys := []string{"a", "b", "c", "d"}
	for i := int64(0); i < 100; i++ {
		k := keys[i%4]
		mustPut(t, ix, k, i*3, i)
		w.put(k, i*3, i)
	}
	if err := ix.Reset(); err != nil {
		t.Fatal(err)
	}
	if ix.fileCount() != 0 || ix.DispatchedPhys() != 0 {
		t.Fatalf("after Reset: %d files, dispatched %d", ix.fileCount(), ix.DispatchedPhys())
	}
	wantQuery(t, ix, "a", 0, 1<<62, 10)
	err := ix.Rebuild(func(yield func(Item, error) bool) {
		for _, it := range w.puts {
			if !yield(it, nil) {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	w.check(t, ix, keys, 1<<62)
	boom := errors.New("boom")
	if err := ix.Rebuild(func(yield func(Item, error) bool) { yield(Item{}, boom) }); !errors.Is(err, boom) {
		t.Fatalf("Rebuild err = %v", err)
	}
	// An interrupted Reset is finished by Open.
	mustPut(t, ix, "a", 5, 5)
	if err := ix.ck.Write(checkpointRec{State: stateResetting}); err != nil {
		t.Fatal(err)
	}
	ix.crash()
	ix = openFS(t, fsys, "/ix", 8, 16)
	defer ix.Close()
	if !ix.Recovery().ResetFinished || ix.fileCount() != 0 {
		t.Fatalf("recovery %+v, %d files", ix.Recovery(), ix.fileCount())
	}
}

func TestConcurrentQueries(t *testing.T) {
	ix := openFS(t, vfs.OS, t.TempDir(), 64, 512)
	defer ix.Close()
	const total = 4000
	var published atomic.Int64
	published.Store(-1)
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			buf := make([]int64, 0, 64)
			for !done.Load() {
				hi := published.Load()
				if hi < 0 {
					continue
				}
				i := rng.Int64N(hi + 1)
				k := fmt.Sprintf("k%d", i%50)
				got, err := ix.QueryAppend(buf[:0], k, 0, 1<<62, 64)
				if err != nil {
					errc <- err
					return
				}
				// Every published entry for k must be found, newest first.
				want := hi - (hi-i%50)%50
				if len(got) == 0 || got[0] < want {
					errc <- fmt.Errorf("Query(%s) = %v, newest published is %d", k, got, want)
					return
				}
				for j := 1; j < len(got); j++ {
					if got[j] != got[j-1]-50 {
						errc <- fmt.Errorf("Query(%s) = %v: not consecutive", k, got)
						return
					}
				}
			}
		}(r)
	}
	for i := int64(0); i < total; i++ {
		mustPut(t, ix, fmt.Sprintf("k%d", i%50), i, i)
		published.Store(i)
		if i%1000 == 999 {
			if err := ix.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}
