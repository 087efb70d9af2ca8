package bench

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// windowOf builds a window with n samples of each latency (µs).
func windowOf(t *testing.T, ok, sendFailed, respFailed int64, latsUS ...int64) *Window {
	t.Helper()
	w := newWindow()
	for _, us := range latsUS {
		if err := w.Lat.RecordValue(us); err != nil {
			t.Fatal(err)
		}
	}
	w.OK, w.SendFailed, w.RespFailed, w.Ops, w.Bytes = ok, sendFailed, respFailed, ok+sendFailed+respFailed, ok*1024
	return &w
}

func TestSendLineHasRocketMQFields(t *testing.T) {
	w := windowOf(t, 2000, 3, 4, 100, 200, 300, 1900) // below 2048 µs values are exact
	now := time.Date(2024, 1, 2, 15, 4, 5, 678e6, time.UTC)
	line := sendLine(now, 2*time.Second, w, "Progress: 3s/10s (30%)")
	want := []string{
		"Current Time: 15:04:05.678", "Send TPS: 1000", "Max RT(ms): 1.900", "Average RT(ms):   0.625",
		"p99 RT(ms): 1.900", "Send Failed: 3", "Response Failed: 4", "Progress: 3s/10s (30%)",
	}
	for _, s := range want {
		if !strings.Contains(line, s) {
			t.Errorf("line lacks %q:\n%s", s, line)
		}
	}
	if strings.Contains(line, "\n") {
		t.Errorf("line has a newline: %q", line)
	}
}

func TestConsumeLine(t *testing.T) {
	cw := newConsumeWindow()
	for _, us := range []int64{1000, 2000} {
		_ = cw.b2c.Lat.RecordValue(us)
		_ = cw.s2c.Lat.RecordValue(us / 2)
		_ = cw.e2e.Lat.RecordValue(us / 4)
	}
	cw.b2c.OK = 500
	line := consumeLine(time.Now(), time.Second, cw, true, "")
	for _, s := range []string{"Consume TPS: 500", "AVG(B2C) RT(ms):   1.500", "AVG(S2C) RT(ms):   0.750", "MAX(B2C) RT(ms): 2.000", "MAX(S2C) RT(ms): 1.000", "AVG(E2E) RT(ms):   0.375"} {
		if !strings.Contains(line, s) {
			t.Errorf("line lacks %q:\n%s", s, line)
		}
	}
}

func TestProgress(t *testing.T) {
	c := DefaultConfig(ModeCommitLog)
	if got := progress(c, 2500*time.Millisecond, 0); got != "Progress: 3s/10s (25%)" {
		t.Errorf("duration progress %q", got)
	}
	c.Count = 200
	if got := progress(c, time.Second, 50); got != "Progress: 50/200 (25%)" {
		t.Errorf("count progress %q", got)
	}
}

func sampleResult(t *testing.T) *Result {
	c := DefaultConfig(ModeProduce)
	c.Embedded, c.Rate, c.JSON, c.KillLeaderAt = true, 50000, true, 2*time.Second
	lat := make([]int64, 0, 1000)
	for i := int64(1); i <= 1000; i++ {
		lat = append(lat, i) // 1..1000 µs, uniform (exact in the histogram)
	}
	w := windowOf(t, 1000, 2, 1, lat...)
	_ = w.Lag.RecordValue(700)
	return &Result{
		Config: c, Elapsed: 2 * time.Second, Send: w,
		Errors:   []ErrorCount{{Error: "client: outcome unknown", Count: 2}},
		Failover: &FailoverReport{GapReport: GapReport{KillAt: 2 * time.Second, LongestGap: 640 * time.Millisecond, GapFrom: 2 * time.Second, GapTo: 2640 * time.Millisecond, FirstFailure: 2100 * time.Millisecond, FirstSuccessAfter: 2640 * time.Millisecond, FailToSuccess: 540 * time.Millisecond, FailedAfterKill: 3}, KilledNode: "n1", NewLeader: "n2", ElectedAfter: 600 * time.Millisecond, RouteAfter: 610 * time.Millisecond},
	}
}

func TestSummaryAndJSONLastLine(t *testing.T) {
	r := sampleResult(t)
	var buf bytes.Buffer
	writeSummary(&buf, r)
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{
		"sent            1000 msgs acknowledged, 3 failed (Send Failed 2, Response Failed 1)",
		"throughput      500 msgs/s, 0.51 MB/s",
		"latency µs      p50 500  p90 900  p99 990  p99.9 999  max 1000  mean 500.5",
		"start lag µs",
		"failover gap    longest interval without a successful send 640ms (2s → 2.64s)",
		"fail→success    first failure at 2.1s, first success after it at 2.64s: 540ms; 3 operations failed after the kill",
		"new leader      n2 ready 600ms after the kill; NameServer route 610ms",
		"error           2 × client: outcome unknown",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	var j map[string]any
	if err := json.Unmarshal([]byte(last), &j); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, last)
	}
	for k, want := range map[string]float64{
		"sent": 1000, "errors": 3, "msgs_per_sec": 500, "mb_per_sec": 0.512, "p50_us": 500, "p99_us": 990,
		"p999_us": 999, "max_us": 1000, "failover_gap_ms": 640, "fail_to_success_ms": 540, "lag_p99_us": 700,
	} {
		got, ok := j[k].(float64)
		if !ok || got < want*0.999 || got > want*1.001 {
			t.Errorf("JSON %s = %v, want %v", k, j[k], want)
		}
	}
	if j["mode"] != "produce" || j["killed_node"] != "n1" {
		t.Errorf("JSON mode/killed_node: %v %v", j["mode"], j["killed_node"])
	}
}

func TestBannerNamesEveryParameter(t *testing.T) {
	c := DefaultConfig(ModeE2E)
	c.Embedded, c.Coalesce, c.Batch, c.Rate, c.Producers, c.Inflight = true, true, 64, 1000, 2, 32
	var buf bytes.Buffer
	writeBanner(&buf, c, []string{"leader n0"})
	out := buf.String()
	for _, re := range []string{
		`(?m)^=== dledgermq bench: e2e ===$`, `(?m)^mode\s+e2e$`, `(?m)^target\s+embedded`, `(?m)^topic\s+BenchmarkTest`,
		`(?m)^size\s+1024 B$`, `(?m)^producers\s+2 × inflight 32$`, `(?m)^batch\s+coalesced .* up to 64`,
		`(?m)^duration\s+10s$`, `(?m)^rate\s+open loop, 1000 msgs/s`, `(?m)^host\s+GOMAXPROCS \d+`, `(?m)^setup\s+leader n0$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("banner does not match %s:\n%s", re, out)
		}
	}
}
