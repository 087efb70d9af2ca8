package message

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestViewMatchesDecode(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		m := sampleMsg()
		m.SysFlag = FlagCompressed | TransactionCommitType
		m.ReconsumeTimes = 3
		m.PreparedTransactionOffset = 77
		m.Properties.Set(PropKeys, "a  b")
		if v6 {
			m.BornHost = netip.MustParseAddrPort("[2001:db8::7]:1234")
			m.StoreHost = netip.MustParseAddrPort("[2001:db8::8]:10911")
		}
		b := Encode(nil, m)
		v, err := ParseView(append(b, 1, 2, 3))
		if err != nil {
			t.Fatal(err)
		}
		d, _, _ := Decode(b)
		checks := []struct {
			name     string
			got, exp any
		}{
			{"Len", v.Len(), len(b)},
			{"Magic", v.Magic(), MagicV1},
			{"BodyCRC", v.BodyCRC(), d.BodyCRC},
			{"QueueID", v.QueueID(), d.QueueID},
			{"Flag", v.Flag(), d.Flag},
			{"QueueOffset", v.QueueOffset(), d.QueueOffset},
			{"CommitLogOffset", v.CommitLogOffset(), d.CommitLogOffset},
			{"SysFlag", v.SysFlag(), d.SysFlag},
			{"BornTimestamp", v.BornTimestamp(), d.BornTimestamp},
			{"BornHost", v.BornHost(), m.BornHost},
			{"StoreTimestamp", v.StoreTimestamp(), d.StoreTimestamp},
			{"StoreHost", v.StoreHost(), m.StoreHost},
			{"ReconsumeTimes", v.ReconsumeTimes(), int32(3)},
			{"PreparedTransactionOffset", v.PreparedTransactionOffset(), int64(77)},
			{"Topic", string(v.Topic()), "TopicTest"},
			{"Body", string(v.Body()), string(m.Body)},
			{"Props", string(v.PropertiesBytes()), m.Properties.String()},
			{"Tags", string(v.Tags()), "TagA"},
			{"TagsCode", v.TagsCode(), int64(2598919)},
			{"Keys", string(v.Keys()), "a  b"},
			{"UniqKey", string(v.UniqKey()), m.UniqKey()},
			{"OffsetMsgID", string(v.AppendOffsetMsgID(nil)), d.OffsetMsgID()},
			{"Message", equalMsg(ptr(v.Message()), &d), true},
			{"CRCValid", v.BodyCRCValid(), true},
		}
		for _, c := range checks {
			if c.got != c.exp {
				t.Errorf("v6=%v %s = %v, want %v", v6, c.name, c.got, c.exp)
			}
		}
		var keys []string
		for k := range KeysSeqBytes(v.Keys()) {
			keys = append(keys, string(k))
		}
		if len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
			t.Errorf("keys %q", keys)
		}
		if _, ok := v.Property("MISSING"); ok {
			t.Error("missing property found")
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestViewZeroValueIsSafe(t *testing.T) {
	var v View
	if v.Len() != 0 || v.QueueOffset() != 0 || v.StoreTimestamp() != 0 || v.ReconsumeTimes() != 0 ||
		v.PreparedTransactionOffset() != 0 || v.TagsCode() != 0 || len(v.Body()) != 0 || len(v.Topic()) != 0 ||
		v.BornHost().IsValid() || v.StoreHost().IsValid() || v.BodyCRCValid() || v.Message().Topic != "" {
		t.Fatal("zero View returned data")
	}
}

func TestViewBodyCRCInvalid(t *testing.T) {
	m := sampleMsg()
	m.BodyCRC++
	v, err := ParseView(Encode(nil, m))
	if err != nil || v.BodyCRCValid() {
		t.Fatalf("BodyCRCValid on a wrong CRC: err %v", err)
	}
}

func TestViewZeroAlloc(t *testing.T) {
	b := Encode(nil, bigMsg())
	var sink int64
	allocs := testing.AllocsPerRun(100, func() {
		v, err := ParseView(b)
		if err != nil {
			t.Fatal(err)
		}
		sink += v.TagsCode() + v.StoreTimestamp() + int64(v.QueueID()) + int64(len(v.Topic())+len(v.Keys())+len(v.UniqKey()))
	})
	if allocs != 0 {
		t.Fatalf("View path: %v allocs", allocs)
	}
	_ = sink
}

func TestPatch(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		m := sampleMsg()
		m.QueueOffset, m.CommitLogOffset, m.StoreTimestamp = 0, 0, 0
		newHost := netip.MustParseAddrPort("10.1.2.3:10921")
		if v6 {
			m.BornHost = netip.MustParseAddrPort("[2001:db8::7]:1234")
			m.StoreHost = netip.MustParseAddrPort("[2001:db8::8]:10911")
			newHost = netip.MustParseAddrPort("[2001:db8::9]:10921")
		}
		b := Encode(nil, m)
		if err := PatchOffsets(b, 42, 0x1234567890); err != nil {
			t.Fatal(err)
		}
		if err := PatchStoreTimestamp(b, 1700000000123); err != nil {
			t.Fatal(err)
		}
		if err := PatchStoreHost(b, newHost); err != nil {
			t.Fatal(err)
		}
		d, _, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		want := *m
		want.SysFlag = EncodedSysFlag(m)
		want.QueueOffset, want.CommitLogOffset, want.StoreTimestamp, want.StoreHost = 42, 0x1234567890, 1700000000123, newHost
		if !equalMsg(&d, &want) {
			t.Fatalf("v6=%v patched:\n got %+v\nwant %+v", v6, d, want)
		}
		if !bytes.Equal(b, Encode(nil, &want)) {
			t.Fatal("patched bytes differ from a fresh encoding")
		}
		// Family mismatch and invalid host are refused, bytes untouched.
		other := netip.MustParseAddrPort("1.2.3.4:5")
		if !v6 {
			other = netip.MustParseAddrPort("[::1]:5")
		}
		before := append([]byte(nil), b...)
		if err := PatchStoreHost(b, other); err == nil {
			t.Fatal("family mismatch accepted")
		}
		if err := PatchStoreHost(b, netip.AddrPort{}); err == nil {
			t.Fatal("invalid host accepted")
		}
		if !bytes.Equal(before, b) {
			t.Fatal("refused patch changed bytes")
		}
	}
}

func TestPatchShortOrForeign(t *testing.T) {
	b := Encode(nil, sampleMsg())
	for _, n := range []int{0, 8, 35} {
		if err := PatchOffsets(b[:n], 1, 2); !IsCorrupt(err) {
			t.Fatalf("PatchOffsets on %d bytes: %v", n, err)
		}
	}
	if err := PatchStoreTimestamp(b[:60], 1); !IsCorrupt(err) {
		t.Fatalf("PatchStoreTimestamp short: %v", err)
	}
	if err := PatchStoreHost(b[:70], netip.MustParseAddrPort("1.2.3.4:5")); !IsCorrupt(err) {
		t.Fatalf("PatchStoreHost short: %v", err)
	}
	if err := PatchOffsets(setU32(b, PosMagic, 0), 1, 2); !IsCorrupt(err) {
		t.Fatalf("PatchOffsets foreign magic: %v", err)
	}
	// Exactly the header is enough for offsets.
	if err := PatchOffsets(append([]byte(nil), b[:PosSysFlag]...), 1, 2); err != nil {
		t.Fatal(err)
	}
}
