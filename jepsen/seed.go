package jepsen

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// SeedEnv names the environment variable that replays a run: set it to the
// seed a run printed.
const SeedEnv = "JEPSEN_SEED"

// SeedFromEnv returns JEPSEN_SEED when it is set (decimal, or hex with a
// 0x prefix), else a fresh random seed. fromEnv says which. A value that
// does not parse is an error wrapping ErrBadSeed (never silently replaced:
// a typo would otherwise replay a different run).
func SeedFromEnv() (seed uint64, fromEnv bool, err error) {
	s := strings.TrimSpace(os.Getenv(SeedEnv))
	if s == "" {
		var b [8]byte
		if _, err := crand.Read(b[:]); err != nil {
			return 0, false, fmt.Errorf("jepsen: random seed: %w", err)
		}
		return binary.LittleEndian.Uint64(b[:]), false, nil
	}
	seed, err = strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, true, fmt.Errorf("%w: %s=%q: %w", ErrBadSeed, SeedEnv, s, err)
	}
	return seed, true, nil
}

// NewRand returns a deterministic generator for one named stream of a
// run ("nemesis", "workload/3"): the same seed and stream give the same
// numbers, and streams are independent, so one component drawing more
// numbers does not shift another's schedule.
func NewRand(seed uint64, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// RerunHint is the line a run prints so it can be replayed.
func RerunHint(seed uint64, test string) string {
	if test == "" {
		return fmt.Sprintf("%s=%d", SeedEnv, seed)
	}
	parts := strings.Split(test, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return fmt.Sprintf("%s=%d go test -race -run '%s' ./jepsen/...", SeedEnv, seed, strings.Join(parts, "/"))
}

// TB is the part of testing.TB the seed helper uses.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// TestSeed returns the seed for a test: JEPSEN_SEED or a fresh one. It logs
// the seed with the command that replays it, and logs it again when the
// test fails, so the line is next to the failure.
func TestSeed(t TB) uint64 {
	t.Helper()
	seed, fromEnv, err := SeedFromEnv()
	if err != nil {
		t.Fatalf("%v", err)
	}
	src := "random"
	if fromEnv {
		src = "from " + SeedEnv
	}
	hint := RerunHint(seed, t.Name())
	t.Logf("jepsen seed %d (%s); rerun: %s", seed, src, hint)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with jepsen seed %d; rerun: %s", seed, hint)
		}
	})
	return seed
}
