package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// Body compression: a zlib stream (RFC 1950) flagged by FlagCompressed. The
// broker stores bodies verbatim; producers compress and consumers inflate.
// klauspost/compress/zlib is used: same stream format as compress/zlib, about
// 3-4x faster at level 5 here (see the report / BenchmarkCompressBody).
const (
	// DefaultCompressLevel is the Go and Java clients' level.
	DefaultCompressLevel = 5
	// CompressThreshold is the body size from which the clients compress
	// (CompressMsgBodyOverHowmuch: len(body) >= 4096).
	CompressThreshold = 4096
)

type zwriter struct {
	w   *zlib.Writer
	out appendWriter
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

var zwriterPools [zlib.BestCompression + 1]sync.Pool

// CompressBody appends the zlib compression of src at level (1..9) to dst.
func CompressBody(dst, src []byte, level int) ([]byte, error) {
	if level < zlib.BestSpeed || level > zlib.BestCompression {
		return dst, fmt.Errorf("%w: %d", ErrCompressLevel, level)
	}
	z, _ := zwriterPools[level].Get().(*zwriter)
	if z == nil {
		z = &zwriter{}
		w, err := zlib.NewWriterLevel(&z.out, level)
		if err != nil {
			return dst, fmt.Errorf("%w: %v", ErrCompressLevel, err)
		}
		z.w = w
	}
	z.out.b = dst
	z.w.Reset(&z.out)
	_, err := z.w.Write(src)
	if err == nil {
		err = z.w.Close()
	}
	out := z.out.b
	z.out.b = nil
	zwriterPools[level].Put(z)
	if err != nil {
		return dst, err // appendWriter never fails; kept for safety
	}
	return out, nil
}

type zreader struct {
	r  io.ReadCloser
	in bytes.Reader
}

var zreaderPool sync.Pool

// DecompressBody inflates the zlib stream src, appending the result to dst.
// It fails with ErrBodyTooLarge as soon as the output would exceed limit
// bytes (bounding decompression bombs), and with ErrCompressedCorrupt on a bad
// stream or checksum. On error dst is returned as given.
func DecompressBody(dst, src []byte, limit int) ([]byte, error) {
	z, _ := zreaderPool.Get().(*zreader)
	if z == nil {
		z = &zreader{}
		z.in.Reset(src)
		r, err := zlib.NewReader(&z.in)
		if err != nil {
			return dst, fmt.Errorf("%w: %v", ErrCompressedCorrupt, err)
		}
		z.r = r
	} else {
		z.in.Reset(src)
		if err := z.r.(zlib.Resetter).Reset(&z.in, nil); err != nil {
			zreaderPool.Put(z)
			return dst, fmt.Errorf("%w: %v", ErrCompressedCorrupt, err)
		}
	}
	out, err := readLimited(z.r, dst, limit)
	z.in.Reset(nil)
	zreaderPool.Put(z)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// readLimited appends r's output to dst, allowing at most limit bytes.
func readLimited(r io.Reader, dst []byte, limit int) ([]byte, error) {
	limit = max(limit, 0)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			grow := max(512, min(len(dst)-start+1, limit+1))
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		// Never ask for more than one byte beyond the limit.
		room := min(cap(dst), start+limit+1)
		n, err := r.Read(dst[len(dst):room])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return nil, fmt.Errorf("%w: inflated body above %d bytes", ErrBodyTooLarge, limit)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCompressedCorrupt, err)
		}
	}
}
