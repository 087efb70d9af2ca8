package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

func TestLongPollWakeRules(t *testing.T) {
	lp := newLongPoll()
	k := queueKey{"T", 1}
	w := lp.register(k, 5)
	lp.notify("T", 1, 5)  // max 5: offset 5 still has no message
	lp.notify("T", 2, 99) // another queue
	lp.notify("U", 1, 99) // another topic
	select {
	case <-w.ch:
		t.Fatal("woken without a message at its offset")
	default:
	}
	lp.notify("T", 1, 6)
	if !lp.wait(context.Background(), k, w, time.Second) {
		t.Fatal("not woken by an arrival at its offset")
	}
	if lp.held() != 0 {
		t.Fatalf("%d waiters left after wait", lp.held())
	}
	// Timeout and cancellation.
	w = lp.register(k, 7)
	start := time.Now()
	if lp.wait(context.Background(), k, w, 30*time.Millisecond) || time.Since(start) < 25*time.Millisecond {
		t.Fatal("hold did not time out")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w = lp.register(k, 7)
	if lp.wait(ctx, k, w, time.Minute) {
		t.Fatal("cancelled wait reported a wake")
	}
	w = lp.register(k, 7)
	lp.wakeAll()
	if !lp.wait(context.Background(), k, w, time.Minute) {
		t.Fatal("wakeAll did not wake")
	}
}

func TestSubscriptionMatching(t *testing.T) {
	s := subscriptionFromExpression("T", "TagA || TagB", "TAG")
	if !s.matches(message.TagsHash("TagA")) || !s.matches(message.TagsHash("TagB")) || s.matches(message.TagsHash("TagC")) || s.matches(0) {
		t.Fatal("tag expression matching")
	}
	for _, all := range []*subscriptionData{subscriptionFromExpression("T", "*", "TAG"), subscriptionFromExpression("T", "", ""),
		subscriptionFromExpression("T", "a > 1", "SQL92"), nil} {
		if !all.matches(0) || !all.matches(12345) {
			t.Fatalf("%+v should match everything", all)
		}
	}
	hb, err := parseHeartbeat([]byte(`{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","subString":"X","codeSet":["88"]},{"topic":"U","subString":"Y","codeSet":[89]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	subs := hb.ConsumerDataSet[0].SubscriptionDataSet
	if !subs[0].matches(88) || subs[0].matches(89) || !subs[1].matches(89) {
		t.Fatalf("codeSet as strings and numbers: %+v", subs)
	}
	if _, err := parseHeartbeat([]byte(`{"producerDataSet":[]}`)); err == nil {
		t.Fatal("heartbeat without clientID accepted")
	}
}

func TestPullCodeTable(t *testing.T) {
	cases := []struct {
		st     store.GetStatus
		offset int64
		want   string
	}{
		{store.GetFound, 3, "SUCCESS"},
		{store.GetNoMatchedMessage, 3, "PULL_RETRY_IMMEDIATELY"},
		{store.GetMessageWasRemoving, 3, "PULL_RETRY_IMMEDIATELY"},
		{store.GetNoMessageInQueue, 0, "PULL_NOT_FOUND"},
		{store.GetNoMessageInQueue, 3, "PULL_OFFSET_MOVED"},
		{store.GetOffsetOverflowOne, 3, "PULL_NOT_FOUND"},
		{store.GetOffsetOverflowBadly, 3, "PULL_OFFSET_MOVED"},
		{store.GetOffsetTooSmall, 3, "PULL_OFFSET_MOVED"},
		{store.GetOffsetFoundNull, 3, "PULL_NOT_FOUND"},
	}
	for _, c := range cases {
		if got := pullCode(c.st, c.offset).String(); got != c.want {
			t.Errorf("%s at %d -> %s, want %s", c.st, c.offset, got, c.want)
		}
	}
}

func TestTopicsVersionTracksContent(t *testing.T) {
	a := map[string]namesrv.TopicConfig{"T": {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}
	b := map[string]namesrv.TopicConfig{"T": {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}
	if topicsVersion(a) != topicsVersion(b) {
		t.Fatal("same table, different versions")
	}
	b["T"] = namesrv.TopicConfig{TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 4}
	if topicsVersion(a) == topicsVersion(b) || topicsVersion(a) < 0 {
		t.Fatal("changed table, same version")
	}
}

// TestStoreErrorCode: the response code tells the producer whether the
// write may be stored; only SYSTEM_ERROR leaves that open, and every error
// the store returns after proposing a write must map to it.
func TestStoreErrorCode(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want remoting.ResponseCode
	}{
		{"not leader", fmt.Errorf("%w: %w", store.ErrNotLeader, raft.ErrNotLeader), remoting.ServiceNotAvailable},
		{"closed before proposing", store.ErrClosed, remoting.ServiceNotAvailable},
		{"broker closing", ErrClosed, remoting.ServiceNotAvailable},
		{"leadership lost", fmt.Errorf("%w (%w): %w", store.ErrLeadershipLost, store.ErrNotLeader, raft.ErrLeadershipLost), remoting.SystemError},
		{"stopped with the write proposed", fmt.Errorf("%w (%w): stopped", store.ErrLeadershipLost, store.ErrClosed), remoting.SystemError},
		{"timed out after proposing", fmt.Errorf("store: write proposed, outcome unknown: %w", context.DeadlineExceeded), remoting.SystemError},
		{"raft queue full", fmt.Errorf("%w: %w", store.ErrBusy, raft.ErrEnqueueTimeout), remoting.SystemBusy},
		{"invalid", fmt.Errorf("%w: empty batch", store.ErrInvalid), remoting.MessageIllegal},
		{"too large", store.ErrTooLarge, remoting.MessageIllegal},
		{"unexpected", errors.New("disk on fire"), remoting.SystemError},
	} {
		if got := storeErrorCode(c.err); got != c.want {
			t.Errorf("%s (%v): code %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
