package consumequeue

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// TestEntryCRCDefinition pins the entry checksum to its FORMAT.md
// definition: CRC32-C over the 8-byte little-endian queue offset followed by
// bytes 0..27 of the entry.
func TestEntryCRCDefinition(t *testing.T) {
	for _, off := range []int64{0, 1, 255, 256, 1 << 40, 1<<62 - 1} {
		var b [entrySize]byte
		encodeEntry(b[:], off, Entry{Phys: 12345, Size: 77, TagHash: -9, StoreTime: 1_700_000_000_123})
		msg := binary.LittleEndian.AppendUint64(nil, uint64(off))
		msg = append(msg, b[:entryCRCOff]...)
		if want := crc32.Checksum(msg, crc32.MakeTable(crc32.Castagnoli)); binary.LittleEndian.Uint32(b[entryCRCOff:]) != want {
			t.Fatalf("offset %d: crc %08x, want %08x", off, binary.LittleEndian.Uint32(b[entryCRCOff:]), want)
		}
		if _, st := decodeEntry(b[:], off); st != entryValid {
			t.Fatalf("offset %d: does not decode", off)
		}
		if _, st := decodeEntry(b[:], off+1); st != entryBad {
			t.Fatalf("offset %d: decodes at the wrong offset", off)
		}
	}
	var zero [entrySize]byte
	if _, st := decodeEntry(zero[:], 5); st != entryEmpty {
		t.Fatal("zero entry not empty")
	}
}

// TestFormatGolden pins the byte layout of an entry and a header.
func TestFormatGolden(t *testing.T) {
	var b [entrySize]byte
	encodeEntry(b[:], 7, Entry{Phys: 0x0102030405060708, Size: 0x11223344, TagHash: 0x55, StoreTime: 0x66})
	want := "0807060504030201" + "5500000000000000" + "6600000000000000" + "44332211"
	if got := hexs(b[:entryCRCOff]); got != want {
		t.Fatalf("entry bytes\n got %s\nwant %s", got, want)
	}
	var h [headerSize]byte
	encodeHeader(h[:], fileHeader{entriesPerFile: 300000, queueID: 3, topicHash: 0xAABBCCDD, base: 600000, start: 600001})
	want = "444d4351" + "0100" + "2000" + "e0930400" + "03000000" + "c027090000000000" + "c127090000000000" + "ddccbbaa"
	if got := hexs(h[:36]); got != want {
		t.Fatalf("header bytes\n got %s\nwant %s", got, want)
	}
	if _, problem := decodeHeader(h[:]); problem != "" {
		t.Fatal(problem)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
