package vfs

import "unsafe"

// writeback copies src into dst the way the kernel writes back a page that
// a mapping is still writing to: without any synchronisation with the
// writer. A file system sync concurrent with stores into a shared mapping is
// legal (the page reaches the disk in either version, or torn), and the
// storage packages rely on exactly that: they write records through the
// mapping while a flusher syncs. The memory and crash file systems model
// that sync by copying the mapped bytes into their durable image, so this
// copy runs concurrently with the writer's stores by design; it is exempt
// from the race detector (//go:norace, and no runtime copy, which instruments
// itself) so -race reports only real races. Returns the bytes copied.
//
//go:norace
func writeback(dst, src []byte) int {
	n := min(len(dst), len(src))
	i := 0
	for ; i+8 <= n; i += 8 {
		*(*uint64)(unsafe.Pointer(&dst[i])) = *(*uint64)(unsafe.Pointer(&src[i]))
	}
	for ; i < n; i++ {
		dst[i] = src[i]
	}
	return n
}
