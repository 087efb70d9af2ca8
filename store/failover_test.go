package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
)

// writeLoad runs writers that put single messages with unique bodies until
// stop is closed, retrying across leader changes. It records acknowledged
// results and the bodies whose outcome is unknown.
type writeLoad struct {
	mu      sync.Mutex
	acked   map[string]PutResult
	unknown map[string]bool
	n       atomic.Int64
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startLoad(c *cluster, writers int, topic string, queues int32) *writeLoad {
	l := &writeLoad{acked: map[string]PutResult{}, unknown: map[string]bool{}, stop: make(chan struct{})}
	for w := 0; w < writers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body := fmt.Sprintf("w%d-%d", w, i)
				res, maybe := c.put([]*message.MessageExt{msg(topic, int32(i)%queues, body)})
				l.mu.Lock()
				if maybe {
					l.unknown[body] = true
				}
				if res != nil {
					l.acked[body] = res[0]
					l.n.Add(1)
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *writeLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

// TestLeaderFailover kills the leader while writers are busy: no
// acknowledged message is lost, every replica agrees on every queue, and
// the new leader continues queue offsets without gaps or duplicates.
func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	load := startLoad(c, 8, "FailTopic", 2)
	waitFor(t, 20*time.Second, "writes before the crash", func() bool { return load.n.Load() >= 150 })
	old := c.leaderIdx()
	c.kill(old)
	before := load.n.Load()
	waitFor(t, 20*time.Second, "writes after the crash", func() bool { return load.n.Load() >= before+150 })
	load.halt()
	if t.Failed() {
		return
	}
	c.start(old) // the crashed replica catches up
	views := c.checkReplicas()
	stored := byBody(views)
	for body, r := range load.acked {
		rs := stored[body]
		if len(rs) == 0 {
			t.Fatalf("acknowledged message %q lost", body)
		}
		found := false
		for _, got := range rs {
			found = found || got.QueueOffset == r.QueueOffset && got.Phys == r.Phys && got.QueueID == r.QueueID
		}
		if !found {
			t.Fatalf("%q acknowledged at %+v, stored at %+v", body, r, rs)
		}
	}
	for body, rs := range stored {
		if _, ok := load.acked[body]; !ok && !load.unknown[body] || len(rs) > 1 && !load.unknown[body] {
			t.Fatalf("stored message %q (%d times) was neither acknowledged once nor in doubt", body, len(rs))
		}
	}
	t.Logf("acked %d, in doubt %d, stored %d; leader n%d killed", len(load.acked), len(load.unknown), len(stored), old)
}

// TestRestartCatchUp stops a follower (cleanly, then by a crash), writes
// while it is down, and checks it catches up on restart.
func TestRestartCatchUp(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := 0; i < 50; i++ {
		c.put([]*message.MessageExt{msg("T1", int32(i%2), fmt.Sprintf("a%d", i))})
	}
	f := (c.leaderIdx() + 1) % 3
	c.stop(f)
	for i := 0; i < 50; i++ {
		c.put([]*message.MessageExt{msg("T1", int32(i%2), fmt.Sprintf("b%d", i))})
	}
	c.start(f)
	c.checkReplicas()

	f = (c.leaderIdx() + 2) % 3
	c.kill(f)
	for i := 0; i < 50; i++ {
		c.put([]*message.MessageExt{msg("T1", int32(i%3), fmt.Sprintf("c%d", i))})
	}
	c.start(f)
	views := c.checkReplicas()
	if n := len(uniqueBodies(t, views)); n != 150 {
		t.Fatalf("%d messages stored, want 150", n)
	}
}
