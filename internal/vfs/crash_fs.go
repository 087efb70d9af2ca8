package vfs

import (
	"fmt"
	"math/rand"
	"path"
	"sort"
)

// CrashMode says what happens to unsynced data when a CrashFS loses power.
type CrashMode uint8

const (
	// KeepAll keeps every unsynced page and directory operation, as if the
	// OS had written everything back just before the power cut.
	KeepAll CrashMode = iota
	// DropAll drops every unsynced page and directory operation.
	DropAll
	// Random keeps, drops or tears each unsynced 4 KiB page independently;
	// a torn page takes the new content for a random subset of its 512-byte
	// sectors and the old content for the rest. File sizes not yet synced
	// are either the old or the new one; a random prefix of the unsynced
	// directory operations survives (journaled metadata commits in order).
	Random
)

func (m CrashMode) String() string {
	switch m {
	case KeepAll:
		return "KeepAll"
	case DropAll:
		return "DropAll"
	case Random:
		return "Random"
	}
	return fmt.Sprintf("CrashMode(%d)", uint8(m))
}

// Page and sector sizes the crash model works with.
const (
	CrashPageSize   = 4096
	CrashSectorSize = 512
)

// CrashFS is a memory FS that remembers what is durable and can simulate a
// power loss with Crash. File contents become durable through File.Sync
// (the whole file, including its size) and Mapping.Flush(off, n) (those
// bytes, within the durable size); creations, removals and renames become
// durable through SyncDir of their directory. Directories themselves
// (MkdirAll) are durable at once.
//
// Crash is deterministic given the seed and the sequence of operations, so
// a failing test can be replayed from the seed it prints.
type CrashFS struct {
	*MemFS
	seed int64
}

var _ FS = (*CrashFS)(nil)

// NewCrash returns an empty crash-simulating FS whose Random crashes draw
// from a generator seeded with seed.
func NewCrash(seed int64) *CrashFS {
	m := NewMem()
	m.crash = &crashState{durable: map[string]*memNode{}, rng: rand.New(rand.NewSource(seed))}
	return &CrashFS{MemFS: m, seed: seed}
}

// Seed returns the seed the FS was created with.
func (c *CrashFS) Seed() int64 { return c.seed }

type dirOpKind uint8

const (
	opCreate dirOpKind = iota + 1
	opRemove
	opRename
)

type dirOp struct {
	kind    dirOpKind
	name    string
	newname string
	node    *memNode
}

// crashState is the durable namespace plus the log of directory operations
// not yet made durable by SyncDir. It is guarded by MemFS.mu.
type crashState struct {
	durable map[string]*memNode
	pending []dirOp
	rng     *rand.Rand
	crashes int
}

func (c *crashState) logOp(op dirOp) { c.pending = append(c.pending, op) }

func (c *crashState) apply(op dirOp) {
	switch op.kind {
	case opCreate:
		c.durable[op.name] = op.node
	case opRemove:
		delete(c.durable, op.name)
	case opRename:
		delete(c.durable, op.name)
		c.durable[op.newname] = op.node
	}
}

// syncDir makes the pending operations touching dir durable, in order.
func (c *crashState) syncDir(dir string) {
	kept := c.pending[:0]
	for _, op := range c.pending {
		if path.Dir(op.name) == dir || (op.kind == opRename && path.Dir(op.newname) == dir) {
			c.apply(op)
			continue
		}
		kept = append(kept, op)
	}
	clear(c.pending[len(kept):])
	c.pending = kept
}

// Crash simulates a power loss: every open File and Mapping becomes invalid
// (ErrClosed) and the FS turns into the disk as found after a reboot, which
// can be opened and used again. What happens to data not yet durable is
// chosen by mode. The caller must not write through old mappings
// concurrently with Crash.
func (c *CrashFS) Crash(mode CrashMode) {
	m := c.MemFS
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := m.crash
	cs.crashes++
	m.gen.Add(1)

	switch mode {
	case KeepAll:
		for _, op := range cs.pending {
			cs.apply(op)
		}
	case Random:
		k := cs.rng.Intn(len(cs.pending) + 1)
		for _, op := range cs.pending[:k] {
			cs.apply(op)
		}
	}
	cs.pending = nil

	// Sorted names keep the random draws deterministic.
	names := make([]string, 0, len(cs.durable))
	for name := range cs.durable {
		names = append(names, name)
	}
	sort.Strings(names)
	rebuilt := map[*memNode]*memNode{}
	files := make(map[string]*memNode, len(names))
	for _, name := range names {
		old := cs.durable[name]
		n, ok := rebuilt[old]
		if !ok {
			old.mu.Lock()
			img := crashImage(old.data, old.durable, mode, cs.rng)
			old.mu.Unlock()
			n = &memNode{data: img, durable: append([]byte(nil), img...)}
			rebuilt[old] = n
		}
		files[name] = n
		cs.durable[name] = n
	}
	m.files = files
}

// Crashes reports how many times Crash was called.
func (c *CrashFS) Crashes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crash.crashes
}

// crashImage returns what a file whose current content is cur and durable
// content is dur holds after a crash in the given mode.
func crashImage(cur, dur []byte, mode CrashMode, rng *rand.Rand) []byte {
	size := len(dur)
	switch mode {
	case KeepAll:
		size = len(cur)
	case Random:
		if len(cur) != len(dur) && rng.Intn(2) == 0 {
			size = len(cur)
		}
	}
	img := make([]byte, size)
	at := func(b []byte, lo, hi int) []byte {
		// b[lo:hi] zero-padded past len(b).
		out := make([]byte, hi-lo)
		if lo < len(b) {
			copy(out, b[lo:min(hi, len(b))])
		}
		return out
	}
	for lo := 0; lo < size; lo += CrashPageSize {
		hi := min(lo+CrashPageSize, size)
		nw, old := at(cur, lo, hi), at(dur, lo, hi)
		if string(nw) == string(old) {
			copy(img[lo:hi], nw)
			continue
		}
		switch mode {
		case KeepAll:
			copy(img[lo:hi], nw)
		case DropAll:
			copy(img[lo:hi], old)
		case Random:
			switch rng.Intn(3) {
			case 0:
				copy(img[lo:hi], nw)
			case 1:
				copy(img[lo:hi], old)
			default:
				for s := lo; s < hi; s += CrashSectorSize {
					e := min(s+CrashSectorSize, hi)
					if rng.Intn(2) == 0 {
						copy(img[s:e], nw[s-lo:e-lo])
					} else {
						copy(img[s:e], old[s-lo:e-lo])
					}
				}
			}
		}
	}
	return img
}
