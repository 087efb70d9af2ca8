package dledger

import (
	"sync"

	"github.com/hashicorp/raft"
)

// memoryLogStoreCap is how many recent entries the memory log store keeps;
// older ones are gone (FirstIndex moves up), as after a compaction.
const memoryLogStoreCap = 1 << 16

// memoryLogStore is the LogStoreMemory kind: a ring of the most recent
// entries and nothing on disk. It bounds the heap (raft's InmemStore keeps
// every entry, and collecting a heap of millions of entries would be
// measured instead of raft), so a benchmark run on it shows what
// hashicorp/raft itself costs per entry.
type memoryLogStore struct {
	mu          sync.RWMutex
	ring        []*raft.Log
	first, next uint64 // the log is [first, next); empty when first == next
}

func newMemoryLogStore() *memoryLogStore {
	return &memoryLogStore{ring: make([]*raft.Log, memoryLogStoreCap)}
}

func (m *memoryLogStore) FirstIndex() (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.first == m.next {
		return 0, nil
	}
	return m.first, nil
}

func (m *memoryLogStore) LastIndex() (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.first == m.next {
		return 0, nil
	}
	return m.next - 1, nil
}

func (m *memoryLogStore) GetLog(index uint64, out *raft.Log) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if index < m.first || index >= m.next {
		return raft.ErrLogNotFound
	}
	*out = *m.ring[index%memoryLogStoreCap]
	return nil
}

func (m *memoryLogStore) StoreLog(l *raft.Log) error { return m.StoreLogs([]*raft.Log{l}) }

func (m *memoryLogStore) StoreLogs(logs []*raft.Log) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range logs {
		if m.first == m.next || l.Index != m.next {
			// First entry, or raft restarting the log after a snapshot.
			m.first, m.next = l.Index, l.Index
		}
		m.ring[l.Index%memoryLogStoreCap] = l
		m.next = l.Index + 1
		if m.next-m.first > memoryLogStoreCap {
			m.first = m.next - memoryLogStoreCap
		}
	}
	return nil
}

func (m *memoryLogStore) DeleteRange(lo, hi uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case lo <= m.first && hi+1 >= m.next:
		m.first, m.next = hi+1, hi+1
	case lo <= m.first:
		m.first = max(m.first, hi+1)
	case hi+1 >= m.next:
		m.next = min(m.next, lo)
	}
	return nil
}
