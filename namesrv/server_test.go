package namesrv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

const (
	a0 = "127.0.0.1:10911"
	a1 = "127.0.0.1:10921"
	a2 = "127.0.0.1:10931"
	b0 = "127.0.0.1:20911"
)

func TestRegisterRouteUnregister(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	ctx := ctxT(t)

	res := mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	if res.MasterAddr != "" {
		t.Fatalf("master registration answered masterAddr %q", res.MasterAddr)
	}
	res = mustRegister(t, c, reg("broker-a", a1, 1, 0, 1, "T"))
	if res.MasterAddr != a0 || res.HAServerAddr != "ha-"+a0 {
		t.Fatalf("follower registration answered %+v, want the master's addresses", res)
	}
	rd, err := GetRouteInfo(ctx, c, "T")
	if err != nil {
		t.Fatal(err)
	}
	want := &TopicRouteData{
		QueueDatas:        []QueueData{{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}},
		BrokerDatas:       []BrokerData{{Cluster: "DefaultCluster", BrokerName: "broker-a", BrokerAddrs: map[int64]string{0: a0, 1: a1}}},
		FilterServerTable: map[string][]string{},
	}
	if got, w := mustJSON(t, rd), mustJSON(t, want); got != w {
		t.Fatalf("route\n got %s\nwant %s", got, w)
	}

	if err := UnregisterBroker(ctx, c, "DefaultCluster", "broker-a", a1, 1); err != nil {
		t.Fatal(err)
	}
	if got := routeAddrs(t, c, "T"); !maps.Equal(got["broker-a"], map[int64]string{0: a0}) {
		t.Fatalf("after unregistering the follower: %v", got)
	}
	if err := UnregisterBroker(ctx, c, "DefaultCluster", "broker-a", a0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := GetRouteInfo(ctx, c, "T"); !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("after unregistering the master: %v, want ErrTopicNotExist", err)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUnknownTopicIs17AndUnknownCodeIs3(t *testing.T) {
	_, addr := startNamesrv(t, func(c *Config) { c.SynthesizeTBW102 = false })
	c := newRemotingClient(t, addr)
	resp := rawRoute(t, c, "nope")
	if resp.ResponseCode() != remoting.TopicNotExist || len(resp.Body) != 0 {
		t.Fatalf("unknown topic: %v", resp)
	}
	if resp := rawRoute(t, c, AutoCreateTopicKey); resp.ResponseCode() != remoting.TopicNotExist {
		t.Fatalf("TBW102 with no broker: %v", resp)
	}
	for _, code := range []remoting.RequestCode{remoting.SendMessage, remoting.HeartBeat, 9999} {
		resp, err := c.Invoke(ctxT(t), remoting.NewRequest(code, nil, nil))
		if err != nil || resp.ResponseCode() != remoting.RequestCodeNotSupported {
			t.Fatalf("code %v: %v %v", code, resp, err)
		}
	}
	resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.GetRouteInfoByTopic, nil, nil))
	if err != nil || resp.ResponseCode() != remoting.SystemError {
		t.Fatalf("105 without a topic: %v %v", resp, err)
	}
}

func TestRouteJSONAsTheGoClientParsesIt(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c, reg("broker-a", a1, 1, 0, 1, "T"))
	mustRegister(t, c, reg("broker-b", b0, 0, 0, 1, "T"))
	resp := rawRoute(t, c, "T")
	if resp.ResponseCode() != remoting.Success {
		t.Fatal(resp)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, resp.Body); err != nil || !bytes.Equal(compact.Bytes(), resp.Body) {
		t.Fatalf("route body is not compact JSON (%v): %s", err, resp.Body)
	}
	if !bytes.Contains(resp.Body, []byte(`"brokerAddrs":{"0":"`+a0+`","1":"`+a1+`"}`)) {
		t.Fatalf("brokerAddrs not as expected: %s", resp.Body)
	}
	queues, brokers := goClientRoute(t, resp.Body)
	wantBrokers := map[string]map[int64]string{"broker-a": {0: a0, 1: a1}, "broker-b": {0: b0}}
	if len(brokers) != 2 || !maps.Equal(brokers["broker-a"], wantBrokers["broker-a"]) || !maps.Equal(brokers["broker-b"], wantBrokers["broker-b"]) {
		t.Fatalf("Go-client parse of brokerAddrs: %v", brokers)
	}
	for _, m := range brokers {
		for _, a := range m {
			if strings.ContainsAny(a, " \"") {
				t.Fatalf("address %q would not dial", a)
			}
		}
	}
	if len(queues) != 2 || queues[0] != (goQueueData{BrokerName: "broker-a", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}) ||
		queues[1].BrokerName != "broker-b" {
		t.Fatalf("Go-client parse of queueDatas: %+v", queues)
	}
	// A BrokerData without addresses still carries brokerAddrs.
	if got := mustJSON(t, BrokerData{BrokerName: "x"}); !strings.Contains(got, `"brokerAddrs":{}`) {
		t.Fatalf("empty BrokerData: %s", got)
	}
}

func TestRegistrationExpires(t *testing.T) {
	_, addr := startNamesrv(t, func(c *Config) {
		c.BrokerExpiry = 300 * time.Millisecond
		c.ScanInterval = 20 * time.Millisecond
	})
	c := newRemotingClient(t, addr)
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c, reg("broker-b", b0, 0, 0, 1, "T"))
	// broker-a keeps renewing; broker-b stops.
	for end := time.Now().Add(900 * time.Millisecond); time.Now().Before(end); time.Sleep(60 * time.Millisecond) {
		mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	}
	got := routeAddrs(t, c, "T")
	if got["broker-a"][0] != a0 || got["broker-b"] != nil {
		t.Fatalf("after 900 ms: %v, want broker-a only", got)
	}
	waitFor(t, "broker-a to expire", func() bool { return routeAddrs(t, c, "T") == nil })
}

func TestConnectionCloseRemovesItsRegistrations(t *testing.T) {
	s, addr := startNamesrv(t, nil)
	c1 := newRemotingClient(t, addr)
	c2 := newRemotingClient(t, addr)
	mustRegister(t, c1, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c1, reg("broker-b", b0, 0, 0, 1, "T"))
	// broker-b reconnects and registers over c2: c1's close must not drop it.
	mustRegister(t, c2, reg("broker-b", b0, 0, 0, 1, "T"))
	if got := routeAddrs(t, c2, "T"); len(got) != 2 {
		t.Fatalf("route %v", got)
	}
	_ = c1.Close()
	waitFor(t, "broker-a to go with its connection", func() bool {
		got := routeAddrs(t, c2, "T")
		return got["broker-a"] == nil && got["broker-b"][0] == b0
	})
	if rd, ok := s.Route("T"); !ok || len(rd.BrokerDatas) != 1 {
		t.Fatalf("Route: %+v %v", rd, ok)
	}
}

func TestLeaderChangeWithTerms(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	ctx := ctxT(t)

	// Term 5: a0 leads, a1 and a2 follow.
	mustRegister(t, c, reg("broker-a", a0, 0, 5, 1, "T"))
	mustRegister(t, c, reg("broker-a", a1, 1, 5, 1, "T"))
	mustRegister(t, c, reg("broker-a", a2, 2, 5, 1, "T"))
	if got := routeAddrs(t, c, "T")["broker-a"]; !maps.Equal(got, map[int64]string{0: a0, 1: a1, 2: a2}) {
		t.Fatalf("term 5: %v", got)
	}

	// Term 6: a1 wins the election and registers first; it leaves id 1.
	res := mustRegister(t, c, reg("broker-a", a1, 0, 6, 2, "T", "T2"))
	if res.Term != 6 {
		t.Fatalf("term in the answer: %d", res.Term)
	}
	if got := routeAddrs(t, c, "T")["broker-a"]; !maps.Equal(got, map[int64]string{0: a1, 2: a2}) {
		t.Fatalf("after the new leader registered: %v", got)
	}
	if got := routeAddrs(t, c, "T2")["broker-a"]; got[0] != a1 {
		t.Fatalf("the new master's topic table was not applied: %v", got)
	}

	// The deposed leader, not yet aware, renews its master registration.
	res, err := RegisterBroker(ctx, c, reg("broker-a", a0, 0, 5, 1, "T"))
	if !errors.Is(err, ErrStaleTerm) || res.MasterAddr != a1 || res.Term != 6 {
		t.Fatalf("stale registration: %+v %v, want ErrStaleTerm naming %s, term 6", res, err, a1)
	}
	if got := routeAddrs(t, c, "T")["broker-a"]; !maps.Equal(got, map[int64]string{0: a1, 2: a2}) {
		t.Fatalf("a stale registration changed the route: %v", got)
	}
	if got := routeAddrs(t, c, "T2")["broker-a"]; got[0] != a1 {
		t.Fatalf("a stale registration changed the topic table: %v", got)
	}

	// It learns of term 6 and comes back as a follower.
	res = mustRegister(t, c, reg("broker-a", a0, 1, 6, 2, "T", "T2"))
	if res.MasterAddr != a1 || res.HAServerAddr != "ha-"+a1 {
		t.Fatalf("follower answer %+v", res)
	}
	if got := routeAddrs(t, c, "T")["broker-a"]; !maps.Equal(got, map[int64]string{0: a1, 1: a0, 2: a2}) {
		t.Fatalf("after the old leader re-registered as follower: %v", got)
	}

	// A late unregister from the deposed master for id 0 removes nothing.
	if err := UnregisterBroker(ctx, c, "DefaultCluster", "broker-a", a0, 0); err != nil {
		t.Fatal(err)
	}
	if got := routeAddrs(t, c, "T")["broker-a"]; got[0] != a1 || got[1] != a0 {
		t.Fatalf("a late unregister removed the new master: %v", got)
	}

	// Same term from the same leader renews; a higher term from a2 takes over.
	mustRegister(t, c, reg("broker-a", a1, 0, 6, 2, "T", "T2"))
	mustRegister(t, c, reg("broker-a", a2, 0, 9, 2, "T", "T2"))
	if got := routeAddrs(t, c, "T")["broker-a"]; !maps.Equal(got, map[int64]string{0: a2, 1: a0}) {
		t.Fatalf("term 9: %v", got)
	}
	// A registration without a term is accepted (RocketMQ semantics) but
	// does not lower the recorded term.
	mustRegister(t, c, reg("broker-a", a1, 0, 0, 2, "T", "T2"))
	if _, err := RegisterBroker(ctx, c, reg("broker-a", a0, 0, 8, 2, "T")); !errors.Is(err, ErrStaleTerm) {
		t.Fatalf("term 8 after term 9: %v", err)
	}
}

func TestMasterTopicTableIsAuthoritative(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	ctx := ctxT(t)
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T1", "T2"))
	mustRegister(t, c, reg("broker-a", a1, 1, 0, 1, "T1", "T2", "T3")) // followers' tables are ignored
	if got, _ := GetAllTopics(ctx, c); !slices.Equal(got, []string{"T1", "T2"}) {
		t.Fatalf("topics %v", got)
	}
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 2, "T1"))
	if got, _ := GetAllTopics(ctx, c); !slices.Equal(got, []string{"T1"}) {
		t.Fatalf("after the master dropped T2: %v", got)
	}

	// DELETE_TOPIC_IN_NAMESRV sticks until the broker's table changes.
	if err := DeleteTopic(ctx, c, "T1"); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 2, "T1"))
	if _, err := GetRouteInfo(ctx, c, "T1"); !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("deleted topic came back without a table change: %v", err)
	}
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 3, "T1"))
	if _, err := GetRouteInfo(ctx, c, "T1"); err != nil {
		t.Fatalf("topic not back after a table change: %v", err)
	}
}

func TestTBW102(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	ctx := ctxT(t)
	if _, err := GetRouteInfo(ctx, c, AutoCreateTopicKey); !errors.Is(err, ErrTopicNotExist) {
		t.Fatalf("TBW102 without brokers: %v", err)
	}
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c, reg("broker-b", b0, 1, 0, 1, "T")) // no master: cannot take sends
	rd, err := GetRouteInfo(ctx, c, AutoCreateTopicKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(rd.QueueDatas) != 1 || rd.QueueDatas[0] != (QueueData{BrokerName: "broker-a", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 7}) ||
		len(rd.BrokerDatas) != 1 || rd.BrokerDatas[0].BrokerAddrs[0] != a0 {
		t.Fatalf("synthesized TBW102: %+v", rd)
	}
	if got, _ := GetAllTopics(ctx, c); slices.Contains(got, AutoCreateTopicKey) {
		t.Fatalf("a synthesized TBW102 is listed as a topic: %v", got)
	}

	// A broker that registers TBW102 itself is served as registered.
	r := reg("broker-a", a0, 0, 0, 2, "T")
	r.Topics[AutoCreateTopicKey] = TopicConfig{TopicName: AutoCreateTopicKey, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 7}
	mustRegister(t, c, r)
	rd, err = GetRouteInfo(ctx, c, AutoCreateTopicKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(rd.QueueDatas) != 1 || rd.QueueDatas[0].WriteQueueNums != 4 || rd.QueueDatas[0].Perm != 7 {
		t.Fatalf("registered TBW102: %+v", rd)
	}
}

func TestClusterInfo(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c, reg("broker-a", a1, 1, 0, 1, "T"))
	mustRegister(t, c, reg("broker-b", b0, 0, 0, 1, "T"))
	r := reg("broker-c", "127.0.0.1:30911", 0, 0, 1)
	r.ClusterName = "Other"
	mustRegister(t, c, r)

	resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	if err != nil || resp.ResponseCode() != remoting.Success {
		t.Fatalf("%v %v", resp, err)
	}
	want := `{"brokerAddrTable":{` +
		`"broker-a":{"cluster":"DefaultCluster","brokerName":"broker-a","brokerAddrs":{"0":"` + a0 + `","1":"` + a1 + `"}},` +
		`"broker-b":{"cluster":"DefaultCluster","brokerName":"broker-b","brokerAddrs":{"0":"` + b0 + `"}},` +
		`"broker-c":{"cluster":"Other","brokerName":"broker-c","brokerAddrs":{"0":"127.0.0.1:30911"}}},` +
		`"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"],"Other":["broker-c"]}}`
	if string(resp.Body) != want {
		t.Fatalf("cluster info\n got %s\nwant %s", resp.Body, want)
	}
	ci, err := GetClusterInfo(ctxT(t), c)
	if err != nil || len(ci.BrokerAddrTable) != 3 {
		t.Fatalf("%+v %v", ci, err)
	}

	// A group moving to another cluster leaves its old one.
	r = reg("broker-b", b0, 0, 0, 1, "T")
	r.ClusterName = "Other"
	mustRegister(t, c, r)
	ci, _ = GetClusterInfo(ctxT(t), c)
	if !slices.Equal(ci.ClusterAddrTable["DefaultCluster"], []string{"broker-a"}) ||
		!slices.Equal(ci.ClusterAddrTable["Other"], []string{"broker-b", "broker-c"}) {
		t.Fatalf("after the move: %v", ci.ClusterAddrTable)
	}
}

func TestTopicListAndDelete(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	mustRegister(t, c, reg("broker-a", a0, 0, 0, 1, "T2", "T1"))
	resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(resp.Body), `{"topicList":["T1","T2"],"brokerAddr":null}`; got != want {
		t.Fatalf("206 body %s, want %s", got, want)
	}
	resp, err = c.Invoke(ctxT(t), remoting.NewRequest(remoting.DeleteTopicInNamesrv, map[string]string{"topic": "T1"}, nil))
	if err != nil || resp.ResponseCode() != remoting.Success {
		t.Fatalf("216: %v %v", resp, err)
	}
	if got, _ := GetAllTopics(ctxT(t), c); !slices.Equal(got, []string{"T2"}) {
		t.Fatalf("after delete: %v", got)
	}
	if resp := rawRoute(t, c, "T1"); resp.ResponseCode() != remoting.TopicNotExist {
		t.Fatalf("deleted topic route: %v", resp)
	}
}

func TestBadRegistrationsRefused(t *testing.T) {
	_, addr := startNamesrv(t, nil)
	c := newRemotingClient(t, addr)
	good := func() map[string]string {
		return map[string]string{"clusterName": "c", "brokerName": "b", "brokerAddr": a0, "brokerId": "0"}
	}
	body := []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"topicName":"T","readQueueNums":4,"writeQueueNums":4,"perm":6}},"dataVersion":{"timestamp":1,"counter":1}},"filterServerList":[]}`)
	for name, tc := range map[string]struct {
		mod  func(map[string]string)
		body []byte
	}{
		"no brokerName":      {func(m map[string]string) { delete(m, "brokerName") }, nil},
		"no port":            {func(m map[string]string) { m["brokerAddr"] = "127.0.0.1" }, nil},
		"comma in addr":      {func(m map[string]string) { m["brokerAddr"] = "127.0.0.1:1,2" }, nil},
		"space in addr":      {func(m map[string]string) { m["brokerAddr"] = " 127.0.0.1:10911" }, nil},
		"bad brokerId":       {func(m map[string]string) { m["brokerId"] = "x" }, nil},
		"negative brokerId":  {func(m map[string]string) { m["brokerId"] = "-1" }, nil},
		"bad term":           {func(m map[string]string) { m["dledgerTerm"] = "soon" }, nil},
		"crc mismatch":       {func(m map[string]string) { m["bodyCrc32"] = "12345" }, body},
		"compressed":         {func(m map[string]string) { m["compressed"] = "true" }, body},
		"undecodable body":   {func(m map[string]string) {}, []byte("{")},
		"negative queue num": {func(m map[string]string) {}, bytes.Replace(body, []byte(`"readQueueNums":4`), []byte(`"readQueueNums":-4`), 1)},
	} {
		ext := good()
		tc.mod(ext)
		resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.RegisterBroker, ext, tc.body))
		if err != nil || resp.ResponseCode() != remoting.SystemError {
			t.Errorf("%s: %v %v, want SYSTEM_ERROR", name, resp, err)
		}
	}
	if got, _ := GetAllTopics(ctxT(t), c); len(got) != 0 {
		t.Fatalf("refused registrations left topics: %v", got)
	}
	// The right CRC (Java's: IEEE with the sign bit cleared) is accepted.
	ext := good()
	ext["bodyCrc32"] = fmt.Sprint(BodyCRC32(body))
	resp, err := c.Invoke(ctxT(t), remoting.NewRequest(remoting.RegisterBroker, ext, body))
	if err != nil || resp.ResponseCode() != remoting.Success {
		t.Fatalf("good registration: %v %v", resp, err)
	}
	if _, ok := resp.ExtFields["masterAddr"]; !ok {
		t.Fatal("no masterAddr extField")
	}
	if _, ok := resp.ExtFields["haServerAddr"]; !ok {
		t.Fatal("no haServerAddr extField")
	}
}

func TestConcurrentRegistrations(t *testing.T) {
	_, addr := startNamesrv(t, func(c *Config) {
		c.BrokerExpiry = time.Minute
		c.ScanInterval = 5 * time.Millisecond // the expiry scan runs alongside
	})
	const groups, nodes, rounds = 6, 3, 30
	var wg sync.WaitGroup
	for g := range groups {
		for n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newRemotingClient(t, addr)
				name := fmt.Sprintf("broker-%d", g)
				nodeAddr := fmt.Sprintf("127.0.0.%d:%d", n+1, 10000+g)
				for r := range rounds {
					// Leadership rotates every round; node n leads rounds r%nodes == n.
					id, term := int64(n+1), int64(r)
					if r%nodes == n {
						id = 0
					}
					_, err := RegisterBroker(ctxT(t), c, reg(name, nodeAddr, id, term, int64(r), "T", fmt.Sprintf("T-%d", g)))
					if err != nil && !errors.Is(err, ErrStaleTerm) {
						t.Error(err)
						return
					}
					if _, err := GetRouteInfo(ctxT(t), c, "T"); err != nil && !errors.Is(err, ErrTopicNotExist) {
						t.Error(err)
						return
					}
					if _, err := GetClusterInfo(ctxT(t), c); err != nil {
						t.Error(err)
						return
					}
				}
				// Settle: every node re-registers as a follower of the last round,
				// the last round's leader as master.
				id := int64(n + 1)
				if (rounds-1)%nodes == n {
					id = 0
				}
				mustRegister(t, c, reg(name, nodeAddr, id, rounds-1, rounds, "T", fmt.Sprintf("T-%d", g)))
			}()
		}
	}
	wg.Wait()
	c := newRemotingClient(t, addr)
	rd, err := GetRouteInfo(ctxT(t), c, "T")
	if err != nil {
		t.Fatal(err)
	}
	if len(rd.BrokerDatas) != groups || len(rd.QueueDatas) != groups {
		t.Fatalf("route of T has %d groups, want %d", len(rd.BrokerDatas), groups)
	}
	leader := (rounds - 1) % nodes
	for _, bd := range rd.BrokerDatas {
		var g int
		fmt.Sscanf(bd.BrokerName, "broker-%d", &g)
		if want := fmt.Sprintf("127.0.0.%d:%d", leader+1, 10000+g); bd.BrokerAddrs[0] != want || len(bd.BrokerAddrs) != nodes {
			t.Errorf("%s: %v, want master %s and %d nodes", bd.BrokerName, bd.BrokerAddrs, want, nodes)
		}
	}
}

func TestIndependentNameServers(t *testing.T) {
	s1, addr1 := startNamesrv(t, nil)
	_, addr2 := startNamesrv(t, nil)
	c1, c2 := newRemotingClient(t, addr1), newRemotingClient(t, addr2)
	mustRegister(t, c1, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c2, reg("broker-a", a0, 0, 0, 1, "T"))
	mustRegister(t, c2, reg("broker-b", b0, 0, 0, 1, "T"))
	if got := routeAddrs(t, c1, "T"); len(got) != 1 {
		t.Fatalf("namesrv 1 sees %v", got)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := routeAddrs(t, c2, "T"); len(got) != 2 {
		t.Fatalf("namesrv 2 after namesrv 1 closed: %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{BrokerExpiry: -1, ScanInterval: time.Hour, AutoCreateQueueNums: 0}
	err := bad.Validate()
	for _, f := range []string{"ListenAddr", "BrokerExpiry", "ScanInterval", "AutoCreateQueueNums", "Logger", "Now", "MaxFrame"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error does not mention %s: %v", f, err)
		}
	}
	if _, err := New(bad); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}

func TestListenAndServe(t *testing.T) {
	cfg := testConfig()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe() }()
	waitFor(t, "the listener", func() bool { return s.Addr() != nil })
	c := newRemotingClient(t, s.Addr().String())
	if _, err := GetAllTopics(ctxT(t), c); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := <-done; !errors.Is(err, remoting.ErrServerClosed) {
		t.Fatalf("ListenAndServe: %v", err)
	}
}
