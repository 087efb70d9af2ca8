package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// goldenBatch: two entries as the Go client's Message.Marshal writes them.
const goldenBatch = `
0000001D        | TOTALSIZE = 22 + body 2 + props 5 = 29
00000000        | MAGICCODE (0)
00000000        | BODYCRC (0)
00000007        | FLAG
00000002 6869   | BODY "hi"
0005 4B 01 76 31 02      | PROPERTIES "K\x01v1\x02"
00000016        | TOTALSIZE = 22
00000000 00000000
FFFFFFFF        | FLAG -1
00000000        | empty BODY
0000            | no PROPERTIES
`

func TestGoldenBatch(t *testing.T) {
	want := unhexT(t, stripComments(goldenBatch))
	msgs := []Message{
		{Flag: 7, Body: []byte("hi"), Properties: Properties{{"K", "v1"}}},
		{Flag: -1},
	}
	if got := AppendBatch(nil, msgs); !bytes.Equal(got, want) {
		t.Fatalf("AppendBatch\n got %x\nwant %x", got, want)
	}
	if BatchEncodedSize(msgs) != len(want) {
		t.Fatal("BatchEncodedSize")
	}
	got, err := DecodeBatch(want, nil)
	if err != nil || len(got) != 2 {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if got[0].Flag != 7 || string(got[0].Body) != "hi" || got[0].Properties.Get("K") != "v1" || got[0].Topic != "" {
		t.Fatalf("entry 0 = %+v", got[0])
	}
	if got[1].Flag != -1 || got[1].Body != nil || got[1].Properties != nil {
		t.Fatalf("entry 1 = %+v", got[1])
	}
}

func TestBatchRoundTrip(t *testing.T) {
	var msgs []Message
	for i := range 32 {
		m := Message{Topic: "T", Flag: int32(i), Body: bytes.Repeat([]byte{byte(i)}, i*31)}
		m.Properties.Set(PropTags, "tag"+strings.Repeat("x", i))
		if i%3 == 0 {
			m.Properties.Set(PropKeys, "k1 k2")
		}
		msgs = append(msgs, m)
	}
	if err := ValidateBatch(msgs); err != nil {
		t.Fatal(err)
	}
	b := AppendBatch([]byte("pre"), msgs)[3:]
	prefix := []Message{{Topic: "keep"}}
	got, err := DecodeBatch(b, prefix)
	if err != nil || len(got) != 33 || got[0].Topic != "keep" {
		t.Fatalf("DecodeBatch: %d msgs, %v", len(got), err)
	}
	for i, m := range got[1:] {
		w := msgs[i]
		if m.Flag != w.Flag || !bytes.Equal(m.Body, w.Body) || m.Properties.String() != w.Properties.String() {
			t.Fatalf("entry %d differs", i)
		}
		if cap(m.Body) != len(m.Body) {
			t.Fatalf("entry %d body capacity leaks", i)
		}
	}
	if again := AppendBatch(nil, got[1:]); !bytes.Equal(again, b) {
		t.Fatal("AppendBatch(DecodeBatch(b)) != b")
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	good := AppendBatch(nil, []Message{{Flag: 1, Body: []byte("abc"), Properties: Properties{{"A", "b"}}}, {Body: []byte("z")}})
	first := int(binary.BigEndian.Uint32(good))
	mod := func(pos int, v uint32) []byte { return setU32(good, pos, v) }
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"too large", make([]byte, MaxBodySize+1), ErrBodyTooLarge},
		{"short entry", good[:21], ErrTruncated},
		{"cut", good[:len(good)-1], ErrTruncated},
		{"total < 22", mod(0, 21), ErrCorrupt},
		{"negative total", mod(0, 0x80000000), ErrCorrupt},
		{"total past end", mod(0, uint32(len(good)+1)), ErrTruncated},
		{"negative body", mod(16, 0xFFFFFFFF), ErrCorrupt},
		{"body past total", mod(16, 100), ErrCorrupt},
		{"props inconsistent", mod(0, uint32(first+1)), ErrCorrupt},
		{"trailing garbage", append(append([]byte(nil), good...), 0, 0, 0), ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []Message{{Topic: "x"}}
			got, err := DecodeBatch(tc.b, dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if len(got) != 1 {
				t.Fatalf("dst grew on error: %d", len(got))
			}
		})
	}
	for i := 1; i < len(good); i++ {
		if i == first {
			continue // the first entry alone is a valid batch
		}
		if _, err := DecodeBatch(good[:i], nil); err == nil {
			t.Fatalf("prefix %d decoded", i)
		}
	}
}

func TestValidateBatch(t *testing.T) {
	ok := Message{Topic: "T", Body: []byte("x")}
	if err := ValidateBatch(nil); err == nil {
		t.Fatal("empty batch accepted")
	}
	if err := ValidateBatch([]Message{ok, {Topic: "U"}}); !errors.Is(err, ErrTopicInvalid) {
		t.Fatalf("mixed topics: %v", err)
	}
	if err := ValidateBatch([]Message{ok, {Topic: "T", Properties: Properties{{"", "v"}}}}); !errors.Is(err, ErrPropertyInvalid) {
		t.Fatalf("bad member: %v", err)
	}
	big := Message{Topic: "T", Body: make([]byte, MaxBodySize/2)}
	if err := ValidateBatch([]Message{big, big}); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}
}
