package remoting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// rawFrame builds a frame with arbitrary prefix fields.
func rawFrame(frameLen uint32, st SerializeType, headerLen int, rest []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, frameLen)
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|uint32(headerLen))
	return append(b, rest...)
}

func mustFrame(t testing.TB, c *Command) []byte {
	t.Helper()
	b, err := AppendFrame(nil, c, DefaultLimits().MaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameRoundTripBothSerializations(t *testing.T) {
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		t.Run(st.String(), func(t *testing.T) {
			var stream []byte
			var want []*Command
			for i, body := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0xAB}, 100_000)} {
				c := sendCommand()
				c.Opaque = int32(i)
				c.Body = body
				c.SerializeType = st
				want = append(want, c)
				stream = append(stream, mustFrame(t, c)...)
			}
			fr := NewFrameReader(bytes.NewReader(stream), DefaultLimits())
			rest := stream
			for _, w := range want {
				got, err := fr.Next()
				if err != nil {
					t.Fatal(err)
				}
				if d := diffCommand(got, w); d != "" {
					t.Fatal(d)
				}
				got2, n, err := DecodeFrame(rest, DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				if d := diffCommand(got2, w); d != "" {
					t.Fatal(d)
				}
				rest = rest[n:]
			}
			if _, err := fr.Next(); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
			if _, _, err := DecodeFrame(rest, DefaultLimits()); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestFramePrefix(t *testing.T) {
	c := &Command{Code: 34, SerializeType: SerializeRocketMQ, Body: []byte("xyz")}
	b := mustFrame(t, c)
	hl := len(b) - 8 - 3
	if got := binary.BigEndian.Uint32(b); int(got) != 4+hl+3 {
		t.Fatalf("frameLen %d, want %d", got, 4+hl+3)
	}
	if b[4] != 1 || int(binary.BigEndian.Uint32(b[4:])&0xFFFFFF) != hl {
		t.Fatalf("header word % x, want type 1 and length %d", b[4:8], hl)
	}
}

func TestFrameErrors(t *testing.T) {
	lim := DefaultLimits()
	hdr := appendJSONHeader(nil, &Command{Code: 10})
	for _, tc := range []struct {
		name  string
		in    []byte
		fatal error
	}{
		{"16 MiB + 1", rawFrame(16<<20+1, 0, 10, nil), ErrFrameTooLarge},
		{"negative length", rawFrame(0x80000000, 0, 10, nil), ErrMalformed},
		{"frame shorter than the header word", rawFrame(3, 0, 0, nil), ErrMalformed},
		{"header longer than frame", rawFrame(10, 0, 7, make([]byte, 6)), ErrMalformed},
		{"header over 64 KiB", rawFrame(70000, 0, 65537, nil), ErrHeaderTooLarge},
		{"unknown serialize type", rawFrame(uint32(4+len(hdr)), 2, len(hdr), hdr), ErrMalformed},
		{"undecodable JSON", rawFrame(9, 0, 5, []byte("{nope")), ErrMalformed},
		{"undecodable binary", rawFrame(9, 1, 5, []byte("short")), ErrMalformed},
		{"empty header", rawFrame(4, 0, 0, nil), ErrMalformed},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrFrameTooLarge},
		{"truncated prefix", []byte{0, 0}, ErrMalformed},
		{"truncated header", rawFrame(uint32(4+len(hdr)), 0, len(hdr), hdr[:5]), ErrMalformed},
		{"truncated body", rawFrame(uint32(4+len(hdr)+10), 0, len(hdr), append(hdr, 1, 2, 3)), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewFrameReader(bytes.NewReader(tc.in), lim).Next()
			if !errors.Is(err, tc.fatal) || c != nil {
				t.Fatalf("Next = %v, %v; want nil, %v", c, err, tc.fatal)
			}
			if errors.Is(err, ErrIllegalRequest) {
				t.Fatalf("frame error %v must not be a request error", err)
			}
			c, _, err = DecodeFrame(tc.in, lim)
			if c != nil || err == nil || (!errors.Is(err, tc.fatal) && err != io.ErrUnexpectedEOF) {
				t.Fatalf("DecodeFrame = %v, %v; want nil, %v", c, err, tc.fatal)
			}
		})
	}
}

func TestFrameRequestLimitsKeepStreamInSync(t *testing.T) {
	lim := DefaultLimits()
	big := &Command{Code: int32(SendMessage), Opaque: 1, Body: make([]byte, lim.MaxBody+1)}
	props := &Command{Code: int32(SendMessage), Opaque: 2, ExtFields: map[string]string{"properties": strings.Repeat("p", 32768)}}
	topic := &Command{Code: int32(SendMessage), Opaque: 3, ExtFields: map[string]string{"topic": strings.Repeat("t", 128)}}
	v2topic := &Command{Code: int32(SendBatchMessage), Opaque: 4, ExtFields: map[string]string{"b": strings.Repeat("t", 128)}}
	v2props := &Command{Code: int32(SendMessageV2), Opaque: 5, ExtFields: map[string]string{"i": strings.Repeat("p", 32768)}}
	okAtLimit := &Command{Code: int32(SendMessage), Opaque: 6, Body: make([]byte, lim.MaxBody),
		ExtFields: map[string]string{"topic": strings.Repeat("t", 127), "properties": strings.Repeat("p", 32767)}}
	bigResponse := &Command{Code: 0, Flag: FlagResponse, Opaque: 7, Body: make([]byte, lim.MaxBody+1)}
	cases := []struct {
		c    *Command
		want error
	}{
		{big, ErrBodyTooLarge}, {props, ErrPropertiesTooLarge}, {topic, ErrTopicTooLong},
		{v2topic, ErrTopicTooLong}, {v2props, ErrPropertiesTooLarge}, {okAtLimit, nil}, {bigResponse, nil},
	}
	var stream []byte
	for _, tc := range cases {
		stream = append(stream, mustFrame(t, tc.c)...)
	}
	fr := NewFrameReader(bytes.NewReader(stream), lim)
	rest := stream
	for _, tc := range cases {
		got, err := fr.Next()
		if got == nil || got.Opaque != tc.c.Opaque {
			t.Fatalf("opaque %d: got %v, %v", tc.c.Opaque, got, err)
		}
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("opaque %d: err %v, want %v", tc.c.Opaque, err, tc.want)
		}
		if tc.want != nil && !errors.Is(err, ErrIllegalRequest) {
			t.Fatalf("opaque %d: %v does not wrap ErrIllegalRequest", tc.c.Opaque, err)
		}
		if errors.Is(err, ErrBodyTooLarge) && got.Body != nil {
			t.Fatal("an oversized body was allocated")
		}
		got2, n, err2 := DecodeFrame(rest, lim)
		if got2 == nil || got2.Opaque != tc.c.Opaque || (err2 == nil) != (err == nil) {
			t.Fatalf("DecodeFrame opaque %d: %v, %v", tc.c.Opaque, got2, err2)
		}
		rest = rest[n:]
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestAppendFrameRefusesOversizedFrame(t *testing.T) {
	c := &Command{Body: make([]byte, 100)}
	if _, err := AppendFrame(nil, c, 90); !errors.Is(err, ErrEncode) {
		t.Fatalf("err %v, want ErrEncode", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Limits{MaxFrame: 1, MaxHeader: 1 << 25, MaxBody: -1, MaxProperties: -1, MaxTopic: -1}.Validate()
	if err == nil {
		t.Fatal("want error")
	}
	for _, f := range []string{"MaxFrame", "MaxHeader", "MaxBody", "MaxProperties", "MaxTopic"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not mention %s: %v", f, err)
		}
	}
}
