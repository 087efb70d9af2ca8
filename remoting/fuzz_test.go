package remoting

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits are small so the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxFrame: 4096, MaxHeader: 1024, MaxBody: 512, MaxProperties: 64, MaxTopic: 16}

// chunkReader returns at most sizes[i]+1 bytes per Read, cycling sizes.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) + 1
		r.i++
	}
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// describe renders a command deterministically.
func describe(c *Command) string {
	if c == nil {
		return "<nil>"
	}
	keys := make([]string, 0, len(c.ExtFields))
	for k := range c.ExtFields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d/%d/%d/%d/%d/%q{", c.Code, c.Language, c.Version, c.Opaque, c.Flag, c.SerializeType, c.Remark)
	for _, k := range keys {
		fmt.Fprintf(&b, "%q:%q,", k, c.ExtFields[k])
	}
	fmt.Fprintf(&b, "}%x", c.Body)
	return b.String()
}

// readAll decodes frames until the first error that is not a request error.
func readAll(fr *FrameReader) []string {
	var out []string
	for len(out) < 1000 {
		c, err := fr.Next()
		out = append(out, describe(c)+" | "+fmt.Sprint(err))
		if err != nil && !errors.Is(err, ErrIllegalRequest) {
			break
		}
	}
	return out
}

// decodeAll does what readAll does with DecodeFrame; a frame cut short by
// the end of input is reported as FrameReader reports it.
func decodeAll(b []byte) []string {
	var out []string
	for len(out) < 1000 {
		c, n, err := DecodeFrame(b, fuzzLimits)
		if err == io.ErrUnexpectedEOF {
			err = truncated(err)
		}
		out = append(out, describe(c)+" | "+fmt.Sprint(err))
		if err != nil && !errors.Is(err, ErrIllegalRequest) {
			break
		}
		b = b[n:]
	}
	return out
}

func frameSeeds(f *testing.F) {
	sc := sendCommand()
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		sc.SerializeType = st
		sc.Body = []byte("body")
		b, _ := AppendFrame(nil, sc, 1<<20)
		f.Add(b, []byte{3, 0, 7})
		sc.Body = make([]byte, 600) // over fuzzLimits.MaxBody
		b2, _ := AppendFrame(nil, sc, 1<<20)
		f.Add(append(b2, b...), []byte{200})
	}
	small, _ := AppendFrame(nil, &Command{Code: 11, ExtFields: map[string]string{"topic": "T"}}, 4096)
	f.Add(append(small, small[:10]...), []byte{0})
	f.Add(rawFrame(5000, 0, 10, nil), []byte{1})
	f.Add(rawFrame(10, 0, 7, make([]byte, 6)), []byte{1})
	f.Add(rawFrame(2000, 0, 1500, nil), []byte{1})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), []byte{5})
	f.Add([]byte{}, []byte{})
}

// FuzzDecodeFrame: the same bytes decoded whole, in random-size chunks
// through a minimal buffer, and with DecodeFrame give the same results.
func FuzzDecodeFrame(f *testing.F) {
	frameSeeds(f)
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		whole := readAll(NewFrameReader(bytes.NewReader(data), fuzzLimits))
		chunked := readAll(NewFrameReader(bufio.NewReaderSize(&chunkReader{data: data, sizes: sizes}, 16), fuzzLimits))
		if !slices.Equal(whole, chunked) {
			t.Fatalf("whole and chunked differ:\n%q\n%q", whole, chunked)
		}
		if sliced := decodeAll(data); !slices.Equal(whole, sliced) {
			t.Fatalf("FrameReader and DecodeFrame differ:\n%q\n%q", whole, sliced)
		}
	})
}

// decodeJSONHeaderStd is the naive twin of decodeJSONHeader, on encoding/json.
func decodeJSONHeaderStd(b []byte) (*Command, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	c := &Command{}
	for k, raw := range m {
		var err error
		switch k {
		case "code":
			err = json.Unmarshal(raw, &c.Code)
		case "version":
			err = json.Unmarshal(raw, &c.Version)
		case "opaque":
			err = json.Unmarshal(raw, &c.Opaque)
		case "flag":
			err = json.Unmarshal(raw, &c.Flag)
		case "remark":
			err = json.Unmarshal(raw, &c.Remark)
		case "language":
			var s *string
			if err = json.Unmarshal(raw, &s); err == nil && s != nil {
				c.Language = parseLanguage(*s)
			}
		case "extFields":
			err = json.Unmarshal(raw, &c.ExtFields)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// FuzzJSONHeader: decode agrees with encoding/json on valid UTF-8, and
// encode∘decode is the identity on whatever decodes.
func FuzzJSONHeader(f *testing.F) {
	f.Add([]byte(sendHeaderJSON))
	f.Add([]byte(`{"code":0,"extFields":{"queueId":"1"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":395}`))
	f.Add([]byte(`{"remark":"\ud83d\ude00\ud800\u00e9\"","x":[1,{"y":null},-2.5e-3],"extFields":{"a":null}}`))
	f.Add([]byte(` {"code" : 1 } `))
	f.Add([]byte(`{"code":1.0}`))
	f.Add([]byte(`{"extFields":{"a":1}}`))
	f.Add([]byte("{\"remark\":\"\xff\xfe\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeJSONHeader(data)
		if utf8.Valid(data) {
			twin, terr := decodeJSONHeaderStd(data)
			if (err == nil) != (terr == nil) {
				t.Fatalf("decoder err %v, encoding/json err %v for %q", err, terr, data)
			}
			if err == nil {
				if d := diffCommand(c, twin); d != "" {
					t.Fatalf("differs from encoding/json: %s", d)
				}
			}
		}
		if err != nil {
			return
		}
		enc := appendJSONHeader(nil, c)
		if utf8.Valid(enc) && !json.Valid(enc) {
			t.Fatalf("encoded header is not valid JSON: %q", enc)
		}
		back, err := decodeJSONHeader(enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		if d := diffCommand(back, c); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}

// FuzzBinaryHeader: encode∘decode is the identity on whatever decodes.
func FuzzBinaryHeader(f *testing.F) {
	sc := sendCommand()
	b, _ := appendBinaryHeader(nil, sc)
	f.Add(b)
	b, _ = appendBinaryHeader(nil, &Command{Code: -5, Remark: "x", ExtFields: map[string]string{"": ""}})
	f.Add(b)
	f.Add(make([]byte, 21))
	f.Add(make([]byte, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeBinaryHeader(data)
		if err != nil {
			return
		}
		enc, err := appendBinaryHeader(nil, c)
		if err != nil {
			t.Fatalf("encode of a decoded header: %v", err)
		}
		if len(c.ExtFields) == 0 && !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n% x\n% x", data, enc)
		}
		back, err := decodeBinaryHeader(enc)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffCommand(back, c); d != "" {
			t.Fatal(d)
		}
	})
}
