package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/dledgermq/dledgermq/dledger"
)

// Output format. Every line goes to the run's writer: a banner of the
// parameters, one progress line per interval (RocketMQ's benchmark fields
// plus p99 and progress), then a summary; with Config.JSON the very last
// line is one JSON object (JSONResult).

// ms formats microseconds as milliseconds with µs precision.
func ms(us int64) string { return fmt.Sprintf("%.3f", float64(us)/1000) }

// loadAvg returns the 1/5/15-minute load averages ("" where unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// bannerLines describes the run's parameters, one "key value" per line.
func bannerLines(c Config, setup []string) [][2]string {
	var kv [][2]string
	add := func(k, format string, args ...any) { kv = append(kv, [2]string{k, fmt.Sprintf(format, args...)}) }
	add("mode", "%s", c.Mode)
	warm := ""
	if c.WarmSegments {
		warm = ", warm segments"
	}
	if c.Retain > 0 {
		warm += fmt.Sprintf(", retaining %d B", c.Retain)
	}
	switch {
	case c.Embedded:
		add("target", "embedded: NameServer + three-node broker group in this process, 127.0.0.1 (flush %s, segment %d B%s)", c.Flush, c.SegmentSize, warm)
	case c.NameServer != "":
		add("target", "namesrv %s", c.NameServer)
	case c.Mode == ModeDLedger:
		add("target", "three-node raft group in this process over loopback TCP (log store %s, flush %s, segment %d B%s)", c.LogStore, c.Flush, c.SegmentSize, warm)
	case c.Mode == ModeCommitLog:
		add("target", "local commit log (flush %s, segment %d B%s)", c.Flush, c.SegmentSize, warm)
	}
	if c.Mode.clusterMode() {
		add("topic", "%s (%d queues if created)", c.Topic, c.Queues)
	}
	add("size", "%d B", c.Size)
	switch c.Mode {
	case ModeDLedger, ModeCommitLog:
		add("concurrency", "%d (producers %d × inflight %d)", c.Concurrency(), c.Producers, c.Inflight)
		if c.Mode == ModeCommitLog {
			add("batch", "%d records per Append", c.Batch)
		}
	case ModeConsume:
		add("pull batch", "%d", c.PullBatch)
	default:
		add("producers", "%d × inflight %d", c.Producers, c.Inflight)
		switch {
		case c.Coalesce:
			add("batch", "coalesced by the client into SEND_BATCH of up to %d (linger %v)", c.Batch, c.Linger)
		case c.Batch > 1:
			add("batch", "%d messages per SEND_BATCH", c.Batch)
		default:
			add("batch", "1 (one message per SEND)")
		}
	}
	if c.Mode == ModeConsume {
		if c.Embedded {
			add("backlog", "%d messages preloaded, then consumed", c.Count)
		} else if c.Count > 0 {
			add("count", "%d messages", c.Count)
		} else {
			add("count", "drain the queues to their end at start")
		}
		if c.Duration > 0 {
			add("duration", "%v", c.Duration)
		}
	} else if c.Count > 0 {
		add("count", "%d %s", c.Count, unit(c.Mode))
	} else {
		add("duration", "%v", c.runDuration())
	}
	if c.Warmup > 0 {
		add("warmup", "%v (not reported)", c.Warmup)
	}
	if c.Mode.sends() {
		if c.Rate > 0 {
			add("rate", "open loop, %.0f msgs/s offered; latency from each operation's scheduled start", c.Rate)
		} else {
			add("rate", "closed loop")
		}
	}
	if c.KillLeaderAt > 0 {
		add("kill leader", "at %v", c.KillLeaderAt)
	}
	add("host", "GOMAXPROCS %d, NumCPU %d, load average %s", runtime.GOMAXPROCS(0), runtime.NumCPU(), loadAvg())
	for _, s := range setup {
		add("setup", "%s", s)
	}
	return kv
}

// writeBanner prints the parameter banner.
func writeBanner(w io.Writer, c Config, setup []string) {
	fmt.Fprintf(w, "=== dledgermq bench: %s ===\n", c.Mode)
	for _, kv := range bannerLines(c, setup) {
		fmt.Fprintf(w, "%-12s %s\n", kv[0], kv[1])
	}
}

// progress describes how far a run is ("" when unbounded).
func progress(c Config, elapsed time.Duration, done int64) string {
	switch {
	case c.Count > 0:
		return fmt.Sprintf("Progress: %d/%d (%.0f%%)", done, c.Count, 100*float64(done)/float64(c.Count))
	case c.runDuration() > 0:
		d := c.runDuration()
		return fmt.Sprintf("Progress: %v/%v (%.0f%%)", elapsed.Round(time.Second), d, 100*min(1, elapsed.Seconds()/d.Seconds()))
	}
	return ""
}

// tps is count per second over span.
func tps(n int64, span time.Duration) int64 {
	if span <= 0 {
		return 0
	}
	return int64(float64(n)/span.Seconds() + 0.5)
}

// sendLine is one interval line of the sending side, with RocketMQ's
// benchmark fields (RT in ms with µs precision) plus p99.
func sendLine(now time.Time, span time.Duration, w *Window, prog string) string {
	p := PercentilesOf(w.Lat)
	var b strings.Builder
	fmt.Fprintf(&b, "Current Time: %s | Send TPS: %d | Max RT(ms): %s | Average RT(ms): %7.3f | p99 RT(ms): %s | Send Failed: %d | Response Failed: %d",
		now.Format("15:04:05.000"), tps(w.OK, span), ms(p.Max), p.Mean/1000, ms(p.P99), w.SendFailed, w.RespFailed)
	if prog != "" {
		b.WriteString(" | " + prog)
	}
	return b.String()
}

// consumeLine is one interval line of the consuming side, with RocketMQ's
// consumer benchmark fields plus p99 (and e2e latency in e2e mode).
func consumeLine(now time.Time, span time.Duration, cw *consumeWindow, e2e bool, prog string) string {
	b2c, s2c := PercentilesOf(cw.b2c.Lat), PercentilesOf(cw.s2c.Lat)
	var b strings.Builder
	fmt.Fprintf(&b, "Current Time: %s | Consume TPS: %d | AVG(B2C) RT(ms): %7.3f | AVG(S2C) RT(ms): %7.3f | MAX(B2C) RT(ms): %s | MAX(S2C) RT(ms): %s | p99(S2C) RT(ms): %s",
		now.Format("15:04:05.000"), tps(cw.msgs(), span), b2c.Mean/1000, s2c.Mean/1000, ms(b2c.Max), ms(s2c.Max), ms(s2c.P99))
	if e2e {
		p := PercentilesOf(cw.e2e.Lat)
		fmt.Fprintf(&b, " | AVG(E2E) RT(ms): %7.3f | p99(E2E) RT(ms): %s", p.Mean/1000, ms(p.P99))
	}
	if cw.pullErrs > 0 {
		fmt.Fprintf(&b, " | Pull Failed: %d", cw.pullErrs)
	}
	if prog != "" {
		b.WriteString(" | " + prog)
	}
	return b.String()
}

// pctLine formats percentiles in µs.
func pctLine(p Percentiles) string {
	return fmt.Sprintf("p50 %d  p90 %d  p99 %d  p99.9 %d  max %d  mean %.1f", p.P50, p.P90, p.P99, p.P999, p.Max, p.Mean)
}

// unit names what the producing side moves.
func unit(m Mode) string {
	switch m {
	case ModeDLedger:
		return "entries"
	case ModeCommitLog:
		return "records"
	}
	return "msgs"
}

// unitOne is unit in the singular.
func unitOne(m Mode) string {
	switch m {
	case ModeDLedger:
		return "entry"
	case ModeCommitLog:
		return "record"
	}
	return "msg"
}

// writeSummary prints the final summary block.
func writeSummary(w io.Writer, r *Result) {
	c := r.Config
	title := "summary"
	if r.Interrupted {
		title = "summary (interrupted: figures cover the part that ran)"
	}
	fmt.Fprintf(w, "=== %s: %s ===\n", title, c.Mode)
	line := func(k, format string, args ...any) { fmt.Fprintf(w, "%-15s %s\n", k, fmt.Sprintf(format, args...)) }
	line("elapsed", "%.3f s", r.Elapsed.Seconds())
	if r.Backlog > 0 {
		line("backlog", "%d messages preloaded in %.3f s (%.0f msgs/s, SEND_BATCH, closed loop)", r.Backlog, r.PreloadElapsed.Seconds(), r.PreloadMsgsPerSec())
	}
	if s := r.Send; s != nil {
		u := unit(c.Mode)
		line("sent", "%d %s acknowledged, %d failed (Send Failed %d, Response Failed %d)", s.OK, u, s.Errors(), s.SendFailed, s.RespFailed)
		line("throughput", "%.0f %s/s, %.2f MB/s", r.MsgsPerSec(), u, r.MBPerSec())
		line("latency µs", "%s", pctLine(PercentilesOf(s.Lat)))
		if c.Rate > 0 {
			line("start lag µs", "%s  (how late operations left against the schedule; included in latency)", pctLine(PercentilesOf(s.Lag)))
		}
		if s.Clamped > 0 {
			line("clamped", "%d latencies above %d µs recorded as %d", s.Clamped, histMaxUS, histMaxUS)
		}
	}
	if cr := r.Consume; cr != nil {
		line("consumed", "%d msgs in %.3f s: %.0f msgs/s, %.2f MB/s (%d pulls, %d failed)", cr.Consumed, cr.Elapsed.Seconds(), cr.MsgsPerSec(), cr.MBPerSec(), cr.Pulls, cr.PullErrors)
		line("pull RT µs", "%s", pctLine(cr.Pull))
		line("B2C µs", "%s  (born-to-consume, ms clock)", pctLine(cr.B2C))
		line("S2C µs", "%s  (store-to-consume, ms clock)", pctLine(cr.S2C))
		if c.Mode == ModeE2E {
			line("E2E µs", "%s  (scheduled send to consume)", pctLine(cr.E2E))
			if cr.Missing > 0 {
				line("missing", "%d acknowledged messages not consumed before the consumer stopped waiting", cr.Missing)
			}
		}
	}
	if f := r.Failover; f != nil {
		line("leader kill", "node %s killed %v into the run", f.KilledNode, f.KillAt.Round(time.Millisecond))
		if f.ElectedAfter >= 0 {
			line("new leader", "%s ready %v after the kill; NameServer route %s", f.NewLeader, f.ElectedAfter.Round(time.Millisecond), durOrNever(f.RouteAfter))
		} else {
			line("new leader", "none before the run ended")
		}
		open := ""
		if f.Open {
			open = " (successes had not resumed when the run ended)"
		}
		line("failover gap", "longest interval without a successful send %v (%v → %v)%s", f.LongestGap, f.GapFrom, f.GapTo, open)
		if f.FirstFailure >= 0 {
			line("fail→success", "first failure at %v, first success after it at %s: %v; %d operations failed after the kill",
				f.FirstFailure, durOrNever(f.FirstSuccessAfter), f.FailToSuccess, f.FailedAfterKill)
		} else {
			line("fail→success", "no send failed after the kill (client retries covered the failover)")
		}
	}
	if r.CPU > 0 {
		line("cpu", "%.2f s user+sys in this process (%.0f%% of one core; %d of %d cores usable), %.1f µs per %s",
			r.CPU.Seconds(), 100*r.CPU.Seconds()/max(r.Elapsed.Seconds(), 1e-9), runtime.GOMAXPROCS(0), runtime.NumCPU(),
			float64(r.CPUPerMsg().Nanoseconds())/1000, unitOne(c.Mode))
	}
	for _, e := range r.Errors {
		line("error", "%d × %s", e.Count, e.Error)
	}
	line("load average", "%s (1/5/15 min, at the end)", loadAvg())
}

func durOrNever(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// JSONResult is the machine-readable summary: the last line of output
// with --json. Latencies are µs; rates per second; MB = 10^6 bytes.
// In consume mode, sent is the preloaded backlog and the headline
// msgs_per_sec/mb_per_sec/p*_us describe consuming (pull round trips).
type JSONResult struct {
	Mode           string  `json:"mode"`
	Sent           int64   `json:"sent"`
	Errors         int64   `json:"errors"`
	SendFailed     int64   `json:"send_failed"`
	ResponseFailed int64   `json:"response_failed"`
	ElapsedSec     float64 `json:"elapsed_sec"`
	MsgsPerSec     float64 `json:"msgs_per_sec"`
	MBPerSec       float64 `json:"mb_per_sec"`
	P50us          int64   `json:"p50_us"`
	P90us          int64   `json:"p90_us"`
	P99us          int64   `json:"p99_us"`
	P999us         int64   `json:"p999_us"`
	MaxUS          int64   `json:"max_us"`
	MeanUS         float64 `json:"mean_us"`
	Interrupted    bool    `json:"interrupted"`

	Size      int     `json:"size"`
	Producers int     `json:"producers"`
	Inflight  int     `json:"inflight"`
	Batch     int     `json:"batch"`
	Coalesce  bool    `json:"coalesce,omitempty"`
	Rate      float64 `json:"rate"`
	Flush     string  `json:"flush"`
	LogStore  string  `json:"log_store,omitempty"`
	Warm      bool    `json:"warm_segments,omitempty"`
	Retain    int64   `json:"retain,omitempty"`
	LoadAvg   string  `json:"load_avg"`
	// CPUSec is the process's CPU time during the measured run (brokers
	// or raft nodes included when in-process); CPUusPerMsg per message.
	CPUSec      float64 `json:"cpu_sec"`
	CPUusPerMsg float64 `json:"cpu_us_per_msg"`

	LagP99us *int64 `json:"lag_p99_us,omitempty"`

	Consumed          *int64   `json:"consumed,omitempty"`
	ConsumeMsgsPerSec *float64 `json:"consume_msgs_per_sec,omitempty"`
	ConsumeMBPerSec   *float64 `json:"consume_mb_per_sec,omitempty"`
	B2CP50us          *int64   `json:"b2c_p50_us,omitempty"`
	B2CP99us          *int64   `json:"b2c_p99_us,omitempty"`
	S2CP50us          *int64   `json:"s2c_p50_us,omitempty"`
	S2CP99us          *int64   `json:"s2c_p99_us,omitempty"`
	E2EP50us          *int64   `json:"e2e_p50_us,omitempty"`
	E2EP99us          *int64   `json:"e2e_p99_us,omitempty"`
	E2EP999us         *int64   `json:"e2e_p999_us,omitempty"`
	E2EMaxUS          *int64   `json:"e2e_max_us,omitempty"`
	Missing           *int64   `json:"missing,omitempty"`
	PreloadMsgsPerSec *float64 `json:"preload_msgs_per_sec,omitempty"`

	KilledNode      string `json:"killed_node,omitempty"`
	KillAtMS        *int64 `json:"kill_at_ms,omitempty"`
	FailoverGapMS   *int64 `json:"failover_gap_ms,omitempty"`
	FailToSuccessMS *int64 `json:"fail_to_success_ms,omitempty"`
	FailedAfterKill *int64 `json:"failed_after_kill,omitempty"`
	NewLeaderMS     *int64 `json:"new_leader_ms,omitempty"`
	RouteMS         *int64 `json:"route_ms,omitempty"`

	FirstErrors []ErrorCount `json:"first_errors,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// JSON returns the machine-readable summary of r.
func (r *Result) JSON() JSONResult {
	c := r.Config
	j := JSONResult{
		Mode: string(c.Mode), ElapsedSec: r.Elapsed.Seconds(), Interrupted: r.Interrupted,
		Size: c.Size, Producers: c.Producers, Inflight: c.Inflight, Batch: c.Batch, Coalesce: c.Coalesce,
		Rate: c.Rate, Flush: c.Flush.String(), LoadAvg: loadAvg(), FirstErrors: r.Errors,
		CPUSec: r.CPU.Seconds(), CPUusPerMsg: float64(r.CPUPerMsg().Nanoseconds()) / 1000,
		Warm: c.WarmSegments, Retain: c.Retain,
	}
	if c.Mode == ModeDLedger {
		j.LogStore = string(c.LogStore)
	} else if c.Mode.clusterMode() {
		j.LogStore = string(dledger.LogStoreCommitLog)
	}
	if s := r.Send; s != nil {
		p := PercentilesOf(s.Lat)
		j.Sent, j.Errors, j.SendFailed, j.ResponseFailed = s.OK, s.Errors(), s.SendFailed, s.RespFailed
		j.MsgsPerSec, j.MBPerSec = r.MsgsPerSec(), r.MBPerSec()
		j.P50us, j.P90us, j.P99us, j.P999us, j.MaxUS, j.MeanUS = p.P50, p.P90, p.P99, p.P999, p.Max, p.Mean
		if c.Rate > 0 {
			j.LagP99us = ptr(PercentilesOf(s.Lag).P99)
		}
	}
	if cr := r.Consume; cr != nil {
		j.Consumed = ptr(cr.Consumed)
		j.ConsumeMsgsPerSec, j.ConsumeMBPerSec = ptr(cr.MsgsPerSec()), ptr(cr.MBPerSec())
		j.B2CP50us, j.B2CP99us = ptr(cr.B2C.P50), ptr(cr.B2C.P99)
		j.S2CP50us, j.S2CP99us = ptr(cr.S2C.P50), ptr(cr.S2C.P99)
		if c.Mode == ModeE2E {
			j.E2EP50us, j.E2EP99us, j.E2EP999us, j.E2EMaxUS = ptr(cr.E2E.P50), ptr(cr.E2E.P99), ptr(cr.E2E.P999), ptr(cr.E2E.Max)
			j.Missing = ptr(cr.Missing)
		}
		if c.Mode == ModeConsume {
			j.Sent = r.Backlog
			if r.Backlog > 0 {
				j.PreloadMsgsPerSec = ptr(r.PreloadMsgsPerSec())
			}
			j.Errors = cr.PullErrors
			j.MsgsPerSec, j.MBPerSec = cr.MsgsPerSec(), cr.MBPerSec()
			j.ElapsedSec = cr.Elapsed.Seconds()
			p := cr.Pull
			j.P50us, j.P90us, j.P99us, j.P999us, j.MaxUS, j.MeanUS = p.P50, p.P90, p.P99, p.P999, p.Max, p.Mean
		}
	}
	if f := r.Failover; f != nil {
		j.KilledNode = f.KilledNode
		j.KillAtMS = ptr(f.KillAt.Milliseconds())
		j.FailoverGapMS = ptr(f.LongestGap.Milliseconds())
		j.FailToSuccessMS = ptr(f.FailToSuccess.Milliseconds())
		j.FailedAfterKill = ptr(f.FailedAfterKill)
		j.NewLeaderMS = ptr(f.ElectedAfter.Milliseconds())
		j.RouteMS = ptr(f.RouteAfter.Milliseconds())
	}
	return j
}

// writeJSON prints r's JSON summary as one line.
func writeJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r.JSON())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
