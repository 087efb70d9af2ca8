package dledger

import (
	"bytes"
	"errors"
	"path"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func testStoreOpts(fsys vfs.FS, dir string) LogStoreOptions {
	o := DefaultLogStoreOptions(dir)
	o.FS = fsys
	o.SegmentSize = 16 << 10
	o.IndexSlotsPerFile = 32
	o.IndexFlushEvery = 8
	o.CacheEntries = 8
	o.FlushInterval = 1 << 40 // no background flush: crash tests cut power at will
	return o
}

func openStore(t *testing.T, o LogStoreOptions) *LogStore {
	t.Helper()
	s, err := OpenLogStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustStore(t *testing.T, s *LogStore, logs []*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

// checkOffsets verifies EntryOffset against the bytes in the commit log.
func checkOffsets(t *testing.T, s *LogStore, logs []*raft.Log) {
	t.Helper()
	for _, l := range logs {
		rec, data, err := s.EntryOffset(l.Index)
		if err != nil {
			t.Fatalf("EntryOffset(%d): %v", l.Index, err)
		}
		got := make([]byte, len(l.Data))
		if _, err := s.CommitLog().ReadAt(got, data); err != nil || !bytes.Equal(got, l.Data) {
			t.Fatalf("entry %d: bytes at data offset %d differ (%v)", l.Index, data, err)
		}
		off, _, err := s.ReadEntryRecord(l.Index)
		if err != nil || off != rec {
			t.Fatalf("entry %d record offset %d, ReadEntryRecord says %d (%v)", l.Index, rec, off, err)
		}
	}
}

func TestStoreReopen(t *testing.T) {
	fsys := vfs.NewMem()
	o := testStoreOpts(fsys, "/s")
	s := openStore(t, o)
	logs := mkLogs(1, 200, 3, 300) // ~60 KiB: several segments and index files
	for i := 0; i < len(logs); i += 7 {
		mustStore(t, s, logs[i:min(i+7, len(logs))])
	}
	logs[5].Extensions = nil
	checkOffsets(t, s, logs)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, o)
	defer s.Close()
	wantRange(t, s, 1, 200)
	wantLogs(t, s, logs)
	checkOffsets(t, s, logs) // uncached now
	mustStore(t, s, mkLogs(201, 210, 4, 10))
	wantRange(t, s, 1, 210)
}

func TestStoreRejectsNonContiguous(t *testing.T) {
	s := openStore(t, testStoreOpts(vfs.NewMem(), "/s"))
	defer s.Close()
	mustStore(t, s, mkLogs(5, 10, 1, 10))
	for name, batch := range map[string][]*raft.Log{
		"gap":        mkLogs(12, 13, 1, 10),
		"overlap":    mkLogs(10, 11, 1, 10),
		"backwards":  mkLogs(3, 4, 1, 10),
		"hole":       {mkLog(11, 1, 10), mkLog(13, 1, 10)},
		"index zero": {{Index: 0}},
	} {
		if err := s.StoreLogs(batch); !errors.Is(err, ErrNotContiguous) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	wantRange(t, s, 5, 10)
	if err := s.DeleteRange(7, 8); !errors.Is(err, ErrUnsupportedRange) {
		t.Errorf("middle DeleteRange: %v", err)
	}
}

// TestStoreIndexRepair: the index is rebuilt or extended from the commit
// log when it is missing, damaged or behind.
func TestStoreIndexRepair(t *testing.T) {
	logs := mkLogs(1, 150, 2, 200)
	cases := map[string]func(t *testing.T, fsys vfs.FS){
		"missing": func(t *testing.T, fsys vfs.FS) {
			names, _ := fsys.List("/s/index")
			for _, n := range names {
				_ = fsys.Remove(path.Join("/s/index", n))
			}
		},
		"last file gone": func(t *testing.T, fsys vfs.FS) {
			names, _ := fsys.List("/s/index")
			_ = fsys.Remove(path.Join("/s/index", names[len(names)-1]))
		},
		"slot garbage": func(t *testing.T, fsys vfs.FS) {
			names, _ := fsys.List("/s/index")
			f, _ := fsys.Open(path.Join("/s/index", names[1]))
			_, _ = f.WriteAt(bytes.Repeat([]byte{0x5a}, 64), indexHeaderSize+16*3)
			_ = f.Close()
		},
		"header garbage": func(t *testing.T, fsys vfs.FS) {
			names, _ := fsys.List("/s/index")
			f, _ := fsys.Open(path.Join("/s/index", names[0]))
			_, _ = f.WriteAt([]byte("XXXX"), 0)
			_ = f.Close()
		},
		"points elsewhere": func(t *testing.T, fsys vfs.FS) {
			// A well-formed slot that names the wrong record.
			names, _ := fsys.List("/s/index")
			f, _ := fsys.Open(path.Join("/s/index", names[len(names)-1]))
			b := make([]byte, 16)
			_, _ = f.ReadAt(b, indexHeaderSize) // slot of the file's first index
			base := uint64(len(names)-1)*32 + 1
			last := uint64(150)
			_, _ = f.WriteAt(b, int64(indexHeaderSize+16*(last-base)))
			_ = f.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			fsys := vfs.NewMem()
			o := testStoreOpts(fsys, "/s")
			s := openStore(t, o)
			mustStore(t, s, logs)
			_ = s.Close()
			damage(t, fsys)
			s = openStore(t, o)
			defer s.Close()
			wantRange(t, s, 1, 150)
			wantLogs(t, s, logs)
			checkOffsets(t, s, logs)
		})
	}
}

// TestStoreCrashKeepsAcknowledged: under FlushSync every batch StoreLogs
// acknowledged survives a power loss, whatever happens to unsynced pages.
func TestStoreCrashKeepsAcknowledged(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		mode := []vfs.CrashMode{vfs.DropAll, vfs.KeepAll, vfs.Random}[seed%3]
		fsys := vfs.NewCrash(seed)
		o := testStoreOpts(fsys, "/s")
		o.IndexFlushEvery = 1000 // index slots mostly unsynced at the crash
		s := openStore(t, o)
		logs := mkLogs(1, 120, 1, 250)
		for i := 0; i < len(logs); i += 5 {
			mustStore(t, s, logs[i:i+5])
		}
		fsys.Crash(mode)
		s.abandon()
		s = openStore(t, o)
		wantRange(t, s, 1, 120)
		wantLogs(t, s, logs)
		checkOffsets(t, s, logs)
		mustStore(t, s, mkLogs(121, 125, 1, 250))
		_ = s.Close()
	}
}

// TestStoreSuffixTruncateDurable: entries removed by a suffix DeleteRange
// never come back after a crash, even when the index had synced them.
func TestStoreSuffixTruncateDurable(t *testing.T) {
	for _, mode := range []vfs.CrashMode{vfs.KeepAll, vfs.DropAll, vfs.Random} {
		fsys := vfs.NewCrash(int64(mode) + 11)
		o := testStoreOpts(fsys, "/s")
		o.IndexFlushEvery = 1
		s := openStore(t, o)
		mustStore(t, s, mkLogs(1, 100, 1, 300))
		if err := s.DeleteRange(41, 100); err != nil {
			t.Fatal(err)
		}
		newer := mkLogs(41, 45, 2, 100)
		mustStore(t, s, newer)
		fsys.Crash(mode)
		s.abandon()
		s = openStore(t, o)
		wantRange(t, s, 1, 45)
		wantLogs(t, s, mkLogs(1, 40, 1, 300))
		wantLogs(t, s, newer)
		_ = s.Close()
	}
}

// TestStorePrefixAndRetention: prefix DeleteRange keeps the records;
// retention never drops a record raft still counts; after a restart the
// first index is the first record still on disk.
func TestStorePrefixAndRetention(t *testing.T) {
	fsys := vfs.NewMem()
	o := testStoreOpts(fsys, "/s")
	s := openStore(t, o)
	logs := mkLogs(1, 200, 1, 300) // ~62 KiB in 16 KiB segments
	mustStore(t, s, logs)
	if err := s.DeleteRange(1, 100); err != nil {
		t.Fatal(err)
	}
	wantRange(t, s, 101, 200)
	if phys, first, _ := s.Bounds(); phys != 1 || first != 101 {
		t.Fatalf("bounds phys %d first %d", phys, first)
	}
	if _, _, err := s.EntryOffset(50); err != nil {
		t.Fatalf("compacted entry no longer physically readable: %v", err)
	}
	// Ask retention for everything: it stops at the segment of entry 101.
	start, err := s.DropBefore(s.CommitLog().End())
	if err != nil {
		t.Fatal(err)
	}
	off101, _, _ := s.EntryOffset(101)
	phys, _, _ := s.Bounds()
	if start > off101 || phys > 101 || phys == 1 {
		t.Fatalf("retention start %d (entry 101 at %d), phys first %d", start, off101, phys)
	}
	wantLogs(t, s, logs[100:])
	_ = s.Close()
	s = openStore(t, o)
	defer s.Close()
	wantRange(t, s, phys, 200)
	wantLogs(t, s, logs[phys-1:])
}

// TestStoreSnapshotRange: the records a snapshot carries rebuild another
// store with identical offsets — from empty, from a divergent log whose tail
// must survive for raft, and not at all when the log already has them.
func TestStoreSnapshotRange(t *testing.T) {
	src := openStore(t, testStoreOpts(vfs.NewMem(), "/src"))
	defer src.Close()
	mustStore(t, src, mkLogs(1, 150, 1, 300))
	if err := src.DeleteRange(1, 120); err != nil {
		t.Fatal(err)
	}
	if _, err := src.DropBefore(1 << 62); err != nil { // retention: keep what raft needs
		t.Fatal(err)
	}
	lastOff, endOff, err := src.snapshotPosition(140, 1)
	if err != nil {
		t.Fatal(err)
	}
	compact := snapHeader{Form: formCompact, LastIndex: 140, LastTerm: 1, LastOffset: lastOff, EndOffset: endOff}

	stream := func() (snapHeader, []byte) {
		full, r, err := src.snapshotRecords(compact)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		if uint64(buf.Len()) != full.Bytes {
			t.Fatalf("stream %d bytes, header says %d", buf.Len(), full.Bytes)
		}
		// Round trip through the encoded header, as on the wire.
		h, err := decodeSnapHeader(full.encode())
		if err != nil {
			t.Fatal(err)
		}
		return h, buf.Bytes()
	}
	phys, _, _ := src.Bounds()

	t.Run("empty target", func(t *testing.T) {
		dst := openStore(t, testStoreOpts(vfs.NewMem(), "/dst"))
		defer dst.Close()
		h, b := stream()
		if err := dst.restoreSnapshotRange(h, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		mustStore(t, dst, mkLogs(141, 150, 1, 300))
		if p, _, _ := dst.Bounds(); p != phys {
			t.Fatalf("restored log starts at %d, source at %d", p, phys)
		}
		if n, err := CompareLogs(src, dst, 0, 0); err != nil || n != int(151-phys) {
			t.Fatalf("compare: %d, %v", n, err)
		}
	})
	t.Run("divergent target keeps its tail", func(t *testing.T) {
		dst := openStore(t, testStoreOpts(vfs.NewMem(), "/dst"))
		defer dst.Close()
		mustStore(t, dst, mkLogs(1, 145, 9, 10)) // other history, longer than 140
		h, b := stream()
		if err := dst.restoreSnapshotRange(h, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		wantRange(t, dst, phys, 145)
		wantLogs(t, dst, mkLogs(141, 145, 9, 10)) // raft will truncate these next
		if n, err := CompareLogs(src, dst, 0, 140); err != nil || n != int(141-phys) {
			t.Fatalf("compare: %d, %v", n, err)
		}
	})
	t.Run("target already holds it", func(t *testing.T) {
		h, b := stream()
		before := src.CommitLog().End()
		if err := src.restoreSnapshotRange(h, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		if src.CommitLog().End() != before {
			t.Fatal("restore rewrote a log that already held the range")
		}
		if err := src.checkSnapshotRange(compact); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("corrupt stream", func(t *testing.T) {
		dst := openStore(t, testStoreOpts(vfs.NewMem(), "/dst"))
		defer dst.Close()
		h, b := stream()
		b[len(b)-1] ^= 1
		if err := dst.restoreSnapshotRange(h, bytes.NewReader(b)); !errors.Is(err, ErrSnapshotFormat) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nothing retained", func(t *testing.T) {
		h := compact
		physOff, _, err := src.EntryOffset(phys)
		if err != nil {
			t.Fatal(err)
		}
		h.LastIndex, h.LastOffset, h.EndOffset = phys-1, -1, physOff
		full, r, err := src.snapshotRecords(h)
		if err != nil || full.Count != 0 || full.StartIndex != phys {
			t.Fatalf("full %+v, %v", full, err)
		}
		dst := openStore(t, testStoreOpts(vfs.NewMem(), "/dst"))
		defer dst.Close()
		if err := dst.restoreSnapshotRange(full, r); err != nil {
			t.Fatal(err)
		}
		wantRange(t, dst, 0, 0)
		// The next entry lands where the source has it.
		var l raft.Log
		_, data, err := src.ReadEntryRecord(phys)
		if err == nil {
			err = decodeEntry(data, &l)
		}
		if err != nil {
			t.Fatal(err)
		}
		mustStore(t, dst, []*raft.Log{&l})
		if n, err := CompareLogs(src, dst, 0, 0); err != nil || n != 1 {
			t.Fatalf("compare: %d, %v", n, err)
		}
		// Restoring the same record-less snapshot again (a restart) keeps
		// what was appended since.
		full, r, _ = src.snapshotRecords(h)
		end := dst.CommitLog().End()
		if err := dst.restoreSnapshotRange(full, r); err != nil {
			t.Fatal(err)
		}
		if dst.CommitLog().End() != end {
			t.Fatal("a repeated record-less restore rewrote the log")
		}
		wantRange(t, dst, phys, phys)
	})
}

func TestNextRecordOffset(t *testing.T) {
	for _, c := range []struct{ end, want int64 }{
		{100, 100}, {4096, 4096 + 64}, {8192 + 10, 8192 + 64}, {8192 + 64, 8192 + 64}, {8191, 8191},
	} {
		if got := nextRecordOffset(c.end, 4096); got != c.want {
			t.Errorf("nextRecordOffset(%d) = %d, want %d", c.end, got, c.want)
		}
	}
}

// TestStoreErrorInjection: a failed sync fails StoreLogs, poisons the store
// and loses nothing acknowledged once reopened.
func TestStoreErrorInjection(t *testing.T) {
	mem := vfs.NewMem()
	var failFlush atomic.Bool
	fsys := vfs.NewErr(mem, func(op vfs.Op, name string) error {
		if failFlush.Load() && (op == vfs.OpFlush || op == vfs.OpSync) && strings.Contains(name, "commitlog") {
			return vfs.ErrInjected
		}
		return nil
	})
	o := testStoreOpts(fsys, "/s")
	s := openStore(t, o)
	good := mkLogs(1, 20, 1, 100)
	mustStore(t, s, good)
	failFlush.Store(true)
	if err := s.StoreLogs(mkLogs(21, 25, 1, 100)); err == nil {
		t.Fatal("StoreLogs succeeded with a failing flush")
	}
	if err := s.StoreLogs(mkLogs(21, 25, 1, 100)); err == nil {
		t.Fatal("store accepted writes after a failure")
	}
	wantLogs(t, s, good) // published entries stay readable
	s.abandon()
	failFlush.Store(false)
	s = openStore(t, o)
	defer s.Close()
	last, _ := s.LastIndex()
	if last < 20 {
		t.Fatalf("lost acknowledged entries: last %d", last)
	}
	wantLogs(t, s, good)
}
