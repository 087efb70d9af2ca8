package store

import (
	"errors"
	"reflect"
	"testing"

	"github.com/dledgermq/dledgermq/message"
)

func TestEntryHeader(t *testing.T) {
	b := appendEntryHeader(nil, cmdCommitOffsets, 3)
	b = append(b, 'x')
	c, n, payload, err := parseEntryHeader(b)
	if err != nil || c != cmdCommitOffsets || n != 3 || string(payload) != "x" {
		t.Fatalf("round trip: %v %d %q %v", c, n, payload, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"short", []byte{1, 1, 0}},
		{"type 0", []byte{0, 1, 0, 0, 0, 0, 0, 0}},
		{"unknown type", []byte{99, 1, 0, 0, 0, 0, 0, 0}},
		{"version 2", []byte{1, 2, 0, 0, 0, 0, 0, 0}},
		{"flags", []byte{1, 1, 1, 0, 0, 0, 0, 0}},
		{"huge count", []byte{1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff}},
	} {
		if _, _, _, err := parseEntryHeader(tc.data); !errors.Is(err, ErrEntryFormat) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestForEachMessage(t *testing.T) {
	var payload []byte
	for _, body := range []string{"a", "bb", "ccc"} {
		m := msg("T", 1, body)
		m.BodyCRC = message.BodyCRC(m.Body)
		payload = message.Encode(payload, m)
	}
	var got []string
	err := forEachMessage(payload, 3, func(pos int, v message.View) error {
		got = append(got, string(v.Body()))
		return nil
	})
	if err != nil || len(got) != 3 || got[2] != "ccc" {
		t.Fatalf("%v %v", got, err)
	}
	if err := forEachMessage(payload, 2, func(int, message.View) error { return nil }); !errors.Is(err, ErrEntryFormat) {
		t.Fatalf("stray bytes: %v", err)
	}
	if err := forEachMessage(payload[:len(payload)-1], 3, func(int, message.View) error { return nil }); !errors.Is(err, ErrEntryFormat) {
		t.Fatalf("truncated: %v", err)
	}
}

func sampleState() *fsmState {
	st := &fsmState{lastIndex: 77, dispatched: 123456, meta: newMetaState(), counters: map[QueueKey]int64{
		{"A", 0}: 5, {"A", 3}: 9, {"%RETRY%g", 0}: 1,
	}}
	st.meta.topics["A"] = TopicConfig{Name: "A", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, Order: true, TopicSysFlag: 1, FilterType: MultiTag}
	st.meta.topics["B"] = DefaultTopicConfig("B")
	st.meta.groups["g"] = DefaultSubscriptionGroupConfig("g")
	st.meta.offsets[offsetKey{"g", "A", 3}] = 8
	st.meta.offsets[offsetKey{"g", "B", 0}] = 0
	return st
}

func TestSnapshotRoundTrip(t *testing.T) {
	st := sampleState()
	b := encodeSnapshot(st)
	if string(encodeSnapshot(st)) != string(b) {
		t.Fatalf("encoding is not deterministic")
	}
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.lastIndex != st.lastIndex || got.dispatched != st.dispatched || !reflect.DeepEqual(got.counters, st.counters) ||
		!reflect.DeepEqual(got.meta.topics, st.meta.topics) || !reflect.DeepEqual(got.meta.groups, st.meta.groups) ||
		!reflect.DeepEqual(got.meta.offsets, st.meta.offsets) {
		t.Fatalf("round trip:\n%+v\n%+v", got, st)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		if _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := decodeSnapshot(b[:len(b)-1]); err == nil {
		t.Fatalf("truncated snapshot accepted")
	}
}

func TestMetadataEntries(t *testing.T) {
	tc := TopicConfig{Name: "T1", ReadQueueNums: 3, WriteQueueNums: 2, Perm: PermRead, Order: true}
	for _, data := range [][]byte{encodePutTopic(tc), encodeDeleteTopic("T1"), encodePutGroup(DefaultSubscriptionGroupConfig("g")), encodeDeleteGroup("g")} {
		if _, n, _, err := parseEntryHeader(data); err != nil || n != 1 {
			t.Fatalf("%x: %d %v", data, n, err)
		}
	}
	_, _, p, _ := parseEntryHeader(encodePutTopic(tc))
	r := reader{b: p}
	if got := readTopicConfig(&r); got != tc || r.done("t") != nil {
		t.Fatalf("topic %+v %v", got, r.err)
	}
	if err := (TopicConfig{Name: "bad name", ReadQueueNums: 0, Perm: 64}).Validate(); err == nil {
		t.Fatalf("invalid topic accepted")
	}
	if err := (OffsetCommit{Group: "", Topic: "T", QueueID: -1, Offset: -1}).Validate(); err == nil {
		t.Fatalf("invalid commit accepted")
	}
}

func TestTagFilter(t *testing.T) {
	a, b := message.TagsHash("TagA"), message.TagsHash("TagB")
	for _, tc := range []struct {
		f    *TagFilter
		h    int64
		want bool
	}{
		{ParseTagFilter("*"), a, true},
		{ParseTagFilter(""), 0, true},
		{ParseTagFilter("TagA"), a, true},
		{ParseTagFilter("TagA"), b, false},
		{ParseTagFilter("TagA"), 0, false},
		{ParseTagFilter(" TagA || TagB "), b, true},
		{NewTagFilter(int32(b)), b, true},
		{NewTagFilter(), a, true},
		{nil, a, true},
	} {
		if got := tc.f.MatchTagHash(tc.h); got != tc.want {
			t.Errorf("%+v match %d: %v", tc.f, tc.h, got)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(sampleState()))
	f.Add([]byte("DMQS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		// What decodes survives a round trip.
		st2, err := decodeSnapshot(encodeSnapshot(st))
		if err != nil || !reflect.DeepEqual(st2.counters, st.counters) || !reflect.DeepEqual(st2.meta.offsets, st.meta.offsets) ||
			!reflect.DeepEqual(st2.meta.topics, st.meta.topics) || !reflect.DeepEqual(st2.meta.groups, st.meta.groups) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	m := msg("T", 0, "body", message.PropKeys, "k")
	data := message.Encode(appendEntryHeader(nil, cmdMessages, 1), m)
	f.Add(data)
	f.Add(encodePutTopic(DefaultTopicConfig("T")))
	f.Add(appendOffsetCommit(appendEntryHeader(nil, cmdCommitOffsets, 1), OffsetCommit{"g", "T", 1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, n, payload, err := parseEntryHeader(b)
		if err != nil {
			return
		}
		switch c {
		case cmdMessages:
			_ = forEachMessage(payload, n, func(int, message.View) error { return nil })
		case cmdCommitOffsets:
			r := reader{b: payload}
			for i := 0; i < n && r.err == nil; i++ {
				readOffsetCommit(&r)
			}
		case cmdPutTopic:
			r := reader{b: payload}
			readTopicConfig(&r)
		case cmdPutGroup:
			r := reader{b: payload}
			readGroupConfig(&r)
		}
	})
}
