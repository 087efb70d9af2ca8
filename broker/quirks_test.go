package broker

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// rawHeader is a response header as a plain JSON decoder sees it: extFields
// values are kept as whatever JSON type they are.
type rawHeader struct {
	Code      int            `json:"code"`
	Opaque    int32          `json:"opaque"`
	Flag      int32          `json:"flag"`
	ExtFields map[string]any `json:"extFields"`
}

// readRawFrame reads one frame from nc without our codec: it checks the
// prefix itself and decodes the JSON header with encoding/json.
func readRawFrame(t *testing.T, nc net.Conn) (rawHeader, []byte) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var pre [8]byte
	if _, err := io.ReadFull(nc, pre[:]); err != nil {
		t.Fatalf("read frame prefix: %v", err)
	}
	frameLen := binary.BigEndian.Uint32(pre[:4])
	word := binary.BigEndian.Uint32(pre[4:])
	st, hl := word>>24, word&0xFFFFFF
	if st != 0 {
		t.Fatalf("response serialize type %d to a JSON request", st)
	}
	if frameLen < 4+hl || frameLen > 16<<20 {
		t.Fatalf("frame length %d with header length %d", frameLen, hl)
	}
	rest := make([]byte, frameLen-4)
	if _, err := io.ReadFull(nc, rest); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	var h rawHeader
	if err := json.Unmarshal(rest[:hl], &h); err != nil {
		t.Fatalf("response header is not JSON: %v: %q", err, rest[:hl])
	}
	return h, rest[hl:]
}

// testWireQuirks checks REMOTING.md §8 items 1, 2, 4, 5, 7 and 8 on the wire,
// with a raw connection and a plain JSON decoder.
func testWireQuirks(t *testing.T, g *group) {
	l := g.leader()
	c := g.client(l, nil)
	const topic, grp = "WireQuirks", "cg-wire"

	// Item 7: a zlib body with sysFlag bit 0 is stored and served verbatim.
	var zb bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&zb, 5)
	_, _ = zw.Write([]byte(strings.Repeat("compressible ", 400)))
	_ = zw.Close()
	req := sendReq(topic, 0, nil, zb.Bytes())
	req.ExtFields["sysFlag"] = strconv.Itoa(int(message.FlagCompressed))
	if r := invoke(t, c, req); r.ResponseCode() != remoting.Success {
		t.Fatalf("compressed send: %s %s", r.ResponseCode(), r.Remark)
	}
	msgs, _ := pullAll(t, c, topic, 0, 0)
	if len(msgs) != 1 || msgs[0].SysFlag&message.FlagCompressed == 0 || !bytes.Equal(msgs[0].Body, zb.Bytes()) {
		t.Fatalf("compressed message not served verbatim: %d msgs", len(msgs))
	}
	if m := msgs[0]; !m.BornHost.Addr().Is4() || !m.StoreHost.Addr().Is4() || m.SysFlag&(message.FlagBornHostV6|message.FlagStoreHostV6) != 0 {
		t.Fatalf("hosts %v / %v sysFlag %#x: want IPv4", m.BornHost, m.StoreHost, m.SysFlag)
	}

	// Items 1 and 2: every request is answered (none carries the oneway
	// bit, as with the Go client), with flag bit 0 set, its opaque echoed
	// and every extFields value a JSON string.
	nc := rawDial(t, g.broker(l).Addr())
	reqs := []*remoting.Command{
		sendReq(topic, 0, message.Properties{{Key: message.PropTags, Value: "T"}}, []byte("raw")),
		pullReq(grp, topic, 0, 0, 32, 0, 0),
		pullReq(grp, "NoSuchTopicAnywhere", 0, 5, 32, 0, 0),
		remoting.NewRequest(remoting.UpdateConsumerOffset, map[string]string{"consumerGroup": grp, "topic": topic, "queueId": "0", "commitOffset": "1"}, nil),
		remoting.NewRequest(remoting.QueryConsumerOffset, map[string]string{"consumerGroup": "cg-never-seen", "topic": topic, "queueId": "0"}, nil),
		remoting.NewRequest(remoting.GetMaxOffset, map[string]string{"topic": topic, "queueId": "0"}, nil),
		remoting.NewRequest(remoting.EndTransaction, map[string]string{"producerGroup": "pg", "tranStateTableOffset": "0",
			"commitLogOffset": "0", "commitOrRollback": "0", "fromTransactionCheck": "false", "msgId": "X", "transactionId": ""}, nil),
		remoting.NewRequest(remoting.UnlockBatchMQ, nil, []byte(`{"consumerGroup":"`+grp+`","clientId":"127.0.0.1@W","mqSet":[]}`)),
		heartbeatReq("127.0.0.1@W", grp, topic),
		remoting.NewRequest(remoting.RequestCode(4242), nil, nil),
	}
	var out []byte
	for i, r := range reqs {
		r.Opaque = int32(1000 + i)
		var err error
		if out, err = remoting.AppendFrame(out, r, 16<<20); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	seen := map[int32]rawHeader{}
	for len(seen) < len(reqs) {
		h, _ := readRawFrame(t, nc)
		if h.Flag&remoting.FlagResponse == 0 {
			// A broker -> client request (the heartbeat's
			// NOTIFY_CONSUMER_IDS_CHANGED), not an answer.
			if h.Code != int(remoting.NotifyConsumerIDsChanged) {
				t.Fatalf("unexpected request from the broker: %+v", h)
			}
			continue
		}
		if _, dup := seen[h.Opaque]; dup {
			t.Fatalf("two responses with opaque %d", h.Opaque)
		}
		for k, v := range h.ExtFields {
			if _, ok := v.(string); !ok {
				t.Errorf("opaque %d: extFields[%q] = %v (%T), not a string", h.Opaque, k, v, v)
			}
		}
		seen[h.Opaque] = h
	}
	for i, r := range reqs {
		h, ok := seen[int32(1000+i)]
		if !ok {
			t.Fatalf("no response to %s (opaque %d)", r.RequestCode(), 1000+i)
		}
		switch r.RequestCode() {
		case remoting.SendMessage:
			if id, _ := h.ExtFields["msgId"].(string); len(id) < 32 || h.ExtFields["queueId"] == nil || h.ExtFields["queueOffset"] == nil {
				t.Errorf("SEND reply ext %v", h.ExtFields) // item 6
			}
		case remoting.PullMessage: // item 8, also on a refusal
			for _, k := range []string{"nextBeginOffset", "minOffset", "maxOffset", "suggestWhichBrokerId"} {
				if _, ok := h.ExtFields[k]; !ok {
					t.Errorf("PULL reply (code %d) lacks %s: %v", h.Code, k, h.ExtFields)
				}
			}
		case remoting.QueryConsumerOffset: // item 13: documented choice
			if h.Code != int(remoting.QueryNotFound) {
				t.Errorf("QUERY_CONSUMER_OFFSET of a new group: code %d, want 22", h.Code)
			}
		case remoting.RequestCode(4242):
			if h.Code != int(remoting.RequestCodeNotSupported) {
				t.Errorf("unknown code answered %d", h.Code)
			}
		}
	}
	if code := seen[1002].Code; code != int(remoting.TopicNotExist) {
		t.Errorf("pull of an unknown topic: code %d", code)
	}
	if next, _ := seen[1002].ExtFields["nextBeginOffset"].(string); next != "5" {
		t.Errorf("refused pull's nextBeginOffset %q, want the request's 5", next)
	}

	// Items 4 and 5: TBW102 is routed with perm 7 (producers auto-create
	// topics), brokerAddrs is compact JSON with the leader under "0".
	ns := dial(t, g.nsAddr, nil)
	resp := invoke(t, ns, remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{"topic": AutoCreateTopicKey}, nil))
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("TBW102 route: %s", resp.ResponseCode())
	}
	var rd struct {
		QueueDatas []struct {
			Perm int `json:"perm"`
		} `json:"queueDatas"`
	}
	if err := json.Unmarshal(resp.Body, &rd); err != nil || len(rd.QueueDatas) != 1 || rd.QueueDatas[0].Perm != 7 {
		t.Fatalf("TBW102 route %s (%v)", resp.Body, err)
	}
	if want := `"brokerAddrs":{"0":"` + g.broker(l).Addr() + `"`; !strings.Contains(string(resp.Body), want) {
		t.Fatalf("route body %s lacks %s", resp.Body, want)
	}
	if bytes.ContainsAny(resp.Body, " \n\t") {
		t.Fatalf("route body has whitespace: %s", resp.Body)
	}
}
