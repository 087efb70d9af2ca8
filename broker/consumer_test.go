package broker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

func heartbeatReq(clientID, group string, topics ...string) *remoting.Command {
	var subs []map[string]any
	for _, tp := range topics {
		subs = append(subs, map[string]any{"classFilterMode": false, "topic": tp, "subString": "*",
			"tagsSet": []string{}, "codeSet": []string{}, "subVersion": time.Now().UnixNano(), "expressionType": "TAG"})
	}
	body, _ := json.Marshal(map[string]any{
		"clientID":        clientID,
		"producerDataSet": []map[string]any{{"groupName": "pg"}},
		"consumerDataSet": []map[string]any{{"groupName": group, "consumeType": "CONSUME_PASSIVELY",
			"messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "unitMode": false,
			"subscriptionDataSet": subs}},
	})
	return remoting.NewRequest(remoting.HeartBeat, nil, body)
}

func consumerList(t *testing.T, c *remoting.Client, group string) []string {
	t.Helper()
	resp := invoke(t, c, remoting.NewRequest(remoting.GetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil))
	var body struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("consumer list body %q: %v", resp.Body, err)
	}
	return body.ConsumerIDList
}

func testHeartbeatNotify(t *testing.T, g *group) {
	l := g.leader()
	const grp = "cg-notify"
	ra, rb := &recorder{}, &recorder{}
	ca, cb := g.client(l, ra), g.client(l, rb)
	if resp := invoke(t, ca, heartbeatReq("127.0.0.1@A", grp, "NotifyTopic", RetryTopic(grp))); resp.ResponseCode() != remoting.Success {
		t.Fatalf("heartbeat: %s", resp.ResponseCode())
	}
	if ids := consumerList(t, ca, grp); !slices.Equal(ids, []string{"127.0.0.1@A"}) {
		t.Fatalf("consumer list %v", ids)
	}
	// The retry topic exists and is routed.
	waitFor(t, 3*time.Second, "retry topic route", func() bool { _, ok := g.ns.Route(RetryTopic(grp)); return ok })
	// A second member: both are told.
	invoke(t, cb, heartbeatReq("127.0.0.1@B", grp, "NotifyTopic"))
	waitFor(t, 3*time.Second, "NOTIFY_CONSUMER_IDS_CHANGED to A and B", func() bool {
		return ra.count(remoting.NotifyConsumerIDsChanged) >= 1 && rb.count(remoting.NotifyConsumerIDsChanged) >= 1
	})
	if ids := consumerList(t, ca, grp); !slices.Equal(ids, []string{"127.0.0.1@A", "127.0.0.1@B"}) {
		t.Fatalf("consumer list %v", ids)
	}
	// A repeated heartbeat changes nothing.
	before := ra.count(remoting.NotifyConsumerIDsChanged)
	invoke(t, cb, heartbeatReq("127.0.0.1@B", grp, "NotifyTopic"))
	// B disconnects: A is told, the list shrinks.
	_ = cb.Close()
	waitFor(t, 3*time.Second, "NOTIFY after B's connection closed", func() bool {
		return ra.count(remoting.NotifyConsumerIDsChanged) > before
	})
	if n := ra.count(remoting.NotifyConsumerIDsChanged); n != before+1 {
		t.Fatalf("A got %d notifications after B left, want exactly 1", n-before)
	}
	if ids := consumerList(t, ca, grp); !slices.Equal(ids, []string{"127.0.0.1@A"}) {
		t.Fatalf("consumer list after close %v", ids)
	}
	// Expiry without heartbeats.
	b := g.broker(l)
	if changed := b.clients.expire(time.Now().Add(time.Minute)); !slices.Contains(changed, grp) {
		t.Fatalf("expire reported %v", changed)
	}
	if ids := consumerList(t, ca, grp); len(ids) != 0 {
		t.Fatalf("consumer list after expiry %v", ids)
	}
	// UNREGISTER_CLIENT (Java clients).
	invoke(t, ca, heartbeatReq("127.0.0.1@A", grp))
	invoke(t, ca, remoting.NewRequest(remoting.UnregisterClient, map[string]string{"clientID": "127.0.0.1@A", "consumerGroup": grp}, nil))
	if ids := consumerList(t, ca, grp); len(ids) != 0 {
		t.Fatalf("consumer list after unregister %v", ids)
	}
}

func testLongPoll(t *testing.T, g *group) {
	l := g.leader()
	const topic = "LongPollTopic"
	c := g.client(l, nil)
	send(t, c, topic, 0, nil, []byte("first"))
	// A held pull is woken by a send within ~100 ms.
	type result struct {
		resp *remoting.Command
		at   time.Time
	}
	done := make(chan result, 1)
	f := g.follower()
	puller := g.client(f, nil) // any replica serves pulls and wakes on arrival
	waitFor(t, 3*time.Second, "the follower to apply the first message", func() bool {
		return g.broker(f).store.MaxOffset(topic, 0) == 1
	})
	go func() {
		resp, _ := puller.Invoke(t.Context(), pullReq("cg-lp", topic, 0, 1, 32, pullFlagSuspend, 10*time.Second))
		done <- result{resp, time.Now()}
	}()
	b := g.broker(f)
	waitFor(t, 3*time.Second, "the pull to be held", func() bool {
		select {
		case r := <-done:
			t.Fatalf("pull answered at once: %s %q %v", r.resp.ResponseCode(), r.resp.Remark, r.resp.ExtFields)
		default:
		}
		return b.lp.held() > 0
	})
	select {
	case r := <-done:
		t.Fatalf("pull returned before any message: %v", r.resp)
	case <-time.After(300 * time.Millisecond):
	}
	sentAt := time.Now()
	send(t, c, topic, 0, nil, []byte("second"))
	acked := time.Now()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("held pull not woken by the send")
	}
	if r.resp == nil || r.resp.ResponseCode() != remoting.Success {
		t.Fatalf("woken pull: %v", r.resp)
	}
	lag := r.at.Sub(acked)
	t.Logf("held pull answered %v after the send was acknowledged (%v after it was issued)", lag.Round(time.Microsecond), r.at.Sub(sentAt).Round(time.Microsecond))
	if lag > 100*time.Millisecond {
		t.Fatalf("held pull answered %v after the send", lag)
	}
	// Without a message, the hold ends at suspendTimeoutMillis (capped at
	// MaxLongPollingTime = 2 s) with PULL_NOT_FOUND.
	start := time.Now()
	resp := invoke(t, puller, pullReq("cg-lp", topic, 0, 2, 32, pullFlagSuspend, 500*time.Millisecond))
	if el := time.Since(start); resp.ResponseCode() != remoting.PullNotFound || el < 450*time.Millisecond || el > 2*time.Second {
		t.Fatalf("idle hold: %s after %v", resp.ResponseCode(), el)
	}
	start = time.Now()
	resp = invoke(t, puller, pullReq("cg-lp", topic, 0, 2, 32, pullFlagSuspend, 20*time.Second))
	if el := time.Since(start); resp.ResponseCode() != remoting.PullNotFound || el > 3*time.Second {
		t.Fatalf("capped hold: %s after %v", resp.ResponseCode(), el)
	}
	// A held pull does not block other requests on the same connection.
	go func() {
		_, _ = puller.Invoke(t.Context(), pullReq("cg-lp", topic, 0, 2, 32, pullFlagSuspend, 2*time.Second))
	}()
	start = time.Now()
	invoke(t, puller, remoting.NewRequest(remoting.GetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil))
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Fatalf("GET_MAX_OFFSET behind a held pull took %v", el)
	}
}

func testOffsets(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic, grp = "OffsetTopic", "cg-offsets"
	for i := 0; i < 3; i++ {
		send(t, c, topic, 0, nil, []byte("m"+strconv.Itoa(i)))
	}
	q := func(cl *remoting.Client) *remoting.Command {
		return invoke(t, cl, remoting.NewRequest(remoting.QueryConsumerOffset, map[string]string{"consumerGroup": grp, "topic": topic, "queueId": "0"}, nil))
	}
	if resp := q(c); resp.ResponseCode() != remoting.QueryNotFound {
		t.Fatalf("new group: %s", resp.ResponseCode())
	}
	upd := func(cl *remoting.Client, off int64) {
		resp := invoke(t, cl, remoting.NewRequest(remoting.UpdateConsumerOffset, map[string]string{
			"consumerGroup": grp, "topic": topic, "queueId": "0", "commitOffset": strconv.FormatInt(off, 10)}, nil))
		if resp.ResponseCode() != remoting.Success {
			t.Fatalf("update offset: %s %s", resp.ResponseCode(), resp.Remark)
		}
	}
	upd(c, 2)
	upd(c, -1) // ignored
	if resp := q(c); resp.ResponseCode() != remoting.Success || extInt(t, resp, "offset") != 2 {
		t.Fatalf("query after commit: %s %v", resp.ResponseCode(), resp.ExtFields)
	}
	// Through a follower (forwarded), and read back from every replica.
	upd(g.client(g.follower(), nil), 3)
	for n := range g.brokers {
		cn := g.client(n, nil)
		waitFor(t, 3*time.Second, fmt.Sprintf("offset 3 on node %d", n), func() bool {
			resp := q(cn)
			return resp.ResponseCode() == remoting.Success && extInt(t, resp, "offset") == 3
		})
	}
	// Piggy-backed commit on PULL (sysFlag bit 0).
	req := pullReq(grp, topic, 0, 1, 32, pullFlagCommitOffset, 0)
	req.ExtFields["commitOffset"] = "1"
	invoke(t, c, req)
	if resp := q(c); extInt(t, resp, "offset") != 1 {
		t.Fatalf("piggy-backed commit not stored: %v", resp.ExtFields)
	}
	// Max, min, search by time.
	get := func(code remoting.RequestCode, ext map[string]string) int64 {
		return extInt(t, invoke(t, c, remoting.NewRequest(code, ext, nil)), "offset")
	}
	tq := map[string]string{"topic": topic, "queueId": "0"}
	if v := get(remoting.GetMaxOffset, tq); v != 3 {
		t.Fatalf("max offset %d", v)
	}
	if v := get(remoting.GetMinOffset, tq); v != 0 {
		t.Fatalf("min offset %d", v)
	}
	if v := get(remoting.GetMaxOffset, map[string]string{"topic": "NoSuchTopic", "queueId": "0"}); v != 0 {
		t.Fatalf("max offset of unknown queue %d", v)
	}
	if v := get(remoting.SearchOffsetByTimestamp, map[string]string{"topic": topic, "queueId": "0", "timestamp": "0"}); v != 0 {
		t.Fatalf("search ts 0: %d", v)
	}
	earliest := extInt(t, invoke(t, c, remoting.NewRequest(remoting.GetEarliestMsgStoreTime, tq, nil)), "timestamp")
	if now := time.Now().UnixMilli(); earliest <= 0 || earliest > now || earliest < now-60_000 {
		t.Fatalf("earliest store time %d (now %d)", earliest, now)
	}
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	if v := get(remoting.SearchOffsetByTimestamp, map[string]string{"topic": topic, "queueId": "0", "timestamp": future}); v != 3 {
		t.Fatalf("search future ts: %d", v)
	}
}

func testFollowerWrite(t *testing.T, g *group) {
	f := g.follower()
	c := g.client(f, nil)
	const topic = "FollowerTopic"
	// Forwarded to the leader: SUCCESS, stored once.
	resp := send(t, c, topic, 0, message.Properties{{Key: message.PropKeys, Value: "fw"}}, []byte("via follower"))
	l := g.leader()
	msgs, _ := pullAll(t, g.client(l, nil), topic, 0, 0)
	if len(msgs) != 1 || string(msgs[0].Body) != "via follower" || msgs[0].OffsetMsgID() != resp.Ext("msgId") {
		t.Fatalf("forwarded message: %d msgs, %v", len(msgs), resp.ExtFields)
	}
	if !msgs[0].BornHost.Addr().IsLoopback() || msgs[0].BornHost.Port() == 0 {
		t.Fatalf("born host across a forward: %v", msgs[0].BornHost)
	}
	// A request already forwarded once is refused with a retryable code
	// naming the leader (no forwarding loops).
	req := sendReq(topic, 0, nil, []byte("x"))
	req.ExtFields[extForwarded] = "127.0.0.1:1"
	resp = invoke(t, c, req)
	if resp.ResponseCode() != remoting.ServiceNotAvailable {
		t.Fatalf("forwarded twice: %s", resp.ResponseCode())
	}
	t.Logf("refusal remark: %s", resp.Remark)
	// Without a reachable leader address the follower refuses too.
	b := g.broker(f)
	b.fwd.mu.Lock()
	b.fwd.raftID, b.fwd.addr, b.fwd.fetched = func() string { id, _ := b.store.Leader(); return id }(), "127.0.0.1:1", time.Now()
	b.fwd.mu.Unlock()
	resp = invoke(t, c, sendReq(topic, 0, nil, []byte("y")))
	if resp.ResponseCode() != remoting.ServiceNotAvailable {
		t.Fatalf("unreachable leader: %s", resp.ResponseCode())
	}
	if n := g.broker(l).store.MaxOffset(topic, 0); n != 1 {
		t.Fatalf("refused sends stored: max offset %d", n)
	}
	// The bad address was dropped: the next send is forwarded again.
	send(t, c, topic, 0, nil, []byte("z"))
}

func testTagFilter(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic, grp = "FilterTopic", "cg-filter"
	for i, tag := range []string{"TagA", "TagB", "TagC", "TagA"} {
		send(t, c, topic, 0, message.Properties{{Key: message.PropTags, Value: tag}}, []byte(strconv.Itoa(i)))
	}
	// Subscription from the heartbeat (push consumer: sysFlag without bit 2).
	body, _ := json.Marshal(map[string]any{
		"clientID": "127.0.0.1@F",
		"consumerDataSet": []map[string]any{{"groupName": grp, "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
			"subscriptionDataSet": []map[string]any{{"topic": topic, "subString": "TagA || TagC", "tagsSet": []string{"TagA", "TagC"},
				"codeSet":    []string{strconv.FormatInt(message.TagsHash("TagA"), 10), strconv.FormatInt(message.TagsHash("TagC"), 10)},
				"subVersion": 1, "expressionType": "TAG"}}}},
	})
	invoke(t, c, remoting.NewRequest(remoting.HeartBeat, nil, body))
	resp := invoke(t, c, pullReq(grp, topic, 0, 0, 32, 0, 0))
	msgs, err := message.DecodeAll(resp.Body, nil)
	if err != nil || resp.ResponseCode() != remoting.Success {
		t.Fatalf("filtered pull: %s %v", resp.ResponseCode(), err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Tags())
	}
	if !slices.Equal(got, []string{"TagA", "TagC", "TagA"}) || extInt(t, resp, "nextBeginOffset") != 4 {
		t.Fatalf("heartbeat filter delivered %v, next %v", got, resp.ExtFields)
	}
	// Subscription in the request (pull consumer, sysFlag bit 2): nothing
	// matches at offset 1 -> PULL_RETRY_IMMEDIATELY past the scanned range.
	req := pullReq("cg-other", topic, 0, 1, 1, pullFlagSubscription, 0)
	req.ExtFields["subscription"] = "TagZ"
	resp = invoke(t, c, req)
	if resp.ResponseCode() != remoting.PullRetryImmediately || extInt(t, resp, "nextBeginOffset") != 4 {
		t.Fatalf("unmatched pull: %s %v", resp.ResponseCode(), resp.ExtFields)
	}
	req = pullReq("cg-other", topic, 0, 0, 32, pullFlagSubscription, 0)
	req.ExtFields["subscription"] = "TagB"
	msgs, _ = message.DecodeAll(invoke(t, c, req).Body, nil)
	if len(msgs) != 1 || msgs[0].Tags() != "TagB" {
		t.Fatalf("request subscription delivered %d messages", len(msgs))
	}
}

func testLockBatch(t *testing.T, g *group) {
	lockReq := func(code remoting.RequestCode, client string, qids ...int) *remoting.Command {
		var mqs []map[string]any
		for _, q := range qids {
			mqs = append(mqs, map[string]any{"topic": "OrderTopic", "brokerName": "broker-a", "queueId": q})
		}
		body, _ := json.Marshal(map[string]any{"consumerGroup": "cg-order", "clientId": client, "mqSet": mqs})
		return remoting.NewRequest(code, nil, body)
	}
	granted := func(resp *remoting.Command) []int {
		var body struct {
			LockOKMQSet []struct {
				QueueID int `json:"queueId"`
			} `json:"lockOKMQSet"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatalf("lock response %s %q: %v", resp.ResponseCode(), resp.Body, err)
		}
		var out []int
		for _, m := range body.LockOKMQSet {
			out = append(out, m.QueueID)
		}
		slices.Sort(out)
		return out
	}
	c := g.client(g.follower(), nil) // forwarded: locks live on the leader
	if got := granted(invoke(t, c, lockReq(remoting.LockBatchMQ, "A", 0, 1))); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A locked %v", got)
	}
	lc := g.client(g.leader(), nil)
	if got := granted(invoke(t, lc, lockReq(remoting.LockBatchMQ, "B", 1, 2))); !slices.Equal(got, []int{2}) {
		t.Fatalf("B locked %v, want [2]", got)
	}
	if got := granted(invoke(t, lc, lockReq(remoting.LockBatchMQ, "A", 0, 1, 2))); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A renewed %v", got)
	}
	invoke(t, c, lockReq(remoting.UnlockBatchMQ, "A", 1))
	if got := granted(invoke(t, lc, lockReq(remoting.LockBatchMQ, "B", 1))); !slices.Equal(got, []int{1}) {
		t.Fatalf("B after A's unlock %v", got)
	}
}
