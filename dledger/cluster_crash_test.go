package dledger_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// testSeed returns the seed of a randomized test: DLEDGER_SEED replays one.
func testSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("DLEDGER_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("DLEDGER_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with DLEDGER_SEED=%d)", seed, seed)
	return seed
}

func crashFSs(seed int64, n int) []vfs.FS {
	out := make([]vfs.FS, n)
	for i := range out {
		out[i] = vfs.NewCrash(seed + int64(i))
	}
	return out
}

// noBackgroundFlush keeps the commit log's flusher idle so a power cut never
// races with it (FlushSync needs it only to refresh a header slot).
func noBackgroundFlush(i int, c *dledger.Config) { c.FlushInterval = time.Hour }

// TestClusterPowerLossOneNode: the leader loses power (unsynced pages kept,
// dropped or torn at random); every entry it acknowledged is still in its
// log when it comes back, and the group loses nothing.
func TestClusterPowerLossOneNode(t *testing.T) {
	seed := testSeed(t)
	fss := crashFSs(seed, 3)
	c := newCluster(t, 3, noBackgroundFlush, fss...)
	lead := c.waitLeader(5 * time.Second)
	last := c.applyN("p", 120, 700)

	// What the leader holds before the cut (all of it acknowledged by its
	// own StoreLogs, so durable under FlushSync).
	before := map[uint64][]byte{}
	ls := c.nodes[lead].LogStore()
	_, _, next := ls.Bounds()
	for i := uint64(1); i < next; i++ {
		_, data, err := ls.ReadEntryRecord(i)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = data
	}
	c.powerLoss(lead, vfs.Random)

	// Reopen its store alone first: nothing it had stored may be missing.
	o := dledger.DefaultLogStoreOptions(c.dirs[lead])
	o.FS, o.SegmentSize, o.IndexSlotsPerFile = fss[lead], 256<<10, 256
	s, err := dledger.OpenLogStore(o)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range before {
		_, got, err := s.ReadEntryRecord(i)
		if err != nil || string(got) != string(want) {
			t.Fatalf("entry %d after power loss: %v", i, err)
		}
	}
	_ = s.Close()

	c.waitLeader(5 * time.Second)
	last2 := c.applyN("q", 30, 700)
	c.start(lead)
	c.verify(last2)
	for k := 0; k < 120; k++ {
		if _, ok := c.fsms[lead].Get(fmt.Sprintf("p-%d", k)); !ok {
			t.Fatalf("restarted node misses acknowledged p-%d (index ≤ %d)", k, last)
		}
	}
}

// TestClusterPowerLossAllNodes: writers run, then all three nodes lose
// power; after restart every acknowledged entry is there.
func TestClusterPowerLossAllNodes(t *testing.T) {
	seed := testSeed(t)
	fss := crashFSs(seed, 3)
	c := newCluster(t, 3, noBackgroundFlush, fss...)
	c.waitLeader(5 * time.Second)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	nodes := append([]*dledger.Node(nil), c.nodes...)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, k)
				for _, n := range nodes {
					if !n.IsLeader() {
						continue
					}
					_, _, err := n.Apply([]byte(key+"=v"), time.Second)
					if err == nil {
						mu.Lock()
						acked = append(acked, key)
						mu.Unlock()
					} else if !errors.Is(err, raft.ErrNotLeader) {
						// Shutdown or lost leadership: not acknowledged.
						time.Sleep(time.Millisecond)
					}
					break
				}
			}
		}(w)
	}
	waitFor(t, 10*time.Second, "some acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	modes := []vfs.CrashMode{vfs.Random, vfs.DropAll, vfs.Random}
	for i := range c.nodes {
		c.powerLoss(i, modes[i])
	}
	close(stop)
	wg.Wait()

	for i := range c.nodes {
		c.start(i)
	}
	lead := c.waitLeader(5 * time.Second)
	if err := c.nodes[lead].Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d writes acknowledged before the power cut", len(acked))
	for _, key := range acked {
		if _, ok := c.fsms[lead].Get(key); !ok {
			t.Fatalf("acknowledged %s lost", key)
		}
	}
	c.verify(c.nodes[lead].LastIndex())
}

// TestApplyReturnsWhenNodeStops is the regression test for a hang found in
// TestClusterPowerLossAllNodes: with BatchApplyCh, hashicorp/raft never
// answers a future still queued in its apply channel when it shuts down, so
// Node.Apply used to block for ever. Here the leader's commit-log writes are
// held while writers queue up behind the held batch, the leader is killed,
// then the writes are released: every Apply must return.
func TestApplyReturnsWhenNodeStops(t *testing.T) {
	var hold [3]atomic.Bool
	release := make(chan struct{})
	fss := make([]vfs.FS, 3)
	for i := range fss {
		i := i
		fss[i] = vfs.NewErr(vfs.OS, func(op vfs.Op, _ string) error {
			if op == vfs.OpWrite && hold[i].Load() {
				<-release
			}
			return nil
		})
	}
	c := newCluster(t, 3, nil, fss...)
	li := c.waitLeader(5 * time.Second)
	leader := c.nodes[li]
	c.apply("warm=up")

	hold[li].Store(true)
	const writers = 32
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			_, _, err := leader.Apply([]byte(fmt.Sprintf("w%d=v", w)), time.Second)
			errs <- err
		}(w)
	}
	// Let the writers reach raft: one batch blocks in StoreLogs, the rest
	// wait in the apply channel.
	time.Sleep(200 * time.Millisecond)
	killed := make(chan struct{})
	go func() { c.kill(li); close(killed) }()
	time.Sleep(100 * time.Millisecond) // raft.Shutdown has begun
	close(release)

	deadline := time.After(10 * time.Second)
	for w := 0; w < writers; w++ {
		select {
		case <-errs:
		case <-deadline:
			t.Fatalf("%d of %d Apply calls still blocked 10 s after the node stopped", writers-w, writers)
		}
	}
	select {
	case <-killed:
	case <-time.After(10 * time.Second):
		t.Fatal("kill did not return")
	}
}
