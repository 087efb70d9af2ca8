package message

import (
	"bytes"
	stdzlib "compress/zlib"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Baselines measured in the same run: a straightforward encoder/decoder in
// the style of the Go client (bytes.Buffer + encoding/binary reflection,
// strings for everything, a map for properties).

func naiveEncode(m *MessageExt) []byte {
	var buf bytes.Buffer
	props := m.Properties.String()
	w := func(v any) { _ = binary.Write(&buf, binary.BigEndian, v) }
	w(int32(EncodedSize(m)))
	w(MagicV1)
	w(m.BodyCRC)
	w(m.QueueID)
	w(m.Flag)
	w(m.QueueOffset)
	w(m.CommitLogOffset)
	w(m.SysFlag)
	w(m.BornTimestamp)
	b4 := m.BornHost.Addr().As4()
	buf.Write(b4[:])
	w(int32(m.BornHost.Port()))
	w(m.StoreTimestamp)
	s4 := m.StoreHost.Addr().As4()
	buf.Write(s4[:])
	w(int32(m.StoreHost.Port()))
	w(m.ReconsumeTimes)
	w(m.PreparedTransactionOffset)
	w(int32(len(m.Body)))
	buf.Write(m.Body)
	buf.WriteByte(byte(len(m.Topic)))
	buf.WriteString(m.Topic)
	w(int16(len(props)))
	buf.WriteString(props)
	return buf.Bytes()
}

type naiveMsg struct {
	size, magic, crc, queueID, flag int32
	queueOffset, physOffset         int64
	sysFlag                         int32
	bornTs                          int64
	bornHost                        string
	storeTs                         int64
	storeHost                       string
	reconsume                       int32
	prepared                        int64
	body                            []byte
	topic                           string
	props                           map[string]string
}

func naiveDecode(data []byte) naiveMsg {
	var m naiveMsg
	r := bytes.NewReader(data)
	rd := func(v any) { _ = binary.Read(r, binary.BigEndian, v) }
	rd(&m.size)
	rd(&m.magic)
	rd(&m.crc)
	rd(&m.queueID)
	rd(&m.flag)
	rd(&m.queueOffset)
	rd(&m.physOffset)
	rd(&m.sysFlag)
	rd(&m.bornTs)
	host := func() string {
		ip := make([]byte, 4)
		_, _ = r.Read(ip)
		var port int32
		rd(&port)
		return fmt.Sprintf("%d.%d.%d.%d:%d", ip[0], ip[1], ip[2], ip[3], port)
	}
	m.bornHost = host()
	rd(&m.storeTs)
	m.storeHost = host()
	rd(&m.reconsume)
	rd(&m.prepared)
	var bl int32
	rd(&bl)
	m.body = make([]byte, bl)
	_, _ = r.Read(m.body)
	tl, _ := r.ReadByte()
	t := make([]byte, tl)
	_, _ = r.Read(t)
	m.topic = string(t)
	var pl int16
	rd(&pl)
	p := make([]byte, pl)
	_, _ = r.Read(p)
	m.props = map[string]string{}
	for _, item := range strings.Split(string(p), "\x02") {
		if kv := strings.Split(item, "\x01"); len(kv) == 2 {
			m.props[kv[0]] = kv[1]
		}
	}
	return m
}

func BenchmarkEncode(b *testing.B) {
	m := bigMsg()
	size := EncodedSize(m)
	b.Run("baseline-naive", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			_ = naiveEncode(m)
		}
	})
	b.Run("sized-buffer", func(b *testing.B) {
		buf := make([]byte, 0, size)
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			buf = Encode(buf[:0], m)
		}
	})
	b.Run("nil-buffer", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			_ = Encode(nil, m)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	rec := Encode(nil, bigMsg())
	b.Run("baseline-naive", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for b.Loop() {
			_ = naiveDecode(rec)
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Decode(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkView is the dispatcher path: parse, then read topic, queue id,
// offsets, tags hash, keys, UNIQ_KEY and store timestamp.
func BenchmarkView(b *testing.B) {
	rec := Encode(nil, bigMsg())
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		v, err := ParseView(rec)
		if err != nil {
			b.Fatal(err)
		}
		sink += v.TagsCode() + v.StoreTimestamp() + v.QueueOffset() + int64(v.QueueID()) +
			int64(len(v.Topic())+len(v.Keys())+len(v.UniqKey()))
	}
	_ = sink
}

func BenchmarkDecodeBatch32(b *testing.B) {
	msgs := make([]Message, 32)
	for i := range msgs {
		msgs[i] = Message{Body: bytes.Repeat([]byte{'x'}, 1024), Properties: Properties{
			{PropTags, "TagA"}, {PropKeys, fmt.Sprintf("order-%d", i)}, {PropWaitStoreMsgOK, "true"},
		}}
	}
	body := AppendBatch(nil, msgs)
	b.Run("baseline-naive", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r := bytes.NewReader(body)
			n := 0
			for r.Len() > 0 {
				var total, magic, crc, flag, bl int32
				for _, p := range []*int32{&total, &magic, &crc, &flag, &bl} {
					_ = binary.Read(r, binary.BigEndian, p)
				}
				bb := make([]byte, bl)
				_, _ = r.Read(bb)
				var pl int16
				_ = binary.Read(r, binary.BigEndian, &pl)
				pb := make([]byte, pl)
				_, _ = r.Read(pb)
				props := map[string]string{}
				for _, item := range strings.Split(string(pb), "\x02") {
					if kv := strings.Split(item, "\x01"); len(kv) == 2 {
						props[kv[0]] = kv[1]
					}
				}
				n++
			}
			if n != 32 {
				b.Fatal(n)
			}
		}
	})
	b.Run("DecodeBatch", func(b *testing.B) {
		dst := make([]Message, 0, 32)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if dst, err = DecodeBatch(body, dst[:0]); err != nil || len(dst) != 32 {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPatchOffsets(b *testing.B) {
	rec := Encode(nil, bigMsg())
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = PatchOffsets(rec, int64(i), int64(i)*1000)
	}
}

func BenchmarkOffsetMsgID(b *testing.B) {
	host := netip.MustParseAddrPort("127.0.0.1:10911")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = AppendOffsetMsgID(buf[:0], host, int64(i))
	}
}

func BenchmarkIDGenerator(b *testing.B) {
	g, _ := NewIDGenerator(DefaultIDGeneratorConfig())
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next()
	}
}

// compressible returns JSON-like text of n bytes.
func compressible(n int) []byte {
	var buf bytes.Buffer
	for i := 0; buf.Len() < n; i++ {
		fmt.Fprintf(&buf, `{"order":%d,"customer":"c-%d","amount":%d.%02d,"currency":"EUR","status":"shipped"},`, i, i*7%1000, i*13%10000, i%100)
	}
	return buf.Bytes()[:n]
}

func BenchmarkCompressBody(b *testing.B) {
	for _, n := range []int{4096, 65536} {
		src := compressible(n)
		b.Run(fmt.Sprintf("baseline-stdlib/%d", n), func(b *testing.B) {
			var out bytes.Buffer
			w, _ := stdzlib.NewWriterLevel(&out, DefaultCompressLevel)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				w.Reset(&out)
				_, _ = w.Write(src)
				_ = w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(n), "ratio")
		})
		b.Run(fmt.Sprintf("CompressBody/%d", n), func(b *testing.B) {
			dst := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = CompressBody(dst[:0], src, DefaultCompressLevel)
			}
			b.ReportMetric(float64(len(dst))/float64(n), "ratio")
		})
	}
}

func BenchmarkDecompressBody(b *testing.B) {
	for _, n := range []int{4096, 65536} {
		src := compressible(n)
		c, _ := CompressBody(nil, src, DefaultCompressLevel)
		b.Run(fmt.Sprintf("baseline-stdlib/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			r, _ := stdzlib.NewReader(bytes.NewReader(c))
			dst := make([]byte, n+512)
			for b.Loop() {
				_ = r.(stdzlib.Resetter).Reset(bytes.NewReader(c), nil)
				m := 0
				for {
					k, err := r.Read(dst[m:])
					m += k
					if err != nil {
						break
					}
				}
			}
		})
		b.Run(fmt.Sprintf("DecompressBody/%d", n), func(b *testing.B) {
			dst := make([]byte, 0, n+512)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = DecompressBody(dst[:0], c, MaxBodySize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
