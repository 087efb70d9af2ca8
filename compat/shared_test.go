package compat

import (
	"strings"
	"testing"
	"time"
)

// sharedDelayLevels replaces RocketMQ's delay table (1s 5s 10s 30s ...) so a
// retry (delay level 3 + reconsumeTimes) comes back after 1 s, not 10 s.
var sharedDelayLevels = strings.TrimSpace(strings.Repeat("1s ", 18))

// TestSharedCluster runs the cases that do not disturb each other in
// parallel on one cluster; each uses its own topics and groups.
func TestSharedCluster(t *testing.T) {
	checkNoPanics(t)
	start := time.Now()
	c := startCluster(t, clusterOptions{conf: map[string]string{
		"messageDelayLevel": sharedDelayLevels,
	}})
	// The subtests are parallel: the group returns when all are done and
	// the cluster is stopped after that.
	t.Run("group", func(t *testing.T) {
		t.Run("SendVariantsByteExact", func(t *testing.T) { t.Parallel(); testSendVariants(t, c) })
		t.Run("AutoCreateTopicTBW102", func(t *testing.T) { t.Parallel(); testAutoCreateTopic(t, c) })
		t.Run("TagFilterQueueSharing", func(t *testing.T) { t.Parallel(); testTagFilterSharing(t, c) })
		t.Run("Broadcasting", func(t *testing.T) { t.Parallel(); testBroadcasting(t, c) })
		t.Run("OffsetsSurviveRestart", func(t *testing.T) { t.Parallel(); testOffsetsSurviveRestart(t, c) })
		t.Run("RetryThenDLQ", func(t *testing.T) { t.Parallel(); testRetryThenDLQ(t, c) })
	})
	t.Logf("shared cluster cases took %v", time.Since(start).Round(time.Millisecond))
}
