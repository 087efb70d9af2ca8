package dledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// The append protocol (append_transport.go) carries AppendEntries between
// the nodes of a group on the commit-log store. A connection opens with
// appendMagic and appendVersion; then the dialing side writes requests and
// the accepting side answers each one, in order. Integers are little
// endian; "bytes" is a u32 length followed by that many bytes.
//
//	request:  u8 kind=1, i64 ProtocolVersion, bytes ID, bytes Addr, u64 Term,
//	          bytes Leader, u64 PrevLogEntry, u64 PrevLogTerm,
//	          u64 LeaderCommitIndex, u32 entry count, then per entry:
//	          u64 Index, u64 Term, u8 Type, i64 AppendedAt (Unix ns, 0 = zero
//	          time), bytes Extensions, bytes Data
//	response: u8 kind=2, bytes error text (empty: none), i64 ProtocolVersion,
//	          bytes ID, bytes Addr, u64 Term, u64 LastLog,
//	          u8 flags (1 Success, 2 NoRetryBackoff)
//
// Decoding never trusts a length beyond what arrives: header fields are
// bounded by maxWireField, entries per request by maxWireEntries, and a
// large entry's buffer grows as its bytes are read, so a malformed or
// hostile stream costs the connection, not the process's memory.
const (
	// appendMagic is the first byte of an append-protocol connection; raft's
	// NetworkTransport connections start with an RPC type below 16.
	appendMagic   byte = 0xA7
	appendVersion byte = 1

	wireKindRequest  byte = 1
	wireKindResponse byte = 2

	maxWireField   = 64 << 10
	maxWireEntries = 1 << 20
	// maxWireData bounds one entry's Data (the commit log's records are
	// bounded by the segment size, far below this).
	maxWireData = 1 << 31

	// Entries up to slabEntryMax are carved out of a shared slab of
	// slabSize bytes: one allocation for many small entries.
	slabSize     = 256 << 10
	slabEntryMax = 16 << 10
	// wireAllocStep is the largest allocation one length field can cause.
	wireAllocStep = 4 << 20

	respSuccess        = 1
	respNoRetryBackoff = 2
)

// errWire reports a malformed append-protocol stream.
var errWire = errors.New("dledger: malformed append-protocol message")

// wireWriter encodes append-protocol messages onto a buffered writer.
type wireWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (e *wireWriter) u8(v byte)      { e.buf = append(e.buf, v) }
func (e *wireWriter) u32(v uint32)   { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }
func (e *wireWriter) u64(v uint64)   { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *wireWriter) i64(v int64)    { e.u64(uint64(v)) }
func (e *wireWriter) bytes(b []byte) { e.u32(uint32(len(b))); e.buf = append(e.buf, b...) }

// flushBuf hands the encoded header bytes to the writer.
func (e *wireWriter) flushBuf() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// writeRequest encodes req; entry payloads go to the writer directly.
func (e *wireWriter) writeRequest(req *raft.AppendEntriesRequest) error {
	if len(req.Entries) > maxWireEntries {
		return fmt.Errorf("dledger: append request of %d entries exceeds %d", len(req.Entries), maxWireEntries)
	}
	e.u8(wireKindRequest)
	e.header(req.RPCHeader)
	e.u64(req.Term)
	e.bytes(req.Leader)
	e.u64(req.PrevLogEntry)
	e.u64(req.PrevLogTerm)
	e.u64(req.LeaderCommitIndex)
	e.u32(uint32(len(req.Entries)))
	for _, l := range req.Entries {
		if uint64(len(l.Data)) > maxWireData || len(l.Extensions) > maxWireField {
			return fmt.Errorf("dledger: entry %d too large to send (%d data, %d extension bytes)", l.Index, len(l.Data), len(l.Extensions))
		}
		e.u64(l.Index)
		e.u64(l.Term)
		e.u8(byte(l.Type))
		e.i64(encodeTime(l.AppendedAt))
		e.bytes(l.Extensions)
		e.u32(uint32(len(l.Data)))
		if len(l.Data) <= 4<<10 {
			e.buf = append(e.buf, l.Data...)
			continue
		}
		if err := e.flushBuf(); err != nil {
			return err
		}
		if _, err := e.w.Write(l.Data); err != nil {
			return err
		}
	}
	return e.flushBuf()
}

// writeResponse encodes a response; rpcErr, if not nil, travels as text.
func (e *wireWriter) writeResponse(resp *raft.AppendEntriesResponse, rpcErr error) error {
	if resp == nil {
		resp = &raft.AppendEntriesResponse{}
	}
	e.u8(wireKindResponse)
	var msg []byte
	if rpcErr != nil {
		msg = []byte(rpcErr.Error())
		if len(msg) == 0 {
			msg = []byte("error")
		}
		msg = msg[:min(len(msg), maxWireField)]
	}
	e.bytes(msg)
	e.header(resp.RPCHeader)
	e.u64(resp.Term)
	e.u64(resp.LastLog)
	var flags byte
	if resp.Success {
		flags |= respSuccess
	}
	if resp.NoRetryBackoff {
		flags |= respNoRetryBackoff
	}
	e.u8(flags)
	return e.flushBuf()
}

func (e *wireWriter) header(h raft.RPCHeader) {
	e.i64(int64(h.ProtocolVersion))
	e.bytes(h.ID)
	e.bytes(h.Addr)
}

// wireReader decodes append-protocol messages from a buffered reader.
type wireReader struct {
	r    *bufio.Reader
	fix  [8]byte
	slab []byte
	err  error // first error; every later read is a no-op
}

func (d *wireReader) read(p []byte) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		d.err = err
	}
}

func (d *wireReader) u8() byte {
	d.read(d.fix[:1])
	if d.err != nil {
		return 0
	}
	return d.fix[0]
}

func (d *wireReader) u32() uint32 {
	d.read(d.fix[:4])
	if d.err != nil {
		return 0
	}
	return binary.LittleEndian.Uint32(d.fix[:4])
}

func (d *wireReader) u64() uint64 {
	d.read(d.fix[:8])
	if d.err != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(d.fix[:8])
}

func (d *wireReader) i64() int64 { return int64(d.u64()) }

func (d *wireReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errWire}, args...)...)
	}
}

// field reads a small length-prefixed byte string (nil when empty).
func (d *wireReader) field() []byte {
	n := d.u32()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > maxWireField {
		d.fail("field of %d bytes exceeds %d", n, maxWireField)
		return nil
	}
	b := make([]byte, n)
	d.read(b)
	return b
}

// data reads an entry payload of n bytes: small ones from the slab, large
// ones into a buffer that grows only as bytes arrive.
func (d *wireReader) data(n uint32) []byte {
	if d.err != nil || n == 0 {
		return nil
	}
	if uint64(n) > maxWireData {
		d.fail("entry of %d bytes exceeds %d", n, uint64(maxWireData))
		return nil
	}
	if n <= slabEntryMax {
		if len(d.slab) < int(n) {
			d.slab = make([]byte, slabSize)
		}
		b := d.slab[:n:n]
		d.slab = d.slab[n:]
		d.read(b)
		return b
	}
	// Up to wireAllocStep at once; beyond that the buffer grows by that
	// step as bytes arrive, so a claimed length costs nothing until sent.
	b := make([]byte, 0, min(n, wireAllocStep))
	for uint32(len(b)) < n && d.err == nil {
		step := min(n-uint32(len(b)), wireAllocStep)
		if cap(b)-len(b) < int(step) {
			b = append(b[:len(b):len(b)], make([]byte, step)...)[:len(b)]
		}
		d.read(b[len(b) : len(b)+int(step)])
		b = b[:len(b)+int(step)]
	}
	return b
}

func (d *wireReader) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(d.i64()), ID: d.field(), Addr: d.field()}
}

func (d *wireReader) kind(want byte) {
	if k := d.u8(); d.err == nil && k != want {
		d.fail("message kind %d, want %d", k, want)
	}
}

// readRequest decodes one request into req.
func (d *wireReader) readRequest(req *raft.AppendEntriesRequest) error {
	d.kind(wireKindRequest)
	req.RPCHeader = d.header()
	req.Term = d.u64()
	req.Leader = d.field()
	req.PrevLogEntry = d.u64()
	req.PrevLogTerm = d.u64()
	req.LeaderCommitIndex = d.u64()
	n := d.u32()
	if d.err == nil && n > maxWireEntries {
		d.fail("%d entries exceed %d", n, maxWireEntries)
	}
	if d.err != nil {
		return d.err
	}
	if n > 0 {
		// Grow as entries arrive rather than trusting the count.
		req.Entries = make([]*raft.Log, 0, min(n, 1024))
		logs := make([]raft.Log, min(n, 1024))
		for i := uint32(0); i < n && d.err == nil; i++ {
			if len(logs) == 0 {
				logs = make([]raft.Log, min(n-i, 1024))
			}
			l := &logs[0]
			logs = logs[1:]
			l.Index = d.u64()
			l.Term = d.u64()
			l.Type = raft.LogType(d.u8())
			l.AppendedAt = decodeTime(d.i64())
			l.Extensions = d.field()
			l.Data = d.data(d.u32())
			req.Entries = append(req.Entries, l)
		}
	}
	return d.err
}

// readResponse decodes one response into resp; the remote error, if any,
// is returned as remoteError.
func (d *wireReader) readResponse(resp *raft.AppendEntriesResponse) error {
	d.kind(wireKindResponse)
	msg := d.field()
	resp.RPCHeader = d.header()
	resp.Term = d.u64()
	resp.LastLog = d.u64()
	flags := d.u8()
	if d.err != nil {
		return d.err
	}
	if flags&^(respSuccess|respNoRetryBackoff) != 0 {
		d.fail("response flags %#x", flags)
		return d.err
	}
	resp.Success = flags&respSuccess != 0
	resp.NoRetryBackoff = flags&respNoRetryBackoff != 0
	if len(msg) > 0 {
		return remoteError(msg)
	}
	return nil
}

// remoteError is an error the receiving node's raft answered with.
type remoteError string

func (e remoteError) Error() string { return string(e) }

// isRemote reports whether err is an answer (the stream is still in step)
// rather than a failure of the stream.
func isRemote(err error) bool {
	var remote remoteError
	return errors.As(err, &remote)
}
