package indexfile

import (
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func openFS(t testing.TB, fsys vfs.FS, dir string, slots, perFile int) *Index {
	t.Helper()
	ix, err := Open(Options{Dir: dir, FS: fsys, SlotCount: slots, EntriesPerFile: perFile, Logger: debugLogger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return ix
}

// openMem opens an index on a fresh in-memory FS (fsync on this machine
// costs tens of ms; durability is not what most tests are about).
func openMem(t testing.TB, slots, perFile int) (*Index, vfs.FS) {
	t.Helper()
	fsys := vfs.NewMem()
	return openFS(t, fsys, "/ix", slots, perFile), fsys
}

func mustPut(t testing.TB, ix *Index, key string, phys, ts int64) {
	t.Helper()
	if err := ix.Put(key, phys, ts); err != nil {
		t.Fatalf("Put(%q, %d): %v", key, phys, err)
	}
}

func mustQuery(t testing.TB, ix *Index, key string, begin, end int64, max int) []int64 {
	t.Helper()
	got, err := ix.Query(key, begin, end, max)
	if err != nil {
		t.Fatalf("Query(%q): %v", key, err)
	}
	return got
}

func wantQuery(t testing.TB, ix *Index, key string, begin, end int64, max int, want ...int64) {
	t.Helper()
	if got := mustQuery(t, ix, key, begin, end, max); !slices.Equal(got, want) {
		t.Fatalf("Query(%q, %d, %d, %d) = %v, want %v", key, begin, end, max, got, want)
	}
}

// twin is the naive model of an Index: every put in order.
type twin struct {
	puts    []Item
	minPhys int64
	hash    func(string) uint64
}

func (w *twin) put(key string, phys, ts int64) { w.puts = append(w.puts, Item{key, phys, ts}) }

func (w *twin) truncate(phys int64) {
	n := 0
	for n < len(w.puts) && w.puts[n].Phys < phys {
		n++
	}
	w.puts = w.puts[:n]
}

// query is what Query must return, counting only puts with phys < limit.
func (w *twin) query(key string, begin, end int64, max int, limit int64) []int64 {
	h := w.hash(key)
	var out []int64
	for i := len(w.puts) - 1; i >= 0 && len(out) < max; i-- {
		p := w.puts[i]
		if p.Phys >= limit || p.Phys < w.minPhys || w.hash(p.Key) != h || p.StoreTime < begin || p.StoreTime > end {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == p.Phys {
			continue
		}
		out = append(out, p.Phys)
	}
	return out
}

func (w *twin) check(t testing.TB, ix *Index, keys []string, limit int64) {
	t.Helper()
	for _, k := range keys {
		for _, q := range [][3]int64{{-1 << 62, 1 << 62, 1 << 30}, {0, 1 << 62, 3}, {1000, 1400, 1 << 30}, {1200, 1200, 5}} {
			want := w.query(k, q[0], q[1], int(q[2]), limit)
			got, err := ix.Query(k, q[0], q[1], int(q[2]))
			if err != nil {
				t.Fatalf("Query(%q): %v", k, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Query(%q, %d, %d, %d) = %v, twin %v", k, q[0], q[1], q[2], got, want)
			}
		}
	}
}

// testSeed returns $TEST_SEED or the clock, logged for replay.
func testSeed(t testing.TB) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if v := os.Getenv("TEST_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with TEST_SEED=%d)", seed, seed)
	return seed
}

// debugLogger logs to stderr when $DEBUG is set.
func debugLogger() *slog.Logger {
	if os.Getenv("DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
