package consumequeue

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestGetAcrossFileBoundaries(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 4)
	defer s.Close()
	fill(t, s, "T", 0, 0, 50)
	q := s.Queue("T", 0)
	checkQueue(t, q, 0, 50)
	if got := len(queueFiles(t, dir, "T", 0)); got != 13 {
		t.Fatalf("%d files, want 13", got)
	}
	// Read across boundaries in chunks of every size.
	for _, n := range []int{1, 3, 4, 5, 32, 100} {
		buf := make([]Entry, n)
		for off := int64(0); off <= 50; off++ {
			got, err := q.Read(off, buf)
			if err != nil {
				t.Fatalf("Read(%d, %d): %v", off, n, err)
			}
			want := min(n, int(50-off))
			if got != want {
				t.Fatalf("Read(%d, %d) = %d entries, want %d", off, n, got, want)
			}
			for i := 0; i < got; i++ {
				if buf[i] != entryAt(off+int64(i)) {
					t.Fatalf("Read(%d)[%d] = %+v", off, i, buf[i])
				}
			}
		}
	}
	r, err := q.Range(46, 32)
	if err != nil || len(r) != 4 || r[3] != entryAt(49) {
		t.Fatalf("Range(46, 32) = %v, %v", r, err)
	}
	if r, err := q.Range(50, 32); err != nil || len(r) != 0 {
		t.Fatalf("Range(max) = %v, %v; want empty", r, err)
	}
	if _, err := q.Range(51, 32); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Range(max+1) err = %v", err)
	}
}

func TestFirstPutAtNonZeroOffset(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, 4)
	fill(t, s, "T", 1, 10, 15)
	q := s.Queue("T", 1)
	checkQueue(t, q, 10, 15)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files := queueFiles(t, dir, "T", 1); !slices.Equal(files, []string{fileName(8), fileName(12)}) {
		t.Fatalf("files %v", files)
	}
	s = openTest(t, dir, 4)
	defer s.Close()
	checkQueue(t, s.Queue("T", 1), 10, 15)
}

func TestPutRules(t *testing.T) {
	s := openTest(t, t.TempDir(), 4)
	defer s.Close()
	fill(t, s, "T", 0, 0, 6)
	q := s.Queue("T", 0)
	for off := int64(0); off < 6; off++ { // idempotent re-put
		if err := q.Put(off, entryAt(off)); err != nil {
			t.Fatalf("re-put %d: %v", off, err)
		}
	}
	conflict := entryAt(3)
	conflict.TagHash++
	cases := []struct {
		name string
		off  int64
		e    Entry
		want error
	}{
		{"gap", 7, entryAt(7), ErrGap},
		{"conflict", 3, conflict, ErrConflict},
		{"zero size", 6, Entry{Phys: 99999}, ErrInvalid},
		{"negative phys", 6, Entry{Phys: -1, Size: 1}, ErrInvalid},
		{"phys not increasing", 6, Entry{Phys: entryAt(5).Phys, Size: 1}, ErrInvalid},
		{"negative offset", -1, entryAt(0), ErrInvalid},
	}
	for _, c := range cases {
		if err := q.Put(c.off, c.e); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if err := s.Put("bad/topic", 0, 0, entryAt(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad topic: err = %v", err)
	}
	if err := s.Put("T", -1, 0, entryAt(0)); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative queue id: err = %v", err)
	}
	checkQueue(t, q, 0, 6)
	if got, want := s.DispatchedPhys(), entryAt(5).Phys+int64(entryAt(5).Size); got != want {
		t.Fatalf("DispatchedPhys = %d, want %d", got, want)
	}
}

// linearSearchTime is the naive twin of SearchTime.
func linearSearchTime(es []Entry, min, ts int64) int64 {
	for i, e := range es {
		if e.StoreTime >= ts {
			return min + int64(i)
		}
	}
	return min + int64(len(es))
}

func TestSearchTimeAgainstLinearScan(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	s, _ := openMem(t, 16)
	defer s.Close()
	for round := 0; round < 20; round++ {
		id := int32(round)
		n := rng.IntN(300)
		start := rng.Int64N(40)
		var es []Entry
		ts := rng.Int64N(1000)
		phys := int64(0)
		for i := 0; i < n; i++ {
			ts += rng.Int64N(4) // duplicates and steps
			phys += 1 + rng.Int64N(500)
			e := Entry{Phys: phys, Size: 1, StoreTime: ts}
			es = append(es, e)
			mustPut(t, s, "T", id, start+int64(i), e)
		}
		if n == 0 {
			mustPut(t, s, "T", id, start, Entry{Phys: 1, Size: 1, StoreTime: 10})
			es = append(es, Entry{Phys: 1, Size: 1, StoreTime: 10})
		}
		q := s.Queue("T", id)
		lo := q.MinOffset()
		for k := 0; k < 200; k++ {
			probe := rng.Int64N(ts+10) - 5
			got, err := q.SearchTime(probe)
			if err != nil {
				t.Fatal(err)
			}
			if want := linearSearchTime(es, lo, probe); got != want {
				t.Fatalf("round %d SearchTime(%d) = %d, want %d", round, probe, got, want)
			}
		}
	}
	// After retention the search starts at the new MinOffset.
	q := s.Queue("T", 3)
	if q.MaxOffset()-q.MinOffset() > 4 {
		es, _ := q.Range(q.MinOffset(), 1<<20)
		cut := len(es) / 2
		if err := s.DropBeforePhys(es[cut].Phys); err != nil {
			t.Fatal(err)
		}
		if got, err := q.SearchTime(-1 << 62); err != nil || got != q.MinOffset() {
			t.Fatalf("SearchTime(-inf) = %d, %v; want min %d", got, err, q.MinOffset())
		}
	}
}

func TestConcurrentReadersAndWriter(t *testing.T) {
	s := openTest(t, t.TempDir(), 512)
	defer s.Close()
	mustPut(t, s, "T", 0, 0, entryAt(0))
	q := s.Queue("T", 0)
	const total = 3000
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			buf := make([]Entry, 32)
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for !done.Load() {
				hi := q.MaxOffset()
				off := rng.Int64N(hi)
				e, err := q.Get(off)
				if err != nil || e != entryAt(off) {
					errc <- errors.Join(err, errors.New("Get mismatch"))
					return
				}
				n, err := q.Read(off, buf)
				if err != nil {
					errc <- err
					return
				}
				for i := 0; i < n; i++ {
					if buf[i] != entryAt(off+int64(i)) {
						errc <- errors.New("Read mismatch")
						return
					}
				}
				if _, err := q.SearchTime(entryAt(off).StoreTime); err != nil {
					errc <- err
					return
				}
			}
		}(r)
	}
	for off := int64(1); off < total; off++ {
		mustPut(t, s, "T", 0, off, entryAt(off))
		if off%500 == 0 {
			if err := s.Flush(); err != nil {
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
	checkQueue(t, q, 0, total)
}
