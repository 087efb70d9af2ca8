package commitlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

// Append writes a batch of records and returns the offset of each. Under
// FlushSync the whole batch is durable when Append returns nil (one sync
// for the batch). On error no offset is acknowledged; records of the batch
// may survive a later crash but are never returned as appended.
func (l *Log) Append(recs []Record) ([]int64, error) {
	return l.AppendInto(make([]int64, 0, len(recs)), recs)
}

// AppendInto is Append appending the offsets to dst, so a caller that
// reuses dst appends without allocating. On error it returns dst with its
// original length.
func (l *Log) AppendInto(dst []int64, recs []Record) ([]int64, error) {
	return l.appendInto(dst, recs, l.opts.Flush == FlushSync)
}

// AppendUnsynced is AppendInto without the sync FlushSync would do: the
// records are published (End covers them, readers see them) when it
// returns, and they become durable at the next Flush, Sync or background
// flush. It lets an owner overlap the sync with other work, as the raft
// log store's leader does with replication.
func (l *Log) AppendUnsynced(dst []int64, recs []Record) ([]int64, error) {
	return l.appendInto(dst, recs, false)
}

func (l *Log) appendInto(dst []int64, recs []Record, sync bool) ([]int64, error) {
	for i := range recs {
		if recs[i].Type == 0 {
			return dst, fmt.Errorf("%w (record %d of %d)", ErrInvalidRecord, i, len(recs))
		}
		if int64(len(recs[i].Data)) > l.maxData {
			return dst, fmt.Errorf("%w: record %d has %d bytes, the limit is %d", ErrRecordTooLarge, i, len(recs[i].Data), l.maxData)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return dst, err
	}
	if len(recs) == 0 {
		return dst, nil
	}
	n0 := len(dst)
	seg := l.segs[len(l.segs)-1]
	pos := l.end.Load()
	batchStart, rolled := pos, false
	// fail undoes the unpublished part of the batch, or makes the log fail
	// when part of it is already sealed into an earlier segment.
	fail := func(err error) ([]int64, error) {
		l.wbuf = l.wbuf[:0]
		if rolled {
			return dst[:n0], l.fail(err)
		}
		l.rollbackLocked(seg, batchStart, min(pos+RecordHeaderSize, seg.limit()))
		return dst[:n0], err
	}
	runStart := pos // WritePwrite: offset of the first byte in wbuf
	l.wbuf = l.wbuf[:0]
	for i := range recs {
		need := int64(RecordHeaderSize + len(recs[i].Data))
		if pos+need > seg.limit() {
			if err := l.writeRunLocked(seg, runStart); err != nil {
				return fail(err)
			}
			ns, err := l.rollLocked(seg, pos)
			if err != nil {
				return fail(err)
			}
			seg, pos, rolled = ns, ns.first, true
			runStart, batchStart = pos, pos
		}
		if pos+need > seg.highWater {
			if err := l.raiseHighWaterLocked(seg, pos+need); err != nil {
				l.wbuf = l.wbuf[:0]
				return dst[:n0], l.fail(err)
			}
		}
		if l.pwrite {
			if err := l.bufferRecordLocked(seg, &runStart, pos, recs[i]); err != nil {
				return fail(err)
			}
		} else {
			off := pos - seg.base
			encodeRecord(seg.b[off:off+need], pos, recs[i].Type, recs[i].Data)
		}
		dst = append(dst, pos)
		pos += need
	}
	if err := l.writeRunLocked(seg, runStart); err != nil {
		return fail(err)
	}
	if sync {
		l.flushMu.Lock()
		err := l.flushDataLocked(seg, pos)
		l.flushMu.Unlock()
		if err != nil {
			return dst[:n0], l.fail(err)
		}
	}
	l.end.Store(pos)
	return dst, nil
}

// wbufMax bounds the pwrite encode buffer: a batch is written in runs of
// about this many bytes.
const wbufMax = 1 << 20

// bufferRecordLocked encodes rec (at absolute offset pos) into wbuf for the
// pwrite path, writing out the buffered run first when it is full. A record
// larger than wbufMax is written directly from the caller's slice. Requires
// mu.
func (l *Log) bufferRecordLocked(seg *segment, runStart *int64, pos int64, rec Record) error {
	need := RecordHeaderSize + len(rec.Data)
	if len(l.wbuf)+need > wbufMax && len(l.wbuf) > 0 {
		if err := l.writeRunLocked(seg, *runStart); err != nil {
			return err
		}
		*runStart = pos
	}
	if need <= wbufMax {
		if cap(l.wbuf) == 0 {
			l.wbuf = make([]byte, 0, wbufMax)
		}
		n := len(l.wbuf)
		l.wbuf = slices.Grow(l.wbuf, need)[:n+need]
		encodeRecord(l.wbuf[n:], pos, rec.Type, rec.Data)
		return nil
	}
	var hdr [RecordHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[recLengthOff:], uint32(len(rec.Data)))
	hdr[recTypeOff] = rec.Type
	crc := crc32.Update(crc32.Update(crcOffset(pos), castagnoli, hdr[recCRCCovered:]), castagnoli, rec.Data)
	binary.LittleEndian.PutUint32(hdr[recCRCOff:], crc)
	if _, err := seg.f.WriteAt(hdr[:], pos-seg.base); err != nil {
		return fmt.Errorf("commitlog: write %s at %d: %w", seg.name, pos, err)
	}
	if _, err := seg.f.WriteAt(rec.Data, pos-seg.base+RecordHeaderSize); err != nil {
		return fmt.Errorf("commitlog: write %s at %d: %w", seg.name, pos, err)
	}
	*runStart = pos + int64(need)
	return nil
}

// writeRunLocked writes the buffered run (pwrite path) that starts at
// absolute offset runStart and empties the buffer. Requires mu.
func (l *Log) writeRunLocked(seg *segment, runStart int64) error {
	if len(l.wbuf) == 0 {
		return nil
	}
	_, err := seg.f.WriteAt(l.wbuf, runStart-seg.base)
	l.wbuf = l.wbuf[:0]
	if err != nil {
		return fmt.Errorf("commitlog: write %s at %d: %w", seg.name, runStart, err)
	}
	return nil
}

// raiseHighWaterLocked moves seg's high-water mark past need and makes the
// header durable before any byte past the old mark is written, so recovery
// knows how far stale bytes can reach. Requires mu.
func (l *Log) raiseHighWaterLocked(seg *segment, need int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	seg.highWater = min(seg.limit(), need+highWaterStep)
	return seg.writeSlotFlushLocked(seg.slotSync)
}

// rollLocked seals seg at pos and creates the next segment. Order matters
// for recovery: the old segment, with its end-of-segment marker, is durable
// before the new segment's name is, so every segment but the last is
// complete on disk. Requires mu.
func (l *Log) rollLocked(seg *segment, pos int64) (*segment, error) {
	l.flushMu.Lock()
	if seg.limit()-pos >= RecordHeaderSize {
		encodeEOS(seg.b[pos-seg.base:], pos)
	}
	err := l.flushDataLocked(seg, min(pos+RecordHeaderSize, seg.limit()))
	l.flushMu.Unlock()
	if err != nil {
		return nil, l.fail(err)
	}

	base := seg.base + l.segSize
	name := segmentName(base)
	first := base + SegmentHeaderSize
	ns, err := l.newSegmentFile(name, base, first, min(base+l.segSize, first+highWaterStep))
	if err == nil {
		if err = l.fs.SyncDir(l.dir); err != nil {
			ns.close()
			err = fmt.Errorf("commitlog: sync directory %s: %w", l.dir, err)
		}
	}
	if err != nil {
		// Without the new segment the old one stays active; its marker is
		// cleared by the caller's rollback. A half-created file must go, or
		// recovery would see a sealed segment followed by an empty one.
		if rerr := l.fs.Remove(l.path(name)); rerr == nil || isNotExist(rerr) {
			if serr := l.fs.SyncDir(l.dir); serr != nil {
				return nil, l.fail(fmt.Errorf("%w (and syncing the directory after removing %s: %w)", err, name, serr))
			}
		} else {
			return nil, l.fail(fmt.Errorf("%w (and removing %s: %w)", err, name, rerr))
		}
		return nil, fmt.Errorf("commitlog: roll to segment %s: %w", name, err)
	}

	l.flushMu.Lock()
	l.segMu.Lock()
	seg.sealed = pos
	l.segs = append(l.segs, ns)
	l.segMu.Unlock()
	l.durable = ns.first
	l.flushMu.Unlock()
	if l.warm != nil {
		l.warm.wake()
	}
	return ns, nil
}

// newSegmentFile creates the segment file for a roll: the warmer's spare
// renamed into place when it is ready for base, otherwise a new file.
func (l *Log) newSegmentFile(name string, base, first, highWater int64) (*segment, error) {
	if l.warm != nil {
		if f, ok := l.warm.take(base); ok {
			if err := l.fs.Rename(l.path(name+warmSuffix), l.path(name)); err != nil {
				_ = f.Close()
				_ = l.fs.Remove(l.path(name + warmSuffix))
				return nil, fmt.Errorf("commitlog: rename spare segment %s: %w", name, err)
			}
			return initSegmentFile(f, name, base, l.segSize, first, highWater)
		}
	}
	return createSegmentFile(l.fs, l.dir, name, base, l.segSize, first, highWater, false)
}

// rollbackLocked clears the unpublished bytes [from, to) of the active
// segment after a failed Append and makes the clearing durable, so that
// bytes of an unacknowledged batch (or a marker a failed roll left behind)
// are not found by a later recovery after records appended later. Requires
// mu; a failure makes the log fail.
func (l *Log) rollbackLocked(seg *segment, from, to int64) {
	if to <= from || l.failure() != nil {
		return
	}
	clear(seg.b[from-seg.base : to-seg.base])
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := seg.m.Flush(int(from-seg.base), int(to-from)); err != nil {
		l.fail(fmt.Errorf("commitlog: flush rollback of %s: %w", seg.name, err))
		return
	}
	l.durable = min(l.durable, from)
}
