package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// fixture is a closed log on a crash FS: 40 records of 1000 bytes, 16 per
// segment, so segments 0 and 1 are sealed and segment 2 holds 8 records.
type fixture struct {
	fs   *vfs.CrashFS
	dir  string
	offs []int64
	end  int64
}

const fixtureRecs = 40

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{fs: vfs.NewCrash(1), dir: "/log"}
	l := mustOpen(t, testOptions(t, fx.fs, fx.dir))
	for i := 0; i < fixtureRecs; i++ {
		fx.offs = append(fx.offs, mustAppend(t, l, rec(i, 1000))...)
	}
	fx.end = l.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) seg(i int) string { return path.Join(fx.dir, segmentName(int64(i)*testSegSize)) }

// segOf returns the file and in-file position of offset off.
func (fx *fixture) segOf(off int64) (string, int64) {
	return fx.seg(int(off / testSegSize)), off % testSegSize
}

func (fx *fixture) patch(t *testing.T, name string, pos int64, b []byte) {
	t.Helper()
	f, err := fx.fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) read(t *testing.T, name string, pos int64, n int) []byte {
	t.Helper()
	f, err := fx.fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	return b
}

// patchAt overwrites bytes at absolute offset off.
func (fx *fixture) patchAt(t *testing.T, off int64, b []byte) {
	name, pos := fx.segOf(off)
	fx.patch(t, name, pos, b)
}

// flip inverts one byte at absolute offset off.
func (fx *fixture) flip(t *testing.T, off int64) {
	name, pos := fx.segOf(off)
	b := fx.read(t, name, pos, 1)
	fx.patch(t, name, pos, []byte{^b[0]})
}

// setSyncPoint rewrites the sync point of segment i (with a valid slot CRC),
// as if the last sync recorded sp.
func (fx *fixture) setSyncPoint(t *testing.T, i int, sp int64) {
	hdr := fx.read(t, fx.seg(i), 0, SegmentHeaderSize)
	hw := int64(binary.LittleEndian.Uint64(hdr[hdrHighWater:]))
	encodeSlot(hdr, sp, hw)
	fx.patch(t, fx.seg(i), 0, hdr)
}

// resealHeader recomputes the immutable header CRC of segment i after a
// field was patched, so only the patched field is wrong.
func (fx *fixture) resealHeader(t *testing.T, i int) {
	hdr := fx.read(t, fx.seg(i), 0, SegmentHeaderSize)
	binary.LittleEndian.PutUint32(hdr[hdrCRC:], crc32.Checksum(hdr[:hdrImmutEnd], castagnoli))
	fx.patch(t, fx.seg(i), 0, hdr)
}

func TestRecoveryCorruptions(t *testing.T) {
	last := fixtureRecs - 1
	lastSeg := 2
	type want struct {
		end       func(fx *fixture) int64 // expected End; nil if err
		err       error
		truncated bool
	}
	endAt := func(i int) func(*fixture) int64 { return func(fx *fixture) int64 { return fx.offs[i] } }
	cases := []struct {
		name    string
		corrupt func(t *testing.T, fx *fixture)
		want    want
	}{
		{"clean", func(t *testing.T, fx *fixture) {}, want{end: func(fx *fixture) int64 { return fx.end }}},
		{"torn tail: last record half zeroed, past the sync point", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[last])
			fx.patchAt(t, fx.offs[last]+500, make([]byte, 509))
		}, want{end: endAt(last), truncated: true}},
		{"torn tail: flipped byte in the last batch", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[last-1])
			fx.flip(t, fx.offs[last-1]+300)
		}, want{end: endAt(last - 1), truncated: true}},
		{"torn tail: valid record after a dropped one is not chained", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[last-3])
			fx.patchAt(t, fx.offs[last-2], make([]byte, 1009)) // a whole record lost, later ones intact
		}, want{end: endAt(last - 2), truncated: true}},
		{"flipped byte mid-record before the sync point", func(t *testing.T, fx *fixture) {
			fx.flip(t, fx.offs[last-3]+400)
		}, want{err: ErrCorrupt}},
		{"zeroed record before the sync point", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.offs[last-4], make([]byte, 1009))
		}, want{err: ErrCorrupt}},
		{"zeroed record in a sealed segment", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[32]) // sync point of the last segment is irrelevant
			fx.patchAt(t, fx.offs[20], make([]byte, 1009))
		}, want{err: ErrCorrupt}},
		{"flipped byte in the first segment", func(t *testing.T, fx *fixture) {
			fx.flip(t, fx.offs[0]+RecordHeaderSize)
		}, want{err: ErrCorrupt}},
		{"length past the segment end, before the sync point", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.offs[last-1]+recLengthOff, []byte{0xff, 0xff, 0, 0})
		}, want{err: ErrCorrupt}},
		{"length past the segment end, past the sync point", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[last-1])
			fx.patchAt(t, fx.offs[last-1]+recLengthOff, []byte{0xff, 0xff, 0, 0})
		}, want{end: endAt(last - 1), truncated: true}},
		{"type 0 with data past the sync point", func(t *testing.T, fx *fixture) {
			fx.setSyncPoint(t, lastSeg, fx.offs[last])
			fx.patchAt(t, fx.offs[last]+recTypeOff, []byte{0})
		}, want{end: endAt(last), truncated: true}},
		{"bad magic in the first segment", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(0), 0, []byte("XXXX"))
		}, want{err: ErrCorrupt}},
		{"bad magic in the last segment", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(lastSeg), 0, []byte("XXXX"))
		}, want{err: ErrCorrupt}},
		{"bad version", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(1), hdrVersion, []byte{2, 0})
			fx.resealHeader(t, 1)
		}, want{err: ErrCorrupt}},
		{"bad header CRC", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(1), hdrFirst, []byte{1})
		}, want{err: ErrCorrupt}},
		{"bad sync-point slot CRC", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(lastSeg), hdrSyncPoint, []byte{1})
		}, want{err: ErrCorrupt}},
		{"header base offset disagrees with the file name", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(1), hdrBase, []byte{0, 0, 0, 0, 0, 1})
			fx.resealHeader(t, 1)
		}, want{err: ErrCorrupt}},
		{"truncated header of a sealed segment", func(t *testing.T, fx *fixture) {
			f, _ := fx.fs.Open(fx.seg(1))
			f.Truncate(30)
			f.Sync()
			f.Close()
		}, want{err: ErrCorrupt}},
		{"missing middle segment", func(t *testing.T, fx *fixture) {
			fx.fs.Remove(fx.seg(1))
		}, want{err: ErrCorrupt}},
		{"crash during roll: next segment created, header not durable", func(t *testing.T, fx *fixture) {
			f, _ := fx.fs.Create(fx.seg(3))
			f.Allocate(testSegSize)
			f.Sync()
			f.Close()
		}, want{end: func(fx *fixture) int64 { return fx.end }}},
		{"crash during roll: truncated header of the last segment", func(t *testing.T, fx *fixture) {
			// The old segment got its marker, the new file only 30 bytes.
			fx.patchAt(t, fx.end, eosBytes(fx.end))
			f, _ := fx.fs.Create(fx.seg(3))
			f.WriteAt([]byte("DMQ"), 0)
			f.Sync()
			f.Close()
		}, want{end: func(fx *fixture) int64 { return 3*testSegSize + SegmentHeaderSize }}},
		{"zeroed header of the last segment, which holds records", func(t *testing.T, fx *fixture) {
			fx.patch(t, fx.seg(lastSeg), 0, make([]byte, SegmentHeaderSize))
		}, want{err: ErrCorrupt}},
		{"crash after roll marker, before the next segment", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.end, eosBytes(fx.end))
		}, want{end: func(fx *fixture) int64 { return 3*testSegSize + SegmentHeaderSize }}},
		{"partially written end-of-segment marker", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.end, eosBytes(fx.end)[:6])
		}, want{end: func(fx *fixture) int64 { return fx.end }, truncated: true}},
		{"missing end marker in a sealed segment", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.offs[31]+1009, make([]byte, RecordHeaderSize))
		}, want{err: ErrCorrupt}},
		{"stale bytes past the end", func(t *testing.T, fx *fixture) {
			fx.patchAt(t, fx.end+3000, []byte("stale"))
		}, want{end: func(fx *fixture) int64 { return fx.end }, truncated: true}},
		{"interrupted reset with a durable prepared segment", func(t *testing.T, fx *fixture) {
			f, _ := fx.fs.Create(fx.seg(7) + resetSuffix)
			f.Allocate(testSegSize)
			hdr := make([]byte, SegmentHeaderSize)
			first := int64(7*testSegSize + 1000)
			encodeHeader(hdr, segmentHeader{Version: FormatVersion, Base: 7 * testSegSize, SegSize: testSegSize, First: first, SyncPoint: first, HighWater: 8 * testSegSize})
			f.WriteAt(hdr, 0)
			f.Sync()
			f.Close()
		}, want{end: func(fx *fixture) int64 { return 7*testSegSize + 1000 }}},
		{"interrupted reset before its segment was durable", func(t *testing.T, fx *fixture) {
			f, _ := fx.fs.Create(fx.seg(7) + resetSuffix)
			f.Allocate(testSegSize)
			f.Sync()
			f.Close()
		}, want{end: func(fx *fixture) int64 { return fx.end }}},
	}
	if len(cases) < 10 {
		t.Fatal("the table must hold at least 10 corruptions")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			c.corrupt(t, fx)
			l, err := Open(testOptions(t, fx.fs, fx.dir))
			if c.want.err != nil {
				if !errors.Is(err, c.want.err) {
					t.Fatalf("Open: %v, want %v", err, c.want.err)
				}
				t.Logf("Open failed as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			if got, want := l.End(), c.want.end(fx); got != want {
				t.Fatalf("End = %d, want %d (report %+v)", got, want, l.Recovery())
			}
			rep := l.Recovery()
			if rep.Truncated() != c.want.truncated {
				t.Fatalf("report truncated = %v, want %v: %+v", rep.Truncated(), c.want.truncated, rep)
			}
			// Every record below End reads back, and the log takes appends
			// that survive another reopen.
			// Every record recovery kept is one that was appended, intact.
			index := map[int64]int{}
			for i, o := range fx.offs {
				index[o] = i
			}
			offs, recs := readAll(t, l)
			for k, o := range offs {
				i, ok := index[o]
				if !ok || !bytes.Equal(recs[k].Data, rec(i, 1000).Data) {
					t.Fatalf("record at %d after recovery was never appended there", o)
				}
			}
			o := mustAppend(t, l, rec(999, 2000))
			l.Close()
			l2 := mustOpen(t, testOptions(t, fx.fs, fx.dir))
			defer l2.Close()
			if r, _, err := l2.Read(o[0]); err != nil || r.Type != rec(999, 0).Type {
				t.Fatalf("record appended after recovery: %v", err)
			}
			if l2.Recovery().Truncated() {
				t.Fatalf("second reopen truncated again: %+v", l2.Recovery())
			}
		})
	}
}

func eosBytes(off int64) []byte {
	b := make([]byte, RecordHeaderSize)
	encodeEOS(b, off)
	return b
}

// TestRecoveryCrashAfterTruncate truncates durably and crashes in every
// mode: the removed records must never come back.
func TestRecoveryCrashAfterTruncate(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		for _, mode := range []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random} {
			c := vfs.NewCrash(seed)
			l := mustOpen(t, testOptions(t, c, "/log"))
			var offs []int64
			for i := 0; i < 40; i++ {
				offs = append(offs, mustAppend(t, l, rec(i, 1000))...)
			}
			cut := int(seed) + 5
			if err := l.Truncate(offs[cut]); err != nil {
				t.Fatal(err)
			}
			c.Crash(mode)
			l = mustOpen(t, testOptions(t, c, "/log"))
			if l.End() != offs[cut] {
				t.Fatalf("seed %d %v: End %d after crash, want %d (truncated records resurrected?)", seed, mode, l.End(), offs[cut])
			}
			got, _ := readAll(t, l)
			if len(got) != cut {
				t.Fatalf("seed %d %v: %d records, want %d", seed, mode, len(got), cut)
			}
			l.Close()
		}
	}
}
