package broker

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dledgermq/dledgermq/message"
)

// serveAsStoreHost rewrites STOREHOSTADDRESS of every stored-layout message
// in body (a fresh buffer the store handed over: a PULL, QUERY_MESSAGE or
// VIEW_MESSAGE_BY_ID body) to this broker's client-facing address.
//
// The stored bytes keep the address of the leader that wrote them (every
// replica holds the same bytes, DESIGN.md decision 2). Clients, though, use
// STOREHOST as an address: the Go client sends CONSUMER_SEND_MSG_BACK of
// its consume-timeout and orderly max-reconsume paths to msg.StoreHost
// (REMOTING.md §8 item 15), and Java tools ask the broker named by an offset
// msg id. After a failover the writer may be dead, so a served message names
// the broker serving it, which is alive at that moment and, if it is a
// follower, forwards the send-back to the leader. The physical offset is
// the same on every replica, so the offset msg id built from it resolves on
// any node of the group. See "STOREHOST of served messages" in doc.go.
//
// A record that cannot be patched (never the case for what the store
// returns: it checks each record's header) makes it stop and report; the
// records before it are patched, the rest are served as stored.
func (b *Broker) serveAsStoreHost(body []byte) {
	if err := patchStoreHosts(body, b.addr); err != nil {
		b.log.Warn("broker: cannot set STOREHOST of a served message", "err", err)
	}
}

// patchStoreHosts sets STOREHOSTADDRESS of each record of body (stored
// layout, one after another) to host.
func patchStoreHosts(body []byte, host netip.AddrPort) error {
	for pos := 0; pos < len(body); {
		if len(body)-pos < message.MinStoredSize {
			return fmt.Errorf("%w: %d trailing bytes at %d", message.ErrTruncated, len(body)-pos, pos)
		}
		size := int(int32(binary.BigEndian.Uint32(body[pos:])))
		if size < message.MinStoredSize || size > len(body)-pos {
			return fmt.Errorf("%w: record at %d says %d bytes, %d left", message.ErrCorrupt, pos, size, len(body)-pos)
		}
		if err := message.PatchStoreHost(body[pos:pos+size], host); err != nil {
			return fmt.Errorf("record at %d: %w", pos, err)
		}
		pos += size
	}
	return nil
}
