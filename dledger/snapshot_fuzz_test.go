package dledger

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func FuzzDecodeSnapHeader(f *testing.F) {
	f.Add((&snapHeader{Form: formCompact, LastIndex: 9, LastTerm: 2, LastOffset: 64, EndOffset: 200}).encode())
	f.Add((&snapHeader{Form: formFull, LastIndex: 9, StartIndex: 5, Count: 5, Bytes: 500, StartOffset: 64, EndOffset: 900}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeSnapHeader(b)
		if err != nil {
			return
		}
		if got := h.encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encode differs")
		}
	})
}

func FuzzDecodeIndexHeader(f *testing.F) {
	b := make([]byte, indexHeaderSize)
	encodeIndexHeader(b, 1, 64, 10)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		base, capacity, synced, err := decodeIndexHeader(b)
		if err != nil {
			return
		}
		if base == 0 || synced > capacity {
			t.Fatalf("accepted base %d synced %d cap %d", base, synced, capacity)
		}
	})
}

// FuzzSnapshotRecords feeds arbitrary record sections to the restore path:
// it must fail cleanly or rebuild a log that reads back consistently.
func FuzzSnapshotRecords(f *testing.F) {
	src, err := OpenLogStore(testStoreOpts(vfs.NewMem(), "/src"))
	if err != nil {
		f.Fatal(err)
	}
	defer src.Close()
	if err := src.StoreLogs(mkLogs(1, 6, 1, 40)); err != nil {
		f.Fatal(err)
	}
	lastOff, endOff, err := src.snapshotPosition(5, 1)
	if err != nil {
		f.Fatal(err)
	}
	full, r, err := src.snapshotRecords(snapHeader{Form: formCompact, LastIndex: 5, LastTerm: 1, LastOffset: lastOff, EndOffset: endOff})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r)
	f.Add(full.encode(), buf.Bytes())
	f.Fuzz(func(t *testing.T, hb, records []byte) {
		h, err := decodeSnapHeader(hb)
		if err != nil || h.Form != formFull || h.Count > 64 {
			return
		}
		dst, err := OpenLogStore(testStoreOpts(vfs.NewMem(), "/dst"))
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		if err := dst.restoreSnapshotRange(h, bytes.NewReader(records)); err != nil {
			return
		}
		_, first, next := dst.Bounds()
		for i := first; i < next; i++ {
			var l raft.Log
			if err := dst.GetLog(i, &l); err != nil || l.Index != i {
				t.Fatalf("restored entry %d unreadable: %v", i, err)
			}
		}
	})
}
