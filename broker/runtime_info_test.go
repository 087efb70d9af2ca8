package broker

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// TestRuntimeStatsWindows: the three TPS windows over one-second samples,
// and the totals kept at the last two local midnights.
func TestRuntimeStatsWindows(t *testing.T) {
	start := time.Date(2026, 3, 1, 23, 40, 0, 0, time.Local)
	r := newRuntimeStats(start)
	var put, get int64
	at := start
	// 10 min at 10 puts/s and 1 get/s, then 10 s at 100 puts/s.
	for s := 0; s <= 610; s++ {
		r.sample(counts{at: at, put: put, get: get})
		if s < 600 {
			put += 10
		} else {
			put += 100
		}
		get++
		at = at.Add(time.Second)
	}
	for _, c := range []struct {
		w        time.Duration
		put, get float64
	}{
		{10 * time.Second, 100, 1},
		{time.Minute, (50*10 + 10*100) / 60.0, 1},
		{10 * time.Minute, (590*10 + 10*100) / 600.0, 1},
	} {
		p, g := r.tps(c.w)
		if math.Abs(p-c.put) > 1e-9 || math.Abs(g-c.get) > 1e-9 {
			t.Errorf("tps(%v) = %v, %v; want %v, %v", c.w, p, g, c.put, c.get)
		}
	}
	if r.today.put != 0 || r.yesterday.put != 0 {
		t.Fatalf("before midnight: today %+v yesterday %+v", r.today, r.yesterday)
	}
	// Past midnight (start was 23:40, 610 s later it is 23:50:10): sample
	// across it, then across the next one.
	at = time.Date(2026, 3, 2, 0, 0, 1, 0, time.Local)
	r.sample(counts{at: at, put: 9000, get: 700})
	if r.today.put != 9000 || r.today.get != 700 || r.yesterday.put != 0 {
		t.Errorf("after the first midnight: today %+v yesterday %+v", r.today, r.yesterday)
	}
	r.sample(counts{at: at.Add(24 * time.Hour), put: 12000, get: 800})
	if r.today.put != 12000 || r.yesterday.put != 9000 {
		t.Errorf("after the second midnight: today %+v yesterday %+v", r.today, r.yesterday)
	}
	// Days without a sample: nothing is known of the day before.
	r.sample(counts{at: at.Add(96 * time.Hour), put: 13000, get: 900})
	if r.today.put != 13000 || r.yesterday.put != 13000 {
		t.Errorf("after days without samples: today %+v yesterday %+v", r.today, r.yesterday)
	}
}

// TestRuntimeInfo: GET_BROKER_RUNTIME_INFO answers RocketMQ's key-value
// table with what mqadmin clusterList reads.
func TestRuntimeInfo(t *testing.T) {
	g := newGroup(t, nil)
	l := g.leader()
	cl := g.client(l, nil)
	const topic = "RuntimeT"
	for range 4 {
		send(t, cl, topic, 0, nil, []byte("body"))
	}
	if msgs, _ := pullAll(t, cl, topic, 0, 1); len(msgs) != 3 {
		t.Fatalf("pulled %d, want 3", len(msgs))
	}
	table := func(i int) map[string]string {
		resp := invoke(t, g.client(i, nil), remoting.NewRequest(remoting.GetBrokerRuntimeInfo, nil, nil))
		if resp.ResponseCode() != remoting.Success {
			t.Fatalf("n%d: %s %s", i, resp.ResponseCode(), resp.Remark)
		}
		var kv struct {
			Table map[string]string `json:"table"`
		}
		if err := json.Unmarshal(resp.Body, &kv); err != nil {
			t.Fatalf("n%d: body %q: %v", i, resp.Body, err)
		}
		return kv.Table
	}
	kv := table(l)
	for k, want := range map[string]string{
		"msgPutTotalTodayNow": "4", "msgGetTotalTodayNow": "3", "dLedgerRole": "leader",
		"brokerVersionDesc": "V4_5_2", "brokerVersion": "317", "msgPutTotalTodayMorning": "0",
		"sendThreadPoolQueueSize": "0", "pageCacheLockTimeMills": "0",
	} {
		if kv[k] != want {
			t.Errorf("%s = %q, want %q", k, kv[k], want)
		}
	}
	now := time.Now().UnixMilli()
	if ts, err := strconv.ParseInt(kv["earliestMessageTimeStamp"], 10, 64); err != nil || ts > now || ts < now-int64(time.Hour/time.Millisecond) {
		t.Errorf("earliestMessageTimeStamp %q (now %d)", kv["earliestMessageTimeStamp"], now)
	}
	if r, err := strconv.ParseFloat(kv["commitLogDiskRatio"], 64); err != nil || r <= 0 || r > 1 {
		t.Errorf("commitLogDiskRatio %q", kv["commitLogDiskRatio"])
	}
	if mx, err := strconv.ParseInt(kv["commitLogMaxOffset"], 10, 64); err != nil || mx <= 0 {
		t.Errorf("commitLogMaxOffset %q", kv["commitLogMaxOffset"])
	}
	for _, k := range []string{"putTps", "getTransferedTps"} {
		f := strings.Split(kv[k], " ")
		if len(f) != 3 {
			t.Errorf("%s %q: want three rates", k, kv[k])
			continue
		}
		for _, x := range f {
			if v, err := strconv.ParseFloat(x, 64); err != nil || v < 0 {
				t.Errorf("%s %q: %q is not a rate", k, kv[k], x)
			}
		}
	}
	if kv := table(g.follower()); kv["dLedgerRole"] != "follower" || kv["msgPutTotalTodayNow"] != "0" {
		t.Errorf("follower: role %q, puts %q", kv["dLedgerRole"], kv["msgPutTotalTodayNow"])
	}

	// DLEDGER_MEMBERS on a follower: its view of the group; a bad op or
	// member address is refused before anything is proposed.
	fc := g.client(g.follower(), nil)
	resp := invoke(t, fc, remoting.NewRequest(remoting.DLedgerMembers, map[string]string{"op": "list"}, nil))
	var reply MembersReply
	if resp.ResponseCode() != remoting.Success || json.Unmarshal(resp.Body, &reply) != nil ||
		len(reply.Members) != 3 || reply.Leader != g.peers[l].ID {
		t.Errorf("members list: %s %q", resp.ResponseCode(), resp.Body)
	}
	for _, ext := range []map[string]string{{"op": "promote"}, {"op": "add", "id": "n9", "addr": "nowhere"}, {"op": "remove"}} {
		if resp := invoke(t, fc, remoting.NewRequest(remoting.DLedgerMembers, ext, nil)); resp.ResponseCode() != remoting.MessageIllegal {
			t.Errorf("members %v: %s %q, want MESSAGE_ILLEGAL", ext, resp.ResponseCode(), resp.Remark)
		}
	}
}
