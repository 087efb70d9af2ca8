package store

import (
	"context"
	"testing"
	"time"
)

func TestRetentionDue(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 6, h, 30, 0, 0, time.Local) }
	cfg := DefaultConfig() // 72 h, at 04:00, or above 75% used
	for _, tc := range []struct {
		name  string
		mod   func(c *Config)
		now   time.Time
		used  int
		known bool
		want  bool
	}{
		{"deletion hour", nil, at(4), 10, true, true},
		{"other hour, disk fine", nil, at(5), 74, true, false},
		{"other hour, disk full", nil, at(5), 75, true, true},
		{"other hour, disk unknown", nil, at(5), 99, false, false},
		{"second deletion hour", func(c *Config) { c.DeleteWhen = []int{4, 16} }, at(16), 0, true, true},
		{"retention off", func(c *Config) { c.FileReservedTime = 0 }, at(4), 99, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			if tc.mod != nil {
				tc.mod(&c)
			}
			if got := c.retentionDue(tc.now, tc.used, tc.known); got != tc.want {
				t.Fatalf("retentionDue = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDropExpired: segments whose entries were all appended before the
// cutoff go, on every replica alike; nothing appended after it does.
func TestDropExpired(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) { cfg.DLedger.TrailingLogs = 4 })
	ctx := context.Background()
	for _, topic := range []string{"RA", "RB"} {
		if err := c.leader().CreateTopic(ctx, DefaultTopicConfig(topic)); err != nil {
			t.Fatal(err)
		}
	}
	putMany(c, "old", 3000, 50, 1000) // ~3 MiB over 1 MiB segments
	c.waitApplied()
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	putMany(c, "new", 300, 50, 1000)
	c.waitApplied()

	var start int64
	for _, s := range c.running() {
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
		if n, err := s.dropExpired(cutoff.Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("%s: dropped %d bytes (%v) with nothing expired", s.cfg.DLedger.ID, n, err)
		}
		firstNew, err := s.expiredBefore(cutoff)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.dropExpired(cutoff)
		if err != nil {
			t.Fatal(err)
		}
		st := s.cl.Start()
		switch {
		case n < 1<<20:
			t.Fatalf("%s: dropped %d bytes of ~3 MiB expired", s.cfg.DLedger.ID, n)
		case st > firstNew:
			t.Fatalf("%s: log starts at %d, past the first entry after the cutoff at %d", s.cfg.DLedger.ID, st, firstNew)
		case start != 0 && st != start:
			t.Fatalf("replicas retained from %d and %d", start, st)
		}
		start = st
	}
	c.checkReplicas()
}

// cfgInterval is TestRetentionLoop's retention interval.
const cfgInterval = 20 * time.Millisecond

// TestRetentionLoop: the store's own loop drops what has expired.
func TestRetentionLoop(t *testing.T) {
	c := newCluster(t, 3, func(i int, cfg *Config) {
		cfg.DLedger.TrailingLogs = 4
		cfg.FileReservedTime, cfg.RetentionInterval = time.Millisecond, cfgInterval
		cfg.DeleteWhen = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}
	})
	ctx := context.Background()
	for _, topic := range []string{"RA", "RB"} {
		if err := c.leader().CreateTopic(ctx, DefaultTopicConfig(topic)); err != nil {
			t.Fatal(err)
		}
	}
	putMany(c, "old", 3000, 50, 1000)
	c.waitApplied()
	for _, s := range c.running() {
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	// Every replica drops up to what raft compacted (the same entry
	// everywhere); a read racing a drop may skip to the new start, so the
	// replicas are compared once all have dropped.
	starts := func() (int64, bool) {
		var first int64
		for i, s := range c.running() {
			st := s.cl.Start()
			if i == 0 {
				first = st
			} else if st != first {
				return st, false
			}
		}
		return first, first >= 1<<20
	}
	waitFor(t, 10*time.Second, "retention to the same start on every replica", func() bool {
		_, ok := starts()
		return ok
	})
	st, _ := starts()
	time.Sleep(5 * cfgInterval)
	if now, ok := starts(); !ok || now != st {
		t.Fatalf("retention moved on after converging: %d -> %d", st, now)
	}
	c.checkReplicas()
}
