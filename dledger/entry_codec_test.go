package dledger

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func logsEqual(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) && a.AppendedAt.Equal(b.AppendedAt)
}

func TestEntryCodecRoundTrip(t *testing.T) {
	now := time.Now()
	for _, l := range []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("conf")},
		{Index: 7, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte{0xAB}, 4096), Extensions: []byte("ext"), AppendedAt: now},
		{Index: 1 << 40, Term: 1 << 33, Type: raft.LogNoop},
		{Index: 9, Term: 2, Type: raft.LogBarrier, AppendedAt: time.Unix(0, 1)},
	} {
		b := appendEntry(nil, l)
		if len(b) != encodedEntrySize(l) {
			t.Fatalf("size %d, want %d", len(b), encodedEntrySize(l))
		}
		var got raft.Log
		if err := decodeEntry(b, &got); err != nil {
			t.Fatal(err)
		}
		if !logsEqual(l, &got) {
			t.Fatalf("round trip: got %+v, want %+v", got, *l)
		}
		h, _ := decodeEntryHeader(b)
		if ds := entryDataStart(h); !bytes.Equal(b[ds:], l.Data) {
			t.Fatalf("entryDataStart %d does not point at Data", ds)
		}
	}
}

func TestEntryCodecRejects(t *testing.T) {
	ok := appendEntry(nil, &raft.Log{Index: 5, Term: 1, Data: []byte("x"), Extensions: []byte("e")})
	for name, corrupt := range map[string]func([]byte) []byte{
		"short":       func(b []byte) []byte { return b[:EntryHeaderSize-1] },
		"flags":       func(b []byte) []byte { b[ehFlags] = 1; return b },
		"reserved":    func(b []byte) []byte { b[ehReserved+1] = 1; return b },
		"ext too big": func(b []byte) []byte { b[ehExtLen] = 200; return b },
		"index 0":     func(b []byte) []byte { clear(b[ehIndex : ehIndex+8]); return b },
		"time":        func(b []byte) []byte { b[ehAppendedAt+7] = 0x80; return b },
	} {
		b := corrupt(append([]byte(nil), ok...))
		var l raft.Log
		if err := decodeEntry(b, &l); !errors.Is(err, ErrEntryCorrupt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if err := checkEntry(&raft.Log{Index: 1, Extensions: make([]byte, MaxExtensionsSize+1)}); err == nil {
		t.Error("oversized extensions accepted")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, &raft.Log{Index: 3, Term: 2, Data: []byte("hello"), Extensions: []byte("x")}))
	f.Add(appendEntry(nil, &raft.Log{Index: 1, Term: 1, Type: raft.LogConfiguration}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeEntry(b, &l); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if got := appendEntry(nil, &l); !bytes.Equal(got, b) {
			t.Fatalf("re-encode differs:\n got %x\nwant %x", got, b)
		}
	})
}
