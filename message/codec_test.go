package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	v6born := netip.MustParseAddrPort("[2001:db8::1]:40000")
	v6store := netip.MustParseAddrPort("[fe80::2]:10911")
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.0.0.1"), 7)
	cases := []struct {
		name   string
		mutate func(m *MessageExt)
		size   int // expected EncodedSize; 0 = don't check
		magic  uint32
	}{
		{name: "sample", size: 174, magic: MagicV1},
		{name: "empty body, no props", mutate: func(m *MessageExt) {
			m.Body, m.Properties, m.BodyCRC = nil, nil, 0
		}, size: MinStoredSize + 9, magic: MagicV1},
		{name: "minimal", mutate: func(m *MessageExt) {
			*m = MessageExt{}
		}, size: MinStoredSize, magic: MagicV1},
		{name: "born v6", mutate: func(m *MessageExt) { m.BornHost = v6born }, size: 174 + 12, magic: MagicV1},
		{name: "store v6", mutate: func(m *MessageExt) { m.StoreHost = v6store }, size: 174 + 12, magic: MagicV1},
		{name: "both v6", mutate: func(m *MessageExt) { m.BornHost, m.StoreHost = v6born, v6store }, size: 174 + 24, magic: MagicV1},
		{name: "4in6 stays 16 bytes", mutate: func(m *MessageExt) { m.BornHost = mapped }, size: 174 + 12, magic: MagicV1},
		{name: "topic 127 is V1", mutate: func(m *MessageExt) { m.Topic = strings.Repeat("t", 127) }, size: 174 - 9 + 127, magic: MagicV1},
		{name: "topic 128 is V2", mutate: func(m *MessageExt) { m.Topic = strings.Repeat("t", 128) }, size: 174 - 9 + 128 + 1, magic: MagicV2},
		{name: "flags and negatives", mutate: func(m *MessageExt) {
			m.SysFlag = FlagCompressed | TransactionPreparedType | FlagMultiTags
			m.Flag = -7
			m.QueueID = 1 << 30
			m.ReconsumeTimes = 16
			m.PreparedTransactionOffset = -1
			m.QueueOffset = 1<<62 + 3
			m.CommitLogOffset = -2
			m.BornTimestamp = -1
			m.StoreTimestamp = 1 << 60
			m.BodyCRC = -1 // written as given, not recomputed
		}, magic: MagicV1},
		{name: "binary body with separators", mutate: func(m *MessageExt) {
			m.Body = []byte{0, 1, 2, 0xff, 0xDA, 0xA3, 0x20, 0xA7}
			m.BodyCRC = BodyCRC(m.Body)
		}, magic: MagicV1},
		{name: "value containing 0x01", mutate: func(m *MessageExt) {
			m.Properties = Properties{{"A", "x\x01y"}}
		}, magic: MagicV1},
		{name: "max properties", mutate: func(m *MessageExt) {
			m.Properties = Properties{{"K", strings.Repeat("v", MaxPropertiesLen-3)}}
		}, magic: MagicV1},
		{name: "utf8 topic bytes and props", mutate: func(m *MessageExt) {
			m.Properties = Properties{{PropTags, "标签"}, {"ключ", "🚀"}}
		}, magic: MagicV1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleMsg()
			if tc.mutate != nil {
				tc.mutate(m)
			}
			b := Encode(nil, m)
			if len(b) != EncodedSize(m) {
				t.Fatalf("len %d != EncodedSize %d", len(b), EncodedSize(m))
			}
			if tc.size != 0 && len(b) != tc.size {
				t.Fatalf("size %d, want %d", len(b), tc.size)
			}
			if got := binary.BigEndian.Uint32(b[PosMagic:]); got != tc.magic {
				t.Fatalf("magic %#x, want %#x", got, tc.magic)
			}
			if got := int(binary.BigEndian.Uint32(b)); got != len(b) {
				t.Fatalf("TOTALSIZE %d, len %d", got, len(b))
			}
			// Decode from a buffer with trailing bytes: n must stop at the record.
			d, n, err := Decode(append(b, 0xEE, 0xEE))
			if err != nil || n != len(b) {
				t.Fatalf("Decode: n=%d err=%v", n, err)
			}
			want := *m
			want.SysFlag = EncodedSysFlag(m)
			if !m.BornHost.Addr().IsValid() {
				want.BornHost = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			}
			if !m.StoreHost.Addr().IsValid() {
				want.StoreHost = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
			}
			if !equalMsg(&d, &want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", d, want)
			}
			if again := Encode(nil, &d); !bytes.Equal(again, b) {
				t.Fatal("Encode(Decode(b)) != b")
			}
		})
	}
}

func TestEncodeDerivesHostFlags(t *testing.T) {
	m := sampleMsg()
	m.SysFlag = FlagBornHostV6 | FlagStoreHostV6 | FlagCompressed // lies: hosts are IPv4
	if f := EncodedSysFlag(m); f != FlagCompressed {
		t.Fatalf("EncodedSysFlag = %#x", f)
	}
	m.StoreHost = netip.MustParseAddrPort("[::1]:1")
	if f := EncodedSysFlag(m); f != FlagCompressed|FlagStoreHostV6 {
		t.Fatalf("EncodedSysFlag = %#x", f)
	}
}

func TestEncodeAppendsAndZeroAlloc(t *testing.T) {
	m := bigMsg()
	prefix := []byte("prefix")
	b := Encode(append([]byte(nil), prefix...), m)
	if !bytes.HasPrefix(b, prefix) || !bytes.Equal(b[len(prefix):], Encode(nil, m)) {
		t.Fatal("Encode did not append after existing bytes")
	}
	buf := make([]byte, 0, EncodedSize(m))
	if allocs := testing.AllocsPerRun(100, func() { buf = Encode(buf[:0], m) }); allocs != 0 {
		t.Fatalf("Encode into sized buffer: %v allocs", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = EncodedSize(m) }); allocs != 0 {
		t.Fatalf("EncodedSize: %v allocs", allocs)
	}
}

func TestEncodeChecked(t *testing.T) {
	m := sampleMsg()
	m.Topic = "bad topic"
	m.Properties = append(m.Properties, Property{"", "x"})
	dst := []byte("keep")
	got, err := EncodeChecked(dst, m)
	if !errors.Is(err, ErrTopicInvalid) || !errors.Is(err, ErrPropertyInvalid) {
		t.Fatalf("err = %v, want topic and property errors joined", err)
	}
	if string(got) != "keep" {
		t.Fatalf("dst changed on error: %q", got)
	}
	if _, err := EncodeChecked(nil, sampleMsg()); err != nil {
		t.Fatal(err)
	}
}

// setU32 returns a copy of b with a uint32 written at pos.
func setU32(b []byte, pos int, v uint32) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[pos:], v)
	return c
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(nil, sampleMsg())
	// Positions in the sample record (IPv4 hosts, V1).
	const (
		bornPortPos  = PosBornHost + 4
		storePortPos = 56 + 8 + 4
		bodyLenPos   = 84
		topicLenPos  = 88 + 14
		propsLenPos  = topicLenPos + 1 + 9
	)
	withByte := func(pos int, v byte) []byte {
		c := append([]byte(nil), good...)
		c[pos] = v
		return c
	}
	withU16 := func(pos int, v uint16) []byte {
		c := append([]byte(nil), good...)
		binary.BigEndian.PutUint16(c[pos:], v)
		return c
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrTruncated},
		{"short header", good[:11], ErrTruncated},
		{"bad magic", setU32(good, PosMagic, 0x12345678), ErrBadMagic},
		{"blank magic", setU32(good, PosMagic, MagicBlank), ErrBadMagic},
		{"total too small", setU32(good, 0, 90), ErrCorrupt},
		{"negative total", setU32(good, 0, 0xFFFFFFFF), ErrCorrupt},
		{"total beyond input", setU32(good, 0, uint32(len(good)+1)), ErrTruncated},
		{"cut tail", good[:len(good)-1], ErrTruncated},
		{"total shorter than fields", setU32(good, 0, uint32(len(good)-1)), ErrCorrupt},
		{"total longer than fields", append(setU32(good, 0, uint32(len(good)+1)), 0), ErrCorrupt},
		{"negative body len", setU32(good, bodyLenPos, 0x80000000), ErrCorrupt},
		{"body len past end", setU32(good, bodyLenPos, 1000), ErrCorrupt},
		{"body len short", setU32(good, bodyLenPos, 13), ErrCorrupt},
		{"v1 topic len > 127", withByte(topicLenPos, 200), ErrCorrupt},
		{"topic len past end", withByte(topicLenPos, 100), ErrCorrupt},
		{"negative props len", withU16(propsLenPos, 0x8000), ErrCorrupt},
		{"props len short", withU16(propsLenPos, 59), ErrCorrupt},
		{"born port > 65535", setU32(good, bornPortPos, 70000), ErrCorrupt},
		{"store port negative", setU32(good, storePortPos, 0xFFFFFFFF), ErrCorrupt},
		{"v6 flag without room", setU32(good, PosSysFlag, uint32(FlagBornHostV6|FlagStoreHostV6)), ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := Decode(tc.b)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("Decode: n=%d err=%v, want %v", n, err, tc.want)
			}
			if !IsCorrupt(err) {
				t.Fatalf("IsCorrupt(%v) = false", err)
			}
			if _, err := ParseView(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("ParseView err=%v, want %v", err, tc.want)
			}
		})
	}
	// Every strict prefix of a good record is rejected without panicking.
	for i := 0; i < len(good); i++ {
		if _, _, err := Decode(good[:i]); err == nil {
			t.Fatalf("prefix %d decoded", i)
		}
	}
}

func TestDecodeV2TopicLength(t *testing.T) {
	m := sampleMsg()
	m.Topic = strings.Repeat("x", 300)
	b := Encode(nil, m)
	topicLenPos := 88 + len(m.Body)
	if got := binary.BigEndian.Uint16(b[topicLenPos:]); got != 300 {
		t.Fatalf("V2 topic length field = %d", got)
	}
	d, _, err := Decode(b)
	if err != nil || d.Topic != m.Topic {
		t.Fatalf("Decode V2: %v", err)
	}
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(c[topicLenPos:], 0x8001)
	if _, _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative V2 topic length: %v", err)
	}
}

func TestDecodeAliasesBodyOnly(t *testing.T) {
	b := Encode(nil, sampleMsg())
	d, _, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if cap(d.Body) != len(d.Body) {
		t.Fatalf("body capacity %d leaks the following bytes", cap(d.Body))
	}
	bodyPos := 88
	b[bodyPos] = 'J'
	if d.Body[0] != 'J' {
		t.Fatal("body does not alias the input")
	}
	for i := range b {
		b[i] = 0
	}
	if d.Topic != "TopicTest" || d.Tags() != "TagA" {
		t.Fatal("strings alias the input")
	}
}

func TestDecodeAll(t *testing.T) {
	var stream []byte
	var want []*MessageExt
	for i := range 5 {
		m := sampleMsg()
		m.QueueOffset = int64(i)
		m.Body = bytes.Repeat([]byte{byte('a' + i)}, i*10)
		m.BodyCRC = BodyCRC(m.Body)
		if i == 3 {
			m.StoreHost = netip.MustParseAddrPort("[::1]:10911")
		}
		want = append(want, m)
		stream = Encode(stream, m)
	}
	got, err := DecodeAll(stream, nil)
	if err != nil || len(got) != len(want) {
		t.Fatalf("DecodeAll: %d msgs, err %v", len(got), err)
	}
	for i := range want {
		w := *want[i]
		w.SysFlag = EncodedSysFlag(want[i])
		if !equalMsg(&got[i], &w) {
			t.Fatalf("message %d differs", i)
		}
	}
	// A corrupt third record: the first two come back, with an error naming
	// the offset.
	second := EncodedSize(want[0]) + EncodedSize(want[1])
	bad := setU32(stream, second+PosMagic, 1)
	got, err = DecodeAll(bad, nil)
	if len(got) != 2 || !errors.Is(err, ErrBadMagic) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("DecodeAll corrupt: %d msgs, err %v", len(got), err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *MessageExt)
		want   []error
	}{
		{"ok", nil, nil},
		{"empty topic", func(m *MessageExt) { m.Topic = "" }, []error{ErrTopicEmpty}},
		{"long topic", func(m *MessageExt) { m.Topic = strings.Repeat("a", 128) }, []error{ErrTopicTooLong}},
		{"127 topic ok", func(m *MessageExt) { m.Topic = strings.Repeat("a", 127) }, nil},
		{"retry topic chars ok", func(m *MessageExt) { m.Topic = "%RETRY%cg-1_a|b" }, nil},
		{"bad char", func(m *MessageExt) { m.Topic = "a.b" }, []error{ErrTopicInvalid}},
		{"non-ascii", func(m *MessageExt) { m.Topic = "тема" }, []error{ErrTopicInvalid}},
		{"body 4MiB ok", func(m *MessageExt) { m.Body = make([]byte, MaxBodySize) }, nil},
		{"body too large", func(m *MessageExt) { m.Body = make([]byte, MaxBodySize+1) }, []error{ErrBodyTooLarge}},
		{"props too large", func(m *MessageExt) {
			m.Properties = Properties{{"K", strings.Repeat("v", MaxPropertiesLen)}}
		}, []error{ErrPropertiesTooLarge}},
		{"everything", func(m *MessageExt) {
			m.Topic = ""
			m.Body = make([]byte, MaxBodySize+1)
			m.Properties = Properties{{"a\x02", "b"}}
		}, []error{ErrTopicEmpty, ErrBodyTooLarge, ErrPropertyInvalid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleMsg()
			if tc.mutate != nil {
				tc.mutate(m)
			}
			err := m.Validate()
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("unexpected %v", err)
			}
			if len(tc.want) > 0 && err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("err %v does not wrap %v", err, w)
				}
			}
		})
	}
}

func TestMessageHelpers(t *testing.T) {
	m := sampleMsg()
	m.Properties.Set(PropKeys, " order-1  order-2 ")
	if m.Tags() != "TagA" || m.TagsCode() != 2598919 || m.UniqKey() != "C000020249D7000000006981b4600001" {
		t.Fatal("tags/uniq helpers")
	}
	if got := m.KeyList(); len(got) != 2 || got[0] != "order-1" || got[1] != "order-2" {
		t.Fatalf("KeyList = %q", got)
	}
	m.Properties.Delete(PropUniqKey)
	if m.MsgID() != m.OffsetMsgID() || m.OffsetMsgID() != "7F00000100009ABD0000000000000961" {
		t.Fatalf("MsgID without UNIQ_KEY = %s", m.MsgID())
	}
	if TransactionType(FlagCompressed|TransactionCommitType) != TransactionCommitType {
		t.Fatal("TransactionType")
	}
	if f := SetTransactionType(FlagCompressed|TransactionRollbackType, TransactionPreparedType); f != FlagCompressed|TransactionPreparedType {
		t.Fatalf("SetTransactionType = %#x", f)
	}
}
