package dledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Index file layout (FORMAT.md, "Index file"). Frozen.
const (
	indexMagic      = "DLIX"
	indexVersion    = 1
	indexHeaderSize = 64
	indexSlotSize   = 16
	indexFileExt    = ".idx"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// indexSeg is one mapped index file holding slots for raft indexes
// [base, base+cap).
type indexSeg struct {
	name   string
	f      vfs.File
	m      vfs.Mapping
	b      []byte
	base   uint64
	cap    uint64
	synced uint64 // slots [0, synced) are durable (header field)
}

func (s *indexSeg) end() uint64 { return s.base + s.cap }

func (s *indexSeg) close() error {
	err := s.m.Unmap()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func indexFileName(base uint64) string { return fmt.Sprintf("%020d%s", base, indexFileExt) }

func encodeIndexHeader(b []byte, base, capacity, synced uint64) {
	clear(b[:indexHeaderSize])
	copy(b[0:4], indexMagic)
	binary.LittleEndian.PutUint16(b[4:], indexVersion)
	binary.LittleEndian.PutUint16(b[6:], indexSlotSize)
	binary.LittleEndian.PutUint64(b[8:], base)
	binary.LittleEndian.PutUint64(b[16:], capacity)
	binary.LittleEndian.PutUint64(b[24:], synced)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
}

func decodeIndexHeader(b []byte) (base, capacity, synced uint64, err error) {
	if len(b) < indexHeaderSize {
		return 0, 0, 0, fmt.Errorf("dledger: index header short: %w", ErrIndexCorrupt)
	}
	if string(b[0:4]) != indexMagic {
		return 0, 0, 0, fmt.Errorf("dledger: index header magic %q: %w", b[0:4], ErrIndexCorrupt)
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.LittleEndian.Uint32(b[60:]) {
		return 0, 0, 0, fmt.Errorf("dledger: index header checksum: %w", ErrIndexCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != indexVersion {
		return 0, 0, 0, fmt.Errorf("dledger: index version %d: %w", v, ErrIndexCorrupt)
	}
	if s := binary.LittleEndian.Uint16(b[6:]); s != indexSlotSize {
		return 0, 0, 0, fmt.Errorf("dledger: index slot size %d: %w", s, ErrIndexCorrupt)
	}
	base = binary.LittleEndian.Uint64(b[8:])
	capacity = binary.LittleEndian.Uint64(b[16:])
	synced = binary.LittleEndian.Uint64(b[24:])
	if base == 0 || capacity == 0 || capacity > 1<<32 || synced > capacity {
		return 0, 0, 0, fmt.Errorf("dledger: index header fields base=%d cap=%d synced=%d: %w",
			base, capacity, synced, ErrIndexCorrupt)
	}
	return base, capacity, synced, nil
}

func slotCRC(index uint64, off int64, n uint32) uint32 {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:], index)
	binary.LittleEndian.PutUint64(b[8:], uint64(off))
	binary.LittleEndian.PutUint32(b[16:], n)
	return crc32.Checksum(b[:], castagnoli)
}

// indexFiles maps raft index → (record offset, record data length) through
// fixed-width slots in a run of mapped files, each named by the raft index of
// its first slot and holding cap slots. The files are contiguous.
//
// The index is derived data: the commit log is the source of truth. Slot
// writes go to the mapping and become durable in batches (flushEvery slots,
// then the header's synced count is advanced and flushed); on open only the
// synced slots are trusted and the rest is rebuilt from the commit log.
//
// indexFiles does no locking: the LogStore serialises mutations and lets
// readers call get only under its read lock.
type indexFiles struct {
	fs         vfs.FS
	dir        string
	cap        uint64 // slots per new file
	flushEvery uint64 // unsynced slots that trigger a flush
	logger     *slog.Logger

	segs []*indexSeg
	next uint64 // raft index of the next slot to write
}

// openIndex loads the index files in dir, keeping the longest trustworthy
// run: valid headers, contiguous, every file but the last fully synced. It
// removes the files it does not trust. next is set to the end of the synced
// slots of the last file (0 when there are none).
func openIndex(fsys vfs.FS, dir string, capacity, flushEvery uint64, logger *slog.Logger) (*indexFiles, error) {
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("dledger: index dir %s: %w", dir, err)
	}
	ix := &indexFiles{fs: fsys, dir: dir, cap: capacity, flushEvery: max(flushEvery, 1), logger: logger}
	names, err := fsys.List(dir)
	if err != nil {
		return nil, fmt.Errorf("dledger: list index dir %s: %w", dir, err)
	}
	var drop []string
	for _, name := range names {
		if !strings.HasSuffix(name, indexFileExt) {
			continue
		}
		if _, perr := strconv.ParseUint(strings.TrimSuffix(name, indexFileExt), 10, 64); perr != nil {
			continue
		}
		if len(drop) > 0 {
			drop = append(drop, name)
			continue
		}
		seg, err := ix.openSeg(name)
		if err != nil {
			logger.Warn("dledger: index file untrusted, will rebuild from the commit log", "file", name, "err", err)
			drop = append(drop, name)
			continue
		}
		if n := len(ix.segs); n > 0 {
			prev := ix.segs[n-1]
			if prev.end() != seg.base || prev.synced != prev.cap {
				_ = seg.close()
				drop = append(drop, name)
				continue
			}
		}
		ix.segs = append(ix.segs, seg)
	}
	for _, name := range drop {
		if err := fsys.Remove(path.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			ix.closeAll()
			return nil, fmt.Errorf("dledger: remove untrusted index file %s: %w", name, err)
		}
	}
	if len(drop) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			ix.closeAll()
			return nil, fmt.Errorf("dledger: sync index dir: %w", err)
		}
	}
	if n := len(ix.segs); n > 0 {
		last := ix.segs[n-1]
		ix.next = last.base + last.synced
	}
	return ix, nil
}

func (ix *indexFiles) openSeg(name string) (*indexSeg, error) {
	p := path.Join(ix.dir, name)
	f, err := ix.fs.Open(p)
	if err != nil {
		return nil, err
	}
	var hb [indexHeaderSize]byte
	if _, err := f.ReadAt(hb[:], 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("read header: %w", err)
	}
	base, capacity, synced, err := decodeIndexHeader(hb[:])
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if name != indexFileName(base) {
		_ = f.Close()
		return nil, fmt.Errorf("dledger: index file %s has base %d: %w", name, base, ErrIndexCorrupt)
	}
	size := int64(indexHeaderSize + capacity*indexSlotSize)
	if got, err := f.Size(); err != nil || got < size {
		_ = f.Close()
		return nil, fmt.Errorf("dledger: index file %s size %d, want %d (%v): %w", name, got, size, err, ErrIndexCorrupt)
	}
	m, err := f.Map(int(size))
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &indexSeg{name: p, f: f, m: m, b: m.Bytes(), base: base, cap: capacity, synced: synced}, nil
}

func (ix *indexFiles) createSeg(base uint64) (*indexSeg, error) {
	p := path.Join(ix.dir, indexFileName(base))
	f, err := ix.fs.Create(p)
	if err != nil {
		return nil, fmt.Errorf("dledger: create index file: %w", err)
	}
	size := int64(indexHeaderSize + ix.cap*indexSlotSize)
	fail := func(err error) (*indexSeg, error) {
		_ = f.Close()
		_ = ix.fs.Remove(p)
		return nil, fmt.Errorf("dledger: create index file %s: %w", p, err)
	}
	var hb [indexHeaderSize]byte
	encodeIndexHeader(hb[:], base, ix.cap, 0)
	if err := f.Allocate(size); err != nil {
		return fail(err)
	}
	if _, err := f.WriteAt(hb[:], 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := ix.fs.SyncDir(ix.dir); err != nil {
		return fail(err)
	}
	m, err := f.Map(int(size))
	if err != nil {
		return fail(err)
	}
	return &indexSeg{name: p, f: f, m: m, b: m.Bytes(), base: base, cap: ix.cap}, nil
}

// first is the raft index of the first slot (0 when there are no files).
func (ix *indexFiles) first() uint64 {
	if len(ix.segs) == 0 {
		return 0
	}
	return ix.segs[0].base
}

func (ix *indexFiles) seg(index uint64) *indexSeg {
	i := sort.Search(len(ix.segs), func(i int) bool { return ix.segs[i].end() > index })
	if i == len(ix.segs) || ix.segs[i].base > index {
		return nil
	}
	return ix.segs[i]
}

// get returns the slot of index, which must be below next.
func (ix *indexFiles) get(index uint64) (off int64, n uint32, err error) {
	s := ix.seg(index)
	if s == nil || index >= ix.next {
		return 0, 0, fmt.Errorf("dledger: index %d outside the index file [%d,%d): %w",
			index, ix.first(), ix.next, ErrIndexCorrupt)
	}
	b := s.b[indexHeaderSize+(index-s.base)*indexSlotSize:]
	off = int64(binary.LittleEndian.Uint64(b[0:]))
	n = binary.LittleEndian.Uint32(b[8:])
	if binary.LittleEndian.Uint32(b[12:]) != slotCRC(index, off, n) {
		return 0, 0, fmt.Errorf("dledger: index slot %d checksum: %w", index, ErrIndexCorrupt)
	}
	return off, n, nil
}

// add writes the slot for index next and advances next. A new file is
// created when the last one is full (sealing it: all slots flushed, synced =
// cap). When the index is empty, the first add fixes the base.
func (ix *indexFiles) add(off int64, n uint32) error {
	last := ix.last()
	if last == nil || ix.next == last.end() {
		if last != nil {
			if err := ix.flushSeg(last, last.cap); err != nil {
				return err
			}
		}
		s, err := ix.createSeg(ix.next)
		if err != nil {
			return err
		}
		ix.segs = append(ix.segs, s)
		last = s
	}
	b := last.b[indexHeaderSize+(ix.next-last.base)*indexSlotSize:]
	binary.LittleEndian.PutUint64(b[0:], uint64(off))
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint32(b[12:], slotCRC(ix.next, off, n))
	ix.next++
	return nil
}

func (ix *indexFiles) last() *indexSeg {
	if len(ix.segs) == 0 {
		return nil
	}
	return ix.segs[len(ix.segs)-1]
}

// maybeFlush makes the written slots of the last file durable once at least
// flushEvery of them are pending (or any are, with force).
func (ix *indexFiles) maybeFlush(force bool) error {
	last := ix.last()
	if last == nil {
		return nil
	}
	upto := ix.next - last.base
	if upto <= last.synced || (!force && upto-last.synced < ix.flushEvery) {
		return nil
	}
	return ix.flushSeg(last, upto)
}

// flushSeg makes slots [synced, upto) durable, then the header recording it.
func (ix *indexFiles) flushSeg(s *indexSeg, upto uint64) error {
	if upto > s.synced {
		from := indexHeaderSize + int(s.synced)*indexSlotSize
		if err := s.m.Flush(from, int(upto-s.synced)*indexSlotSize); err != nil {
			return fmt.Errorf("dledger: flush index slots: %w", err)
		}
	}
	return ix.setSynced(s, upto)
}

func (ix *indexFiles) setSynced(s *indexSeg, synced uint64) error {
	encodeIndexHeader(s.b, s.base, s.cap, synced)
	if err := s.m.Flush(0, indexHeaderSize); err != nil {
		return fmt.Errorf("dledger: flush index header: %w", err)
	}
	s.synced = synced
	return nil
}

// truncate forgets slots >= next, durably: files wholly past it are removed
// and the last one's synced count is lowered before this returns, so a
// commit-log truncation that follows can never be contradicted by stale
// slots after a crash.
func (ix *indexFiles) truncate(next uint64) error {
	if next >= ix.next {
		return nil
	}
	removed := false
	for len(ix.segs) > 0 && ix.last().base >= next {
		s := ix.last()
		ix.segs = ix.segs[:len(ix.segs)-1]
		_ = s.close()
		if err := ix.fs.Remove(s.name); err != nil {
			return fmt.Errorf("dledger: remove index file: %w", err)
		}
		removed = true
	}
	if removed {
		if err := ix.fs.SyncDir(ix.dir); err != nil {
			return fmt.Errorf("dledger: sync index dir: %w", err)
		}
	}
	if s := ix.last(); s != nil && s.synced > next-s.base {
		if err := ix.setSynced(s, next-s.base); err != nil {
			return err
		}
	}
	ix.next = next
	return nil
}

// reset removes every file; the next add starts a new index at next.
func (ix *indexFiles) reset(next uint64) error {
	for _, s := range ix.segs {
		_ = s.close()
		if err := ix.fs.Remove(s.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dledger: remove index file: %w", err)
		}
	}
	ix.segs = nil
	ix.next = next
	if err := ix.fs.SyncDir(ix.dir); err != nil {
		return fmt.Errorf("dledger: sync index dir: %w", err)
	}
	return nil
}

// dropBefore removes files whose slots all lie below index.
func (ix *indexFiles) dropBefore(index uint64) error {
	n := 0
	for n < len(ix.segs)-1 && ix.segs[n].end() <= index {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, s := range ix.segs[:n] {
		_ = s.close()
		if err := ix.fs.Remove(s.name); err != nil {
			return fmt.Errorf("dledger: remove index file: %w", err)
		}
	}
	ix.segs = append([]*indexSeg(nil), ix.segs[n:]...)
	if err := ix.fs.SyncDir(ix.dir); err != nil {
		return fmt.Errorf("dledger: sync index dir: %w", err)
	}
	return nil
}

func (ix *indexFiles) closeAll() error {
	var errs []error
	for _, s := range ix.segs {
		errs = append(errs, s.close())
	}
	ix.segs = nil
	return errors.Join(errs...)
}

// close flushes pending slots and closes the files.
func (ix *indexFiles) close() error {
	err := ix.maybeFlush(true)
	return errors.Join(err, ix.closeAll())
}
