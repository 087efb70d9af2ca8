package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

const testSegSize = 16 << 10

// testLogger sends the log's output to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testOptions(t testing.TB, fsys vfs.FS, dir string) Options {
	o := DefaultOptions(dir)
	o.FS = fsys
	o.SegmentSize = testSegSize
	o.Logger = testLogger(t)
	o.FlushInterval = time.Hour // tests drive flushing themselves unless they say otherwise
	return o
}

func mustOpen(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// rec returns a deterministic record of n bytes for index i.
func rec(i, n int) Record {
	d := make([]byte, n)
	r := rand.New(rand.NewSource(int64(i)))
	r.Read(d)
	return Record{Type: uint8(i%255) + 1, Data: d}
}

func mustAppend(t testing.TB, l *Log, recs ...Record) []int64 {
	t.Helper()
	offs, err := l.Append(recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return offs
}

// readAll iterates the whole log.
func readAll(t testing.TB, l *Log) (offs []int64, recs []Record) {
	t.Helper()
	it := l.NewIterator(l.Start())
	for it.Next() {
		offs = append(offs, it.Offset())
		r := it.Record()
		recs = append(recs, Record{Type: r.Type, Data: append([]byte(nil), r.Data...)})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return offs, recs
}

// backends runs f against the real file system and the crash FS, with
// each write method (f must pass wm on through testOptionsW).
func backends(t *testing.T, f func(t *testing.T, fsys vfs.FS, dir string, wm WriteMethod)) {
	for _, wm := range []WriteMethod{WriteMmap, WritePwrite} {
		t.Run("OS/"+wm.String(), func(t *testing.T) { f(t, vfs.OS, t.TempDir(), wm) })
		t.Run("Mem/"+wm.String(), func(t *testing.T) { f(t, vfs.NewCrash(1), "/log", wm) })
	}
}

func testOptionsW(t testing.TB, fsys vfs.FS, dir string, wm WriteMethod) Options {
	o := testOptions(t, fsys, dir)
	o.Write = wm
	o.slotLag = -1
	return o
}

func TestAppendReadReopen(t *testing.T) {
	backends(t, func(t *testing.T, fsys vfs.FS, dir string, wm WriteMethod) {
		l := mustOpen(t, testOptionsW(t, fsys, dir, wm))
		if l.Start() != SegmentHeaderSize || l.End() != SegmentHeaderSize {
			t.Fatalf("empty log: Start %d End %d", l.Start(), l.End())
		}
		var want []Record
		var offs []int64
		for b := 0; b < 40; b++ {
			batch := []Record{rec(b*3, 100+b*37), rec(b*3+1, 0), rec(b*3+2, 700)}
			want = append(want, batch...)
			offs = append(offs, mustAppend(t, l, batch...)...)
		}
		if len(l.segs) < 3 {
			t.Fatalf("expected several segments, have %d", len(l.segs))
		}
		check := func(l *Log) {
			t.Helper()
			gotOffs, got := readAll(t, l)
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for i := range want {
				if gotOffs[i] != offs[i] || got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Fatalf("record %d differs (offset %d vs %d)", i, gotOffs[i], offs[i])
				}
				r, next, err := l.Read(offs[i])
				if err != nil || !bytes.Equal(r.Data, want[i].Data) {
					t.Fatalf("Read(%d): %v", offs[i], err)
				}
				wantNext := l.End()
				if i+1 < len(offs) {
					wantNext = offs[i+1]
				}
				if next != wantNext {
					t.Fatalf("Read(%d) next = %d, want %d", offs[i], next, wantNext)
				}
				p := make([]byte, len(want[i].Data))
				if n, err := l.ReadAt(p, l.DataOffset(offs[i])); len(p) > 0 && (err != nil || n != len(p) || !bytes.Equal(p, want[i].Data)) {
					t.Fatalf("ReadAt record %d: %d, %v", i, n, err)
				}
			}
		}
		check(l)
		end := l.End()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, testOptionsW(t, fsys, dir, wm))
		defer l.Close()
		if l.End() != end {
			t.Fatalf("End after reopen = %d, want %d", l.End(), end)
		}
		if rep := l.Recovery(); rep.Truncated() || rep.SyncPoint != end {
			t.Fatalf("clean reopen report: %+v", rep)
		}
		check(l)
	})
}

func TestSegmentNamesAndBases(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOptions(t, vfs.OS, dir))
	defer l.Close()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, rec(i, 3000))
	}
	names, _ := vfs.OS.List(dir)
	for i, n := range names {
		if want := fmt.Sprintf("%020d", int64(i)*testSegSize); n != want {
			t.Fatalf("segment %d named %q, want %q", i, n, want)
		}
		if sz, _ := vfs.OS.Stat(filepath.Join(dir, n)); sz != testSegSize {
			t.Fatalf("segment %s has %d bytes, want preallocated %d", n, sz, testSegSize)
		}
	}
	if len(names) < 4 {
		t.Fatalf("only %d segments", len(names))
	}
}

func TestSameRecordsSameOffsets(t *testing.T) {
	var ends [2]int64
	var offs [2][]int64
	for k := 0; k < 2; k++ {
		l := mustOpen(t, testOptions(t, vfs.NewMem(), "/l"))
		for i := 0; i < 50; i++ {
			// Different batching, same records.
			if k == 0 {
				offs[k] = append(offs[k], mustAppend(t, l, rec(i, i*50))...)
			} else if i%2 == 0 {
				offs[k] = append(offs[k], mustAppend(t, l, rec(i, i*50), rec(i+1, (i+1)*50))...)
			}
		}
		ends[k] = l.End()
		l.Close()
	}
	if ends[0] != ends[1] || fmt.Sprint(offs[0]) != fmt.Sprint(offs[1]) {
		t.Fatalf("two logs fed the same records differ: ends %v", ends)
	}
}

func TestAppendValidation(t *testing.T) {
	l := mustOpen(t, testOptions(t, vfs.NewMem(), "/l"))
	defer l.Close()
	end := l.End()
	if _, err := l.Append([]Record{rec(1, 10), {Type: 0, Data: []byte("x")}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("type 0: %v", err)
	}
	big := Record{Type: 1, Data: make([]byte, l.MaxRecordSize()+1)}
	if _, err := l.Append([]Record{rec(1, 10), big}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if l.End() != end {
		t.Fatal("a rejected batch wrote something")
	}
	// The largest record fits in an empty segment.
	max := Record{Type: 9, Data: bytes.Repeat([]byte{7}, int(l.MaxRecordSize()))}
	offs := mustAppend(t, l, rec(1, 10), max)
	r, _, err := l.Read(offs[1])
	if err != nil || !bytes.Equal(r.Data, max.Data) {
		t.Fatalf("max-size record: %v", err)
	}
	if offs, err := l.Append(nil); err != nil || len(offs) != 0 {
		t.Fatalf("empty batch: %v %v", offs, err)
	}
}

func TestReadErrors(t *testing.T) {
	l := mustOpen(t, testOptions(t, vfs.NewMem(), "/l"))
	offs := mustAppend(t, l, rec(1, 100), rec(2, 100))
	if _, _, err := l.Read(l.End()); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Read(End): %v", err)
	}
	if _, _, err := l.Read(0); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Read(0): %v", err)
	}
	if _, _, err := l.Read(offs[0] + 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Read inside a record: %v", err)
	}
	p := make([]byte, 1000)
	if n, err := l.ReadAt(p, l.DataOffset(offs[1])); n != 100 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt past End: %d, %v", n, err)
	}
	l.Close()
	if _, _, err := l.Read(offs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := l.Append([]Record{rec(1, 1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{SegmentSize: 1000, Flush: 7, FlushInterval: -1}
	err := o.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"Dir", "SegmentSize", "Flush ", "FlushInterval", "FS", "Logger"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("Validate error does not mention %s: %v", want, err)
		}
	}
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	o2 := testOptions(t, vfs.NewMem(), "/l")
	l := mustOpen(t, o2)
	l.Close()
	o2.SegmentSize = 2 * testSegSize
	if _, err := Open(o2); !errors.Is(err, ErrSegmentSize) {
		t.Errorf("reopen with another segment size: %v", err)
	}
}
