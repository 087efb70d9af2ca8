package commitlog

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// TestCacheWindowReleasesDurablePages: on the OS file system the flusher
// gives the page cache of durable bytes older than CacheWindow back to the
// OS (mincore sees them gone) one flusher step after they left the window,
// keeps the window resident, and every record still reads back intact,
// faulted in again from the file. The test drives the flusher itself.
func TestCacheWindowReleasesDurablePages(t *testing.T) {
	for _, wm := range []WriteMethod{WritePwrite, WriteMmap} {
		t.Run(wm.String(), func(t *testing.T) {
			o := testOptionsW(t, vfs.OS, t.TempDir(), wm)
			o.SegmentSize = 16 << 20
			o.CacheWindow = 2 << 20
			l := mustOpen(t, o)
			defer l.Close()
			var want []Record
			for i := 0; i < 160; i++ { // 160 batches of 16 × 4 KiB: 10 MiB, durable
				batch := make([]Record, 16)
				for j := range batch {
					batch[j] = rec(i*16+j, 4096)
				}
				mustAppend(t, l, batch...)
				want = append(want, batch...)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			released := func() int64 {
				l.flushMu.Lock()
				defer l.flushMu.Unlock()
				return l.released
			}
			l.backgroundFlush() // notes what left the window
			if r := released(); r != 0 {
				t.Fatalf("released up to %d in the first step", r)
			}
			l.backgroundFlush() // releases it
			rel := released()
			if want := l.End() - o.CacheWindow; rel != want {
				t.Fatalf("released up to %d, want %d", rel, want)
			}
			seg := l.segs[0].b
			resident := func(from, to int64) (n int) {
				vec := make([]byte, (to-from)/4096)
				if len(vec) == 0 {
					return 0
				}
				r := seg[from:to]
				if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&r[0])), uintptr(len(r)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
					t.Fatal(errno)
				}
				for _, v := range vec {
					n += int(v & 1)
				}
				return n
			}
			// Past the header page, up to the release point, next to
			// nothing is left (the kernel may keep a page it is busy
			// with); the window, all of it written by this test, stays.
			if n, all := resident(4096, rel&^4095), int((rel&^4095-4096)/4096); n > all/100 {
				t.Errorf("%d of %d released pages still resident", n, all)
			}
			if n, all := resident((rel+4095)&^4095, l.End()&^4095), int((l.End()&^4095-(rel+4095)&^4095)/4096); n < all/2 {
				t.Errorf("only %d of %d pages of the window resident", n, all)
			}
			_, got := readAll(t, l)
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i].Type != want[i].Type || !bytes.Equal(got[i].Data, want[i].Data) {
					t.Fatalf("record %d differs after its pages were released", i)
				}
			}
		})
	}
}
