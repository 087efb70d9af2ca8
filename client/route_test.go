package client

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

func TestParseTopicRoute(t *testing.T) {
	const javaRoute = `{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},` +
		`"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"orderTopicConf":"broker-a:4",` +
		`"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	cases := []struct {
		name    string
		body    string
		addrs   map[string]map[int64]string // brokerName → addrs
		publish int
		sub     int
		compat  bool // CheckGoClientCompat passes
		order   string
	}{
		{
			name: "fastjson unquoted keys (Java 4.x for version 317)", body: javaRoute,
			addrs:   map[string]map[int64]string{"broker-a": {0: "127.0.0.1:10911", 1: "127.0.0.1:10921"}},
			publish: 4, sub: 4, compat: true, order: "broker-a:4",
		},
		{
			name: "standard JSON keys (4.9.4+ for version >= 401)",
			body: `{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"b","cluster":"c"}],` +
				`"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2}]}`,
			addrs:   map[string]map[int64]string{"b": {0: "127.0.0.1:10911"}},
			publish: 2, sub: 2, compat: true,
		},
		{
			name: "whitespace everywhere: we parse it, the Go client would not",
			body: "{ \"brokerDatas\" : [ { \"brokerAddrs\" : { \"0\" : \"127.0.0.1:1\" , 2 : \"127.0.0.1:2\" } ,\n" +
				"\"brokerName\" : \"b\" } ] , \"queueDatas\" : [ { \"brokerName\" : \"b\" , \"perm\" : 6 , " +
				"\"readQueueNums\" : 1 , \"writeQueueNums\" : 1 } ] }",
			addrs:   map[string]map[int64]string{"b": {0: "127.0.0.1:1", 2: "127.0.0.1:2"}},
			publish: 1, sub: 1, compat: false,
		},
		{
			name:    "empty brokerAddrs: no master, so no publish queues",
			body:    `{"brokerDatas":[{"brokerAddrs":{},"brokerName":"b"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":3,"writeQueueNums":3}]}`,
			addrs:   map[string]map[int64]string{"b": {}},
			publish: 0, sub: 3, compat: true,
		},
		{
			name:    "missing brokerAddrs: empty for us, a panic for the Go client",
			body:    `{"brokerDatas":[{"brokerName":"b"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":1}]}`,
			addrs:   map[string]map[int64]string{"b": {}},
			publish: 0, sub: 1, compat: false,
		},
		{
			name:    "only a slave: readable, not writable",
			body:    `{"brokerDatas":[{"brokerAddrs":{1:"127.0.0.1:2"},"brokerName":"b"}],"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2}]}`,
			addrs:   map[string]map[int64]string{"b": {1: "127.0.0.1:2"}},
			publish: 0, sub: 2, compat: true,
		},
		{
			name: "perms: read-only and write-only queue data, two brokers, unknown fields",
			body: `{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:1"},"brokerName":"a","extra":[1,{"x":2}]},` +
				`{"brokerAddrs":{0:"127.0.0.1:2"},"brokerName":"b"}],"queueDatas":[` +
				`{"brokerName":"a","perm":4,"readQueueNums":2,"writeQueueNums":2},` +
				`{"brokerName":"b","perm":2,"readQueueNums":3,"writeQueueNums":3}],"filterServerTable":{"k":["v"]}}`,
			addrs:   map[string]map[int64]string{"a": {0: "127.0.0.1:1"}, "b": {0: "127.0.0.1:2"}},
			publish: 3, sub: 2, compat: true,
		},
		{
			name:  "brace and bare-key look-alikes inside strings are left alone",
			body:  `{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:1"},"brokerName":"{0:x, 1:y}","cluster":"c,d:e"}],"queueDatas":[]}`,
			addrs: map[string]map[int64]string{"{0:x, 1:y}": {0: "127.0.0.1:1"}},
			// The Go client's own parse of brokerAddrs is fine here.
			compat: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseTopicRoute("T", []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[int64]string{}
			for _, b := range r.Brokers {
				got[b.Name] = b.Addrs
			}
			if !maps.EqualFunc(got, tc.addrs, func(a, b map[int64]string) bool { return maps.Equal(a, b) }) {
				t.Errorf("addrs %v, want %v", got, tc.addrs)
			}
			if n := len(r.PublishQueues()); n != tc.publish {
				t.Errorf("%d publish queues, want %d", n, tc.publish)
			}
			if n := len(r.SubscribeQueues()); n != tc.sub {
				t.Errorf("%d subscribe queues, want %d", n, tc.sub)
			}
			if r.OrderTopicConf != tc.order {
				t.Errorf("orderTopicConf %q, want %q", r.OrderTopicConf, tc.order)
			}
			if err := CheckGoClientCompat("T", []byte(tc.body)); (err == nil) != tc.compat {
				t.Errorf("CheckGoClientCompat = %v, want compatible=%v", err, tc.compat)
			}
		})
	}
}

func TestParseTopicRouteErrors(t *testing.T) {
	for name, body := range map[string]string{
		"empty":              "",
		"spaces":             "  ",
		"truncated":          `{"brokerDatas":[{"brokerAddrs":{0:"a"`,
		"non-integer id":     `{"brokerDatas":[{"brokerAddrs":{"master":"a"},"brokerName":"b"}]}`,
		"unterminated":       `{"brokerDatas":"abc`,
		"unbalanced":         `{"a":1}}`,
		"bad bare key":       `{"brokerDatas":[{"brokerAddrs":{0:"a",*:"b"},"brokerName":"b"}]}`,
		"non-string address": `{"brokerDatas":[{"brokerAddrs":{0:12},"brokerName":"b"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := ParseTopicRoute("T", []byte(body)); !errors.Is(err, ErrBadRoute) {
				t.Fatalf("got %+v, %v; want ErrBadRoute", r, err)
			}
		})
	}
}

func TestQuoteBareKeysKeepsBytes(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                       `{"a":1}`,
		`{0:"x",1:"y"}`:                 `{"0":"x","1":"y"}`,
		`{ 0 : "x" }`:                   `{ "0" : "x" }`,
		`[{0:"x"},{"s":"{1:\"z\"}"}]`:   `[{"0":"x"},{"s":"{1:\"z\"}"}]`,
		`{"a":[1,2,{-3:"n"}],"b":{}}`:   `{"a":[1,2,{"-3":"n"}],"b":{}}`,
		`{"esc":"\\",7:"q"}`:            `{"esc":"\\","7":"q"}`,
		`{"nested":{"deeper":{9:"9"}}}`: `{"nested":{"deeper":{"9":"9"}}}`,
	} {
		got, err := quoteBareKeys([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("quoteBareKeys(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

func TestRouteQueuesSortedAndEqual(t *testing.T) {
	body := `{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:2"},"brokerName":"b"},{"brokerAddrs":{0:"127.0.0.1:1"},"brokerName":"a"}],` +
		`"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2},{"brokerName":"a","perm":6,"readQueueNums":2,"writeQueueNums":2}]}`
	r, err := ParseTopicRoute("T", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []MessageQueue{{"T", "a", 0}, {"T", "a", 1}, {"T", "b", 0}, {"T", "b", 1}}
	if got := r.PublishQueues(); !slices.Equal(got, want) {
		t.Fatalf("publish %v, want %v", got, want)
	}
	if a, ok := r.MasterAddr("b"); !ok || a != "127.0.0.1:2" {
		t.Fatalf("master of b: %q %v", a, ok)
	}
	// Same route with brokers and queues in another order: equal.
	body2 := `{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:1"},"brokerName":"a"},{"brokerAddrs":{"0":"127.0.0.1:2"},"brokerName":"b"}],` +
		`"queueDatas":[{"brokerName":"a","perm":6,"readQueueNums":2,"writeQueueNums":2},{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2}]}`
	r2, _ := ParseTopicRoute("T", []byte(body2))
	if !r.Equal(r2) {
		t.Fatal("reordered route not Equal")
	}
	// A leader change is a different route.
	r2.Brokers[0].Addrs[0] = "127.0.0.1:9"
	if r.Equal(r2) {
		t.Fatal("changed master still Equal")
	}
}
