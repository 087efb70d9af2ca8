// Package testutil holds the helpers the packages' tests share: a
// goroutine-safe log sink whose tail a failed test prints, and free loopback
// addresses for in-process clusters. Only _test.go files import it.
package testutil

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/dledgermq/dledgermq/internal/freeport"
)

// LogBuffer is an io.Writer safe for concurrent use (slog handlers of many
// nodes write to one) that tests can read and search.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count reports how many times substr was written.
func (b *LogBuffer) Count(substr string) int { return strings.Count(b.String(), substr) }

// Tail returns the last n lines.
func (b *LogBuffer) Tail(n int) string {
	lines := strings.Split(b.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreeAddrs returns n distinct free TCP addresses on 127.0.0.1 below the
// ephemeral port range (internal/freeport): probed free, and out of reach of
// the kernel's own port choices until the test binds them.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out, err := freeport.Loopback(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
