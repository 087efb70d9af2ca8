package remoting

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Frame layout (REMOTING.md §1, FORMAT.md):
//
//	frameLen int32 (= 4 + headerLen + bodyLen) · word uint32 (type<<24 | headerLen) · header · body

// prefixLen is the size of frameLen plus the header-length word.
const prefixLen = 8

// appendHeader appends c's header in its serialization type.
func appendHeader(dst []byte, c *Command) ([]byte, error) {
	switch c.SerializeType {
	case SerializeJSON:
		return appendJSONHeader(dst, c), nil
	case SerializeRocketMQ:
		return appendBinaryHeader(dst, c)
	}
	return dst, fmt.Errorf("%w: unknown serialize type %d", ErrEncode, c.SerializeType)
}

// appendPrefixAndHeader appends the 8-byte prefix and the header of c (not
// the body) and checks the frame against maxFrame.
func appendPrefixAndHeader(dst []byte, c *Command, maxFrame int) ([]byte, error) {
	at := len(dst)
	dst = append(dst, make([]byte, prefixLen)...)
	dst, err := appendHeader(dst, c)
	if err != nil {
		return dst[:at], err
	}
	hl := len(dst) - at - prefixLen
	if hl > maxHeaderField {
		return dst[:at], fmt.Errorf("%w: header of %d bytes exceeds the 24-bit length field", ErrEncode, hl)
	}
	frameLen := int64(4 + hl + len(c.Body))
	if frameLen > int64(maxFrame) {
		return dst[:at], fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrEncode, frameLen, maxFrame)
	}
	binary.BigEndian.PutUint32(dst[at:], uint32(frameLen))
	binary.BigEndian.PutUint32(dst[at+4:], uint32(c.SerializeType)<<24|uint32(hl))
	return dst, nil
}

// AppendFrame appends the complete frame of c (prefix, header, body) to dst.
// The frame must fit in maxFrame bytes (Limits.MaxFrame; frameLen does not
// count its own 4 bytes).
func AppendFrame(dst []byte, c *Command, maxFrame int) ([]byte, error) {
	dst, err := appendPrefixAndHeader(dst, c, maxFrame)
	if err != nil {
		return dst, err
	}
	return append(dst, c.Body...), nil
}

// prefix is a checked frame prefix.
type prefix struct {
	st        SerializeType
	headerLen int
	bodyLen   int
}

// parseFrameLen checks the frame length word; frameLen must hold at least
// the header-length word.
func parseFrameLen(b []byte, lim *Limits) (int, error) {
	n := int64(int32(binary.BigEndian.Uint32(b)))
	if n > int64(lim.MaxFrame) {
		return 0, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, n, lim.MaxFrame)
	}
	if n < 4 {
		return 0, fmt.Errorf("%w: frame length %d", ErrMalformed, n)
	}
	return int(n), nil
}

// parseWord checks the header-length word against frameLen.
func parseWord(b []byte, frameLen int, lim *Limits) (prefix, error) {
	w := binary.BigEndian.Uint32(b)
	p := prefix{st: SerializeType(w >> 24), headerLen: int(w & maxHeaderField)}
	if p.st != SerializeJSON && p.st != SerializeRocketMQ {
		return p, fmt.Errorf("%w: unknown serialize type %d", ErrMalformed, p.st)
	}
	if p.headerLen > frameLen-4 {
		return p, fmt.Errorf("%w: header length %d exceeds frame length %d", ErrMalformed, p.headerLen, frameLen)
	}
	if p.headerLen > lim.MaxHeader {
		return p, fmt.Errorf("%w: %d bytes > %d", ErrHeaderTooLarge, p.headerLen, lim.MaxHeader)
	}
	p.bodyLen = frameLen - 4 - p.headerLen
	return p, nil
}

// decodeHeader decodes a header of the given type.
func decodeHeader(st SerializeType, hdr []byte) (*Command, error) {
	var c *Command
	var err error
	if st == SerializeJSON {
		c, err = decodeJSONHeader(hdr)
	} else {
		c, err = decodeBinaryHeader(hdr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s header of %d bytes: %w", ErrMalformed, st, len(hdr), err)
	}
	return c, nil
}

// bodyTooLarge reports whether the body of c must be refused.
func bodyTooLarge(c *Command, n int, lim *Limits) error {
	if !c.IsResponse() && n > lim.MaxBody {
		return fmt.Errorf("%w: %d bytes > %d", ErrBodyTooLarge, n, lim.MaxBody)
	}
	return nil
}

// FrameReader decodes frames from a byte stream. It is not safe for
// concurrent use.
//
// Next returns one of:
//   - (cmd, nil): a frame;
//   - (cmd, err) with errors.Is(err, ErrIllegalRequest): a well-formed request
//     that exceeds a request limit (its body, when too large, was skipped
//     without being allocated); the stream is still in sync;
//   - (nil, io.EOF): the stream ended cleanly between frames;
//   - (nil, err): a frame error (ErrFrameTooLarge, ErrHeaderTooLarge,
//     ErrMalformed, including a stream that ends inside a frame) or the
//     reader's error; the stream is no longer usable.
type FrameReader struct {
	r       *bufio.Reader
	lim     Limits
	scratch []byte // header bytes too large for a Peek
	pre     [prefixLen]byte
}

// NewFrameReader returns a FrameReader on r. If r is not a *bufio.Reader it
// is wrapped in one of 64 KiB.
func NewFrameReader(r io.Reader, lim Limits) *FrameReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &FrameReader{r: br, lim: lim}
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded.
func (fr *FrameReader) Buffered() int { return fr.r.Buffered() }

// truncated converts an end of stream inside a frame into a frame error.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: stream ended inside a frame: %w", ErrMalformed, io.ErrUnexpectedEOF)
	}
	return err
}

// Next decodes the next frame; see FrameReader for the results.
// errBetweenFrames marks a read deadline that passed before any byte of
// the next frame arrived.
var errBetweenFrames = errors.New("remoting: deadline between frames")

func (fr *FrameReader) Next() (*Command, error) {
	if n, err := io.ReadFull(fr.r, fr.pre[:4]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			// Nothing of a frame consumed: Next may be called again.
			return nil, fmt.Errorf("%w: %w", errBetweenFrames, err)
		}
		return nil, truncated(err)
	}
	frameLen, err := parseFrameLen(fr.pre[:4], &fr.lim)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(fr.r, fr.pre[4:8]); err != nil {
		return nil, truncated(err)
	}
	p, err := parseWord(fr.pre[4:8], frameLen, &fr.lim)
	if err != nil {
		return nil, err
	}
	var hdr []byte
	if p.headerLen <= fr.r.Size() {
		// Zero-copy: decode straight from the read buffer.
		if hdr, err = fr.r.Peek(p.headerLen); err != nil {
			return nil, truncated(err)
		}
	} else {
		if cap(fr.scratch) < p.headerLen {
			fr.scratch = make([]byte, p.headerLen)
		}
		hdr = fr.scratch[:p.headerLen]
		if _, err := io.ReadFull(fr.r, hdr); err != nil {
			return nil, truncated(err)
		}
	}
	c, err := decodeHeader(p.st, hdr)
	if p.headerLen <= fr.r.Size() {
		_, _ = fr.r.Discard(p.headerLen) // Peek succeeded: the bytes are buffered
	}
	if err != nil {
		return nil, err
	}
	if err := bodyTooLarge(c, p.bodyLen, &fr.lim); err != nil {
		if _, derr := fr.r.Discard(p.bodyLen); derr != nil {
			return nil, truncated(derr)
		}
		return c, err
	}
	if p.bodyLen > 0 {
		c.Body = make([]byte, p.bodyLen)
		if _, err := io.ReadFull(fr.r, c.Body); err != nil {
			return nil, truncated(err)
		}
	}
	if err := fr.lim.checkRequest(c); err != nil {
		return c, err
	}
	return c, nil
}

// DecodeFrame decodes the first frame in b and returns it with the number of
// bytes it occupies. The returned Body aliases b. Results are those of
// FrameReader.Next, except that an incomplete frame yields
// (nil, 0, io.ErrUnexpectedEOF) and empty input (nil, 0, io.EOF); for a
// request-limit error n is the whole frame, so decoding can continue at b[n:].
func DecodeFrame(b []byte, lim Limits) (c *Command, n int, err error) {
	if len(b) == 0 {
		return nil, 0, io.EOF
	}
	if len(b) < 4 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	frameLen, err := parseFrameLen(b, &lim)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < prefixLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	p, err := parseWord(b[4:], frameLen, &lim)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < prefixLen+p.headerLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	c, err = decodeHeader(p.st, b[prefixLen:prefixLen+p.headerLen])
	if err != nil {
		return nil, 0, err
	}
	if len(b)-4 < frameLen {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n = 4 + frameLen
	if err := bodyTooLarge(c, p.bodyLen, &lim); err != nil {
		return c, n, err
	}
	if p.bodyLen > 0 {
		c.Body = b[prefixLen+p.headerLen : n : n]
	}
	return c, n, lim.checkRequest(c)
}
