package client

import (
	"encoding/json"
	"testing"
)

// FuzzParseTopicRoute: the route parser never panics; quoteBareKeys leaves
// valid JSON byte for byte unchanged, and its output for a fastjson-style
// body parses as JSON whenever the parse succeeds.
func FuzzParseTopicRoute(f *testing.F) {
	for _, s := range []string{
		fastjsonRoute("broker-a", "127.0.0.1:10911", 4),
		`{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:1","1":"127.0.0.1:2"},"brokerName":"b"}],"queueDatas":[]}`,
		`{"brokerDatas":[{"brokerName":"b"}]}`,
		`{ "a" : [ 1 , { 2 : "x" } ] }`,
		`{"s":"{0:\"q\\\"\"}"}`,
		`[]`, `{`, `}`, `{0:}`, `{"brokerDatas":[{"brokerAddrs":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseTopicRoute("T", b)
		if err == nil {
			_ = r.PublishQueues()
			_ = r.SubscribeQueues()
			_ = CheckGoClientCompat("T", b)
		}
		q, qerr := quoteBareKeys(b)
		if json.Valid(b) && (qerr != nil || string(q) != string(b)) {
			t.Fatalf("valid JSON rewritten: %q -> %q, %v", b, q, qerr)
		}
		if err == nil && !json.Valid(q) {
			t.Fatalf("parsed, but the rewrite is not JSON: %q -> %q", b, q)
		}
	})
}
