package indexfile

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk format constants. FROZEN: changing any of them changes the file
// format and needs a new version number (see FORMAT.md).
const (
	fileMagic      = "DMIX"
	fileVersion    = 1
	headerCopySize = 64  // one header copy
	headerSize     = 128 // two copies, written alternately
	headerCRCOff   = 60
	slotSize       = 4
	entrySize      = 32
	entryCRCOff    = 28
	fileNameDigits = 20

	flagClean    = 1 << 0 // no slot points past count: slots need no repair
	flagMonotone = 1 << 1 // store times never decrease along the entries
	knownFlags   = flagClean | flagMonotone
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// layout is where things are in a file with the given slot and entry counts.
type layout struct {
	slots, capacity uint32
	entryBase       int64 // byte offset of entry number 1
	size            int64 // file size
}

func layoutFor(slots, capacity uint32) layout {
	eb := (headerSize + int64(slots)*slotSize + entrySize - 1) / entrySize * entrySize
	return layout{slots: slots, capacity: capacity, entryBase: eb, size: eb + int64(capacity)*entrySize}
}

// entryOff returns the byte offset of entry number n (1-based).
func (l layout) entryOff(n uint32) int64 { return l.entryBase + int64(n-1)*entrySize }

// slotOff returns the byte offset of slot s.
func slotOff(s uint32) int64 { return headerSize + int64(s)*slotSize }

// header is one decoded header copy.
type header struct {
	flags     uint16
	slots     uint32
	capacity  uint32
	count     uint32 // entries 1..count are durable
	seq       uint32 // header write sequence; copy seq%2 holds it
	beginPhys int64  // phys of entry 1
	endPhys   int64  // phys of entry count
	beginTime int64  // lower bound of the store times of the entries
	endTime   int64  // upper bound of the store times of the entries
}

func encodeHeader(b []byte, h header) {
	_ = b[headerCopySize-1]
	clear(b[:headerCopySize])
	copy(b[0:4], fileMagic)
	binary.LittleEndian.PutUint16(b[4:], fileVersion)
	binary.LittleEndian.PutUint16(b[6:], h.flags)
	binary.LittleEndian.PutUint32(b[8:], h.slots)
	binary.LittleEndian.PutUint32(b[12:], h.capacity)
	binary.LittleEndian.PutUint32(b[16:], h.count)
	binary.LittleEndian.PutUint32(b[20:], h.seq)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.beginPhys))
	binary.LittleEndian.PutUint64(b[32:], uint64(h.endPhys))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.beginTime))
	binary.LittleEndian.PutUint64(b[48:], uint64(h.endTime))
	binary.LittleEndian.PutUint32(b[headerCRCOff:], crc32.Checksum(b[:headerCRCOff], castagnoli))
}

// decodeHeader decodes one header copy; ok is false if it is not a sound one.
func decodeHeader(b []byte) (h header, ok bool) {
	if len(b) < headerCopySize || string(b[0:4]) != fileMagic ||
		binary.LittleEndian.Uint16(b[4:]) != fileVersion ||
		crc32.Checksum(b[:headerCRCOff], castagnoli) != binary.LittleEndian.Uint32(b[headerCRCOff:]) ||
		binary.LittleEndian.Uint32(b[56:]) != 0 {
		return header{}, false
	}
	h = header{
		flags:     binary.LittleEndian.Uint16(b[6:]),
		slots:     binary.LittleEndian.Uint32(b[8:]),
		capacity:  binary.LittleEndian.Uint32(b[12:]),
		count:     binary.LittleEndian.Uint32(b[16:]),
		seq:       binary.LittleEndian.Uint32(b[20:]),
		beginPhys: int64(binary.LittleEndian.Uint64(b[24:])),
		endPhys:   int64(binary.LittleEndian.Uint64(b[32:])),
		beginTime: int64(binary.LittleEndian.Uint64(b[40:])),
		endTime:   int64(binary.LittleEndian.Uint64(b[48:])),
	}
	if h.flags&^knownFlags != 0 || h.slots == 0 || h.capacity == 0 || h.capacity == 1<<32-1 ||
		h.count > h.capacity || layoutFor(h.slots, h.capacity).size > maxFileSize ||
		h.beginPhys < 0 || h.endPhys < h.beginPhys {
		return header{}, false
	}
	return h, true
}

// newerSeq reports whether sequence a is after b (serial-number arithmetic,
// so the 32-bit counter may wrap).
func newerSeq(a, b uint32) bool { return int32(a-b) > 0 }

// entry is one decoded index entry.
type entry struct {
	hash      uint64
	phys      int64
	storeTime int64
	prev      uint32 // previous entry number in the same slot, 0 = none
}

// entryCRC is the CRC32-C of the entry number (4 bytes, little endian)
// followed by bytes 0..27 of the entry.
func entryCRC(n uint32, b []byte) uint32 {
	// The 4 number bytes slicing-by-4 (independent lookups, no buffer).
	t := &crcSlicing4
	x := ^uint32(0) ^ n
	numCRC := ^(t[3][x&0xff] ^ t[2][x>>8&0xff] ^ t[1][x>>16&0xff] ^ t[0][x>>24])
	return crc32.Update(numCRC, castagnoli, b[:entryCRCOff])
}

// crcSlicing4 are the slicing-by-4 tables of CRC32-C: t[0] is the byte
// table, t[j][i] is i's CRC advanced by j zero bytes.
var crcSlicing4 = func() (t [4][256]uint32) {
	t[0] = *castagnoli
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 4; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

func encodeEntry(b []byte, n uint32, e entry) {
	_ = b[entrySize-1]
	binary.LittleEndian.PutUint64(b[0:], e.hash)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.phys))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.storeTime))
	binary.LittleEndian.PutUint32(b[24:], e.prev)
	binary.LittleEndian.PutUint32(b[entryCRCOff:], entryCRC(n, b))
}

// decodeEntry decodes entry number n from b; ok is false if it is all
// zero (unwritten), its checksum does not match, its phys is negative or
// its prev link does not point backwards.
func decodeEntry(b []byte, n uint32) (entry, bool) {
	_ = b[entrySize-1]
	e := entry{
		hash:      binary.LittleEndian.Uint64(b[0:]),
		phys:      int64(binary.LittleEndian.Uint64(b[8:])),
		storeTime: int64(binary.LittleEndian.Uint64(b[16:])),
		prev:      binary.LittleEndian.Uint32(b[24:]),
	}
	crc := binary.LittleEndian.Uint32(b[entryCRCOff:])
	if crc == 0 && e.hash == 0 && e.phys == 0 && e.storeTime == 0 && e.prev == 0 {
		return entry{}, false // all zero: never written
	}
	return e, e.phys >= 0 && e.prev < n && crc == entryCRC(n, b)
}

// hashKey is the 64-bit key hash stored in entries: FNV-1a 64 followed by
// the murmur3 fmix64 finalizer (so hash % slots is well spread). FROZEN.
func hashKey(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
