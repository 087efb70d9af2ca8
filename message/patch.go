package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The broker stores a record before Raft commits it, so the leader cannot
// know its queue offset or final physical offset yet (DESIGN.md decision 2);
// it writes zeros and fixes the fields up on a copy when serving a read. These
// helpers patch an encoded record in place. They check the record's header
// (length and magic) but not the whole record; ParseView does that.

func checkHeader(b []byte, need int) error {
	if len(b) < need {
		return fmt.Errorf("%w: %d bytes, need %d", ErrTruncated, len(b), need)
	}
	if m := binary.BigEndian.Uint32(b[PosMagic:]); m != MagicV1 && m != MagicV2 {
		return fmt.Errorf("%w: 0x%08x", ErrBadMagic, m)
	}
	return nil
}

// PatchOffsets overwrites QUEUEOFFSET (byte 20) and PHYSICALOFFSET (byte 28)
// of the record at the start of b.
func PatchOffsets(b []byte, queueOffset, physOffset int64) error {
	if err := checkHeader(b, PosSysFlag); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(b[PosQueueOffset:], uint64(queueOffset))
	binary.BigEndian.PutUint64(b[PosPhysOffset:], uint64(physOffset))
	return nil
}

// storeTsPos returns STORETIMESTAMP's position, which follows the born host.
func storeTsPos(b []byte) (int, error) {
	if err := checkHeader(b, PosBornTimestamp); err != nil {
		return 0, err
	}
	sysFlag := int32(binary.BigEndian.Uint32(b[PosSysFlag:]))
	return PosBornHost + hostLen(sysFlag&FlagBornHostV6 != 0), nil
}

// PatchStoreTimestamp overwrites STORETIMESTAMP (byte 56, or 68 with an IPv6
// born host).
func PatchStoreTimestamp(b []byte, ms int64) error {
	pos, err := storeTsPos(b)
	if err != nil {
		return err
	}
	if len(b) < pos+8 {
		return fmt.Errorf("%w: %d bytes, need %d", ErrTruncated, len(b), pos+8)
	}
	binary.BigEndian.PutUint64(b[pos:], uint64(ms))
	return nil
}

// PatchStoreHost overwrites STOREHOSTADDRESS. The host must be valid and of
// the family the record's sysFlag already has (the field cannot change size).
func PatchStoreHost(b []byte, host netip.AddrPort) error {
	pos, err := storeTsPos(b)
	if err != nil {
		return err
	}
	pos += 8
	v6 := int32(binary.BigEndian.Uint32(b[PosSysFlag:]))&FlagStoreHostV6 != 0
	if !host.Addr().IsValid() || hostIsV6(host) != v6 {
		return fmt.Errorf("%w: %v into a slot for IPv6=%v", ErrHostFamily, host, v6)
	}
	if len(b) < pos+hostLen(v6) {
		return fmt.Errorf("%w: %d bytes, need %d", ErrTruncated, len(b), pos+hostLen(v6))
	}
	appendHost(b[pos:pos], host) // writes in place: cap(b[pos:pos]) >= the field
	return nil
}
