package commitlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func TestTruncate(t *testing.T) {
	backends(t, func(t *testing.T, fsys vfs.FS, dir string, wm WriteMethod) {
		l := mustOpen(t, testOptionsW(t, fsys, dir, wm))
		var offs []int64
		for i := 0; i < 60; i++ {
			offs = append(offs, mustAppend(t, l, rec(i, 900))...)
		}
		nsegs := len(l.segs)
		// Truncate into an earlier segment, then append different records.
		cut := 17
		if err := l.Truncate(offs[cut]); err != nil {
			t.Fatal(err)
		}
		if l.End() != offs[cut] || len(l.segs) >= nsegs {
			t.Fatalf("after Truncate: End %d (want %d), %d segments (had %d)", l.End(), offs[cut], len(l.segs), nsegs)
		}
		if _, _, err := l.Read(offs[cut]); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Read of a truncated offset: %v", err)
		}
		if err := l.Truncate(offs[3] + 1); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Truncate inside a record: %v", err)
		}
		if err := l.Truncate(l.End() + 100); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Truncate past End: %v", err)
		}
		newOffs := mustAppend(t, l, rec(1000, 50), rec(1001, 50))
		if newOffs[0] != offs[cut] {
			t.Fatalf("append after Truncate at %d, want %d", newOffs[0], offs[cut])
		}
		end := l.End()
		l.Close()
		l = mustOpen(t, testOptionsW(t, fsys, dir, wm))
		defer l.Close()
		gotOffs, got := readAll(t, l)
		if len(got) != cut+2 || l.End() != end {
			t.Fatalf("after reopen: %d records, End %d; want %d, %d", len(got), l.End(), cut+2, end)
		}
		if gotOffs[cut] != newOffs[0] || !bytes.Equal(got[cut+1].Data, rec(1001, 50).Data) {
			t.Fatal("records after Truncate+Append differ")
		}
		// Truncate everything.
		if err := l.Truncate(l.Start()); err != nil {
			t.Fatal(err)
		}
		if l.End() != l.Start() {
			t.Fatalf("Truncate(Start): End %d Start %d", l.End(), l.Start())
		}
	})
}

func TestDropBeforeAndReset(t *testing.T) {
	backends(t, func(t *testing.T, fsys vfs.FS, dir string, wm WriteMethod) {
		l := mustOpen(t, testOptionsW(t, fsys, dir, wm))
		var offs []int64
		for i := 0; i < 60; i++ {
			offs = append(offs, mustAppend(t, l, rec(i, 900))...)
		}
		start, err := l.DropBefore(offs[40])
		if err != nil {
			t.Fatal(err)
		}
		if start > offs[40] || start <= offs[0] || start != l.Start() {
			t.Fatalf("DropBefore(%d) = %d", offs[40], start)
		}
		if start%testSegSize != SegmentHeaderSize {
			t.Fatalf("new start %d is not a segment's first record", start)
		}
		if _, _, err := l.Read(offs[0]); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Read of a dropped offset: %v", err)
		}
		if _, _, err := l.Read(offs[40]); err != nil {
			t.Fatalf("Read of a kept offset: %v", err)
		}
		// Dropping everything keeps the active segment.
		if _, err := l.DropBefore(1 << 40); err != nil {
			t.Fatal(err)
		}
		if len(l.segs) != 1 {
			t.Fatalf("%d segments after dropping all", len(l.segs))
		}
		// Reset to a far offset.
		at := int64(1000*testSegSize + 500)
		if err := l.Reset(at); err != nil {
			t.Fatal(err)
		}
		if l.Start() != at || l.End() != at {
			t.Fatalf("after Reset: Start %d End %d", l.Start(), l.End())
		}
		if err := l.Reset(7 * testSegSize); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Reset into a header: %v", err)
		}
		o := mustAppend(t, l, rec(5, 10))
		if o[0] != at {
			t.Fatalf("first append after Reset at %d, want %d", o[0], at)
		}
		l.Close()
		l = mustOpen(t, testOptionsW(t, fsys, dir, wm))
		defer l.Close()
		if l.Start() != at {
			t.Fatalf("Start after reopen %d, want %d", l.Start(), at)
		}
		_, got := readAll(t, l)
		if len(got) != 1 {
			t.Fatalf("%d records after Reset+reopen", len(got))
		}
		names, _ := fsys.List(dir)
		if len(names) != 1 || names[0] != segmentName(1000*testSegSize) {
			t.Fatalf("files after Reset: %v", names)
		}
	})
}
