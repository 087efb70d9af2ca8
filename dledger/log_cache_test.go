package dledger

import (
	"testing"

	"github.com/hashicorp/raft"
)

func TestEntryCacheByteBound(t *testing.T) {
	const mib = 1 << 20
	c := newEntryCache(16, 4*mib)
	put := func(i uint64, size int) {
		c.put(&raft.Log{Index: i, Data: make([]byte, size)}, int64(i), int64(i))
	}
	for i := uint64(1); i <= 10; i++ {
		put(i, mib)
		if c.bytes > 4*mib {
			t.Fatalf("after index %d the cache holds %d bytes, bound %d", i, c.bytes, 4*mib)
		}
	}
	for i := uint64(1); i <= 10; i++ {
		_, ok := c.get(i)
		if want := i >= 7; ok != want {
			t.Errorf("index %d cached=%v, want %v (newest four kept)", i, ok, want)
		}
	}
	// A suffix truncation re-appends lower indexes: they are cached and
	// the accounting stays exact.
	put(8, mib/2)
	if e, ok := c.get(8); !ok || len(e.log.Data) != mib/2 {
		t.Fatalf("re-appended index 8 not served from the cache")
	}
	var sum int64
	for _, e := range c.ring {
		if e.log != nil {
			sum += entrySize(e.log)
		}
	}
	if sum != c.bytes {
		t.Fatalf("accounted %d bytes, ring holds %d", c.bytes, sum)
	}
	// Small entries: the entry bound governs, as before.
	c = newEntryCache(4, 4*mib)
	for i := uint64(1); i <= 100; i++ {
		put(i, 10)
	}
	for i := uint64(97); i <= 100; i++ {
		if _, ok := c.get(i); !ok {
			t.Errorf("index %d missing", i)
		}
	}
	c.reset()
	if c.bytes != 0 {
		t.Fatalf("reset left %d bytes", c.bytes)
	}
}
