package broker

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
)

// sharedGroup is one namesrv + three-node group for the tests that do not
// kill nodes (each uses its own topics and groups).
func sharedGroup(t *testing.T) *group {
	t.Helper()
	return newGroup(t, nil)
}

func TestBroker(t *testing.T) {
	g := sharedGroup(t)
	t.Run("SendPullRoundTrip", func(t *testing.T) { testSendPullRoundTrip(t, g) })
	t.Run("BatchSend", func(t *testing.T) { testBatchSend(t, g) })
	t.Run("MessageIllegal", func(t *testing.T) { testMessageIllegal(t, g) })
	t.Run("AutoCreateRegistersRoute", func(t *testing.T) { testAutoCreateRoute(t, g) })
	t.Run("UnknownCode", func(t *testing.T) { testUnknownCode(t, g) })
	t.Run("HeartbeatConsumerListNotify", func(t *testing.T) { testHeartbeatNotify(t, g) })
	t.Run("TagFilter", func(t *testing.T) { testTagFilter(t, g) })
	t.Run("LongPoll", func(t *testing.T) { testLongPoll(t, g) })
	t.Run("LockBatch", func(t *testing.T) { testLockBatch(t, g) })
	t.Run("OffsetsQueryUpdate", func(t *testing.T) { testOffsets(t, g) })
	t.Run("FollowerWrite", func(t *testing.T) { testFollowerWrite(t, g) })
	t.Run("DelayLevels", func(t *testing.T) { testDelayLevels(t, g) })
	t.Run("SendBackRetryDLQ", func(t *testing.T) { testSendBackRetryDLQ(t, g) })
	t.Run("Transaction", func(t *testing.T) { testTransaction(t, g) })
	t.Run("TransactionCheck", func(t *testing.T) { testTransactionCheck(t, g) })
	t.Run("AdminAndQueries", func(t *testing.T) { testAdmin(t, g) })
	t.Run("WireQuirks", func(t *testing.T) { testWireQuirks(t, g) })
}

func testSendPullRoundTrip(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "RoundTrip"
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(rand.IntN(256))
	}
	bodies := [][]byte{[]byte("hello"), {0, 1, 2, 0xff, 0xfe}, big, []byte(strings.Repeat("x", 4096)), {}}
	type sent struct {
		off  int64
		phys int64
		id   string
	}
	var got []sent
	for i, body := range bodies {
		props := message.Properties{{Key: message.PropTags, Value: "TagA"}, {Key: message.PropKeys, Value: "k" + strconv.Itoa(i)},
			{Key: message.PropUniqKey, Value: fmt.Sprintf("C0000202%024d", i)}}
		resp := send(t, c, topic, 1, props, body)
		if q := extInt(t, resp, "queueId"); q != 1 {
			t.Fatalf("queueId %d, want 1", q)
		}
		id := resp.Ext("msgId")
		oid, err := message.ParseOffsetMsgID(id)
		if err != nil {
			t.Fatalf("msgId %q: %v", id, err)
		}
		if oid.Host.String() != g.broker(l).Addr() {
			t.Fatalf("msgId host %v, want leader %s", oid.Host, g.broker(l).Addr())
		}
		if resp.Ext("MSG_REGION") != "DefaultRegion" || resp.Ext("TRACE_ON") != "true" {
			t.Fatalf("region/trace ext: %v", resp.ExtFields)
		}
		got = append(got, sent{off: extInt(t, resp, "queueOffset"), phys: oid.Offset, id: id})
	}
	for i, s := range got {
		if s.off != int64(i) {
			t.Fatalf("message %d got queue offset %d", i, s.off)
		}
	}
	// Every replica serves the same bytes.
	for n := range g.brokers {
		cn := g.client(n, nil)
		var msgs []message.MessageExt
		waitFor(t, 5*time.Second, "replica has all messages", func() bool {
			msgs, _ = pullAll(t, cn, topic, 1, 0)
			return len(msgs) == len(bodies)
		})
		for i, m := range msgs {
			if !bytes.Equal(m.Body, bodies[i]) {
				t.Fatalf("node %d message %d body differs (%d vs %d bytes)", n, i, len(m.Body), len(bodies[i]))
			}
			if m.QueueOffset != got[i].off || m.CommitLogOffset != got[i].phys {
				t.Fatalf("node %d message %d offsets q=%d phys=%d, want q=%d phys=%d", n, i, m.QueueOffset, m.CommitLogOffset, got[i].off, got[i].phys)
			}
			// STOREHOST names the serving node (REMOTING.md §8 item 15);
			// the physical offset is the same on every node, so on the
			// writer the offset msg id is the one the SEND reply gave.
			if m.StoreHost.String() != g.broker(n).Addr() {
				t.Fatalf("node %d message %d store host %v, want the serving node %s", n, i, m.StoreHost, g.broker(n).Addr())
			}
			if want := string(message.AppendOffsetMsgID(nil, m.StoreHost, got[i].phys)); m.OffsetMsgID() != want {
				t.Fatalf("node %d message %d offset msg id %s, want %s", n, i, m.OffsetMsgID(), want)
			}
			if n == l && m.OffsetMsgID() != got[i].id {
				t.Fatalf("leader message %d offset msg id %s, want the SEND reply's %s", i, m.OffsetMsgID(), got[i].id)
			}
			if m.Topic != topic || m.QueueID != 1 || m.Flag != 7 || m.Tags() != "TagA" || m.Keys() != "k"+strconv.Itoa(i) {
				t.Fatalf("node %d message %d fields: %+v", n, i, m)
			}
			if m.Properties.Get(message.PropCluster) != "DefaultCluster" {
				t.Fatalf("CLUSTER property missing: %v", m.Properties)
			}
			if !m.BornHost.Addr().Is4() || !m.BornHost.Addr().IsLoopback() {
				t.Fatalf("born host %v", m.BornHost)
			}
		}
	}
	// Pull from an offset in the middle and past the end.
	msgs, resp := pullAll(t, c, topic, 1, 3)
	if len(msgs) != 2 || extInt(t, resp, "nextBeginOffset") != 5 || extInt(t, resp, "maxOffset") != 5 {
		t.Fatalf("pull from 3: %d msgs, ext %v", len(msgs), resp.ExtFields)
	}
	_, resp = pullAll(t, c, topic, 1, 5)
	if resp.ResponseCode() != remoting.PullNotFound || extInt(t, resp, "nextBeginOffset") != 5 {
		t.Fatalf("pull at max: %s %v", resp.ResponseCode(), resp.ExtFields)
	}
	_, resp = pullAll(t, c, topic, 1, 9)
	if resp.ResponseCode() != remoting.PullOffsetMoved || extInt(t, resp, "nextBeginOffset") != 5 {
		t.Fatalf("pull past max: %s %v", resp.ResponseCode(), resp.ExtFields)
	}
	_, resp = pullAll(t, c, topic, 2, 3)
	if resp.ResponseCode() != remoting.PullOffsetMoved || extInt(t, resp, "nextBeginOffset") != 0 {
		t.Fatalf("pull empty queue at 3: %s %v", resp.ResponseCode(), resp.ExtFields)
	}
	// The same message is reachable by physical offset (VIEW_MESSAGE_BY_ID).
	v := invoke(t, c, remoting.NewRequest(remoting.ViewMessageByID, map[string]string{"offset": strconv.FormatInt(got[1].phys, 10)}, nil))
	if v.ResponseCode() != remoting.Success {
		t.Fatalf("view by id: %s %s", v.ResponseCode(), v.Remark)
	}
	if m, _, err := message.Decode(v.Body); err != nil || !bytes.Equal(m.Body, bodies[1]) {
		t.Fatalf("view by id decoded %v / %v", err, m.Body)
	}
}

func testBatchSend(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "BatchTopic"
	msgs := []message.Message{
		{Flag: 1, Body: []byte("one"), Properties: message.Properties{{Key: message.PropKeys, Value: "a"}}},
		{Flag: 2, Body: []byte{0, 0, 0}},
		{Flag: 3, Body: bytes.Repeat([]byte("z"), 1000), Properties: message.Properties{{Key: message.PropTags, Value: "T"}}},
	}
	send(t, c, topic, 0, nil, []byte("before the batch"))
	req := remoting.NewRequest(remoting.SendBatchMessage, map[string]string{
		"a": "pg", "b": topic, "c": AutoCreateTopicKey, "d": "4", "e": "0", "f": "0",
		"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": "true",
	}, message.AppendBatch(nil, msgs))
	resp := invoke(t, c, req)
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("batch: %s %s", resp.ResponseCode(), resp.Remark)
	}
	ids := strings.Split(resp.Ext("msgId"), ",")
	if len(ids) != 3 || extInt(t, resp, "queueOffset") != 1 {
		t.Fatalf("batch response ext %v", resp.ExtFields)
	}
	got, _ := pullAll(t, c, topic, 0, 1)
	if len(got) != 3 {
		t.Fatalf("pulled %d batch messages", len(got))
	}
	for i, m := range got {
		if !bytes.Equal(m.Body, msgs[i].Body) || m.Flag != msgs[i].Flag || m.QueueOffset != int64(1+i) || m.OffsetMsgID() != ids[i] {
			t.Fatalf("batch message %d: flag %d q %d id %s (want %s)", i, m.Flag, m.QueueOffset, m.OffsetMsgID(), ids[i])
		}
	}
	if got[0].Keys() != "a" || got[2].Tags() != "T" {
		t.Fatalf("batch properties lost: %v %v", got[0].Properties, got[2].Properties)
	}
	// SEND_MESSAGE_V2 (310): one message with the one-letter header names.
	v2 := remoting.NewRequest(remoting.SendMessageV2, map[string]string{
		"a": "pg", "b": topic, "c": AutoCreateTopicKey, "d": "4", "e": "0", "f": "0",
		"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "9", "i": message.Properties{{Key: message.PropTags, Value: "V2"}}.String(),
		"j": "0", "k": "false", "l": "0", "m": "false",
	}, []byte("v2 body"))
	if r := invoke(t, c, v2); r.ResponseCode() != remoting.Success || extInt(t, r, "queueOffset") != 4 {
		t.Fatalf("SEND_MESSAGE_V2: %s %v", r.ResponseCode(), r.ExtFields)
	}
	if got, _ := pullAll(t, c, topic, 0, 4); len(got) != 1 || string(got[0].Body) != "v2 body" || got[0].Flag != 9 || got[0].Tags() != "V2" {
		t.Fatalf("V2 message: %+v", got)
	}
	// A batch with DELAY is refused and stores nothing.
	bad := []message.Message{{Body: []byte("x"), Properties: message.Properties{{Key: message.PropDelayTimeLevel, Value: "1"}}}}
	req = remoting.NewRequest(remoting.SendBatchMessage, map[string]string{
		"a": "pg", "b": topic, "c": AutoCreateTopicKey, "d": "4", "e": "0", "f": "0", "g": "0", "h": "0", "i": "",
		"j": "0", "k": "false", "l": "0", "m": "true"}, message.AppendBatch(nil, bad))
	if resp := invoke(t, c, req); resp.ResponseCode() != remoting.MessageIllegal {
		t.Fatalf("delayed batch: %s", resp.ResponseCode())
	}
	if max := g.broker(l).store.MaxOffset(topic, 0); max != 5 {
		t.Fatalf("max offset %d after refused batch, want 5", max)
	}
}

func testMessageIllegal(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "IllegalTopic"
	send(t, c, topic, 0, nil, []byte("ok"))
	st := g.broker(l).store
	before := st.MaxOffset(topic, 0)
	cases := []struct {
		name string
		req  *remoting.Command
	}{
		{"body 4 MiB + 1", sendReq(topic, 0, nil, make([]byte, 4<<20+1))},
		{"properties 32768 bytes", sendReq(topic, 0, message.Properties{{Key: "K", Value: strings.Repeat("v", 32768-3)}}, []byte("x"))},
		{"bad topic", sendReq("bad topic!", 0, nil, []byte("x"))},
		{"reserved topic", sendReq(AutoCreateTopicKey, 0, nil, []byte("x"))},
		{"corrupt batch", remoting.NewRequest(remoting.SendBatchMessage, map[string]string{"a": "pg", "b": topic, "e": "0"}, []byte{0, 0, 0, 99, 1})},
	}
	for _, tc := range cases {
		resp := invoke(t, c, tc.req)
		if resp.ResponseCode() != remoting.MessageIllegal {
			t.Errorf("%s: %s %q, want MESSAGE_ILLEGAL", tc.name, resp.ResponseCode(), resp.Remark)
		}
	}
	if after := st.MaxOffset(topic, 0); after != before {
		t.Fatalf("max offset %d -> %d: refused messages were appended", before, after)
	}
	// Exactly 4 MiB is fine (retried: a slow 4 MiB round may cost the
	// leadership on a loaded machine).
	waitFor(t, 20*time.Second, "a 4 MiB message stored", func() bool {
		resp := invoke(t, g.client(g.leader(), nil), sendReq("BigTopic", 0, nil, make([]byte, 4<<20)))
		return resp.ResponseCode() == remoting.Success
	})
}

func testAutoCreateRoute(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic = "AutoCreated"
	start := time.Now()
	send(t, c, topic, 2, nil, []byte("x"))
	var rd *namesrv.TopicRouteData
	waitFor(t, 3*time.Second, "route of the auto-created topic", func() bool {
		var ok bool
		rd, ok = g.ns.Route(topic)
		return ok
	})
	t.Logf("route visible %v after the first send", time.Since(start).Round(time.Millisecond))
	if len(rd.QueueDatas) != 1 || rd.QueueDatas[0].WriteQueueNums != 4 || rd.QueueDatas[0].Perm != PermRead|PermWrite {
		t.Fatalf("queue data %+v", rd.QueueDatas)
	}
	if rd.BrokerDatas[0].BrokerAddrs[namesrv.MasterID] != g.broker(l).Addr() {
		t.Fatalf("broker data %+v", rd.BrokerDatas)
	}
	// The same over the wire (GET_ROUTEINFO_BY_TOPIC, 105).
	ns := dial(t, g.nsAddr, nil)
	resp := invoke(t, ns, remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if resp.ResponseCode() != remoting.Success || !strings.Contains(string(resp.Body), `"0":"`+g.broker(l).Addr()+`"`) {
		t.Fatalf("route over the wire: %s %s", resp.ResponseCode(), resp.Body)
	}
	// Auto-creation off: an unknown topic is TOPIC_NOT_EXIST.
	b := g.broker(l)
	b.cfg.AutoCreateTopicEnable = false
	defer func() { b.cfg.AutoCreateTopicEnable = true }()
	if resp := invoke(t, c, sendReq("NeverCreated", 0, nil, []byte("x"))); resp.ResponseCode() != remoting.TopicNotExist {
		t.Fatalf("send with auto-create off: %s", resp.ResponseCode())
	}
}

func testUnknownCode(t *testing.T, g *group) {
	c := g.client(g.follower(), nil)
	resp := invoke(t, c, remoting.NewRequest(remoting.RequestCode(9999), nil, nil))
	if resp.ResponseCode() != remoting.RequestCodeNotSupported {
		t.Fatalf("unknown code: %s", resp.ResponseCode())
	}
	resp = invoke(t, c, remoting.NewRequest(remoting.GetConsumerRunningInfo, nil, nil))
	if resp.ResponseCode() != remoting.RequestCodeNotSupported {
		t.Fatalf("GET_CONSUMER_RUNNING_INFO sent to a broker: %s", resp.ResponseCode())
	}
}
