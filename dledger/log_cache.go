package dledger

import "github.com/hashicorp/raft"

// cachedEntry is one recently appended entry with its physical position.
type cachedEntry struct {
	log     *raft.Log
	recOff  int64
	dataOff int64
}

// entryCache is a ring of the most recently appended entries, keyed by raft
// index modulo its size, like raft's LogCache: raft reads entries back right
// after appending them (to send them to followers and to apply them), and
// serving those from memory keeps GetLog off the commit log. The *raft.Log
// pointers are the ones raft passed to StoreLogs; raft never mutates a log
// after storing it. Guarded by the LogStore's mu.
type entryCache struct {
	ring []cachedEntry
}

func newEntryCache(n int) entryCache {
	if n <= 0 {
		return entryCache{}
	}
	return entryCache{ring: make([]cachedEntry, n)}
}

func (c *entryCache) put(l *raft.Log, recOff, dataOff int64) {
	if len(c.ring) == 0 {
		return
	}
	c.ring[l.Index%uint64(len(c.ring))] = cachedEntry{log: l, recOff: recOff, dataOff: dataOff}
}

// get returns the cached entry for index; the caller has checked that index
// is in the log, so a slot holding that index holds the current entry (a
// truncated entry's slot is overwritten when its index is appended again).
func (c *entryCache) get(index uint64) (cachedEntry, bool) {
	if len(c.ring) == 0 {
		return cachedEntry{}, false
	}
	e := c.ring[index%uint64(len(c.ring))]
	if e.log == nil || e.log.Index != index {
		return cachedEntry{}, false
	}
	return e, true
}

func (c *entryCache) reset() { clear(c.ring) }
