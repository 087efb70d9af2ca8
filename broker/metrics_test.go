package broker

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
	"github.com/dledgermq/dledgermq/store"
)

// scrape fetches a broker's /metrics and returns its samples: the metric
// name with its labels as printed ("name{a=\"x\",...}") → value.
func scrape(t *testing.T, b *Broker) map[string]float64 {
	t.Helper()
	addr := b.MetricsAddr()
	if addr == "" {
		t.Fatal("metrics exporter not listening")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sample finds the one sample of name whose labels include all of want.
func sample(t *testing.T, samples map[string]float64, name string, want ...string) (float64, bool) {
	t.Helper()
	var (
		v     float64
		found int
	)
	for k, x := range samples {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			ok = ok && strings.Contains(k, want[i]+`="`+want[i+1]+`"`)
		}
		if ok {
			v, found = x, found+1
		}
	}
	if found > 1 {
		t.Fatalf("%s %v matches %d samples", name, want, found)
	}
	return v, found == 1
}

// TestMetrics: with the Prometheus exporter on, every replica serves its
// Raft state, and the leader counts what it stored and served, times
// requests by code (an unserved code as "other") and reports consumer lag.
func TestMetrics(t *testing.T) {
	g := newGroup(t, func(i int, c *Config) {
		c.MetricsExporterType = MetricsProm
		c.MetricsPromExporterHost = "127.0.0.1"
		c.MetricsPromExporterPort = 0
	})
	l := g.leader()
	cl := g.client(l, nil)
	const topic, body = "MetricsT", "0123456789"
	for range 5 {
		send(t, cl, topic, 0, nil, []byte(body))
	}
	var delayed message.Properties
	delayed.Set(message.PropDelayTimeLevel, "3")
	send(t, cl, topic, 1, delayed, []byte("later"))
	if msgs, _ := pullAll(t, cl, topic, 0, 0); len(msgs) != 5 {
		t.Fatalf("pulled %d messages, want 5", len(msgs))
	}
	st := g.stores[l]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	grp := store.DefaultSubscriptionGroupConfig("cg-metrics")
	if err := st.UpdateSubscriptionGroup(ctx, grp); err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, cl, pullReq("cg-metrics", topic, 0, 3, 32, 0, 0))
	if resp.ResponseCode() != remoting.Success {
		t.Fatalf("pull as cg-metrics: %s", resp.ResponseCode())
	}
	if err := st.CommitOffsets(ctx, []store.OffsetCommit{{Group: "cg-metrics", Topic: topic, QueueID: 0, Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	if resp := invoke(t, cl, remoting.NewRequest(remoting.RequestCode(4242), nil, nil)); resp.ResponseCode() != remoting.RequestCodeNotSupported {
		t.Fatalf("unknown request code: %s", resp.ResponseCode())
	}

	s := scrape(t, g.broker(l))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rocketmq_messages_in_total", []string{"topic", topic, "message_type", "normal", "cluster", "DefaultCluster", "node_id", "broker-a", "node_type", "broker"}, 5},
		{"rocketmq_throughput_in_total", []string{"topic", topic, "message_type", "normal"}, 5 * float64(len(body))},
		{"rocketmq_message_size_count", []string{"topic", topic, "message_type", "normal"}, 5},
		{"rocketmq_message_size_bucket", []string{"topic", topic, "message_type", "normal", "le", "1024"}, 5},
		{"rocketmq_messages_in_total", []string{"topic", topic, "message_type", "delay"}, 1},
		{"rocketmq_messages_out_total", []string{"topic", topic, "consumer_group", "other"}, 5},
		{"rocketmq_messages_out_total", []string{"topic", topic, "consumer_group", "cg-metrics"}, 2},
		{"rocketmq_throughput_out_total", []string{"topic", topic, "consumer_group", "cg-metrics"}, float64(len(resp.Body))},
		{"rocketmq_rpc_latency_count", []string{"request_code", "send_message", "response_code", "success", "protocol_type", "remoting"}, 6},
		{"rocketmq_rpc_latency_count", []string{"request_code", "other", "response_code", "request_code_not_supported"}, 1},
		{"rocketmq_consumer_lag_messages", []string{"topic", topic, "consumer_group", "cg-metrics"}, 3},
		{"dledgermq_raft_leader", []string{"dledger_id", g.peers[l].ID}, 1},
	} {
		got, ok := sample(t, s, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("leader: %s %v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if v, _ := sample(t, s, "rocketmq_storage_size"); v <= 0 {
		t.Errorf("leader: rocketmq_storage_size %v", v)
	}
	commit, _ := sample(t, s, "dledgermq_raft_commit_index")
	if entries, _ := sample(t, s, "dledgermq_commitlog_entries_total"); commit <= 0 || entries <= 0 {
		t.Errorf("leader: commit index %v, commit-log entries %v", commit, entries)
	}
	if _, ok := s["go_goroutines"]; !ok {
		t.Error("leader: no Go runtime metrics")
	}

	// A follower serves its replica state, no lag, and counted no send.
	f := g.follower()
	waitFor(t, 5*time.Second, "the follower to apply the offset commit", func() bool {
		off, ok := g.stores[f].ConsumerOffset("cg-metrics", topic, 0)
		return ok && off == 2
	})
	fs := scrape(t, g.broker(f))
	if v, ok := sample(t, fs, "dledgermq_raft_leader", "dledger_id", g.peers[f].ID); !ok || v != 0 {
		t.Errorf("follower: dledgermq_raft_leader %v (present %v), want 0", v, ok)
	}
	if _, ok := sample(t, fs, "rocketmq_consumer_lag_messages", "consumer_group", "cg-metrics"); ok {
		t.Error("follower reports consumer lag")
	}
	if _, ok := sample(t, fs, "rocketmq_messages_in_total", "topic", topic, "message_type", "normal"); ok {
		t.Error("follower counted messages it did not store as leader")
	}
	if v, ok := sample(t, fs, "dledgermq_raft_term"); !ok || v < 1 {
		t.Errorf("follower: dledgermq_raft_term %v (present %v)", v, ok)
	}
}

func TestMetricsConfig(t *testing.T) {
	for _, c := range []struct {
		conf, want string
		valid      bool
	}{
		{"metricsExporterType=PROM", MetricsProm, true},
		{"metricsExporterType=2", MetricsProm, true},
		{"metricsExporterType=disable", MetricsDisable, true},
		{"metricsExporterType=OTLP_GRPC", "OTLP_GRPC", false},
		{"metricsExporterType=3", "LOG", false},
	} {
		cfg, _, err := LoadProperties(strings.NewReader(c.conf + "\nmetricsPromExporterPort=15557\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.conf, err)
		}
		if cfg.MetricsExporterType != c.want || cfg.MetricsPromExporterPort != 15557 {
			t.Errorf("%s: type %q port %d", c.conf, cfg.MetricsExporterType, cfg.MetricsPromExporterPort)
		}
		if err := cfg.Validate(); (err == nil) != c.valid {
			t.Errorf("%s: Validate() = %v, want valid %v", c.conf, err, c.valid)
		}
	}
	if _, _, err := LoadProperties(strings.NewReader("metricsExporterType=STATSD\n")); err == nil {
		t.Error("metricsExporterType=STATSD accepted")
	}
	if cfg := DefaultConfig(); cfg.MetricsExporterType != MetricsDisable || cfg.MetricsPromExporterPort != 5557 {
		t.Errorf("defaults: %q %d", cfg.MetricsExporterType, cfg.MetricsPromExporterPort)
	}
}

// BenchmarkMetricsPerSend is what counting adds to one send of one 1 KiB
// message: the stored counters and the request timing.
func BenchmarkMetricsPerSend(b *testing.B) {
	m := newMetrics(&Broker{cfg: DefaultConfig()})
	mux := remoting.NewServeMux()
	mux.HandleFunc(remoting.SendMessageV2, func(context.Context, *remoting.Conn, *remoting.Command) *remoting.Command {
		return &remoting.Command{Code: int32(remoting.Success)}
	})
	h := m.instrument(mux)
	msgs := []*message.MessageExt{{Message: message.Message{Topic: "BenchTopic", Body: make([]byte, 1024)}}}
	req := remoting.NewRequest(remoting.SendMessageV2, nil, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.ServeRemoting(context.Background(), nil, req)
			m.stored(msgs)
		}
	})
}
