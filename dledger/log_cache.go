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
//
// The ring is bounded in entries and in bytes: group-commit entries carry
// hundreds of KB, and an entry bound alone let 4096 of them pin gigabytes.
// Past maxBytes the oldest entries are dropped first; GetLog then reads
// them from the commit log (~1-2 µs).
type entryCache struct {
	ring     []cachedEntry
	maxBytes int64
	bytes    int64  // payload bytes of the entries in the ring
	lo       uint64 // no index below lo is cached
}

func newEntryCache(n int, maxBytes int64) entryCache {
	if n <= 0 {
		return entryCache{}
	}
	return entryCache{ring: make([]cachedEntry, n), maxBytes: maxBytes}
}

func entrySize(l *raft.Log) int64 { return int64(len(l.Data) + len(l.Extensions)) }

func (c *entryCache) put(l *raft.Log, recOff, dataOff int64) {
	n := uint64(len(c.ring))
	if n == 0 {
		return
	}
	slot := &c.ring[l.Index%n]
	if slot.log != nil {
		c.bytes -= entrySize(slot.log)
	}
	*slot = cachedEntry{log: l, recOff: recOff, dataOff: dataOff}
	c.bytes += entrySize(l)
	switch {
	case l.Index < c.lo: // re-append after a suffix truncation
		c.lo = l.Index
	case l.Index >= n && l.Index-n+1 > c.lo: // older slots were overwritten
		c.lo = l.Index - n + 1
	}
	for c.maxBytes > 0 && c.bytes > c.maxBytes && c.lo < l.Index {
		s := &c.ring[c.lo%n]
		if s.log != nil && s.log.Index == c.lo {
			c.bytes -= entrySize(s.log)
			*s = cachedEntry{}
		}
		c.lo++
	}
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

func (c *entryCache) reset() {
	clear(c.ring)
	c.bytes, c.lo = 0, 0
}
