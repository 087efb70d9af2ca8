package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"testing"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

func encodedRecord(off int64, typ uint8, data []byte) []byte {
	b := make([]byte, RecordHeaderSize+len(data))
	encodeRecord(b, off, typ, data)
	return b
}

// TestCRCOffsetMatchesNaive checks the table-driven offset prefix against
// the plain definition: CRC32-C over the offset's 8 little-endian bytes,
// then the record bytes after the CRC field.
func TestCRCOffsetMatchesNaive(t *testing.T) {
	for _, off := range []int64{0, 64, 1 << 30, 1<<62 + 12345, -1} {
		var p [8]byte
		binary.LittleEndian.PutUint64(p[:], uint64(off))
		if got, want := crcOffset(off), crc32.Checksum(p[:], castagnoli); got != want {
			t.Fatalf("crcOffset(%d) = %08x, want %08x", off, got, want)
		}
		rec := encodedRecord(off, 7, []byte("hello, log"))
		naive := crc32.Checksum(append(p[:], rec[4:]...), castagnoli)
		if got := binary.LittleEndian.Uint32(rec); got != naive {
			t.Fatalf("record CRC %08x, naive %08x", got, naive)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodedRecord(64, 1, []byte("a record")), int64(64))
	f.Add(encodedRecord(1<<30+64, 255, bytes.Repeat([]byte{0xAB}, 300)), int64(1<<30+64))
	f.Add(encodedRecord(64, 3, nil), int64(64))
	f.Add(eosBytes(4000), int64(4000))
	f.Add(make([]byte, 20), int64(64))
	f.Add([]byte{1, 2, 3}, int64(0))
	torn := encodedRecord(64, 9, bytes.Repeat([]byte{1}, 100))
	f.Add(torn[:50], int64(64))
	f.Add(append(encodedRecord(64, 2, []byte("x")), 0xff, 0xff), int64(65))
	f.Fuzz(func(t *testing.T, b []byte, off int64) {
		const maxData = 1 << 16
		kind, typ, n, why := decodeRecord(b, off, maxData)
		switch kind {
		case recValid:
			if typ == 0 || n > maxData || RecordHeaderSize+n > len(b) {
				t.Fatalf("valid record with type %d, length %d in %d bytes", typ, n, len(b))
			}
			// Round trip: encoding what was decoded gives the same bytes.
			if re := encodedRecord(off, typ, b[RecordHeaderSize:RecordHeaderSize+n]); !bytes.Equal(re, b[:RecordHeaderSize+n]) {
				t.Fatal("re-encoded record differs")
			}
			// Any single flipped bit is caught.
			c := append([]byte(nil), b[:RecordHeaderSize+n]...)
			c[len(c)/2] ^= 0x10
			if k, _, _, _ := decodeRecord(c, off, maxData); k == recValid {
				t.Fatal("bit flip not detected")
			}
		case recEOS:
			if !bytes.Equal(b[:RecordHeaderSize], eosBytes(off)) {
				t.Fatal("end marker does not re-encode")
			}
		case recUnwritten:
			if !isZero(b[:RecordHeaderSize]) {
				t.Fatal("unwritten header is not zero")
			}
		case recShort:
			if len(b) >= RecordHeaderSize {
				t.Fatal("short with a full header")
			}
		case recInvalid:
			if why == "" {
				t.Fatal("invalid without a reason")
			}
		default:
			t.Fatalf("unknown kind %d", kind)
		}
	})
}

const fuzzSegSize = MinSegmentSize

// validSegmentBytes returns the file bytes of a small log's segments.
func validSegmentBytes(f *testing.F, records int) []byte {
	m := vfs.NewMem()
	o := DefaultOptions("/log")
	o.FS, o.SegmentSize, o.Logger = m, fuzzSegSize, slog.New(slog.DiscardHandler)
	l, err := Open(o)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < records; i++ {
		if _, err := l.Append([]Record{rec(i, 300)}); err != nil {
			f.Fatal(err)
		}
	}
	l.Close()
	var out []byte
	names, _ := m.List("/log")
	for _, n := range names {
		fl, _ := m.Open("/log/" + n)
		b := make([]byte, fuzzSegSize)
		fl.ReadAt(b, 0)
		fl.Close()
		out = append(out, b...)
	}
	return out
}

// FuzzOpenSegment opens a log whose segment files hold arbitrary bytes
// (the first 4 KiB the first segment, the rest the second): Open must fail
// cleanly or produce a log whose records all read back and which takes
// appends.
func FuzzOpenSegment(f *testing.F) {
	one := validSegmentBytes(f, 5)
	two := validSegmentBytes(f, 20)
	f.Add(one)
	f.Add(two)
	f.Add(one[:100])
	f.Add(make([]byte, fuzzSegSize))
	f.Add([]byte{})
	flipped := append([]byte(nil), two...)
	flipped[fuzzSegSize+500] ^= 1
	f.Add(flipped)
	torn := append([]byte(nil), one...)
	clear(torn[1000:1500])
	f.Add(torn)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 3*fuzzSegSize {
			return
		}
		m := vfs.NewMem()
		m.MkdirAll("/log")
		for i := 0; len(data) > 0; i++ {
			n := min(len(data), fuzzSegSize)
			fl, _ := m.Create("/log/" + segmentName(int64(i)*fuzzSegSize))
			fl.WriteAt(data[:n], 0)
			fl.Close()
			data = data[n:]
		}
		o := DefaultOptions("/log")
		o.FS, o.SegmentSize, o.Logger = m, fuzzSegSize, slog.New(slog.DiscardHandler)
		l, err := Open(o)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSegmentSize) {
				t.Fatalf("Open failed with an unexpected error: %v", err)
			}
			return
		}
		defer l.Close()
		if l.Start() > l.End() {
			t.Fatalf("Start %d > End %d", l.Start(), l.End())
		}
		it := l.NewIterator(l.Start())
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != nil {
			t.Fatalf("iterating a recovered log: %v", it.Err())
		}
		offs, err := l.Append([]Record{{Type: 1, Data: []byte("after")}})
		if err != nil {
			t.Fatalf("Append after open: %v", err)
		}
		if r, _, err := l.Read(offs[0]); err != nil || string(r.Data) != "after" {
			t.Fatalf("Read back: %v", err)
		}
		l.Close()
		l2, err := Open(o)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l2.Close()
		it = l2.NewIterator(l2.Start())
		m2 := 0
		for it.Next() {
			m2++
		}
		if it.Err() != nil || m2 != n+1 {
			t.Fatalf("reopen holds %d records (err %v), want %d", m2, it.Err(), n+1)
		}
	})
}
