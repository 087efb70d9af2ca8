package indexfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// indexFile is one mapped index file.
//
// Slot heads are read and written with atomic 32-bit operations on the
// mapping (stored little endian), entries are written once before they are
// published by an atomic store of count and of their slot head, so Query
// needs no lock against Put beyond the Index's read lock that keeps the
// mapping alive.
type indexFile struct {
	path string
	num  int64 // file number: its name
	l    layout
	f    vfs.File
	m    vfs.Mapping
	b    []byte // m.Bytes()

	// Published for readers; written by the Index writer.
	count    atomic.Uint32 // entries 1..count are readable
	minTime  atomic.Int64  // store-time bounds of entries 1..count (after a
	maxTime  atomic.Int64  // truncation, of a superset of them)
	monotone atomic.Bool   // store times never decrease along the entries

	// Writer state (Index.wmu).
	beginPhys, endPhys int64 // of entries 1 and count
	lastTime           int64 // store time of entry count

	// Flusher state (Index.flushMu).
	synced   bool   // size and contents fdatasynced at least once
	hdrSeq   uint32 // sequence of the newest header copy
	hdrCount uint32 // count in the newest header copy
	hdrClean bool   // flagClean in the newest header copy
}

var bigEndian = binary.NativeEndian.Uint16([]byte{1, 0}) != 1

// le32 converts between a native uint32 and its little-endian memory image.
func le32(v uint32) uint32 {
	if bigEndian {
		return bits.ReverseBytes32(v)
	}
	return v
}

func (f *indexFile) slotPtr(s uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&f.b[slotOff(s)]))
}

// head returns the newest entry number in slot s (0 = empty).
func (f *indexFile) head(s uint32) uint32 { return le32(atomic.LoadUint32(f.slotPtr(s))) }

func (f *indexFile) setHead(s, n uint32) { atomic.StoreUint32(f.slotPtr(s), le32(n)) }

func (f *indexFile) slotOf(hash uint64) uint32 { return uint32(hash % uint64(f.l.slots)) }

func (f *indexFile) entryBytes(n uint32) []byte {
	off := f.l.entryOff(n)
	return f.b[off : off+entrySize : off+entrySize]
}

// entry decodes entry number n, which must be in 1..capacity.
func (f *indexFile) entry(n uint32) (entry, error) {
	e, ok := decodeEntry(f.entryBytes(n), n)
	if !ok {
		return entry{}, fmt.Errorf("%w: %s: entry %d: checksum or link mismatch", ErrCorrupt, f.path, n)
	}
	return e, nil
}

func fileName(num int64) string { return fmt.Sprintf("%0*d", fileNameDigits, num) }

func parseFileName(name string) (int64, bool) {
	if len(name) != fileNameDigits {
		return 0, false
	}
	var v int64
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < '0' || c > '9' || v > (1<<63-1-int64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// headerLocked returns the header describing entries 1..cnt. Caller holds
// the Index writer lock.
func (f *indexFile) headerLocked(cnt uint32, clean bool) header {
	h := header{slots: f.l.slots, capacity: f.l.capacity, count: cnt}
	if clean {
		h.flags |= flagClean
	}
	if f.monotone.Load() {
		h.flags |= flagMonotone
	}
	if cnt > 0 {
		h.beginPhys, h.endPhys = f.beginPhys, f.endPhys
		h.beginTime, h.endTime = f.minTime.Load(), f.maxTime.Load()
	}
	return h
}

// writeHeader writes h as the next header copy and msyncs it. Caller holds
// the Index flush lock (and has synced the entries h describes).
func (f *indexFile) writeHeader(h header) error {
	h.seq = f.hdrSeq + 1
	off := int(h.seq%2) * headerCopySize
	encodeHeader(f.b[off:], h)
	if err := f.m.Flush(off, headerCopySize); err != nil {
		return fmt.Errorf("indexfile: flush header of %s: %w", f.path, err)
	}
	f.hdrSeq, f.hdrCount, f.hdrClean = h.seq, h.count, h.flags&flagClean != 0
	return nil
}

// syncAndSeal fdatasyncs the file and then writes a header for cnt entries.
func (f *indexFile) syncAndSeal(h header) error {
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("indexfile: sync %s: %w", f.path, err)
	}
	f.synced = true
	return f.writeHeader(h)
}

// createIndexFile creates, preallocates and maps a new file and writes its
// first header copy (empty, not clean). Nothing is synced; the next Flush
// makes the file durable.
func createIndexFile(fsys vfs.FS, dir string, num int64, l layout) (*indexFile, error) {
	path := filepath.Join(dir, fileName(num))
	fh, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("indexfile: create %s: %w", path, err)
	}
	fail := func(err error) (*indexFile, error) {
		fh.Close()
		fsys.Remove(path)
		return nil, err
	}
	if err := fh.Allocate(l.size); err != nil {
		return fail(fmt.Errorf("indexfile: allocate %s: %w", path, err))
	}
	m, err := fh.Map(int(l.size))
	if err != nil {
		return fail(fmt.Errorf("indexfile: map %s: %w", path, err))
	}
	f := &indexFile{path: path, num: num, l: l, f: fh, m: m, b: m.Bytes()}
	f.monotone.Store(true)
	h := f.headerLocked(0, false)
	h.seq = 1
	encodeHeader(f.b[headerCopySize:], h)
	f.hdrSeq = 1
	return f, nil
}

// errBadFile marks a file whose headers or size are unusable.
var errBadFile = errors.New("indexfile: bad index file")

// openIndexFile opens and maps an existing file, taking the newest sound
// header copy. Content problems wrap errBadFile.
func openIndexFile(fsys vfs.FS, path string, num int64) (*indexFile, header, error) {
	fh, err := fsys.Open(path)
	if err != nil {
		return nil, header{}, fmt.Errorf("indexfile: open %s: %w", path, err)
	}
	size, err := fh.Size()
	if err != nil {
		fh.Close()
		return nil, header{}, fmt.Errorf("indexfile: size of %s: %w", path, err)
	}
	var hb [headerSize]byte
	if size < headerSize {
		fh.Close()
		return nil, header{}, fmt.Errorf("%w: %s: %d bytes", errBadFile, path, size)
	}
	if _, err := fh.ReadAt(hb[:], 0); err != nil {
		fh.Close()
		return nil, header{}, fmt.Errorf("indexfile: read %s: %w", path, err)
	}
	var h header
	found := false
	for c := 0; c < 2; c++ {
		x, ok := decodeHeader(hb[c*headerCopySize:])
		if ok && int(x.seq%2) == c && (!found || newerSeq(x.seq, h.seq)) {
			h, found = x, true
		}
	}
	problem := ""
	l := layoutFor(h.slots, h.capacity)
	switch {
	case !found:
		problem = "no sound header copy"
	case size != l.size:
		problem = fmt.Sprintf("size %d, header implies %d", size, l.size)
	}
	if problem != "" {
		fh.Close()
		return nil, header{}, fmt.Errorf("%w: %s: %s", errBadFile, path, problem)
	}
	m, err := fh.Map(int(size))
	if err != nil {
		fh.Close()
		return nil, header{}, fmt.Errorf("indexfile: map %s: %w", path, err)
	}
	f := &indexFile{path: path, num: num, l: l, f: fh, m: m, b: m.Bytes(),
		beginPhys: h.beginPhys, endPhys: h.endPhys,
		synced: true, hdrSeq: h.seq, hdrCount: h.count, hdrClean: h.flags&flagClean != 0}
	f.count.Store(h.count)
	f.minTime.Store(h.beginTime)
	f.maxTime.Store(h.endTime)
	f.monotone.Store(h.flags&flagMonotone != 0)
	return f, h, nil
}

// append writes entry e as number count+1 and publishes it. Caller holds
// the Index writer lock and has checked there is room.
func (f *indexFile) append(e entry) {
	n := f.count.Load() + 1
	s := f.slotOf(e.hash)
	e.prev = f.head(s)
	encodeEntry(f.entryBytes(n), n, e)
	// Stats first: a reader that sees the new head must see them.
	if n == 1 {
		f.beginPhys = e.phys
		f.minTime.Store(e.storeTime)
		f.maxTime.Store(e.storeTime)
		f.monotone.Store(true)
	} else {
		if e.storeTime < f.lastTime {
			f.monotone.Store(false)
		}
		if e.storeTime < f.minTime.Load() {
			f.minTime.Store(e.storeTime)
		}
		if e.storeTime > f.maxTime.Load() {
			f.maxTime.Store(e.storeTime)
		}
	}
	f.endPhys, f.lastTime = e.phys, e.storeTime
	f.count.Store(n)
	f.setHead(s, n)
}

// collect appends to out the phys offsets of entries in this file with key
// hash h, store time in [begin, end] and phys >= minPhys, newest first,
// skipping a phys equal to the last result (out[base:] are the results so
// far), until out has limit elements. done reports that older files cannot
// match (phys fell below minPhys).
func (f *indexFile) collect(out []int64, base int, h uint64, begin, end, minPhys int64, limit int) (_ []int64, done bool, err error) {
	n := f.head(f.slotOf(h))
	cnt := f.count.Load()
	mono := f.monotone.Load()
	for n != 0 && len(out) < limit {
		if n > cnt {
			return out, true, fmt.Errorf("%w: %s: slot points at entry %d of %d", ErrCorrupt, f.path, n, cnt)
		}
		e, err := f.entry(n)
		if err != nil {
			return out, true, err
		}
		if e.phys < minPhys {
			return out, true, nil
		}
		if e.hash == h && e.storeTime >= begin && e.storeTime <= end &&
			(len(out) == base || out[len(out)-1] != e.phys) {
			out = append(out, e.phys)
		}
		if mono && e.storeTime < begin {
			break
		}
		n = e.prev
	}
	return out, false, nil
}

// searchPhys returns the number of entries among 1..cnt with phys < phys
// (entries are in phys order).
func (f *indexFile) searchPhys(cnt uint32, phys int64) (uint32, error) {
	lo, hi := uint32(1), cnt+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := f.entry(mid)
		if err != nil {
			return 0, err
		}
		if e.phys >= phys {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// truncateLocked drops entries newCount+1..count, repairing the slot heads
// that point at them by walking each one's chain back below newCount (the
// dropped entries are intact, so their links are trustworthy). The caller
// then makes it durable with shrinkDurably. Caller holds the Index write
// locks with readers excluded.
func (f *indexFile) truncateLocked(newCount uint32) error {
	cnt := f.count.Load()
	for n := newCount + 1; n <= cnt; n++ {
		e, err := f.entry(n)
		if err != nil {
			return err
		}
		s := f.slotOf(e.hash)
		h := f.head(s)
		for h > newCount {
			if h > cnt {
				return fmt.Errorf("%w: %s: slot %d points at entry %d of %d", ErrCorrupt, f.path, s, h, cnt)
			}
			x, err := f.entry(h)
			if err != nil {
				return err
			}
			h = x.prev
		}
		f.setHead(s, h)
	}
	return f.setCountLocked(newCount)
}

// shrinkDurably makes a smaller count durable and then zeroes the entries
// after it up to upto. The order matters: until the header with the new
// count is durable, recovery may still read the old count and the entries
// under it, so they stay intact until then. Caller holds the flush lock and
// has set count (and fixed the slots) in memory.
func (f *indexFile) shrinkDurably(h header, upto uint32) error {
	if err := f.syncAndSeal(h); err != nil {
		return err
	}
	if f.zeroEntries(h.count+1, upto) {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("indexfile: sync %s: %w", f.path, err)
		}
	}
	return nil
}

// zeroEntries clears the non-zero entries among from..to (inclusive), so no
// stale entry is ever found past count. It reports whether it changed any.
func (f *indexFile) zeroEntries(from, to uint32) bool {
	changed := false
	for n := from; n <= to && n != 0; n++ {
		b := f.entryBytes(n)
		if binary.LittleEndian.Uint64(b[0:])|binary.LittleEndian.Uint64(b[8:])|
			binary.LittleEndian.Uint64(b[16:])|binary.LittleEndian.Uint64(b[24:]) != 0 {
			clear(b)
			changed = true
		}
	}
	return changed
}

// setCountLocked sets count and the writer's stats for it; the time bounds
// stay as they are (a superset is still a valid bound) unless it is 0.
func (f *indexFile) setCountLocked(n uint32) error {
	f.count.Store(n)
	if n == 0 {
		f.beginPhys, f.endPhys, f.lastTime = 0, 0, 0
		f.minTime.Store(0)
		f.maxTime.Store(0)
		f.monotone.Store(true)
		return nil
	}
	first, err := f.entry(1)
	if err != nil {
		return err
	}
	last, err := f.entry(n)
	if err != nil {
		return err
	}
	f.beginPhys, f.endPhys, f.lastTime = first.phys, last.phys, last.storeTime
	return nil
}

// rebuildSlotsLocked recomputes every slot head from entries 1..cnt,
// checking each entry's checksum and chain link, and recomputes the exact
// stats. Recovery uses it when slots may point at entries a crash lost.
func (f *indexFile) rebuildSlotsLocked(cnt uint32) error {
	clear(f.b[headerSize : headerSize+int64(f.l.slots)*slotSize])
	minT, maxT, last := int64(0), int64(0), int64(0)
	mono := true
	for n := uint32(1); n <= cnt; n++ {
		e, err := f.entry(n)
		if err != nil {
			return err
		}
		s := f.slotOf(e.hash)
		if e.prev != f.head(s) {
			return fmt.Errorf("%w: %s: entry %d links to %d, slot says %d", ErrCorrupt, f.path, n, e.prev, f.head(s))
		}
		f.setHead(s, n)
		switch {
		case n == 1:
			minT, maxT = e.storeTime, e.storeTime
		default:
			minT, maxT = min(minT, e.storeTime), max(maxT, e.storeTime)
			mono = mono && e.storeTime >= last
		}
		last = e.storeTime
	}
	if err := f.setCountLocked(cnt); err != nil {
		return err
	}
	if cnt > 0 {
		f.minTime.Store(minT)
		f.maxTime.Store(maxT)
		f.monotone.Store(mono)
	}
	return nil
}

// close unmaps and closes the file without syncing.
func (f *indexFile) close() error {
	var errs []error
	if f.m != nil {
		errs = append(errs, f.m.Unmap())
		f.m, f.b = nil, nil
	}
	if f.f != nil {
		errs = append(errs, f.f.Close())
		f.f = nil
	}
	return errors.Join(errs...)
}

// remove closes and deletes the file. The caller syncs the directory.
func (f *indexFile) remove(fsys vfs.FS) error {
	err := f.close()
	if rerr := fsys.Remove(f.path); rerr != nil {
		err = errors.Join(err, fmt.Errorf("indexfile: remove %s: %w", f.path, rerr))
	}
	return err
}

// scanEntries calls fn for every entry slot of an unreadable file, laid out
// as l, reading it with ReadAt (the file may be shorter than l.size).
func scanEntries(fh vfs.File, l layout, fn func(n uint32, b []byte) error) error {
	buf := make([]byte, 64<<10)
	pos := l.entryBase
	n := uint32(1)
	for n <= l.capacity {
		k, err := fh.ReadAt(buf, pos)
		k -= k % entrySize
		for i := 0; i < k && n <= l.capacity; i += entrySize {
			if ferr := fn(n, buf[i:i+entrySize]); ferr != nil {
				return ferr
			}
			n++
		}
		pos += int64(k)
		if err != nil || k == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
	}
	return nil
}
