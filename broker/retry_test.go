package broker

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

func testDelayLevels(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "DelayTopic"
	send(t, c, topic, 0, nil, []byte("plain")) // creates the topic
	st := g.broker(l).store
	type delayed struct {
		level int
		sent  time.Time // before the send: the store stamps a later time
	}
	var sent []delayed
	for _, lvl := range []int{2, 1, 4} { // 200 ms, 100 ms, 400 ms
		props := message.Properties{{Key: message.PropDelayTimeLevel, Value: strconv.Itoa(lvl)}, {Key: message.PropKeys, Value: "d" + strconv.Itoa(lvl)}}
		before := time.Now()
		resp := send(t, c, topic, 0, props, []byte("delayed "+strconv.Itoa(lvl)))
		if extInt(t, resp, "queueId") != 0 {
			t.Fatalf("delayed send reports queue %v", resp.ExtFields)
		}
		sent = append(sent, delayed{lvl, before})
	}
	if n := st.MaxOffset(topic, 0); n != 1 {
		t.Fatalf("delayed messages visible at once: max offset %d", n)
	}
	waitFor(t, 5*time.Second, "three delayed messages delivered", func() bool { return st.MaxOffset(topic, 0) == 4 })
	msgs, _ := pullAll(t, c, topic, 0, 1)
	if len(msgs) != 3 {
		t.Fatalf("pulled %d delayed messages", len(msgs))
	}
	wantOrder := []int{1, 2, 4}
	for i, m := range msgs {
		lvl := wantOrder[i]
		if string(m.Body) != "delayed "+strconv.Itoa(lvl) {
			t.Fatalf("delivery %d is %q, want level %d", i, m.Body, lvl)
		}
		if _, ok := m.Properties.Lookup(message.PropDelayTimeLevel); ok {
			t.Fatalf("DELAY property kept: %v", m.Properties)
		}
		var at time.Time
		for _, s := range sent {
			if s.level == lvl {
				at = s.sent
			}
		}
		wait := time.UnixMilli(m.StoreTimestamp).Sub(at)
		if min := time.Duration(lvl)*100*time.Millisecond - 2*time.Millisecond; wait < min { // ms truncation
			t.Fatalf("level %d delivered after %v", lvl, wait)
		}
		t.Logf("level %d (%v) delivered %v after the send", lvl, time.Duration(lvl)*100*time.Millisecond, wait.Round(time.Millisecond))
	}
	// Progress is replicated as records beside the deliveries.
	if off, err := g.broker(l).sched.progress(1); err != nil || off != 1 {
		t.Fatalf("schedule progress for level 2: %d %v", off, err)
	}
	if n := st.MaxOffset(ScheduleProgressTopic, 1); n != 1 {
		t.Fatalf("%d progress records for level 2", n)
	}
	// Levels above the table clamp to the last one.
	props := message.Properties{{Key: message.PropDelayTimeLevel, Value: "99"}}
	send(t, c, topic, 0, props, []byte("clamped"))
	waitFor(t, 5*time.Second, "clamped delivery", func() bool { return st.MaxOffset(topic, 0) == 5 })
}

// sendBack sends CONSUMER_SEND_MSG_BACK for the message at phys.
func sendBack(t *testing.T, c *remoting.Client, group string, phys int64, delayLevel int, maxTimes int) {
	t.Helper()
	resp := invoke(t, c, remoting.NewRequest(remoting.ConsumerSendMsgBack, map[string]string{
		"group": group, "offset": strconv.FormatInt(phys, 10), "delayLevel": strconv.Itoa(delayLevel),
		"originMsgId": "ORIGIN0001", "originTopic": "SendBackTopic", "unitMode": "false",
		"maxReconsumeTimes": strconv.Itoa(maxTimes)}, nil))
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("send back: %s %s", resp.ResponseCode(), resp.Remark)
	}
}

func testSendBackRetryDLQ(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic, grp = "SendBackTopic", "cg-retry"
	retry, dlq := RetryTopic(grp), DLQTopic(grp)
	resp := send(t, c, topic, 0, message.Properties{{Key: message.PropTags, Value: "T"}}, []byte("please retry"))
	id, _ := message.ParseOffsetMsgID(resp.Ext("msgId"))
	st := g.broker(l).store

	// Attempt 1 and 2 go to the retry topic (delay level 3+reconsumeTimes,
	// i.e. 300 ms and 400 ms with the test levels); with maxReconsumeTimes
	// 2 the third failure goes to the DLQ.
	phys := id.Offset
	for attempt := 1; attempt <= 2; attempt++ {
		start := time.Now()
		sendBack(t, c, grp, phys, 0, 2)
		if n := st.MaxOffset(retry, 0); n != int64(attempt-1) {
			t.Fatalf("retry %d visible before its delay (max %d)", attempt, n)
		}
		waitFor(t, 5*time.Second, "retry delivery", func() bool { return st.MaxOffset(retry, 0) == int64(attempt) })
		if el := time.Since(start); el < time.Duration(2+attempt)*100*time.Millisecond-50*time.Millisecond {
			t.Fatalf("retry %d after %v, before its delay level %d", attempt, el, 2+attempt)
		}
		msgs, _ := pullAll(t, c, retry, 0, int64(attempt-1))
		if len(msgs) != 1 {
			t.Fatalf("retry topic holds %d new messages", len(msgs))
		}
		m := msgs[0]
		if string(m.Body) != "please retry" || m.ReconsumeTimes != int32(attempt) || m.Tags() != "T" {
			t.Fatalf("retry %d: body %q reconsume %d tags %q", attempt, m.Body, m.ReconsumeTimes, m.Tags())
		}
		if m.Properties.Get(message.PropRetryTopic) != topic || m.Properties.Get(message.PropOriginMessageID) != "ORIGIN0001" {
			t.Fatalf("retry %d properties %v", attempt, m.Properties)
		}
		phys = m.CommitLogOffset
	}
	sendBack(t, c, grp, phys, 0, 2)
	waitFor(t, 3*time.Second, "DLQ delivery", func() bool { return st.MaxOffset(dlq, 0) == 1 })
	res, err := st.GetMessages("", dlq, 0, 0, 8, nil)
	if err != nil || res.Status != store.GetFound {
		t.Fatalf("read DLQ: %v %v", res.Status, err)
	}
	m, _, err := message.Decode(res.Body)
	if err != nil || string(m.Body) != "please retry" || m.ReconsumeTimes != 3 || m.Properties.Get(message.PropRetryTopic) != topic {
		t.Fatalf("DLQ message %+v (%v)", m, err)
	}
	if tc, _ := st.Topic(dlq); tc.Perm != PermWrite {
		t.Fatalf("DLQ perm %d, want write-only", tc.Perm)
	}
	// A write-only topic cannot be pulled.
	if _, resp := pullAll(t, c, dlq, 0, 0); resp.ResponseCode() != remoting.NoPermission {
		t.Fatalf("pull DLQ: %s", resp.ResponseCode())
	}
	// delayLevel -1 goes straight to the DLQ.
	sendBack(t, c, grp, id.Offset, -1, 16)
	waitFor(t, 3*time.Second, "direct DLQ", func() bool { return st.MaxOffset(dlq, 0) == 2 })
	// A consumer that could not send back re-sends to the retry topic
	// itself; with its retries used up the message goes to the DLQ.
	req := sendReq(retry, 0, nil, []byte("self-sent"))
	req.ExtFields["reconsumeTimes"], req.ExtFields["maxReconsumeTimes"] = "5", "5"
	if r := invoke(t, c, req); r.ResponseCode() != remoting.Success {
		t.Fatalf("direct retry send: %s %s", r.ResponseCode(), r.Remark)
	}
	waitFor(t, 3*time.Second, "self-sent message in the DLQ", func() bool { return st.MaxOffset(dlq, 0) == 3 })
	// An unknown physical offset is an error, not a silent success.
	resp = invoke(t, c, remoting.NewRequest(remoting.ConsumerSendMsgBack, map[string]string{
		"group": grp, "offset": "123456789", "delayLevel": "0", "maxReconsumeTimes": "16"}, nil))
	if resp.ResponseCode() == remoting.Success {
		t.Fatal("send back of an unknown offset succeeded")
	}
}

func testTransaction(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "TxTopic"
	send(t, c, topic, 0, nil, []byte("plain"))
	half := func(body string) (int64, int64) {
		props := message.Properties{{Key: message.PropTransactionPrepared, Value: "true"}, {Key: message.PropProducerGroup, Value: "txg"},
			{Key: message.PropUniqKey, Value: "UNIQ" + body}}
		req := sendReq(topic, 0, props, []byte(body))
		req.ExtFields["sysFlag"] = strconv.Itoa(int(message.TransactionPreparedType))
		req.ExtFields["producerGroup"] = "txg"
		resp := invoke(t, c, req)
		if resp.ResponseCode() != remoting.Success {
			t.Fatalf("half send: %s %s", resp.ResponseCode(), resp.Remark)
		}
		id, err := message.ParseOffsetMsgID(resp.Ext("msgId"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Ext("transactionId") != "UNIQ"+body {
			t.Fatalf("transactionId %q", resp.Ext("transactionId"))
		}
		return extInt(t, resp, "queueOffset"), id.Offset
	}
	end := func(qo, phys int64, kind int32) *remoting.Command {
		return invoke(t, c, remoting.NewRequest(remoting.EndTransaction, map[string]string{
			"producerGroup": "txg", "tranStateTableOffset": strconv.FormatInt(qo, 10),
			"commitLogOffset": strconv.FormatInt(phys, 10), "commitOrRollback": strconv.Itoa(int(kind)),
			"fromTransactionCheck": "false", "msgId": "x", "transactionId": ""}, nil))
	}
	st := g.broker(l).store
	qc, pc := half("commit-me")
	qr, pr := half("roll-me-back")
	if n := st.MaxOffset(topic, 0); n != 1 {
		t.Fatalf("half messages visible: %d", n)
	}
	if r := end(qc, pc, message.TransactionCommitType); r.ResponseCode() != remoting.Success {
		t.Fatalf("commit: %s %s", r.ResponseCode(), r.Remark)
	}
	if r := end(qr, pr, message.TransactionRollbackType); r.ResponseCode() != remoting.Success {
		t.Fatalf("rollback: %s %s", r.ResponseCode(), r.Remark)
	}
	// A second commit of the same half message is a no-op.
	if r := end(qc, pc, message.TransactionCommitType); r.ResponseCode() != remoting.Success {
		t.Fatalf("second commit: %s", r.ResponseCode())
	}
	// A wrong producer group is refused.
	r := invoke(t, c, remoting.NewRequest(remoting.EndTransaction, map[string]string{
		"producerGroup": "other", "tranStateTableOffset": strconv.FormatInt(qr, 10),
		"commitLogOffset": strconv.FormatInt(pr, 10), "commitOrRollback": "8"}, nil))
	if r.ResponseCode() == remoting.Success {
		t.Fatal("commit with the wrong producer group succeeded")
	}
	msgs, _ := pullAll(t, c, topic, 0, 1)
	if len(msgs) != 1 || string(msgs[0].Body) != "commit-me" {
		t.Fatalf("after commit+rollback the topic holds %d new messages", len(msgs))
	}
	m := msgs[0]
	if message.TransactionType(m.SysFlag) != message.TransactionCommitType || m.PreparedTransactionOffset != pc || m.UniqKey() != "UNIQcommit-me" {
		t.Fatalf("committed message sysFlag %d prepared offset %d uniq %q", m.SysFlag, m.PreparedTransactionOffset, m.UniqKey())
	}
}

func testAdmin(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(g.follower(), nil) // forwarded to the leader
	create := remoting.NewRequest(remoting.UpdateAndCreateTopic, map[string]string{
		"topic": "AdminTopic", "defaultTopic": "defaultTopic", "readQueueNums": "3", "writeQueueNums": "3",
		"perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}, nil)
	if r := invoke(t, c, create); r.ResponseCode() != remoting.Success {
		t.Fatalf("create topic: %s %s", r.ResponseCode(), r.Remark)
	}
	waitFor(t, 3*time.Second, "AdminTopic route", func() bool {
		rd, ok := g.ns.Route("AdminTopic")
		return ok && rd.QueueDatas[0].WriteQueueNums == 3
	})
	lc := g.client(l, nil)
	r := invoke(t, lc, remoting.NewRequest(remoting.GetAllTopicConfig, nil, nil))
	if r.ResponseCode() != remoting.Success || !containsAll(string(r.Body), `"AdminTopic"`, `"TBW102"`, `"topicConfigTable"`) {
		t.Fatalf("GET_ALL_TOPIC_CONFIG: %s %s", r.ResponseCode(), r.Body)
	}
	invoke(t, lc, heartbeatReq("127.0.0.1@Adm", "cg-admin"))
	r = invoke(t, lc, remoting.NewRequest(remoting.GetAllSubscriptionGroupConfig, nil, nil))
	if r.ResponseCode() != remoting.Success || !containsAll(string(r.Body), `"subscriptionGroupTable"`, `"cg-admin"`) {
		t.Fatalf("GET_ALL_SUBSCRIPTIONGROUP_CONFIG: %s %s", r.ResponseCode(), r.Body)
	}
	// QUERY_MESSAGE by key.
	send(t, lc, "AdminTopic", 1, message.Properties{{Key: message.PropKeys, Value: "order-42 other"}}, []byte("find me"))
	q := func() *remoting.Command {
		return invoke(t, lc, remoting.NewRequest(remoting.QueryMessage, map[string]string{
			"topic": "AdminTopic", "key": "order-42", "maxNum": "10", "beginTimestamp": "0",
			"endTimestamp": strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10)}, nil))
	}
	waitFor(t, 3*time.Second, "query by key", func() bool { return q().ResponseCode() == remoting.Success })
	msgs, err := message.DecodeAll(q().Body, nil)
	if err != nil || len(msgs) != 1 || string(msgs[0].Body) != "find me" {
		t.Fatalf("query by key: %d msgs, %v", len(msgs), err)
	}
	// Delete: the route goes away.
	if r := invoke(t, c, remoting.NewRequest(remoting.DeleteTopicInBroker, map[string]string{"topic": "AdminTopic"}, nil)); r.ResponseCode() != remoting.Success {
		t.Fatalf("delete topic: %s %s", r.ResponseCode(), r.Remark)
	}
	waitFor(t, 3*time.Second, "AdminTopic route gone", func() bool { _, ok := g.ns.Route("AdminTopic"); return !ok })
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// txProducer answers CHECK_TRANSACTION_STATE: commit for bodies starting
// with "commit", nothing otherwise; it records every check.
type txProducer struct {
	recorder
	client func() *remoting.Client
	t      *testing.T
}

func (p *txProducer) ServeRemoting(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	p.recorder.ServeRemoting(ctx, c, req)
	if req.RequestCode() != remoting.CheckTransactionState {
		return nil
	}
	m, _, err := message.Decode(req.Body)
	if err != nil || m.Topic != "TxCheckTopic" || m.QueueID != 2 {
		p.t.Errorf("check body: topic %q queue %d err %v", m.Topic, m.QueueID, err)
		return nil
	}
	if !strings.HasPrefix(string(m.Body), "commit") {
		return nil // unknown: keep it pending
	}
	end := remoting.NewRequest(remoting.EndTransaction, map[string]string{
		"producerGroup": "txg-check", "tranStateTableOffset": req.Ext("tranStateTableOffset"),
		"commitLogOffset": req.Ext("commitLogOffset"), "commitOrRollback": "8", "fromTransactionCheck": "true",
		"msgId": req.Ext("msgId"), "transactionId": req.Ext("transactionId")}, nil)
	go func() { _, _ = p.client().Invoke(context.Background(), end) }() // never wait on our own reader
	return nil
}

func testTransactionCheck(t *testing.T, g *group) {
	l := g.leader()
	p := &txProducer{t: t}
	c := g.client(l, p)
	p.client = func() *remoting.Client { return c }
	const topic = "TxCheckTopic"
	send(t, c, topic, 2, nil, []byte("plain"))
	hb, _ := json.Marshal(map[string]any{"clientID": "127.0.0.1@TX", "producerDataSet": []map[string]any{{"groupName": "txg-check"}}})
	invoke(t, c, remoting.NewRequest(remoting.HeartBeat, nil, hb))
	var never string // half queue offset of the unanswered one
	for _, body := range []string{"commit-on-check", "never-answered"} {
		props := message.Properties{{Key: message.PropTransactionPrepared, Value: "true"}, {Key: message.PropProducerGroup, Value: "txg-check"},
			{Key: message.PropUniqKey, Value: "U" + body}}
		req := sendReq(topic, 2, props, []byte(body))
		req.ExtFields["sysFlag"] = strconv.Itoa(int(message.TransactionPreparedType))
		r := invoke(t, c, req)
		if r.ResponseCode() != remoting.Success {
			t.Fatalf("half send: %s", r.ResponseCode())
		}
		never = r.Ext("queueOffset")
	}
	checksOf := func(off string) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		n := 0
		for _, q := range p.reqs {
			if q.RequestCode() == remoting.CheckTransactionState && q.Ext("tranStateTableOffset") == off {
				n++
			}
		}
		return n
	}
	st := g.broker(l).store
	waitFor(t, 10*time.Second, "commit after a check", func() bool { return st.MaxOffset(topic, 2) == 2 })
	// The unanswered one is checked TransactionCheckMax (3) times, then
	// rolled back: never delivered, no more checks.
	b := g.broker(l)
	neverOff, _ := strconv.ParseInt(never, 10, 64)
	waitFor(t, 10*time.Second, "rollback after 3 checks", func() bool {
		b.txn.mu.Lock()
		defer b.txn.mu.Unlock()
		return b.txn.resolved[neverOff] || b.txn.from > neverOff
	})
	time.Sleep(600 * time.Millisecond) // three more check intervals
	if n := checksOf(never); n != 3 {
		t.Fatalf("unanswered half message checked %d times, want TransactionCheckMax = 3", n)
	}
	msgs, _ := pullAll(t, c, topic, 2, 1)
	if len(msgs) != 1 || string(msgs[0].Body) != "commit-on-check" {
		t.Fatalf("delivered %d messages after checks", len(msgs))
	}
}
