package consumequeue

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk format constants. FROZEN: changing any of them changes the file
// format and needs a new version number (see FORMAT.md).
const (
	// fileMagic starts every queue file.
	fileMagic = "DMCQ"
	// fileVersion is the queue file format version.
	fileVersion uint16 = 1
	// headerSize is the size of the queue file header in bytes.
	headerSize = 64
	// entrySize is the size of one queue entry in bytes.
	entrySize = 32
	// entryCRCOff is where an entry's CRC32-C sits.
	entryCRCOff = 28
	// headerCRCOff is where the header's CRC32-C sits.
	headerCRCOff = 60
	// fileNameDigits is the width of a queue file name (its base offset).
	fileNameDigits = 20
	// maxEntriesPerFile bounds a file to 2 GiB so it can be mapped whole.
	maxEntriesPerFile = (1<<31 - headerSize) / entrySize
	// maxQueueOffset bounds queue offsets so offset arithmetic never overflows.
	maxQueueOffset = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one consume-queue entry: where a message sits in the commit log
// plus what a pull filter and a time search need without reading it.
type Entry struct {
	// Phys is the commit-log offset of the message (opaque to this package).
	Phys int64
	// Size is the message size in bytes; it must be > 0 (0 marks an
	// unwritten entry on disk).
	Size int32
	// TagHash is the hash of the message tag (RocketMQ's tagsCode).
	TagHash int64
	// StoreTime is the broker store timestamp in Unix milliseconds.
	StoreTime int64
}

// entryCRC is the CRC32-C of the queue offset (8 bytes, little endian)
// followed by the first 28 bytes of the encoded entry. Folding the queue
// offset in catches an entry found at the wrong position.
func entryCRC(qoff int64, b []byte) uint32 {
	return crc32.Update(offsetCRC(qoff), castagnoli, b[:entryCRCOff])
}

// offsetCRC is crc32.Checksum of the 8 little-endian bytes of v, computed
// slicing-by-8 from tables so no buffer escapes to the heap and the eight
// lookups are independent.
func offsetCRC(v int64) uint32 {
	t := &crcSlicing8
	lo := ^uint32(0) ^ uint32(v)
	hi := uint32(uint64(v) >> 32)
	return ^(t[7][lo&0xff] ^ t[6][lo>>8&0xff] ^ t[5][lo>>16&0xff] ^ t[4][lo>>24] ^
		t[3][hi&0xff] ^ t[2][hi>>8&0xff] ^ t[1][hi>>16&0xff] ^ t[0][hi>>24])
}

// crcSlicing8 are the slicing-by-8 tables of CRC32-C (as hash/crc32 builds
// them): t[0] is the byte table, t[j][i] is i's CRC advanced by j zero bytes.
var crcSlicing8 = func() (t [8][256]uint32) {
	t[0] = *castagnoli
	for i := range 256 {
		crc := t[0][i]
		for j := 1; j < 8; j++ {
			crc = t[0][crc&0xff] ^ crc>>8
			t[j][i] = crc
		}
	}
	return t
}()

// encodeEntry writes e, which lives at queue offset qoff, into b[:entrySize].
func encodeEntry(b []byte, qoff int64, e Entry) {
	_ = b[entrySize-1]
	binary.LittleEndian.PutUint64(b[0:], uint64(e.Phys))
	binary.LittleEndian.PutUint64(b[8:], uint64(e.TagHash))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.StoreTime))
	binary.LittleEndian.PutUint32(b[24:], uint32(e.Size))
	binary.LittleEndian.PutUint32(b[entryCRCOff:], entryCRC(qoff, b))
}

// entryState classifies the bytes of one on-disk entry.
type entryState uint8

const (
	entryValid entryState = iota // size > 0 and CRC matches
	entryEmpty                   // all 32 bytes zero: never written
	entryBad                     // anything else: torn or corrupt
)

// decodeEntry decodes b[:entrySize], found at queue offset qoff.
func decodeEntry(b []byte, qoff int64) (Entry, entryState) {
	_ = b[entrySize-1]
	e := Entry{
		Phys:      int64(binary.LittleEndian.Uint64(b[0:])),
		TagHash:   int64(binary.LittleEndian.Uint64(b[8:])),
		StoreTime: int64(binary.LittleEndian.Uint64(b[16:])),
		Size:      int32(binary.LittleEndian.Uint32(b[24:])),
	}
	crc := binary.LittleEndian.Uint32(b[entryCRCOff:])
	if e.Size > 0 && e.Phys >= 0 && crc == entryCRC(qoff, b) {
		return e, entryValid
	}
	if e.Size == 0 && crc == 0 && e.Phys == 0 && e.TagHash == 0 && e.StoreTime == 0 {
		return Entry{}, entryEmpty
	}
	return e, entryBad
}

// fileHeader is the decoded header of a queue file.
type fileHeader struct {
	entriesPerFile int64
	queueID        int32
	topicHash      uint32
	base           int64 // first queue offset the file can hold (its name)
	start          int64 // first queue offset written in it (>= base)
}

func topicHash(topic string) uint32 {
	return crc32.Checksum([]byte(topic), castagnoli)
}

func encodeHeader(b []byte, h fileHeader) {
	_ = b[headerSize-1]
	clear(b[:headerSize])
	copy(b[0:4], fileMagic)
	binary.LittleEndian.PutUint16(b[4:], fileVersion)
	binary.LittleEndian.PutUint16(b[6:], entrySize)
	binary.LittleEndian.PutUint32(b[8:], uint32(h.entriesPerFile))
	binary.LittleEndian.PutUint32(b[12:], uint32(h.queueID))
	binary.LittleEndian.PutUint64(b[16:], uint64(h.base))
	binary.LittleEndian.PutUint64(b[24:], uint64(h.start))
	binary.LittleEndian.PutUint32(b[32:], h.topicHash)
	binary.LittleEndian.PutUint32(b[headerCRCOff:], crc32.Checksum(b[:headerCRCOff], castagnoli))
}

// decodeHeader decodes a queue file header. The string says what is wrong
// with it, or is empty if the header is sound.
func decodeHeader(b []byte) (fileHeader, string) {
	if len(b) < headerSize {
		return fileHeader{}, "short header"
	}
	if string(b[0:4]) != fileMagic {
		return fileHeader{}, "bad magic"
	}
	if crc32.Checksum(b[:headerCRCOff], castagnoli) != binary.LittleEndian.Uint32(b[headerCRCOff:]) {
		return fileHeader{}, "header checksum mismatch"
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != fileVersion {
		return fileHeader{}, "unsupported version"
	}
	if binary.LittleEndian.Uint16(b[6:]) != entrySize {
		return fileHeader{}, "unexpected entry size"
	}
	h := fileHeader{
		entriesPerFile: int64(binary.LittleEndian.Uint32(b[8:])),
		queueID:        int32(binary.LittleEndian.Uint32(b[12:])),
		base:           int64(binary.LittleEndian.Uint64(b[16:])),
		start:          int64(binary.LittleEndian.Uint64(b[24:])),
		topicHash:      binary.LittleEndian.Uint32(b[32:]),
	}
	for _, c := range b[36:headerCRCOff] {
		if c != 0 {
			return fileHeader{}, "reserved header bytes not zero"
		}
	}
	switch {
	case h.entriesPerFile < 1 || h.entriesPerFile > maxEntriesPerFile:
		return fileHeader{}, "entries per file out of range"
	case h.base < 0 || h.base > maxQueueOffset-h.entriesPerFile:
		return fileHeader{}, "base offset out of range"
	case h.base%h.entriesPerFile != 0:
		return fileHeader{}, "base offset not a multiple of entries per file"
	case h.start < h.base || h.start-h.base >= h.entriesPerFile:
		return fileHeader{}, "start offset outside the file"
	}
	return h, ""
}

func fileSize(entriesPerFile int64) int64 { return headerSize + entriesPerFile*entrySize }
