package broker

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/dledgermq/dledgermq/message"
)

func TestPatchStoreHosts(t *testing.T) {
	writer := netip.MustParseAddrPort("10.0.0.1:10911")
	server := netip.MustParseAddrPort("10.0.0.2:10921")
	var body []byte
	for i, topic := range []string{"A", "BB", "CCC"} {
		body = message.Encode(body, &message.MessageExt{
			Message:         message.Message{Topic: topic, Body: []byte{byte(i)}},
			StoreHost:       writer,
			BornHost:        writer,
			CommitLogOffset: int64(100 * i),
		})
	}
	good := append([]byte(nil), body...)
	if err := patchStoreHosts(good, server); err != nil {
		t.Fatal(err)
	}
	msgs, err := message.DecodeAll(good, nil)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("decode patched body: %d msgs, %v", len(msgs), err)
	}
	for i, m := range msgs {
		if m.StoreHost != server || m.BornHost != writer || m.CommitLogOffset != int64(100*i) {
			t.Fatalf("message %d: store %v born %v phys %d", i, m.StoreHost, m.BornHost, m.CommitLogOffset)
		}
		if want := string(message.AppendOffsetMsgID(nil, server, int64(100*i))); m.OffsetMsgID() != want {
			t.Fatalf("message %d offset msg id %s, want %s", i, m.OffsetMsgID(), want)
		}
	}
	if err := patchStoreHosts(nil, server); err != nil {
		t.Fatalf("empty body: %v", err)
	}
	// A body cut inside its last record: the whole records are patched,
	// the rest is reported, nothing is written past the end.
	cut := append([]byte(nil), body[:len(body)-3]...)
	if err := patchStoreHosts(cut, server); !errors.Is(err, message.ErrCorrupt) && !errors.Is(err, message.ErrTruncated) {
		t.Fatalf("cut body: %v", err)
	}
	if m, _, err := message.Decode(cut); err != nil || m.StoreHost != server {
		t.Fatalf("first record of the cut body: %v %v", m.StoreHost, err)
	}
	// The family cannot change: an IPv6 host does not fit an IPv4 slot.
	if err := patchStoreHosts(append([]byte(nil), body...), netip.MustParseAddrPort("[::1]:1")); !errors.Is(err, message.ErrHostFamily) {
		t.Fatalf("IPv6 into IPv4 slots: %v", err)
	}
}
