package message

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// unhexT decodes hex with spaces/newlines/| allowed as separators.
func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// equalMsg compares two MessageExt treating nil and empty bodies and
// properties alike.
func equalMsg(a, b *MessageExt) bool {
	if !bytes.Equal(a.Body, b.Body) || len(a.Properties) != len(b.Properties) {
		return false
	}
	for i := range a.Properties {
		if a.Properties[i] != b.Properties[i] {
			return false
		}
	}
	x, y := *a, *b
	x.Body, y.Body, x.Properties, y.Properties = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

// sampleMsg is the message of the golden test: the REMOTING.md §11 send.
func sampleMsg() *MessageExt {
	body := []byte("Hello RocketMQ")
	return &MessageExt{
		Message: Message{
			Topic: "TopicTest",
			Flag:  0,
			Properties: Properties{
				{PropTags, "TagA"},
				{PropKeys, "k0"},
				{PropUniqKey, "C000020249D7000000006981b4600001"},
			},
			Body: body,
		},
		QueueID:         1,
		BornTimestamp:   1795261308780,
		BornHost:        netip.MustParseAddrPort("192.0.2.2:51234"),
		StoreTimestamp:  1795261308790,
		StoreHost:       netip.MustParseAddrPort("127.0.0.1:39613"),
		QueueOffset:     5,
		CommitLogOffset: 0x961,
		BodyCRC:         BodyCRC(body),
	}
}

// bigMsg has a 1 KiB body and 3 properties (the benchmark message).
func bigMsg() *MessageExt {
	m := sampleMsg()
	m.Body = bytes.Repeat([]byte("0123456789abcdef"), 64)
	m.BodyCRC = BodyCRC(m.Body)
	return m
}
