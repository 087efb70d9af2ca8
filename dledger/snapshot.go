package dledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Snapshot stream layout (FORMAT.md, "Snapshot"). Frozen.
const (
	snapMagic      = "DLSN"
	snapVersion    = 1
	snapHeaderSize = 80
	snapItemHeader = 16 // per carried record: offset u64, length u32, crc u32
)

// snapForm says what follows a snapshot header.
type snapForm uint8

const (
	// formCompact is what Persist writes: the log position of the snapshot
	// index, then the application state. The records stay in the commit log.
	formCompact snapForm = 1
	// formFull carries the retained commit-log records up to the snapshot
	// index between the header and the application state. It is what the
	// snapshot store produces when a compact snapshot is opened for sending
	// (InstallSnapshot) and what a follower stores when it receives one.
	formFull snapForm = 2
	// formLocal is a compact snapshot opened for a restore at startup: the
	// records are in this node's own commit log, so none are carried.
	formLocal snapForm = 3
	// formNoLog is written by groups on the bolt log store (no physical log).
	formNoLog snapForm = 4
)

// snapHeader describes the commit-log range a snapshot stands for.
type snapHeader struct {
	Form      snapForm
	LastIndex uint64 // raft index the snapshot covers up to
	LastTerm  uint64
	// LastOffset is the record offset of LastIndex in the commit log, or -1
	// when the log does not hold that record (it was restored from a
	// snapshot that carried no records).
	LastOffset int64
	// EndOffset is where the record after LastIndex goes (the offset just
	// past LastIndex's record).
	EndOffset int64
	// Full form only: the carried records are [StartIndex, LastIndex]
	// starting at StartOffset (StartIndex = LastIndex+1 and StartOffset =
	// EndOffset when none are carried), Count of them, Bytes long in the
	// stream.
	StartIndex  uint64
	StartOffset int64
	Count       uint64
	Bytes       uint64
}

func (h *snapHeader) encode() []byte {
	b := make([]byte, snapHeaderSize)
	copy(b[0:4], snapMagic)
	binary.LittleEndian.PutUint16(b[4:], snapVersion)
	b[6] = byte(h.Form)
	binary.LittleEndian.PutUint64(b[8:], h.LastIndex)
	binary.LittleEndian.PutUint64(b[16:], h.LastTerm)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.LastOffset))
	binary.LittleEndian.PutUint64(b[32:], uint64(h.EndOffset))
	binary.LittleEndian.PutUint64(b[40:], h.StartIndex)
	binary.LittleEndian.PutUint64(b[48:], uint64(h.StartOffset))
	binary.LittleEndian.PutUint64(b[56:], h.Count)
	binary.LittleEndian.PutUint64(b[64:], h.Bytes)
	binary.LittleEndian.PutUint32(b[76:], crc32.Checksum(b[:76], castagnoli))
	return b
}

func decodeSnapHeader(b []byte) (snapHeader, error) {
	var h snapHeader
	if len(b) != snapHeaderSize || string(b[0:4]) != snapMagic {
		return h, fmt.Errorf("dledger: snapshot header magic: %w", ErrSnapshotFormat)
	}
	if crc32.Checksum(b[:76], castagnoli) != binary.LittleEndian.Uint32(b[76:]) {
		return h, fmt.Errorf("dledger: snapshot header checksum: %w", ErrSnapshotFormat)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != snapVersion {
		return h, fmt.Errorf("dledger: snapshot version %d: %w", v, ErrSnapshotFormat)
	}
	h.Form = snapForm(b[6])
	if h.Form < formCompact || h.Form > formNoLog || b[7] != 0 {
		return h, fmt.Errorf("dledger: snapshot form %d: %w", b[6], ErrSnapshotFormat)
	}
	h.LastIndex = binary.LittleEndian.Uint64(b[8:])
	h.LastTerm = binary.LittleEndian.Uint64(b[16:])
	h.LastOffset = int64(binary.LittleEndian.Uint64(b[24:]))
	h.EndOffset = int64(binary.LittleEndian.Uint64(b[32:]))
	h.StartIndex = binary.LittleEndian.Uint64(b[40:])
	h.StartOffset = int64(binary.LittleEndian.Uint64(b[48:]))
	h.Count = binary.LittleEndian.Uint64(b[56:])
	h.Bytes = binary.LittleEndian.Uint64(b[64:])
	if h.Form == formFull && (h.StartIndex+h.Count != h.LastIndex+1 || h.Bytes < h.Count*snapItemHeader ||
		h.StartOffset < 0 || h.EndOffset < h.StartOffset) {
		return h, fmt.Errorf("dledger: snapshot range [%d,%d] count %d bytes %d: %w",
			h.StartIndex, h.LastIndex, h.Count, h.Bytes, ErrSnapshotFormat)
	}
	return h, nil
}

func readSnapHeader(r io.Reader) (snapHeader, error) {
	b := make([]byte, snapHeaderSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return snapHeader{}, fmt.Errorf("dledger: read snapshot header: %v: %w", err, ErrSnapshotFormat)
	}
	return decodeSnapHeader(b)
}

// snapshotSink remembers which raft index and term the snapshot being
// written stands for, so Persist can record the matching log position.
type snapshotSink struct {
	raft.SnapshotSink
	index, term uint64
}

// compactHeaderFor builds the header Persist writes into sink.
func compactHeaderFor(store *LogStore, sink raft.SnapshotSink) (snapHeader, error) {
	ss, ok := sink.(*snapshotSink)
	if !ok {
		return snapHeader{}, fmt.Errorf("dledger: snapshot sink %T not created by the dledger snapshot store: %w",
			sink, ErrSnapshotFormat)
	}
	if store == nil {
		return snapHeader{Form: formNoLog, LastIndex: ss.index, LastTerm: ss.term, LastOffset: -1, EndOffset: -1}, nil
	}
	lastOff, endOff, err := store.snapshotPosition(ss.index, ss.term)
	if err != nil {
		return snapHeader{}, err
	}
	return snapHeader{Form: formCompact, LastIndex: ss.index, LastTerm: ss.term, LastOffset: lastOff, EndOffset: endOff}, nil
}

// restoreLogRange makes the local commit log agree with a snapshot header
// before the application restores (store is nil for the bolt kind).
func restoreLogRange(store *LogStore, h snapHeader, r io.Reader) error {
	switch {
	case h.Form == formNoLog && store == nil:
		return nil
	case store == nil || h.Form == formNoLog:
		return fmt.Errorf("dledger: snapshot form %d on a node with log store %v: %w",
			h.Form, store != nil, ErrSnapshotMismatch)
	case h.Form == formLocal:
		return store.checkSnapshotRange(h)
	case h.Form == formFull:
		return store.restoreSnapshotRange(h, io.LimitReader(r, int64(h.Bytes)))
	default:
		return fmt.Errorf("dledger: snapshot form %d cannot be restored directly: %w", h.Form, ErrSnapshotFormat)
	}
}

// snapshotStore wraps raft's snapshot store. Create tags sinks with their
// index; Open turns a stored compact snapshot into the full form (header +
// records read from the local commit log + application state) so a follower
// receiving it by InstallSnapshot ends with the same retained log, or into
// the local form while the node starts (restoreOnly), when the records are
// already on this node.
type snapshotStore struct {
	inner raft.SnapshotStore
	store *LogStore
	// startup is set while raft.NewRaft restores the latest snapshot.
	startup atomic.Bool
}

var _ raft.SnapshotStore = (*snapshotStore)(nil)

func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.inner.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &snapshotSink{SnapshotSink: sink, index: index, term: term}, nil
}

func (s *snapshotStore) List() ([]*raft.SnapshotMeta, error) { return s.inner.List() }

func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.inner.Open(id)
	if err != nil {
		return nil, nil, err
	}
	h, err := readSnapHeader(rc)
	if err != nil {
		_ = rc.Close()
		return nil, nil, fmt.Errorf("dledger: open snapshot %s: %w", id, err)
	}
	m := *meta
	switch {
	case h.Form == formCompact && s.startup.Load():
		h.Form = formLocal
		return &m, &prefixedReader{r: io.MultiReader(bytes.NewReader(h.encode()), rc), c: rc}, nil
	case h.Form == formCompact:
		if s.store == nil {
			_ = rc.Close()
			return nil, nil, fmt.Errorf("dledger: compact snapshot %s without a commit-log store: %w", id, ErrSnapshotMismatch)
		}
		full, records, err := s.store.snapshotRecords(h)
		if err != nil {
			_ = rc.Close()
			return nil, nil, fmt.Errorf("dledger: open snapshot %s: %w", id, err)
		}
		m.Size = meta.Size + int64(full.Bytes)
		return &m, &prefixedReader{r: io.MultiReader(bytes.NewReader(full.encode()), records, rc), c: rc}, nil
	default:
		// Full (received from a leader) and no-log snapshots are stored the
		// way they are sent and restored.
		return &m, &prefixedReader{r: io.MultiReader(bytes.NewReader(h.encode()), rc), c: rc}, nil
	}
}

type prefixedReader struct {
	r io.Reader
	c io.Closer
}

func (p *prefixedReader) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *prefixedReader) Close() error               { return p.c.Close() }
