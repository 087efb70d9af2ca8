package store

import (
	"cmp"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/message"
)

// Snapshot layout (FORMAT.md, "Snapshot"). Frozen.
const (
	snapMagic   = "DMQS"
	snapVersion = 1
	// maxSnapshotSize bounds what Restore reads before checking the CRC.
	maxSnapshotSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fsmState is what a snapshot holds: the replicated metadata and the
// dispatch position (per-queue counters and the physical offset they are
// valid at).
type fsmState struct {
	lastIndex  uint64
	dispatched int64
	counters   map[QueueKey]int64
	meta       *metaState
}

// encodeSnapshot serialises st deterministically (everything sorted).
func encodeSnapshot(st *fsmState) []byte {
	b := append([]byte(nil), snapMagic...)
	b = appendU16(b, snapVersion)
	b = appendU16(b, 0)
	b = appendU64(b, st.lastIndex)
	b = appendU64(b, uint64(st.dispatched))

	topics := slices.Sorted(maps.Keys(st.meta.topics))
	b = appendU32(b, uint32(len(topics)))
	for _, name := range topics {
		b = appendTopicConfig(b, st.meta.topics[name])
	}
	groups := slices.Sorted(maps.Keys(st.meta.groups))
	b = appendU32(b, uint32(len(groups)))
	for _, name := range groups {
		b = appendGroupConfig(b, st.meta.groups[name])
	}
	offs := slices.SortedFunc(maps.Keys(st.meta.offsets), func(a, c offsetKey) int {
		switch {
		case a.Group != c.Group:
			return cmp.Compare(a.Group, c.Group)
		case a.Topic != c.Topic:
			return cmp.Compare(a.Topic, c.Topic)
		}
		return cmp.Compare(a.QueueID, c.QueueID)
	})
	b = appendU32(b, uint32(len(offs)))
	for _, k := range offs {
		b = appendOffsetCommit(b, OffsetCommit{Group: k.Group, Topic: k.Topic, QueueID: k.QueueID, Offset: st.meta.offsets[k]})
	}
	queues := slices.SortedFunc(maps.Keys(st.counters), func(a, c QueueKey) int {
		if a.Topic != c.Topic {
			return cmp.Compare(a.Topic, c.Topic)
		}
		return cmp.Compare(a.QueueID, c.QueueID)
	})
	b = appendU32(b, uint32(len(queues)))
	for _, k := range queues {
		b = appendStr(b, k.Topic)
		b = appendU32(b, uint32(k.QueueID))
		b = appendU64(b, uint64(st.counters[k]))
	}
	return appendU32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshot parses and checks a snapshot.
func decodeSnapshot(b []byte) (*fsmState, error) {
	if len(b) < len(snapMagic)+4+16+4 || string(b[:4]) != snapMagic {
		return nil, fmt.Errorf("%w: snapshot magic", ErrEntryFormat)
	}
	body := b[:len(b)-4]
	r := reader{b: b[len(b)-4:]}
	if crc32.Checksum(body, castagnoli) != r.u32("snapshot crc") {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", ErrEntryFormat)
	}
	r = reader{b: body, off: 4}
	if v := r.u16("snapshot version"); v != snapVersion {
		return nil, fmt.Errorf("%w: snapshot version %d", ErrEntryFormat, v)
	}
	if f := r.u16("snapshot flags"); f != 0 {
		return nil, fmt.Errorf("%w: snapshot flags %#x", ErrEntryFormat, f)
	}
	st := &fsmState{meta: newMetaState(), counters: map[QueueKey]int64{}}
	st.lastIndex = r.u64("snapshot last index")
	st.dispatched = r.i64("snapshot dispatched")
	for n := r.count("topics", 2); n > 0 && r.err == nil; n-- {
		t := readTopicConfig(&r)
		st.meta.topics[t.Name] = t
	}
	for n := r.count("groups", 2); n > 0 && r.err == nil; n-- {
		g := readGroupConfig(&r)
		st.meta.groups[g.GroupName] = g
	}
	for n := r.count("offsets", offsetCommitMinSize); n > 0 && r.err == nil; n-- {
		c := readOffsetCommit(&r)
		st.meta.offsets[offsetKey{c.Group, c.Topic, c.QueueID}] = c.Offset
	}
	for n := r.count("queues", 2+4+8); n > 0 && r.err == nil; n-- {
		k := QueueKey{Topic: r.str("queue topic", message.MaxTopicLen), QueueID: r.i32("queue id")}
		v := r.i64("queue next offset")
		if r.err == nil && (k.QueueID < 0 || v < 0) {
			r.err = fmt.Errorf("%w: snapshot queue %s/%d next offset %d", ErrEntryFormat, k.Topic, k.QueueID, v)
		}
		st.counters[k] = v
	}
	if err := r.done("snapshot"); err != nil {
		return nil, err
	}
	if st.dispatched < 0 {
		return nil, fmt.Errorf("%w: snapshot dispatched offset %d", ErrEntryFormat, st.dispatched)
	}
	return st, nil
}

// readSnapshot reads a whole snapshot stream.
func readSnapshot(rc io.Reader) (*fsmState, error) {
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshotSize+1))
	if err != nil {
		return nil, fmt.Errorf("store: read snapshot: %w", err)
	}
	if len(b) > maxSnapshotSize {
		return nil, fmt.Errorf("%w: snapshot larger than %d bytes", ErrEntryFormat, maxSnapshotSize)
	}
	return decodeSnapshot(b)
}

// fsmSnapshot is a captured state waiting to be persisted.
type fsmSnapshot struct{ st *fsmState }

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(encodeSnapshot(s.st)); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("store: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
