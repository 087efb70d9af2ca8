package consumequeue

import (
	"errors"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// validQueueFile returns the bytes of a real queue file holding n entries
// of a perFile-entry file for queue T/0, starting at offset start.
func validQueueFile(t testing.TB, perFile int, start, n int64) []byte {
	s, fsys := openMem(t, perFile)
	fill(t, s, "T", 0, start, start+n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(queueFilePath("/cq", "T", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, fileSize(int64(perFile)))
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzOpenQueueFile opens a store whose only queue file holds arbitrary
// bytes. Open may fail (with ErrCorrupt) but must not panic, and whatever
// it accepts must be readable, searchable and writable without panicking.
// The first input byte picks the checkpoint's DispatchedPhys.
func FuzzOpenQueueFile(f *testing.F) {
	valid := validQueueFile(f, 4, 0, 3)
	f.Add(append([]byte{1}, valid...))
	f.Add(append([]byte{0}, valid...))
	f.Add(append([]byte{1}, validQueueFile(f, 4, 2, 2)...))
	f.Add(append([]byte{1}, valid[:headerSize+2*entrySize+7]...))
	f.Add(append([]byte{1}, valid[:headerSize]...))
	f.Add([]byte{1})
	f.Add(append([]byte{1}, make([]byte, len(valid))...))
	flipped := append([]byte{1}, valid...)
	flipped[1+headerSize+entrySize+5] ^= 0x40
	f.Add(flipped)
	big := append([]byte{1}, validQueueFile(f, 64, 0, 40)...)
	f.Add(big)

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 1<<20 {
			return
		}
		fsys := vfs.NewMem()
		s, err := Open(Options{Dir: "/cq", FS: fsys, EntriesPerFile: 4})
		if err != nil {
			t.Fatal(err)
		}
		if data[0]&1 == 1 {
			s.AdvanceDispatched(1 << 40)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll("/cq/T/0"); err != nil {
			t.Fatal(err)
		}
		file, err := fsys.Create(queueFilePath("/cq", "T", 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		file.WriteAt(data[1:], 0)
		file.Close()

		s, err = Open(Options{Dir: "/cq", FS: fsys, EntriesPerFile: 4})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: unexpected error class: %v", err)
			}
			return
		}
		defer s.Close()
		q := s.Queue("T", 0)
		if q == nil {
			return
		}
		buf := make([]Entry, 32)
		lo, hi := q.MinOffset(), q.MaxOffset()
		if lo > hi {
			t.Fatalf("min %d > max %d", lo, hi)
		}
		if hi-lo > 1<<20 {
			t.Fatalf("queue [%d, %d) larger than the file", lo, hi)
		}
		for off := lo; off < hi; off += int64(len(buf)) {
			if _, err := q.Read(off, buf); err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read: %v", err)
			}
		}
		if _, err := q.SearchTime(1 << 50); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("SearchTime: %v", err)
		}
		err = q.Put(hi, Entry{Phys: 1<<62 - 1, Size: 1})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Put: %v", err)
		}
		if err := s.TruncatePhys(0); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("TruncatePhys: %v", err)
		}
	})
}
