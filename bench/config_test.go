package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/commitlog"
	"github.com/dledgermq/dledgermq/dledger"
)

func TestDefaultConfigsNeedOnlyATarget(t *testing.T) {
	for _, m := range Modes {
		c := DefaultConfig(m)
		if m.clusterMode() {
			c.Embedded = true
		}
		if m == ModeConsume {
			c.Count = 1000
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s defaults: %v", m, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mode Mode
		mod  func(c *Config)
		want []string // substrings, all expected in the error
	}{
		{"unknown mode", "fly", nil, []string{`mode "fly"`}},
		{"no target", ModeProduce, func(c *Config) { c.Embedded = false }, []string{"--namesrv ADDR or --embedded"}},
		{"both targets", ModeProduce, func(c *Config) { c.NameServer = "127.0.0.1:9876" }, []string{"exclude each other"}},
		{"bad namesrv", ModeConsume, func(c *Config) { c.Embedded, c.NameServer = false, "localhost" }, []string{`--namesrv "localhost"`}},
		{"target on local mode", ModeCommitLog, func(c *Config) { c.Embedded = true }, []string{"do not apply"}},
		{"everything wrong at once", ModeProduce, func(c *Config) {
			c.Size, c.Producers, c.Inflight, c.Batch = 0, 0, 0, 0
			c.Count, c.Duration, c.Rate = -1, -time.Second, -5
			c.Interval, c.Topic = time.Millisecond, "bad topic"
		}, []string{"--size 0", "--producers 0", "--inflight 0", "--batch 0", "--count -1", "--duration -1s", "--rate -5", "--interval 1ms", "--topic"}},
		{"count and duration", ModeDLedger, func(c *Config) { c.Count, c.Duration = 10, time.Second }, []string{"--count and --duration exclude each other"}},
		{"dledger batch", ModeDLedger, func(c *Config) { c.Batch = 8 }, []string{"dledger mode applies one entry"}},
		{"e2e tiny body", ModeE2E, func(c *Config) { c.Size = 8 }, []string{"e2e needs at least 16 bytes"}},
		{"kill without embedded", ModeProduce, func(c *Config) {
			c.Embedded, c.NameServer, c.KillLeaderAt = false, "127.0.0.1:9876", time.Second
		}, []string{"--kill-leader-at needs produce or e2e with --embedded"}},
		{"kill after the end", ModeProduce, func(c *Config) { c.KillLeaderAt, c.Duration = 5*time.Second, 2*time.Second }, []string{"not before the end of the run"}},
		{"kill on consume", ModeConsume, func(c *Config) { c.KillLeaderAt = time.Second }, []string{"--kill-leader-at needs produce or e2e"}},
		{"log store on produce", ModeProduce, func(c *Config) { c.LogStore = dledger.LogStoreBolt }, []string{"--log-store applies to dledger mode only"}},
		{"bad log store", ModeDLedger, func(c *Config) { c.LogStore = "sqlite" }, []string{`--log-store "sqlite"`}},
		{"bad flush", ModeCommitLog, func(c *Config) { c.Flush = 9 }, []string{"--flush"}},
		{"retain on produce", ModeProduce, func(c *Config) { c.Retain = 4 << 30 }, []string{"--retain 4294967296 applies to dledger mode"}},
		{"retain under two segments", ModeDLedger, func(c *Config) { c.SegmentSize, c.Retain = 64<<20, 100<<20 }, []string{"at least two segments"}},
		{"bad segment", ModeCommitLog, func(c *Config) { c.SegmentSize = 5000 }, []string{"--segment-size 5000"}},
		{"record too big for segment", ModeCommitLog, func(c *Config) { c.SegmentSize, c.Size, c.Batch = 64<<10, 1024, 64 }, []string{"does not fit"}},
		{"batch too big", ModeProduce, func(c *Config) { c.Batch, c.Size = 4096, 4096 }, []string{"does not fit a"}},
		{"linger without coalesce", ModeProduce, func(c *Config) { c.Linger = time.Millisecond }, []string{"--linger needs --coalesce"}},
		{"coalesce on dledger", ModeDLedger, func(c *Config) { c.Coalesce = true }, []string{"--coalesce applies to produce and e2e only"}},
		{"rate on consume", ModeConsume, func(c *Config) { c.Rate = 10 }, []string{"--rate does not apply to consume"}},
		{"embedded consume without count", ModeConsume, func(c *Config) { c.Count = 0 }, []string{"consume --embedded needs --count"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(tc.mode)
			if tc.mode.clusterMode() {
				c.Embedded = true
			}
			if tc.mode == ModeConsume {
				c.Count = 100
			}
			if tc.mod != nil {
				tc.mod(&c)
			}
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseFlush(t *testing.T) {
	for in, want := range map[string]commitlog.FlushMode{"sync": commitlog.FlushSync, "async": commitlog.FlushAsync, "ASYNC_FLUSH": commitlog.FlushAsync} {
		if got, err := ParseFlush(in); err != nil || got != want {
			t.Errorf("ParseFlush(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFlush("sometimes"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseFlush(sometimes) = %v", err)
	}
}
