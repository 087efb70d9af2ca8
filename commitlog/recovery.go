package commitlog

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// RecoveryReport says what Open found and what it repaired.
type RecoveryReport struct {
	// Segments is the number of segment files in use after recovery.
	Segments int
	// Start and End are the log's bounds after recovery.
	Start, End int64
	// SyncPoint is the sync point recorded in the last segment's header:
	// every record below it was checked to be intact.
	SyncPoint int64
	// TruncatedFrom and TruncatedTo delimit the bytes [From, To) past the
	// last valid record that recovery zeroed: a torn tail, or stale bytes of
	// records that were never made durable. Equal when nothing was dropped.
	TruncatedFrom, TruncatedTo int64
	// Reason explains the truncation (which check failed at TruncatedFrom).
	Reason string
	// RemovedFiles lists files recovery deleted: a last segment whose
	// creation never completed (crash during a roll) or an incomplete
	// Reset preparation.
	RemovedFiles []string
	// ResetCompleted is set when recovery finished an interrupted Reset.
	ResetCompleted bool
	// CreatedSegment is set when recovery created the active segment (a new
	// log, or a last segment that was sealed before the crash).
	CreatedSegment bool
}

// Truncated reports whether recovery dropped any bytes.
func (r RecoveryReport) Truncated() bool { return r.TruncatedTo > r.TruncatedFrom }

// recover rebuilds the in-memory state from the directory. It is called by
// Open before the log is shared, so it takes no locks.
func (l *Log) recover() error {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("commitlog: list %s: %w", l.dir, err)
	}
	if names, err = l.removeWarmFiles(names); err != nil {
		return err
	}
	if names, err = l.finishResets(names); err != nil {
		return err
	}

	var bases []int64
	for _, n := range names {
		if b, ok := parseSegmentName(n); ok {
			bases = append(bases, b) // List is sorted, so bases ascend
		}
	}
	for i, b := range bases {
		if b%l.segSize != 0 {
			return fmt.Errorf("%w: segment %s: base offset is not a multiple of the segment size %d", ErrCorrupt, segmentName(b), l.segSize)
		}
		if i > 0 && b != bases[i-1]+l.segSize {
			return fmt.Errorf("%w: segment %s missing between %s and %s", ErrCorrupt,
				segmentName(bases[i-1]+l.segSize), segmentName(bases[i-1]), segmentName(b))
		}
	}

	// A last segment whose header never became durable was being created
	// when the power went: nothing in it was ever acknowledged.
	nextBase := int64(0)
	for len(bases) > 0 {
		b := bases[len(bases)-1]
		half, err := l.halfCreated(b)
		if err != nil {
			return err
		}
		if !half {
			break
		}
		if err := l.removeDurably(segmentName(b)); err != nil {
			return err
		}
		bases = bases[:len(bases)-1]
		nextBase = b
	}
	if len(bases) == 0 {
		return l.createActive(nextBase)
	}

	for i, b := range bases {
		s, err := l.openSegment(b, i == 0, i == len(bases)-1)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		if err := l.scanSealed(s); err != nil {
			return err
		}
	}
	return l.recoverActive()
}

// finishResets completes a Reset whose prepared segment is durable and
// valid, and deletes one that is not. It returns the directory listing
// afterwards.
func (l *Log) finishResets(names []string) ([]string, error) {
	changed := false
	for _, n := range names {
		if !strings.HasSuffix(n, resetSuffix) {
			continue
		}
		base, ok := parseSegmentName(strings.TrimSuffix(n, resetSuffix))
		if !ok {
			continue
		}
		changed = true
		if !l.validResetFile(n, base) {
			if err := l.removeDurably(n); err != nil {
				return nil, err
			}
			continue
		}
		final := segmentName(base)
		for i := len(names) - 1; i >= 0; i-- {
			if _, ok := parseSegmentName(names[i]); ok && names[i] != final {
				if err := l.fs.Remove(l.path(names[i])); err != nil && !isNotExist(err) {
					return nil, fmt.Errorf("commitlog: finish reset: remove %s: %w", names[i], err)
				}
			}
		}
		if err := l.fs.Rename(l.path(n), l.path(final)); err != nil {
			return nil, fmt.Errorf("commitlog: finish reset: rename %s: %w", n, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, fmt.Errorf("commitlog: finish reset: sync directory: %w", err)
		}
		l.recovery.ResetCompleted = true
		l.logger.Warn("commitlog: finished an interrupted reset", "dir", l.dir, "segment", final)
		break
	}
	if !changed {
		return names, nil
	}
	names, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("commitlog: list %s: %w", l.dir, err)
	}
	return names, nil
}

// validResetFile reports whether the Reset preparation name holds a
// complete, valid segment header for base.
func (l *Log) validResetFile(name string, base int64) bool {
	f, err := l.fs.Open(l.path(name))
	if err != nil {
		return false
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size < l.segSize {
		return false
	}
	hdr := make([]byte, SegmentHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return false
	}
	h, err := decodeHeader(hdr, l.segSize)
	return err == nil && h.Base == base
}

// halfCreated reports whether the segment file for base is shorter than a
// header or has an all-zero header: a creation that never completed.
func (l *Log) halfCreated(base int64) (bool, error) {
	name := segmentName(base)
	f, err := l.fs.Open(l.path(name))
	if err != nil {
		return false, fmt.Errorf("commitlog: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return false, fmt.Errorf("commitlog: stat %s: %w", name, err)
	}
	if size < SegmentHeaderSize {
		return true, nil
	}
	hdr := make([]byte, recycleClear)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("commitlog: read header of %s: %w", name, err)
	}
	if !isZero(hdr[:SegmentHeaderSize]) {
		return false, nil
	}
	// Records are only written after the header is durable, so a zero
	// header in front of record bytes is damage, not an interrupted roll.
	if !isZero(hdr[SegmentHeaderSize:n]) {
		return false, fmt.Errorf("%w: segment %s has a zeroed header but holds records", ErrCorrupt, name)
	}
	return true, nil
}

// removeDurably deletes a file recovery found incomplete and syncs the
// directory.
func (l *Log) removeDurably(name string) error {
	if err := l.fs.Remove(l.path(name)); err != nil && !isNotExist(err) {
		return fmt.Errorf("commitlog: remove incomplete %s: %w", name, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("commitlog: sync directory %s: %w", l.dir, err)
	}
	l.recovery.RemovedFiles = append(l.recovery.RemovedFiles, name)
	l.logger.Warn("commitlog: removed incomplete file", "dir", l.dir, "file", name)
	return nil
}

// createActive creates the segment at base as the only segment of an empty
// log.
func (l *Log) createActive(base int64) error {
	first := base + SegmentHeaderSize
	s, err := createSegmentFile(l.fs, l.dir, segmentName(base), base, l.segSize, first, min(base+l.segSize, first+highWaterStep), l.opts.WarmSegments)
	if err != nil {
		return err
	}
	l.segs = append(l.segs, s)
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("commitlog: sync directory %s: %w", l.dir, err)
	}
	l.durable = first
	l.end.Store(first)
	l.recovery.CreatedSegment = true
	l.finishReport()
	return nil
}

// openSegment opens, checks and maps the segment file for base.
func (l *Log) openSegment(base int64, first, last bool) (*segment, error) {
	name := segmentName(base)
	f, err := l.fs.Open(l.path(name))
	if err != nil {
		return nil, fmt.Errorf("commitlog: open %s: %w", name, err)
	}
	s := &segment{base: base, name: name, f: f, sealed: -1}
	fail := func(err error) (*segment, error) {
		s.close()
		return nil, fmt.Errorf("commitlog: segment %s: %w", name, err)
	}
	size, err := f.Size()
	if err != nil {
		return fail(err)
	}
	hdr := make([]byte, SegmentHeaderSize)
	if size < SegmentHeaderSize {
		return fail(fmt.Errorf("%w: header truncated (file has %d bytes)", ErrCorrupt, size))
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return fail(err)
	}
	h, err := decodeHeader(hdr, l.segSize)
	if err != nil {
		return fail(err)
	}
	if h.Base != base {
		return fail(fmt.Errorf("%w: header says base offset %d", ErrCorrupt, h.Base))
	}
	if !first && h.First != base+SegmentHeaderSize {
		return fail(fmt.Errorf("%w: first record at %d in a segment that is not the oldest", ErrCorrupt, h.First))
	}
	if size < l.segSize {
		// Only the active segment's end can be missing, and only past
		// everything that was synced.
		if !last || size < h.HighWater-base {
			return fail(fmt.Errorf("%w: file has %d of %d bytes", ErrCorrupt, size, l.segSize))
		}
		if err := f.Allocate(l.segSize); err != nil {
			return fail(err)
		}
		if err := f.Sync(); err != nil { // the size is durable only after a sync
			return fail(err)
		}
	}
	if s.m, s.b, err = mapSegment(f, l.segSize); err != nil {
		return fail(err)
	}
	s.first, s.slotSync, s.highWater = h.First, h.SyncPoint, h.HighWater
	return s, nil
}

// scanSealed checks a segment that has a successor: its records must be
// intact up to its end-of-segment marker (or the point where no record
// header fits), because a roll makes the old segment durable before the
// new one exists.
func (l *Log) scanSealed(s *segment) error {
	pos := s.first
	for {
		kind, _, n, why := decodeRecord(s.b[pos-s.base:], pos, l.maxData)
		switch kind {
		case recValid:
			pos += RecordHeaderSize + int64(n)
			continue
		case recEOS, recShort:
			s.sealed = pos
			return nil
		case recUnwritten:
			why = "unwritten (zero) record header"
		}
		return fmt.Errorf("%w: segment %s has a successor but no valid record or end marker at offset %d: %s",
			ErrCorrupt, s.name, pos, why)
	}
}

// recoverActive scans the last segment: records below its sync point must
// be intact; the first invalid record at or past it is a torn tail, cut
// together with every stale byte after it up to the high-water mark.
func (l *Log) recoverActive() error {
	s := l.segs[len(l.segs)-1]
	rep := &l.recovery
	rep.SyncPoint = s.slotSync
	pos := s.first
	var kind recKind
	var why string
	for {
		var n int
		kind, _, n, why = decodeRecord(s.b[pos-s.base:], pos, l.maxData)
		if kind != recValid {
			break
		}
		pos += RecordHeaderSize + int64(n)
	}
	if pos < s.slotSync {
		if why == "" {
			why = fmt.Sprintf("record chain ends (%s)", [...]string{recEOS: "end marker", recUnwritten: "unwritten header", recShort: "segment end"}[kind])
		}
		return fmt.Errorf("%w: segment %s: invalid record at offset %d before the sync point %d: %s",
			ErrCorrupt, s.name, pos, s.slotSync, why)
	}

	if kind == recEOS || kind == recShort {
		// Sealed before the crash, but its successor never became durable.
		s.sealed = pos
		l.durable = s.slotSync
		base := s.base + l.segSize
		first := base + SegmentHeaderSize
		ns, err := createSegmentFile(l.fs, l.dir, segmentName(base), base, l.segSize, first, min(base+l.segSize, first+highWaterStep), false)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, ns)
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("commitlog: sync directory %s: %w", l.dir, err)
		}
		rep.CreatedSegment = true
		l.durable = first
		l.end.Store(first)
		l.finishReport()
		return nil
	}

	// Zero whatever lies past the last valid record: torn bytes and stale
	// records must never be chained onto records appended later.
	to, err := s.clearPast(pos, min(max(s.highWater, pos), s.limit()))
	if err != nil {
		return fmt.Errorf("commitlog: truncate torn tail: %w", err)
	}
	if to > pos {
		if why == "" {
			why = "stale bytes past the last record"
		}
		rep.TruncatedFrom, rep.TruncatedTo, rep.Reason = pos, to, why
		l.logger.Warn("commitlog: truncated torn tail", "dir", l.dir, "segment", s.name,
			"from", pos, "to", to, "bytes", to-pos, "sync_point", s.slotSync, "reason", why)
	}
	// Bytes a previous process wrote may still be only in the page cache:
	// flush them before recording them as the sync point.
	l.durable = s.slotSync
	if err := l.flushDataLocked(s, pos); err != nil {
		return err
	}
	if err := s.writeSlotFlushLocked(pos); err != nil {
		return err
	}
	l.end.Store(pos)
	l.finishReport()
	return nil
}

func (l *Log) finishReport() {
	rep := &l.recovery
	rep.Segments = len(l.segs)
	rep.Start = l.segs[0].first
	rep.End = l.end.Load()
	if !rep.Truncated() {
		rep.TruncatedFrom, rep.TruncatedTo = rep.End, rep.End
	}
	l.logger.Info("commitlog: opened", "dir", l.dir, "segments", rep.Segments, "start", rep.Start, "end", rep.End,
		"sync_point", rep.SyncPoint, "truncated_bytes", rep.TruncatedTo-rep.TruncatedFrom, "removed", rep.RemovedFiles)
}

// lastNonZero returns the index of the last non-zero byte of b, or -1.
func lastNonZero(b []byte) int {
	for hi := len(b); hi > 0; {
		lo := max(0, hi-len(zeroPage))
		if !isZero(b[lo:hi]) {
			for i := hi - 1; i >= lo; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
		hi = lo
	}
	return -1
}
