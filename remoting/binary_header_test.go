package remoting

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestBinaryHeaderRoundTrip(t *testing.T) {
	for _, c := range []*Command{
		sendCommand(),
		{Code: -1, Language: 200, Version: -7, Opaque: -1, Flag: 3, Remark: "rémark\x00\x01"},
		{Code: 32767, Version: 32767, Opaque: 1 << 30, ExtFields: map[string]string{"": "", "k": string(make([]byte, 70000))}},
	} {
		c.SerializeType = SerializeRocketMQ
		hdr, err := appendBinaryHeader(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeBinaryHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffCommand(back, c); d != "" {
			t.Fatal(d)
		}
	}
}

func TestBinaryHeaderLayout(t *testing.T) {
	c := &Command{Code: 105, Language: LanguageGo, Version: 317, Opaque: 9, Flag: 1, Remark: "hi",
		ExtFields: map[string]string{"topic": "T"}}
	hdr, err := appendBinaryHeader(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0, 105, // code
		9,     // language GO
		1, 61, // version 317
		0, 0, 0, 9, // opaque
		0, 0, 0, 1, // flag
		0, 0, 0, 2, 'h', 'i', // remark
		0, 0, 0, 12, // ext length
		0, 5, 't', 'o', 'p', 'i', 'c', 0, 0, 0, 1, 'T',
	}
	if string(hdr) != string(want) {
		t.Fatalf("got  %v\nwant %v", hdr, want)
	}
}

func TestBinaryHeaderEncodeErrors(t *testing.T) {
	for _, c := range []*Command{
		{Code: 40000},
		{Version: -40000},
		{ExtFields: map[string]string{string(make([]byte, 40000)): "v"}},
	} {
		if _, err := appendBinaryHeader(nil, c); !errors.Is(err, ErrEncode) {
			t.Errorf("%+v: err %v, want ErrEncode", c, err)
		}
	}
}

func TestBinaryHeaderDecodeErrors(t *testing.T) {
	good, err := appendBinaryHeader(nil, &Command{Code: 10, Remark: "ab", ExtFields: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	// good: fixed 13 | remarkLen@13 | "ab"@17 | extLen@19 | keyLen@23 | "k"@25 | valLen@26 | "v"@30
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, hdr := range map[string][]byte{
		"short fixed part":     good[:20],
		"negative remark len":  mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[13:], 0xFFFFFFFF); return b }),
		"remark beyond header": mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[13:], 1000); return b }),
		"negative ext len":     mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[19:], 0x80000000); return b }),
		"ext len too short":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[19:], 7); return b }),
		"ext len too long":     mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[19:], 9); return b }),
		"trailing byte":        mutate(func(b []byte) []byte { return append(b, 0) }),
		"negative key len":     mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[23:], 0x8000); return b }),
		"key beyond ext":       mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[23:], 6); return b }),
		"negative value len":   mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[26:], 0xFFFFFFFF); return b }),
		"value beyond ext":     mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[26:], 2); return b }),
		"truncated entry":      mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[19:], 9); return append(b, 0) }),
	} {
		if c, err := decodeBinaryHeader(hdr); err == nil {
			t.Errorf("%s: decoded %+v, want error", name, c)
		}
	}
	if _, err := decodeBinaryHeader(good); err != nil {
		t.Fatalf("unmutated header: %v", err)
	}
}
