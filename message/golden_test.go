package message

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
)

// goldenRecord is sampleMsg() laid out by hand, field by field (FORMAT.md).
const goldenRecord = `
000000AE                 | 1 TOTALSIZE = 91 + body 14 + topic 9 + props 60 = 174
DAA320A7                 | 2 MAGICCODE V1
69C865ED                 | 3 BODYCRC = crc32("Hello RocketMQ") & 0x7fffffff
00000001                 | 4 QUEUEID
00000000                 | 5 FLAG
0000000000000005         | 6 QUEUEOFFSET
0000000000000961         | 7 PHYSICALOFFSET
00000000                 | 8 SYSFLAG
000001A1FDE99F6C         | 9 BORNTIMESTAMP 1795261308780
C0000202 0000C822        | 10 BORNHOST 192.0.2.2:51234
000001A1FDE99F76         | 11 STORETIMESTAMP 1795261308790
7F000001 00009ABD        | 12 STOREHOST 127.0.0.1:39613
00000000                 | 13 RECONSUMETIMES
0000000000000000         | 14 PREPAREDTRANSACTIONOFFSET
0000000E                 | 15 BODY length 14
48656C6C6F20526F636B65744D51
09                       | 16 TOPIC length 9
546F70696354657374
003C                     | 17 PROPERTIES length 60
54414753 01 54616741 02
4B455953 01 6B30 02
554E49515F4B4559 01 4330303030323032343944373030303030303030363938316234363030303031 02
`

func TestGoldenStoredLayout(t *testing.T) {
	want := unhexT(t, stripComments(goldenRecord))
	m := sampleMsg()
	if got := EncodedSize(m); got != len(want) {
		t.Fatalf("EncodedSize = %d, want %d", got, len(want))
	}
	got := Encode(nil, m)
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode mismatch\n got %x\nwant %x", got, want)
	}
	dec, n, err := Decode(want)
	if err != nil || n != len(want) {
		t.Fatalf("Decode: n=%d err=%v", n, err)
	}
	if !equalMsg(&dec, m) {
		t.Fatalf("Decode = %+v\nwant %+v", dec, *m)
	}
	if id := dec.OffsetMsgID(); id != "7F00000100009ABD0000000000000961" {
		t.Fatalf("OffsetMsgID = %s", id)
	}
	if id := dec.MsgID(); id != "C000020249D7000000006981b4600001" {
		t.Fatalf("MsgID = %s", id)
	}
	v, err := ParseView(want)
	if err != nil {
		t.Fatal(err)
	}
	if v.TagsCode() != 2598919 || string(v.Keys()) != "k0" || v.StoreTimestamp() != 1795261308790 || !v.BodyCRCValid() {
		t.Fatalf("view: tags %d keys %q storeTs %d crcOK %v", v.TagsCode(), v.Keys(), v.StoreTimestamp(), v.BodyCRCValid())
	}
}

// stripComments drops everything after '|' on each line.
func stripComments(s string) string {
	var out []byte
	skip := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '|':
			skip = true
		case c == '\n':
			skip = false
			out = append(out, c)
		case !skip:
			out = append(out, c)
		}
	}
	return string(out)
}

// The SEND_MESSAGE header exactly as REMOTING.md §11 recorded it.
const sendHeaderJSON = `{"code":10,"language":"GO","version":317,"opaque":6,"flag":0,"remark":"","extFields":{"producerGroup":"pg1",
 "bornTimestamp":"1795261308780","flag":"0","unitMode":"false","defaultTopic":"TBW102","batch":"false",
 "topic":"TopicTest","queueId":"1","sysFlag":"0","reconsumeTimes":"0","maxReconsumeTimes":"0",
 "defaultTopicQueueNums":"4","properties":"TAGS\u0001TagA\u0002KEYS\u0001k0\u0002UNIQ_KEY\u0001C000020249D7000000006981b4600001\u0002"}}`

func TestRemotingFrames(t *testing.T) {
	var hdr struct {
		ExtFields map[string]string `json:"extFields"`
	}
	if err := json.Unmarshal([]byte(sendHeaderJSON), &hdr); err != nil {
		t.Fatal(err)
	}
	raw := hdr.ExtFields["properties"]
	p := ParseProperties(raw)
	want := Properties{{"TAGS", "TagA"}, {"KEYS", "k0"}, {"UNIQ_KEY", "C000020249D7000000006981b4600001"}}
	if len(p) != len(want) {
		t.Fatalf("ParseProperties = %q", p)
	}
	for i := range want {
		if p[i] != want[i] {
			t.Fatalf("property %d = %q, want %q", i, p[i], want[i])
		}
	}
	if p.String() != raw {
		t.Fatalf("re-encoded properties %q, want %q", p.String(), raw)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}

	// The UNIQ_KEY: 192.0.2.2, pid 18903 (the heartbeat's clientID
	// "192.0.2.2@18903"), salt 0, 1770108000 ms into the month, counter 1.
	u, err := ParseUniqID(p.Get(PropUniqKey))
	if err != nil {
		t.Fatal(err)
	}
	wantU := UniqID{IP: netip.MustParseAddr("192.0.2.2"), PID: 18903, Salt: 0, Delta: 1770108000, Counter: 1}
	if u != wantU {
		t.Fatalf("ParseUniqID = %+v, want %+v", u, wantU)
	}

	// The SEND reply msgId and the END_TRANSACTION commitLogOffset=2401.
	id, err := ParseOffsetMsgID("7F00000100009ABD0000000000000961")
	if err != nil {
		t.Fatal(err)
	}
	if id.Host != netip.MustParseAddrPort("127.0.0.1:39613") || id.Offset != 2401 {
		t.Fatalf("ParseOffsetMsgID = %+v", id)
	}
	if s := (OffsetMsgID{Host: netip.MustParseAddrPort("127.0.0.1:39613"), Offset: 0x961}).String(); s != "7F00000100009ABD0000000000000961" {
		t.Fatalf("OffsetMsgID.String = %s", s)
	}

	// Heartbeat codeSet ["2598919","2598920"] for "TagA || TagB".
	if TagsHash("TagA") != 2598919 || TagsHash("TagB") != 2598920 {
		t.Fatalf("TagsHash TagA/TagB = %d/%d", TagsHash("TagA"), TagsHash("TagB"))
	}
}

func TestBodyCRC(t *testing.T) {
	// CRC-32 check value of "123456789" is 0xCBF43926; RocketMQ clears bit 31.
	if got := BodyCRC([]byte("123456789")); got != 0x4BF43926 {
		t.Fatalf("BodyCRC = %#x", got)
	}
	if got := BodyCRC(nil); got != 0 {
		t.Fatalf("BodyCRC(nil) = %d", got)
	}
}
