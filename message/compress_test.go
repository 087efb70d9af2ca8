package message

import (
	"bytes"
	stdzlib "compress/zlib"
	"errors"
	"io"
	"testing"
)

func TestCompressRoundTripInterop(t *testing.T) {
	body := bytes.Repeat([]byte("order 12345 shipped to customer 987; "), 200)
	for _, level := range []int{1, DefaultCompressLevel, 9} {
		c, err := CompressBody([]byte("pre"), body, level)
		if err != nil || !bytes.HasPrefix(c, []byte("pre")) {
			t.Fatalf("level %d: %v", level, err)
		}
		c = c[3:]
		if len(c) >= len(body) {
			t.Fatalf("level %d did not compress: %d bytes", level, len(c))
		}
		// The standard library (what the Go client uses) reads our stream.
		r, err := stdzlib.NewReader(bytes.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		std, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(std, body) {
			t.Fatalf("stdlib inflate: %v", err)
		}
		out, err := DecompressBody([]byte("x"), c, len(body))
		if err != nil || !bytes.Equal(out[1:], body) || out[0] != 'x' {
			t.Fatalf("DecompressBody: %v", err)
		}
	}
	// And we read the standard library's stream (what the Go client writes).
	var buf bytes.Buffer
	w, _ := stdzlib.NewWriterLevel(&buf, 5)
	w.Write(body)
	w.Close()
	out, err := DecompressBody(nil, buf.Bytes(), MaxBodySize)
	if err != nil || !bytes.Equal(out, body) {
		t.Fatalf("inflate stdlib stream: %v", err)
	}
	// Empty body.
	c, _ := CompressBody(nil, nil, 5)
	if out, err := DecompressBody(nil, c, 0); err != nil || len(out) != 0 {
		t.Fatalf("empty: %v %d", err, len(out))
	}
}

func TestDecompressErrors(t *testing.T) {
	body := bytes.Repeat([]byte{'a'}, 10000)
	c, _ := CompressBody(nil, body, 5)
	if _, err := DecompressBody(nil, c, len(body)-1); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("limit: %v", err)
	}
	if out, err := DecompressBody(nil, c, len(body)); err != nil || len(out) != len(body) {
		t.Fatalf("exact limit: %v", err)
	}
	if _, err := DecompressBody(nil, c, -5); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("negative limit: %v", err)
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"not zlib":  []byte("hello world"),
		"truncated": c[:len(c)/2],
		"bad sum":   append(append([]byte(nil), c[:len(c)-1]...), c[len(c)-1]^0xFF),
	} {
		dst := []byte("keep")
		out, err := DecompressBody(dst, bad, MaxBodySize)
		if !errors.Is(err, ErrCompressedCorrupt) || string(out) != "keep" {
			t.Errorf("%s: err %v out %q", name, err, out)
		}
	}
	// The pooled reader still works after failures.
	if out, err := DecompressBody(nil, c, MaxBodySize); err != nil || len(out) != len(body) {
		t.Fatalf("after errors: %v", err)
	}
	for _, lvl := range []int{0, 10, -1} {
		if _, err := CompressBody(nil, body, lvl); !errors.Is(err, ErrCompressLevel) {
			t.Fatalf("level %d: %v", lvl, err)
		}
	}
}
