package dledger_test

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/dledger"
	"github.com/dledgermq/dledgermq/dledger/kvfsm"
	"github.com/dledgermq/dledgermq/internal/testutil"
)

// stuckFSM is a kvfsm whose ApplyBatch blocks until release is closed.
type stuckFSM struct {
	*kvfsm.FSM
	entered chan struct{} // closed when the first batch arrives
	release chan struct{}
	once    sync.Once
}

func (f *stuckFSM) ApplyBatch(es []dledger.Entry) []any {
	f.once.Do(func() { close(f.entered) })
	<-f.release
	return f.FSM.ApplyBatch(es)
}

// TestShutdownAnswersCommittedEntriesAsUnknown: when raft stops while
// entries it has committed wait for the state machine, it answers their
// proposers ErrRaftShutdown, the same error it gives a proposal it never
// took. Those entries may be stored (here: they are in the log), so the
// node must report them as "outcome unknown" (ErrLeadershipLost), never as
// a plain refusal a broker would pass on as "not stored".
func TestShutdownAnswersCommittedEntriesAsUnknown(t *testing.T) {
	logs := &testutil.LogBuffer{}
	cfg := dledger.DefaultConfig()
	peers := []dledger.Peer{{ID: "n0", Addr: testutil.FreeAddrs(t, 1)[0]}}
	cfg.ID, cfg.Peers, cfg.Dir = "n0", peers, t.TempDir()
	cfg.SegmentSize = 256 << 10
	cfg.IndexSlotsPerFile = 256
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fsm := &stuckFSM{FSM: kvfsm.New(), entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(fsm.release) }) }
	n, err := dledger.NewNode(cfg, fsm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release()
		_ = n.Kill()
		if t.Failed() {
			t.Logf("node log tail:\n%s", logs.Tail(100))
		}
	})
	waitFor(t, 10*time.Second, "n0 to lead", n.IsLeader)

	// The first entry blocks the state machine; every later commit is one
	// more batch for raft's FSM channel (128 deep), until the leader loop
	// itself blocks handing committed entries over.
	var futures []raft.ApplyFuture
	propose := func(k int) {
		futures = append(futures, n.ApplyAsync([]byte(fmt.Sprintf("k%d=v", k)), time.Second))
	}
	propose(0)
	select {
	case <-fsm.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the state machine never saw the first entry")
	}
	const proposals = 400
	for k := 1; k < proposals; k++ {
		propose(k)
		time.Sleep(time.Millisecond) // one commit each, mostly
	}

	answers := make(chan int, len(futures))
	errs := make([]error, len(futures))
	for i, f := range futures {
		go func() {
			errs[i] = f.Error()
			answers <- i
		}()
	}
	killed := make(chan error, 1)
	go func() { killed <- n.Kill() }()
	// Raft answers the batch its blocked leader loop held at once; the
	// batches queued for the state machine are never answered (the store's
	// batcher reports those as unknown when the node stops).
	answered := map[int]bool{}
	deadline := time.After(5 * time.Second) // for the first answer
collect:
	for {
		select {
		case i := <-answers:
			answered[i] = true
			deadline = time.After(200 * time.Millisecond) // for any others
		case <-deadline:
			break collect
		}
	}
	release()
	select {
	case err := <-killed:
		if err != nil {
			t.Logf("kill: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Kill did not return after the state machine was released")
	}

	shutdownAnswers := 0
	for i := range futures {
		if !answered[i] || errs[i] == nil {
			continue
		}
		err, idx := errs[i], futures[i].Index()
		if errors.Is(err, raft.ErrRaftShutdown) && idx != 0 {
			shutdownAnswers++
		}
		if idx != 0 && !errors.Is(err, raft.ErrLeadershipLost) {
			t.Errorf("entry %d (proposal %d) was appended, yet its proposer got %v: a refusal, not \"outcome unknown\"", idx, i, err)
		}
	}
	if shutdownAnswers == 0 {
		t.Fatalf("no committed entry was answered ErrRaftShutdown (%d of %d answered); the test did not reach the case", len(answered), len(futures))
	}
	t.Logf("%d proposals, %d answered by the shutdown, %d of them committed entries answered ErrRaftShutdown",
		len(futures), len(answered), shutdownAnswers)
}
