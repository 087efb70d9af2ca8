package broker

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// GET_BROKER_RUNTIME_INFO (28): the key-value table RocketMQ's admin tools
// read from every broker (mqadmin clusterList prints its TPS, version, disk
// ratio and age columns from it, clusterList -m its daily totals,
// brokerStatus all of it). The keys are RocketMQ's; values are strings:
//
//	brokerVersionDesc, brokerVersion  the protocol version this broker speaks
//	                                  (V4_5_2, 317; remoting.ProtocolVersion)
//	putTps, getTransferedTps          messages stored (as leader) and returned
//	                                  to pulls per second, over the last 10 s,
//	                                  1 min and 10 min: "a b c"
//	msgPutTotalTodayNow, ...TodayMorning, ...YesterdayMorning (and msgGet...)
//	                                  the same counts since start, at the last
//	                                  two local midnights this process saw
//	earliestMessageTimeStamp          ms, the oldest entry the commit log holds
//	commitLogDiskRatio                0-1, how full its file system is
//	commitLogMinOffset, commitLogMaxOffset
//	bootTimestamp                     ms
//	sendThreadPoolQueueSize, pullThreadPoolQueueSize and their
//	...HeadWaitTimeMills, pageCacheLockTimeMills
//	                                  0: requests run on their connection's
//	                                  goroutines (pulls on their own), with
//	                                  no shared queue, and no page-cache lock
//	dLedgerRole                       leader or follower (ours)
//
// Counts are this node's: after a failover the new leader's put counts
// start from its own start, as a RocketMQ slave promoted to master does.

// tpsWindows are putTps' three windows.
var tpsWindows = [3]time.Duration{10 * time.Second, time.Minute, 10 * time.Minute}

// counts are the running totals the runtime table reports.
type counts struct {
	at       time.Time
	put, get int64
}

// runtimeStats samples the totals once a second for the TPS windows and
// keeps the totals at the last two local midnights.
type runtimeStats struct {
	boot time.Time

	mu        sync.Mutex
	ring      [601]counts // one sample a second: 10 min and the current one
	n, next   int
	day       time.Time // local midnight of the last sample
	today     counts    // totals at that midnight
	yesterday counts    // and at the one before
}

func newRuntimeStats(now time.Time) *runtimeStats {
	return &runtimeStats{boot: now, day: midnight(now)}
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// sample records the totals at now.
func (r *runtimeStats) sample(c counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.next] = c
	r.next = (r.next + 1) % len(r.ring)
	r.n = min(r.n+1, len(r.ring))
	if day := midnight(c.at); day.After(r.day) {
		// The counts at the first sample of a day stand for its midnight.
		if day.Sub(r.day) > 36*time.Hour { // a day without samples: nothing since
			r.yesterday = c
		} else {
			r.yesterday = r.today
		}
		r.today, r.day = c, day
	}
}

// tps returns the put and get rates over w, from the sample closest to w
// before the newest one (0 before two samples exist).
func (r *runtimeStats) tps(w time.Duration) (put, get float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < 2 {
		return 0, 0
	}
	newest := r.ring[(r.next-1+len(r.ring))%len(r.ring)]
	oldest := newest
	for i := 2; i <= r.n; i++ {
		s := r.ring[(r.next-i+len(r.ring))%len(r.ring)]
		oldest = s
		if newest.at.Sub(s.at) >= w {
			break
		}
	}
	secs := newest.at.Sub(oldest.at).Seconds()
	if secs <= 0 {
		return 0, 0
	}
	return float64(newest.put-oldest.put) / secs, float64(newest.get-oldest.get) / secs
}

// mornings returns the totals at the last two local midnights.
func (r *runtimeStats) mornings() (today, yesterday counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.today, r.yesterday
}

// statsLoop samples the totals every second until the broker stops.
func (b *Broker) statsLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		b.stats.sample(counts{at: b.cfg.Now(), put: b.metrics.putTotal.Load(), get: b.metrics.getTotal.Load()})
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runtimeTable builds the GET_BROKER_RUNTIME_INFO table.
func (b *Broker) runtimeTable() map[string]string {
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	t := map[string]string{
		"brokerVersionDesc":                    "V4_5_2",
		"brokerVersion":                        strconv.Itoa(remoting.ProtocolVersion),
		"bootTimestamp":                        i64(b.stats.boot.UnixMilli()),
		"sendThreadPoolQueueSize":              "0",
		"sendThreadPoolQueueHeadWaitTimeMills": "0",
		"pullThreadPoolQueueSize":              "0",
		"pullThreadPoolQueueHeadWaitTimeMills": "0",
		"pageCacheLockTimeMills":               "0",
		"msgPutTotalTodayNow":                  i64(b.metrics.putTotal.Load()),
		"msgGetTotalTodayNow":                  i64(b.metrics.getTotal.Load()),
		"dLedgerRole":                          "follower",
	}
	if b.store.LeaderReady() {
		t["dLedgerRole"] = "leader"
	}
	var put, get [3]string
	for i, w := range tpsWindows {
		p, g := b.stats.tps(w)
		put[i], get[i] = f(p), f(g)
	}
	t["putTps"] = put[0] + " " + put[1] + " " + put[2]
	t["getTransferedTps"] = get[0] + " " + get[1] + " " + get[2]
	today, yesterday := b.stats.mornings()
	t["msgPutTotalTodayMorning"], t["msgGetTotalTodayMorning"] = i64(today.put), i64(today.get)
	t["msgPutTotalYesterdayMorning"], t["msgGetTotalYesterdayMorning"] = i64(yesterday.put), i64(yesterday.get)
	start, end := b.store.CommitLogBounds()
	t["commitLogMinOffset"], t["commitLogMaxOffset"] = i64(start), i64(end)
	if at, ok := b.store.EarliestAppendedAt(); ok {
		t["earliestMessageTimeStamp"] = i64(at.UnixMilli())
	}
	if r, ok := b.store.DiskUsedRatio(); ok {
		t["commitLogDiskRatio"] = strconv.FormatFloat(r, 'f', 4, 64)
	}
	return t
}

func (b *Broker) handleGetBrokerRuntimeInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := json.Marshal(struct {
		Table map[string]string `json:"table"`
	}{b.runtimeTable()})
	if err != nil {
		return remoting.NewResponse(req, remoting.SystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp
}
