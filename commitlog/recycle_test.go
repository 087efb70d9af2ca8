package commitlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// fillTo appends records of id sequence *id until the log's End reaches
// off, adding them to want.
func fillTo(t *testing.T, l *Log, off int64, id *uint64, want *[]Record) {
	t.Helper()
	for l.End() < off {
		*id++
		r := sweepRecord(*id, 3000)
		if _, err := l.Append([]Record{r}); err != nil {
			t.Fatal(err)
		}
		*want = append(*want, r)
	}
}

// dropRecords removes from want the records below the log's Start.
func dropRecords(t *testing.T, l *Log, want []Record) []Record {
	t.Helper()
	it := l.NewIterator(l.Start())
	if !it.Next() {
		t.Fatalf("no record at Start %d: %v", l.Start(), it.Err())
	}
	first := it.Record()
	for i, r := range want {
		if string(r.Data) == string(first.Data) {
			return want[i:]
		}
	}
	t.Fatal("first record after DropBefore not among those appended")
	return nil
}

// spareFromDrop fills three segments of l, drops the first two (the
// second becomes the spare for the fourth) and returns the records left
// and the last id used.
func spareFromDrop(t *testing.T, l *Log) ([]Record, uint64) {
	t.Helper()
	seg := l.SegmentSize()
	var want []Record
	id := uint64(0)
	fillTo(t, l, 2*seg+SegmentHeaderSize+1, &id, &want)
	if _, err := l.DropBefore(2 * seg); err != nil {
		t.Fatal(err)
	}
	return dropRecords(t, l, want), id
}

// TestRecycledSegmentReused: DropBefore keeps the newest dropped segment's
// file as the spare for the next segment (header and first page zeroed),
// the roll uses that very file, the old records in it never show up, and a
// clean close leaves nothing for recovery to cut.
func TestRecycledSegmentReused(t *testing.T) {
	dir := t.TempDir()
	const seg = 64 << 10
	o := testOptions(t, vfs.OS, dir)
	o.SegmentSize = seg
	l := mustOpen(t, o)
	var want []Record
	id := uint64(0)
	fillTo(t, l, 3*seg+SegmentHeaderSize+1, &id, &want) // four segments
	if _, err := l.DropBefore(2 * seg); err != nil {
		t.Fatal(err)
	}
	want = dropRecords(t, l, want)
	spare := filepath.Join(dir, segmentName(4*seg)+warmSuffix)
	before, err := os.Stat(spare)
	if err != nil {
		t.Fatalf("no spare after DropBefore: %v", err)
	}
	for _, base := range []int64{0, seg} {
		if _, err := os.Stat(filepath.Join(dir, segmentName(base))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("dropped segment %d still there (err %v)", base, err)
		}
	}
	head := make([]byte, recycleClear+RecordHeaderSize)
	f, err := os.Open(spare)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(head, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !isZero(head[:recycleClear]) || isZero(head[recycleClear:]) {
		t.Fatal("spare: want its header and first page zeroed and the old records after them")
	}

	fillTo(t, l, 4*seg+SegmentHeaderSize+1, &id, &want)
	after, err := os.Stat(filepath.Join(dir, segmentName(4*seg)))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("the roll created a new file instead of using the recycled one")
	}
	if _, err := os.Stat(spare); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spare still there after the roll (err %v)", err)
	}
	fillTo(t, l, 4*seg+seg/3, &id, &want)
	checkRecords(t, l, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, o)
	if rep := l.Recovery(); rep.Truncated() {
		t.Fatalf("clean reopen cut %d bytes (%s): Close left the old records past the end", rep.TruncatedTo-rep.TruncatedFrom, rep.Reason)
	}
	checkRecords(t, l, want)
	fillTo(t, l, 4*seg+seg/2, &id, &want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	o.NoRecycle = true
	l = mustOpen(t, o)
	defer l.Close()
	checkRecords(t, l, want)
	fillTo(t, l, 5*seg+SegmentHeaderSize+1, &id, &want)
	if _, err := l.DropBefore(5 * seg); err != nil {
		t.Fatal(err)
	}
	names, _ := vfs.OS.List(dir)
	for _, n := range names {
		if filepath.Ext(n) == warmSuffix {
			t.Fatalf("NoRecycle kept %s", n)
		}
	}
}

// TestRecycledSegmentPowerLoss: power cuts after records went into a
// recycled segment keep every synced record and bring back none of the
// old ones, whatever part of the unsynced writes reached the disk; a cut
// between renaming the spare into place and its header being durable
// leaves a segment recovery removes.
func TestRecycledSegmentPowerLoss(t *testing.T) {
	const seg = 16 << 10
	for _, wm := range []WriteMethod{WritePwrite, WriteMmap} {
		for _, mode := range []vfs.CrashMode{vfs.DropAll, vfs.KeepAll, vfs.Random} {
			t.Run(wm.String()+"/"+mode.String(), func(t *testing.T) {
				c := vfs.NewCrash(7)
				o := testOptions(t, c, "/log")
				o.SegmentSize = seg
				o.Write = wm
				l := mustOpen(t, o)
				want, id := spareFromDrop(t, l)
				fillTo(t, l, 3*seg+seg/2, &id, &want) // into the recycled file
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				synced := id
				// Unsynced records, then the power cut.
				for range 3 {
					id++
					if _, err := l.AppendUnsynced(nil, []Record{sweepRecord(id, 2000)}); err != nil {
						t.Fatal(err)
					}
				}
				c.Crash(mode)
				old := l
				defer old.Close()
				l = mustOpen(t, o)
				defer l.Close()
				it := l.NewIterator(l.Start())
				n := 0
				for it.Next() {
					r := it.Record()
					if n < len(want) {
						if string(r.Data) != string(want[n].Data) {
							t.Fatalf("record %d differs from the one appended", n)
						}
					} else if got, ok := checkSweepRecord(r); !ok || got <= synced {
						t.Fatalf("record %d past the synced ones is not one of the unsynced appends (id %d, valid %v)", n, got, ok)
					}
					n++
				}
				if err := it.Err(); err != nil {
					t.Fatal(err)
				}
				if n < len(want) {
					t.Fatalf("recovered %d records, %d were synced", n, len(want))
				}
			})
		}
	}
}

// TestRecycledSpareCrashAtRoll: a power cut right after a roll renamed
// the recycled spare into place, before its new header was written,
// leaves a last segment that recovery removes (its header and first page
// were zeroed when it was recycled), and no synced record is lost.
func TestRecycledSpareCrashAtRoll(t *testing.T) {
	const seg = 16 << 10
	for _, mode := range []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random} {
		t.Run(mode.String(), func(t *testing.T) {
			c := vfs.NewCrash(11)
			var cut atomic.Bool
			fsys := vfs.NewErr(c, func(op vfs.Op, name string) error {
				if cut.Load() {
					return vfs.ErrInjected
				}
				if op == vfs.OpRename && strings.HasSuffix(name, warmSuffix) {
					cut.Store(true) // the rename happens; the power goes right after
				}
				return nil
			})
			o := testOptions(t, fsys, "/log")
			o.SegmentSize = seg
			l := mustOpen(t, o)
			defer l.Close()
			want, id := spareFromDrop(t, l)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			for !cut.Load() {
				id++
				if _, err := l.Append([]Record{sweepRecord(id, 3000)}); err != nil {
					break
				}
				want = append(want, sweepRecord(id, 3000))
			}
			c.Crash(mode)
			o.FS = c
			l2, err := Open(o)
			if err != nil {
				t.Fatalf("open after a power cut inside the roll: %v", err)
			}
			defer l2.Close()
			checkRecords(t, l2, want)
			if mode == vfs.KeepAll {
				if rm := l2.Recovery().RemovedFiles; len(rm) != 1 || rm[0] != segmentName(3*seg) {
					t.Fatalf("recovery removed %v, want the half-made segment %s", rm, segmentName(3*seg))
				}
			}
		})
	}
}
