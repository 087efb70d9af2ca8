package bench

import (
	"time"
)

// Result is what a run measured. The producing side (every mode but
// consume) is in Send; the consuming side (consume, e2e) in Consume.
type Result struct {
	Config Config
	// Start is when the measured run began (after setup and warmup).
	Start time.Time
	// Elapsed is the measured run's length: from Start until the last
	// operation finished (or, for consume, the last message arrived).
	Elapsed time.Duration
	// Interrupted is set when the run was cut short (Ctrl-C): the figures
	// cover the part that ran.
	Interrupted bool
	// CPU is the CPU time (user + system) the whole process used during
	// the measured run: load generator and, with in-process clusters, the
	// brokers or raft nodes too. 0 where unknown.
	CPU time.Duration
	// Send is the producing side's totals; nil in consume mode.
	Send *Window
	// Errors are the first few distinct failure messages with counts.
	Errors []ErrorCount
	// Consume is the consuming side; nil unless consume or e2e.
	Consume *ConsumeResult
	// Failover is the leader-kill report; nil unless KillLeaderAt.
	Failover *FailoverReport
	// Backlog is the number of messages preloaded before a consume run,
	// in PreloadElapsed (closed loop, batched: a produce rate measured in
	// the same run, the baseline for the consume rate).
	Backlog        int64
	PreloadElapsed time.Duration
	// Setup lists facts about the setup worth printing (leader, data
	// directory, topic queues).
	Setup []string
}

// ConsumeResult is the consuming side of a run.
type ConsumeResult struct {
	Consumed int64 // messages received (duplicates included)
	Bytes    int64 // body bytes received
	// Elapsed is the consuming side's measured time (consume: from the
	// first pull until the backlog was drained or the run ended).
	Elapsed    time.Duration
	Pulls      int64 // pull requests that returned messages or nothing
	PullErrors int64 // pulls that failed (reported, retried)
	// Pull is the round-trip latency of pulls that returned messages.
	Pull Percentiles
	// B2C is born-to-consume: from the producer's born timestamp (ms
	// resolution) to the pull response's arrival; S2C store-to-consume,
	// from the broker's store timestamp (ms resolution).
	B2C, S2C Percentiles
	// E2E (e2e mode) is produce-to-consume with µs resolution: from the
	// message's scheduled send time (carried in its body) to the arrival
	// of the pull response that delivered it.
	E2E Percentiles
	// Missing (e2e) is the number of acknowledged messages the consumer
	// had not seen when it stopped waiting.
	Missing int64
}

// FailoverReport describes a leader kill.
type FailoverReport struct {
	GapReport
	// KilledNode is the raft ID of the killed leader; NewLeader the one
	// that took over ("" if none did before the run ended).
	KilledNode, NewLeader string
	// ElectedAfter is the time from the kill until the new leader's store
	// was ready to take writes; RouteAfter until the NameServer's route
	// named it as the master (brokerId 0). Negative: did not happen.
	ElectedAfter, RouteAfter time.Duration
}

// MsgsPerSec is the producing side's throughput (acknowledged messages).
func (r *Result) MsgsPerSec() float64 {
	if r.Send == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Send.OK) / r.Elapsed.Seconds()
}

// MBPerSec is the producing side's payload throughput, MB = 10^6 bytes
// (as `go test -bench` reports).
func (r *Result) MBPerSec() float64 {
	if r.Send == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Send.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// CPUPerMsg is the process CPU time per acknowledged message (per
// consumed message in consume mode); 0 where unknown.
func (r *Result) CPUPerMsg() time.Duration {
	n := int64(0)
	switch {
	case r.Config.Mode == ModeConsume && r.Consume != nil:
		n = r.Consume.Consumed
	case r.Send != nil:
		n = r.Send.OK
	}
	if n == 0 || r.CPU == 0 {
		return 0
	}
	return r.CPU / time.Duration(n)
}

// PreloadMsgsPerSec is the backlog preload's produce rate.
func (r *Result) PreloadMsgsPerSec() float64 {
	if r.PreloadElapsed <= 0 {
		return 0
	}
	return float64(r.Backlog) / r.PreloadElapsed.Seconds()
}

// ConsumeMsgsPerSec is the consuming side's throughput.
func (c *ConsumeResult) MsgsPerSec() float64 {
	if c == nil || c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Consumed) / c.Elapsed.Seconds()
}

// MBPerSec is the consuming side's body throughput (10^6 bytes).
func (c *ConsumeResult) MBPerSec() float64 {
	if c == nil || c.Elapsed <= 0 {
		return 0
	}
	return float64(c.Bytes) / 1e6 / c.Elapsed.Seconds()
}
