package broker

import (
	"testing"

	"github.com/dledgermq/dledgermq/remoting"
)

func FuzzParseHeartbeat(f *testing.F) {
	f.Add([]byte(`{"clientID":"192.0.2.2@18903","producerDataSet":[{"groupName":"pg1"}],"consumerDataSet":[{"groupName":"cg1","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":"TopicTest","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1795261308781133695,"expressionType":"TAG"}]}]}`))
	f.Add([]byte(`{"clientID":"x","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"t","codeSet":[1,2],"subVersion":"5"}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"clientID":"x","consumerDataSet":[{"subscriptionDataSet":[{"codeSet":["nope"]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		hb, err := parseHeartbeat(body)
		if err != nil {
			return
		}
		if hb.ClientID == "" {
			t.Fatal("accepted a heartbeat without clientID")
		}
		for _, cd := range hb.ConsumerDataSet {
			for i := range cd.SubscriptionDataSet {
				s := &cd.SubscriptionDataSet[i]
				_ = s.matches(0)
				if len(s.codes) != len(s.CodeSet) {
					t.Fatal("codes not normalised")
				}
			}
		}
	})
}

func FuzzDecodeSendHeader(f *testing.F) {
	f.Add(int32(10), "pg", "T", "1", "0", "1700000000000", "0", "TAGS\x01a\x02", "false")
	f.Add(int32(320), "pg", "T", "-1", "4", "", "", "", "true")
	f.Add(int32(310), "", "", "x", "y", "z", "w", "", "")
	f.Fuzz(func(t *testing.T, code int32, group, topic, queue, sysFlag, born, flag, props, batch string) {
		req := remoting.NewRequest(remoting.RequestCode(code), nil, nil)
		if code == 310 || code == 320 {
			req.ExtFields = map[string]string{"a": group, "b": topic, "e": queue, "f": sysFlag, "g": born, "h": flag, "i": props, "m": batch}
		} else {
			req.ExtFields = map[string]string{"producerGroup": group, "topic": topic, "queueId": queue, "sysFlag": sysFlag,
				"bornTimestamp": born, "flag": flag, "properties": props, "batch": batch}
		}
		h, err := decodeSendHeader(req)
		if err != nil {
			return
		}
		if h.topic != topic || h.producerGroup != group || h.properties != props {
			t.Fatalf("fields mixed up: %+v", h)
		}
	})
}
