package message

import (
	"bytes"
	"maps"
	"net/netip"
	"strings"
	"testing"
)

// Seeds run as ordinary tests in `go test`; `go test -fuzz FuzzDecode` explores.

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, sampleMsg()))
	f.Add(Encode(nil, bigMsg()))
	f.Add(Encode(nil, &MessageExt{}))
	v6 := sampleMsg()
	v6.BornHost = netip.MustParseAddrPort("[2001:db8::1]:1")
	v6.StoreHost = netip.MustParseAddrPort("[::ffff:1.2.3.4]:2")
	f.Add(Encode(nil, v6))
	long := sampleMsg()
	long.Topic = strings.Repeat("L", 200)
	f.Add(Encode(nil, long))
	noSep := Encode(nil, &MessageExt{Message: Message{Topic: "T", Properties: Properties{{"A", "b"}}}})
	noSep = noSep[:len(noSep)-1] // drop the final 0x02 and fix the lengths
	noSep[len(noSep)-4] = 3      // propsLen low byte (props "A\x01b")
	noSep[3]--                   // TOTALSIZE
	if m, _, err := Decode(noSep); err != nil || m.Properties.Get("A") != "b" {
		f.Fatalf("seed without final separator: %v", err)
	}
	f.Add(noSep)
	f.Add(append(Encode(nil, sampleMsg()), Encode(nil, v6)...))
	f.Add([]byte{})
	f.Add(unhexT(f, "0000005B DAA320A7"))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := Decode(data)
		v, verr := ParseView(data)
		if (err == nil) != (verr == nil) {
			t.Fatalf("Decode err %v but ParseView err %v", err, verr)
		}
		if err != nil {
			if !IsCorrupt(err) || n != 0 {
				t.Fatalf("bad error contract: n=%d err=%v", n, err)
			}
			return
		}
		if n < MinStoredSize || n > len(data) || n != v.Len() {
			t.Fatalf("n=%d len=%d view=%d", n, len(data), v.Len())
		}
		if m.QueueOffset != v.QueueOffset() || m.StoreTimestamp != v.StoreTimestamp() ||
			string(v.Topic()) != m.Topic || TagsHashBytes(v.Tags()) != m.TagsCode() ||
			string(v.UniqKey()) != m.UniqKey() || string(v.Keys()) != m.Keys() {
			t.Fatal("View and Decode disagree")
		}
		if m.Properties.EncodedLen() > MaxPropertiesLen {
			return // canonical form of these properties no longer fits (e.g. added final 0x02)
		}
		b := Encode(nil, &m)
		if len(b) != EncodedSize(&m) {
			t.Fatal("EncodedSize mismatch")
		}
		m2, n2, err := Decode(b)
		if err != nil || n2 != len(b) {
			t.Fatalf("re-decode: n=%d err=%v", n2, err)
		}
		if !equalMsg(&m, &m2) {
			t.Fatalf("Decode(Encode(m)) != m\n m=%+v\nm2=%+v", m, m2)
		}
		if !bytes.Equal(Encode(nil, &m2), b) {
			t.Fatal("Encode is not a fixpoint")
		}
		// Canonical input (properties as we write them, magic as we choose)
		// must come back byte for byte.
		canonicalMagic := (len(m.Topic) > MaxTopicLen) == (v.Magic() == MagicV2)
		if canonicalMagic && m.Properties.String() == string(v.PropertiesBytes()) && !bytes.Equal(b, data[:n]) {
			t.Fatalf("canonical record not reproduced\n in %x\nout %x", data[:n], b)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, []Message{{Flag: 7, Body: []byte("hi"), Properties: Properties{{"K", "v1"}}}, {Flag: -1}}))
	f.Add(AppendBatch(nil, []Message{{Body: bytes.Repeat([]byte("x"), 300), Properties: Properties{{PropTags, "a"}, {PropKeys, "k1 k2"}}}}))
	f.Add([]byte{})
	f.Add(make([]byte, 22))
	f.Add(unhexT(f, "00000017 00000000 00000000 00000000 00000000 0001 41"))

	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := DecodeBatch(data, nil)
		if err != nil {
			if len(msgs) != 0 {
				t.Fatal("messages returned with an error")
			}
			return
		}
		if len(msgs) == 0 {
			t.Fatal("no messages and no error")
		}
		for i := range msgs {
			if msgs[i].Properties.EncodedLen() > MaxPropertiesLen {
				return
			}
		}
		b := AppendBatch(nil, msgs)
		if len(b) != BatchEncodedSize(msgs) {
			t.Fatal("BatchEncodedSize mismatch")
		}
		if len(b) > MaxBodySize {
			return
		}
		again, err := DecodeBatch(b, nil)
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-decode: %d msgs, %v", len(again), err)
		}
		for i := range msgs {
			if again[i].Flag != msgs[i].Flag || !bytes.Equal(again[i].Body, msgs[i].Body) ||
				again[i].Properties.String() != msgs[i].Properties.String() {
				t.Fatalf("entry %d changed", i)
			}
		}
		if !bytes.Equal(AppendBatch(nil, again), b) {
			t.Fatal("AppendBatch is not a fixpoint")
		}
	})
}

func FuzzProperties(f *testing.F) {
	f.Add("TAGS\x01TagA\x02KEYS\x01k0\x02UNIQ_KEY\x01C000020249D7000000006981b4600001\x02")
	f.Add("TAGS\x01a")
	f.Add("A\x011\x02A\x012\x02")
	f.Add("\x01\x02\x01\x01\x02k\x01\x01v")
	f.Add("")
	f.Add("标签\x01🚀\x02\xff\x01\xfe")

	f.Fuzz(func(t *testing.T, s string) {
		p := ParseProperties(s)
		wantMap, order := javaParse(s)
		if !maps.Equal(p.Map(), wantMap) || len(p) != len(order) {
			t.Fatalf("differs from the Java twin: %q vs %q", p, wantMap)
		}
		for i, k := range order {
			if p[i].Key != k {
				t.Fatal("order differs from first occurrence")
			}
			if v, ok := LookupProperty([]byte(s), k); !ok || string(v) != wantMap[k] {
				t.Fatalf("LookupProperty(%q) = %q,%v", k, v, ok)
			}
		}
		enc := p.String()
		if len(enc) != p.EncodedLen() {
			t.Fatal("EncodedLen mismatch")
		}
		if err := p.Validate(); err != nil && len(enc) <= MaxPropertiesLen {
			t.Fatalf("parsed properties fail Validate: %v", err)
		}
		back := ParseProperties(enc)
		if len(back) != len(p) {
			t.Fatal("ParseProperties(p.String()) changed the length")
		}
		for i := range p {
			if back[i] != p[i] {
				t.Fatalf("round trip changed %q to %q", p[i], back[i])
			}
		}
	})
}
