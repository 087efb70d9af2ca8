package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

func TestAdminCreateTopicTriesEachNode(t *testing.T) {
	ns := newFakeNamesrv(t)
	follower, leader := newFakeBroker(t), newFakeBroker(t)
	follower.createErr.Store(int32(remoting.ServiceNotAvailable))
	c := newClient(t, testConfig(ns.addr))
	ctx := ctxT(t, 5*time.Second)
	tc := NewTopicConfig("NewTopic", 4)
	tc.Order = true
	addr, err := c.Admin().CreateTopic(ctx, tc, follower.addr, leader.addr)
	if err != nil || addr != leader.addr {
		t.Fatalf("%q %v", addr, err)
	}
	leader.mu.Lock()
	got := leader.created[0]
	leader.mu.Unlock()
	for k, v := range map[string]string{"topic": "NewTopic", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6",
		"order": "true", "topicFilterType": "SINGLE_TAG", "defaultTopic": "TBW102", "topicSysFlag": "0"} {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	// Only refusals: retried until the context ends.
	short, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Admin().CreateTopic(short, tc, follower.addr)
	if code, _ := ResponseCodeOf(err); code != remoting.ServiceNotAvailable || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("only a follower: %v after %v", err, time.Since(start))
	}
	// A non-retryable refusal ends at once.
	follower.createErr.Store(int32(remoting.RequestCodeNotSupported))
	if _, err = c.Admin().CreateTopic(ctx, tc, follower.addr); err == nil {
		t.Fatal("accepted")
	} else if code, _ := ResponseCodeOf(err); code != remoting.RequestCodeNotSupported {
		t.Fatalf("not supported: %v", err)
	}
	if _, err := c.Admin().CreateTopic(ctx, NewTopicConfig("bad topic", 0), leader.addr); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("invalid config: %v", err)
	}
}

func TestAdminWaitForRoute(t *testing.T) {
	ns := newFakeNamesrv(t)
	b := newFakeBroker(t)
	c := newClient(t, testConfig(ns.addr))
	ctx := ctxT(t, 10*time.Second)
	go func() {
		time.Sleep(100 * time.Millisecond)
		// First a route without a master (election in progress), then one with.
		ns.setRoute("T", `{"brokerDatas":[{"brokerAddrs":{1:"`+b.addr+`"},"brokerName":"broker-a"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"writeQueueNums":4}]}`)
		time.Sleep(100 * time.Millisecond)
		ns.setRoute("T", fastjsonRoute("broker-a", b.addr, 4))
	}()
	start := time.Now()
	r, err := c.Admin().WaitForRoute(ctx, "T", 4)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := r.MasterAddr("broker-a"); a != b.addr || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("route %+v after %v", r, time.Since(start))
	}
	// Cached for producers now.
	if _, err := c.Producer().Send(ctx, newMsg("T", "x")); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, err := c.Admin().WaitForRoute(short, "Missing", 1); !errors.Is(err, ErrWaitRoute) || !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
