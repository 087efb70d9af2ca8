package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Crash sweep knobs: COMMITLOG_CRASH_SEED replays from a seed (the first
// iteration uses exactly that seed), COMMITLOG_CRASH_ITERS sets how many
// crash points to try.
const (
	envCrashSeed  = "COMMITLOG_CRASH_SEED"
	envCrashIters = "COMMITLOG_CRASH_ITERS"
)

// sweepRecord builds the record with a unique id: 8 bytes of id, then bytes
// derived from it, so any record read back can be checked for integrity
// and identity.
func sweepRecord(id uint64, n int) Record {
	if n < 8 {
		n = 8
	}
	d := make([]byte, n)
	binary.LittleEndian.PutUint64(d, id)
	x := id*0x9E3779B97F4A7C15 + 1
	for i := 8; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		d[i] = byte(x)
	}
	return Record{Type: uint8(id%200) + 1, Data: d}
}

func checkSweepRecord(r Record) (uint64, bool) {
	if len(r.Data) < 8 {
		return 0, false
	}
	id := binary.LittleEndian.Uint64(r.Data)
	want := sweepRecord(id, len(r.Data))
	return id, want.Type == r.Type && bytes.Equal(want.Data, r.Data)
}

type entry struct {
	off int64
	id  uint64
}

// sweepModel is what the test knows about the log at the power cut.
type sweepModel struct {
	acked []entry // durable records, in order
	// maybe holds records whose fate is unknown (an in-flight batch, records
	// appended but not yet synced under FlushAsync, records an in-flight
	// Truncate was removing). They may appear only after every acked record.
	maybe map[uint64]bool
	// start is the log start; records below it may appear only if a
	// DropBefore was in flight.
	start        int64
	dropInFlight bool
	dropTarget   int64
	unsynced     []entry // FlushAsync: appended, not yet covered by a Sync
	sizes        map[uint64]int
}

func TestCrashSweep(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv(envCrashSeed); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", envCrashSeed, err)
		}
		seed = v
	}
	iters := 400
	if s := os.Getenv(envCrashIters); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", envCrashIters, err)
		}
		iters = v
	}
	if testing.Short() && os.Getenv(envCrashIters) == "" {
		iters = 50
	}
	t.Logf("crash sweep: %d iterations from seed %d (replay: %s=%d)", iters, seed, envCrashSeed, seed)
	for i := 0; i < iters; i++ {
		s := seed + int64(i)
		if !crashIteration(t, s) {
			t.Fatalf("crash iteration failed; replay just it with %s=%d %s=1 go test -run TestCrashSweep ./commitlog/",
				envCrashSeed, s, envCrashIters)
		}
	}
}

// crashIteration runs a random workload, cuts the power at a random file
// system operation, crashes with torn pages, recovers and checks the log.
// It reports false after logging a failure.
func crashIteration(t *testing.T, seed int64) (ok bool) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	c := vfs.NewCrash(seed)
	var ops atomic.Int64
	var cut atomic.Bool
	cutAt := int64(1 + rng.Intn(220))
	fsys := vfs.NewErr(c, func(op vfs.Op, name string) error {
		if cut.Load() || ops.Add(1) >= cutAt {
			cut.Store(true)
			return fmt.Errorf("power cut at op %d (%s %s): %w", cutAt, op, name, vfs.ErrInjected)
		}
		return nil
	})
	async := rng.Intn(4) == 0
	segSize := int64(8 << 10)
	if rng.Intn(3) == 0 {
		segSize = 4 << 10
	}
	wm := []WriteMethod{WriteAuto, WriteMmap, WritePwrite}[rng.Intn(3)]
	slotLag := []int64{-1, 2048, 0}[rng.Intn(3)]
	opts := func(fs vfs.FS) Options {
		o := testOptions(t, fs, "/log")
		o.SegmentSize = segSize
		o.Write = wm
		o.slotLag = slotLag
		if async {
			o.Flush = FlushAsync
		}
		return o
	}
	fail := func(format string, args ...any) bool {
		t.Errorf("seed %d (async=%v, write %v, slot lag %d, segment %d, cut at op %d): %s",
			seed, async, wm, slotLag, segSize, cutAt, fmt.Sprintf(format, args...))
		return false
	}

	m := &sweepModel{maybe: map[uint64]bool{}, start: SegmentHeaderSize, sizes: map[uint64]int{}}
	l, err := Open(opts(fsys))
	nextID := uint64(1)
	if err == nil {
		maxRec := int(l.MaxRecordSize())
	workload:
		for step := 0; step < 60; step++ {
			switch p := rng.Intn(100); {
			case p < 62: // append a batch
				n := 1 + rng.Intn(4)
				batch := make([]Record, n)
				ids := make([]uint64, n)
				for k := range batch {
					size := rng.Intn(1500)
					if rng.Intn(10) == 0 {
						size = rng.Intn(maxRec)
					}
					ids[k] = nextID
					batch[k] = sweepRecord(nextID, size)
					m.sizes[nextID] = len(batch[k].Data)
					nextID++
				}
				offs, err := l.Append(batch)
				if err != nil {
					for _, id := range ids {
						m.maybe[id] = true
					}
					break workload
				}
				for k, id := range ids {
					if async {
						m.unsynced = append(m.unsynced, entry{offs[k], id})
						m.maybe[id] = true
					} else {
						m.acked = append(m.acked, entry{offs[k], id})
					}
				}
			case p < 74: // sync
				if err := l.Sync(); err != nil {
					break workload
				}
				for _, e := range m.unsynced {
					delete(m.maybe, e.id)
					m.acked = append(m.acked, e)
				}
				m.unsynced = nil
			case p < 86: // truncate to a recent record
				all := append(append([]entry(nil), m.acked...), m.unsynced...)
				if len(all) == 0 {
					continue
				}
				k := max(0, len(all)-1-rng.Intn(6))
				if all[k].off < l.Start() {
					continue
				}
				err := l.Truncate(all[k].off)
				for _, e := range all[k:] {
					if err != nil {
						m.maybe[e.id] = true
					} else {
						delete(m.maybe, e.id)
					}
				}
				if k < len(m.acked) {
					m.acked = m.acked[:k]
					m.unsynced = nil
				} else {
					m.unsynced = m.unsynced[:k-len(m.acked)]
				}
				if err != nil {
					break workload
				}
			case p < 91: // retention
				if len(m.acked) < 4 {
					continue
				}
				target := m.acked[rng.Intn(len(m.acked)/2)].off
				m.dropInFlight, m.dropTarget = true, target
				start, err := l.DropBefore(target)
				if err != nil {
					break workload
				}
				m.dropInFlight = false
				m.start = start
				for len(m.acked) > 0 && m.acked[0].off < start {
					m.acked = m.acked[1:]
				}
			case p < 96: // clean restart
				err := l.Close()
				if err == nil {
					for _, e := range m.unsynced {
						delete(m.maybe, e.id)
						m.acked = append(m.acked, e)
					}
					m.unsynced = nil
				}
				if l, err = Open(opts(fsys)); err != nil {
					l = nil
					break workload
				}
			default: // concurrent-free read check of a random acked record
				if len(m.acked) == 0 {
					continue
				}
				e := m.acked[rng.Intn(len(m.acked))]
				if r, _, err := l.Read(e.off); err != nil {
					if cut.Load() {
						break workload
					}
					return fail("Read(%d) before the crash: %v", e.off, err)
				} else if id, good := checkSweepRecord(r); !good || id != e.id {
					return fail("Read(%d) before the crash returned id %d, want %d", e.off, id, e.id)
				}
			}
		}
	}
	// Power cut now (if it has not happened yet), then lose unsynced pages.
	cut.Store(true)
	if l != nil {
		l.Close()
	}
	c.Crash(vfs.Random)

	l, err = Open(opts(c))
	if err != nil {
		return fail("Open after crash: %v", err)
	}
	defer l.Close()
	if !checkRecovered(l, m, fail) {
		return false
	}
	// The log accepts appends after recovery, and they survive a reopen.
	// Re-appending records of the sizes that were lost (as a Raft follower
	// re-receiving entries would) lands them where the lost ones were: if
	// recovery had left stale records behind, they would chain back in.
	before, _ := readAll(t, l)
	recovered := map[uint64]bool{}
	it := l.NewIterator(l.Start())
	for it.Next() {
		id, _ := checkSweepRecord(it.Record())
		recovered[id] = true
	}
	var again []Record
	for id := uint64(1); id < nextID; id++ {
		if m.maybe[id] && !recovered[id] {
			again = append(again, sweepRecord(1<<40+uint64(len(again)), m.sizes[id]))
		}
	}
	if len(again) > 0 {
		// Only some of them, so stale records past them would show.
		again = again[:1+rng.Intn(len(again))]
	} else {
		again = append(again, sweepRecord(1<<40, 100))
	}
	offs, err := l.Append(again)
	if err != nil {
		return fail("Append after recovery: %v", err)
	}
	l.Close()
	l, err = Open(opts(c))
	if err != nil {
		return fail("reopen after post-crash append: %v", err)
	}
	after, recs := readAll(t, l)
	if len(after) != len(before)+len(again) {
		return fail("after re-appending %d records to %d recovered ones the log holds %d (stale records chained in?)",
			len(again), len(before), len(after))
	}
	for k, off := range offs {
		id, good := checkSweepRecord(recs[len(before)+k])
		if after[len(before)+k] != off || !good || id != 1<<40+uint64(k) {
			return fail("post-crash record %d at %d differs", k, off)
		}
	}
	return true
}

// checkRecovered verifies the recovered log against the model: every acked
// record at its offset and intact, in order, after nothing but records a
// DropBefore in flight may have left; then only records of unknown fate.
func checkRecovered(l *Log, m *sweepModel, fail func(string, ...any) bool) bool {
	it := l.NewIterator(l.Start())
	if l.Start() < m.start && !m.dropInFlight {
		return fail("Start %d below the start %d a completed DropBefore left", l.Start(), m.start)
	}
	ai := 0
	if m.dropInFlight {
		// A DropBefore in flight may have removed some of the segments
		// below its target.
		for ai < len(m.acked) && m.acked[ai].off < l.Start() && m.acked[ai].off < m.dropTarget {
			ai++
		}
	}
	for it.Next() {
		off, r := it.Offset(), it.Record()
		id, good := checkSweepRecord(r)
		if !good {
			return fail("record at %d is damaged (torn data returned)", off)
		}
		if ai < len(m.acked) {
			if e := m.acked[ai]; e.off != off || e.id != id {
				return fail("record %d: got id %d at %d, want acked id %d at %d", ai, id, off, e.id, e.off)
			}
			ai++
			continue
		}
		if !m.maybe[id] {
			return fail("record id %d at %d after the acked records was never appended, or was truncated durably", id, off)
		}
	}
	if err := it.Err(); err != nil {
		return fail("iterating the recovered log: %v", err)
	}
	if ai < len(m.acked) {
		return fail("acked record %d (id %d at %d) lost; recovered End %d, report %+v",
			ai, m.acked[ai].id, m.acked[ai].off, l.End(), l.Recovery())
	}
	return true
}

// TestFlushAsyncLossWindow checks the documented FlushAsync contract: after
// a power loss, everything appended more than one FlushInterval (plus a
// flush) before it survives; what was appended within the window may be
// lost, but never damaged.
func TestFlushAsyncLossWindow(t *testing.T) {
	for _, wm := range writeMethods {
		t.Run(wm.String(), func(t *testing.T) { testFlushAsyncLossWindow(t, wm) })
	}
}

func testFlushAsyncLossWindow(t *testing.T, wm WriteMethod) {
	c := vfs.NewCrash(5)
	o := testOptions(t, c, "/log")
	o.Write = wm
	o.SegmentSize = 64 << 10
	o.Flush = FlushAsync
	o.FlushInterval = 20 * time.Millisecond
	l := mustOpen(t, o)
	var offs []int64
	for i := 0; i < 30; i++ {
		offs = append(offs, mustAppend(t, l, sweepRecord(uint64(i+1), 500))...)
	}
	old := l.End()
	// Wait (bounded) until the flusher has covered the old records.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.flushMu.Lock()
		d := l.durable
		l.flushMu.Unlock()
		if d >= old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background flusher did not flush within 5s (durable %d, end %d)", d, old)
		}
		time.Sleep(o.FlushInterval / 4)
	}
	// Records inside the window: appended right before the power cut.
	var recent []int64
	for i := 30; i < 40; i++ {
		recent = append(recent, mustAppend(t, l, sweepRecord(uint64(i+1), 500))...)
	}
	// Power cut: stop the flusher without letting Close flush anything.
	l.flushMu.Lock()
	c.Crash(vfs.DropAll)
	l.flushMu.Unlock()
	l.Close()

	o.Flush = FlushSync
	l = mustOpen(t, o)
	defer l.Close()
	for i, off := range offs {
		r, _, err := l.Read(off)
		if id, good := checkSweepRecord(r); err != nil || !good || id != uint64(i+1) {
			t.Fatalf("record %d appended before the loss window is gone: %v", i, err)
		}
	}
	if l.End() != old {
		t.Fatalf("End %d after a DropAll crash, want %d (the records in the window are lost)", l.End(), old)
	}
	if _, _, err := l.Read(recent[0]); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("record inside the loss window: %v", err)
	}
}

// TestFlushSyncIsDurableOnReturn: under FlushSync every acknowledged record
// survives a power loss that drops every unsynced page.
func TestFlushSyncIsDurableOnReturn(t *testing.T) {
	c := vfs.NewCrash(9)
	l := mustOpen(t, testOptions(t, c, "/log"))
	var offs []int64
	for i := 0; i < 50; i++ {
		offs = append(offs, mustAppend(t, l, sweepRecord(uint64(i+1), 700), sweepRecord(uint64(i+1001), 10))...)
	}
	c.Crash(vfs.DropAll)
	l.Close()
	l = mustOpen(t, testOptions(t, c, "/log"))
	defer l.Close()
	got, _ := readAll(t, l)
	if len(got) != len(offs) {
		t.Fatalf("%d records after DropAll crash, want %d", len(got), len(offs))
	}
}

// TestAppendUnsyncedDurableAfterFlush: under FlushSync, AppendUnsynced
// records are published at once but survive a power loss only once a Flush
// covering them returned; Flush reports the End it made durable.
func TestAppendUnsyncedDurableAfterFlush(t *testing.T) {
	for _, wm := range []WriteMethod{WritePwrite, WriteMmap} {
		t.Run(wm.String(), func(t *testing.T) {
			c := vfs.NewCrash(11)
			opts := testOptions(t, c, "/log")
			opts.Write = wm
			opts.FlushInterval = time.Hour // no background flush
			l := mustOpen(t, opts)
			var durable []int64
			for i := 0; i < 20; i++ {
				offs, err := l.AppendUnsynced(nil, []Record{sweepRecord(uint64(i+1), 900)})
				if err != nil {
					t.Fatal(err)
				}
				durable = append(durable, offs...)
			}
			end, err := l.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if end != l.End() {
				t.Fatalf("Flush made %d durable, End is %d", end, l.End())
			}
			lost, err := l.AppendUnsynced(nil, []Record{sweepRecord(99, 900), sweepRecord(100, 900)})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := l.Read(lost[1]); err != nil {
				t.Fatalf("unsynced record not readable before the crash: %v", err)
			}
			c.Crash(vfs.DropAll)
			l.Close()
			l = mustOpen(t, opts)
			defer l.Close()
			got, _ := readAll(t, l)
			if len(got) != len(durable) {
				t.Fatalf("%d records after DropAll crash, want the %d flushed", len(got), len(durable))
			}
			if l.End() != end {
				t.Fatalf("recovered End %d, want the flushed %d", l.End(), end)
			}
		})
	}
}
