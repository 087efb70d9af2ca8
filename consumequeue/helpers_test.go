package consumequeue

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// openTest opens a store on the real file system.
func openTest(t testing.TB, dir string, perFile int) *Store {
	t.Helper()
	return openFS(t, vfs.OS, dir, perFile)
}

// openMem opens a store on a fresh in-memory file system, for tests whose
// subject is logic rather than the OS (fsync here costs tens of ms).
func openMem(t testing.TB, perFile int) (*Store, vfs.FS) {
	t.Helper()
	fsys := vfs.NewMem()
	return openFS(t, fsys, "/cq", perFile), fsys
}

func openFS(t testing.TB, fsys vfs.FS, dir string, perFile int) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, FS: fsys, EntriesPerFile: perFile})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// entryAt is the deterministic entry the tests put at queue offset off.
func entryAt(off int64) Entry {
	return Entry{Phys: 1000 + off*100, Size: int32(40 + off%13), TagHash: off * 7919, StoreTime: 5000 + off*3}
}

func mustPut(t testing.TB, s *Store, topic string, id int32, off int64, e Entry) {
	t.Helper()
	if err := s.Put(topic, id, off, e); err != nil {
		t.Fatalf("Put(%s/%d, %d): %v", topic, id, off, err)
	}
}

func fill(t testing.TB, s *Store, topic string, id int32, from, to int64) {
	t.Helper()
	for off := from; off < to; off++ {
		mustPut(t, s, topic, id, off, entryAt(off))
	}
}

func mustGet(t testing.TB, q *Queue, off int64) Entry {
	t.Helper()
	e, err := q.Get(off)
	if err != nil {
		t.Fatalf("Get(%d): %v", off, err)
	}
	return e
}

func checkQueue(t testing.TB, q *Queue, min, max int64) {
	t.Helper()
	if q.MinOffset() != min || q.MaxOffset() != max {
		t.Fatalf("queue %s: [%d, %d), want [%d, %d)", q, q.MinOffset(), q.MaxOffset(), min, max)
	}
	for off := min; off < max; off++ {
		if e := mustGet(t, q, off); e != entryAt(off) {
			t.Fatalf("Get(%d) = %+v, want %+v", off, e, entryAt(off))
		}
	}
	if _, err := q.Get(max); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Get(max=%d) err = %v, want ErrOutOfRange", max, err)
	}
	if min > 0 {
		if _, err := q.Get(min - 1); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Get(min-1=%d) err = %v, want ErrOutOfRange", min-1, err)
		}
	}
}

func queueFiles(t testing.TB, dir, topic string, id int32) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, topic, itoa(id)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func itoa(id int32) string { return strconv.Itoa(int(id)) }

func queueFilePath(dir, topic string, id int32, base int64) string {
	return filepath.Join(dir, topic, itoa(id), fileName(base))
}

// patch overwrites bytes of a file at off.
func patch(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func entryPos(perFile, off int64) int64 { return headerSize + (off%perFile)*entrySize }

// testSeed returns the seed of a randomized test: $TEST_SEED if set, else
// the clock. It is logged so a failure can be replayed.
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
