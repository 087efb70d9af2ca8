package indexfile

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// TestFormatGolden pins the byte layout of an entry, a header copy and the
// file geometry (FORMAT.md).
func TestFormatGolden(t *testing.T) {
	var b [entrySize]byte
	encodeEntry(b[:], 3, entry{hash: 0x0102030405060708, phys: 0x11, storeTime: 0x22, prev: 2})
	want := "0807060504030201" + "1100000000000000" + "2200000000000000" + "02000000"
	if got := hexs(b[:entryCRCOff]); got != want {
		t.Fatalf("entry bytes\n got %s\nwant %s", got, want)
	}
	msg := binary.LittleEndian.AppendUint32(nil, 3)
	msg = append(msg, b[:entryCRCOff]...)
	if crc := crc32.Checksum(msg, crc32.MakeTable(crc32.Castagnoli)); binary.LittleEndian.Uint32(b[entryCRCOff:]) != crc {
		t.Fatal("entry CRC does not follow its definition")
	}
	if _, ok := decodeEntry(b[:], 3); !ok {
		t.Fatal("entry does not decode")
	}
	if _, ok := decodeEntry(b[:], 4); ok {
		t.Fatal("entry decodes at the wrong number")
	}
	var zero [entrySize]byte
	for n := uint32(1); n < 1000; n++ {
		if _, ok := decodeEntry(zero[:], n); ok {
			t.Fatalf("zero entry valid at %d", n)
		}
	}
	var h [headerCopySize]byte
	encodeHeader(h[:], header{flags: flagClean, slots: 5, capacity: 9, count: 7, seq: 4, beginPhys: 1, endPhys: 2, beginTime: 3, endTime: 4})
	want = "444d4958" + "0100" + "0100" + "05000000" + "09000000" + "07000000" + "04000000" +
		"0100000000000000" + "0200000000000000" + "0300000000000000" + "0400000000000000" + "00000000"
	if got := hexs(h[:headerCRCOff]); got != want {
		t.Fatalf("header bytes\n got %s\nwant %s", got, want)
	}
	if _, ok := decodeHeader(h[:]); !ok {
		t.Fatal("header does not decode")
	}
	if l := layoutFor(DefaultSlotCount, DefaultEntriesPerFile); l.entryBase != 20_000_128 || l.size != 660_000_128 {
		t.Fatalf("default layout %+v", l)
	}
	if l := layoutFor(3, 2); l.entryBase != 160 || l.size != 224 {
		t.Fatalf("tiny layout %+v", l)
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
