package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Metrics.
//
// With metricsExporterType=PROM (RocketMQ 5's key; DISABLE by default) the
// broker serves the Prometheus text format at
// http://metricsPromExporterHost:metricsPromExporterPort/metrics (default
// port 5557; host default brokerIP1). Where a metric has a counterpart in
// RocketMQ 5.1's broker metrics it has that name, unit and labels, so
// dashboards built for RocketMQ read it; every series carries cluster,
// node_type="broker" and node_id (the broker name), plus dledger_id (the
// replica's Raft id: the three replicas of a group share a broker name).
//
//	rocketmq_messages_in_total, rocketmq_throughput_in_total (bytes),
//	rocketmq_message_size (bytes)             topic, message_type
//	    messages stored by this node as leader; message_type is normal,
//	    delay or transaction (half messages); topic is the producer's topic
//	    for delayed and half messages
//	rocketmq_messages_out_total, rocketmq_throughput_out_total (bytes)
//	                                          topic, consumer_group
//	    messages this node returned to PULL requests
//	rocketmq_rpc_latency (ms)                 protocol_type, request_code, response_code
//	    time from a request's decoding to its response (a held pull
//	    included); codes by RocketMQ's names, lower case; a request code
//	    the broker does not serve counts as "other", so clients cannot
//	    create series at will
//	rocketmq_consumer_lag_messages            topic, consumer_group
//	    on the leader only (the replica consumers read from): messages
//	    between a group's committed offsets and the queues' ends
//	rocketmq_storage_size (bytes)             the commit log this replica holds
//
// and the Raft group's own state, on every replica: dledgermq_raft_leader
// (1 on the leader), dledgermq_raft_term, dledgermq_raft_commit_index,
// dledgermq_raft_applied_index, dledgermq_raft_last_index, and the commit
// log's write path: dledgermq_commitlog_appends_total,
// dledgermq_commitlog_entries_total, dledgermq_commitlog_written_bytes_total,
// dledgermq_commitlog_syncs_total, dledgermq_commitlog_sync_seconds_total.
// Go runtime and process metrics come with them.
//
// Counting costs a label lookup per request (a send's messages are counted
// together); the consumer lag and the Raft state are read when Prometheus
// scrapes.

// Exporter types (metricsExporterType).
const (
	MetricsDisable = "DISABLE"
	MetricsProm    = "PROM"
)

// RocketMQ 5's message size buckets (1 KiB ... 4 MiB) and RPC latency
// buckets (ms).
var (
	messageSizeBuckets = []float64{1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}
	rpcLatencyBuckets  = []float64{1, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 3000, 10000, 30000}
)

type metrics struct {
	reg                        *prometheus.Registry
	messagesIn, throughputIn   *prometheus.CounterVec
	messageSize                *prometheus.HistogramVec
	messagesOut, throughputOut *prometheus.CounterVec
	rpcLatency                 *prometheus.HistogramVec
	inCache                    sync.Map // [2]string{topic, message_type} -> *inSeries
	outCache                   sync.Map // [2]string{topic, consumer_group} -> *outSeries
	// putTotal and getTotal count messages stored (as leader) and returned
	// to pulls, for the runtime table (runtime_info.go).
	putTotal, getTotal atomic.Int64
}

func newMetrics(b *Broker) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	r := prometheus.WrapRegistererWith(prometheus.Labels{
		"cluster": b.cfg.BrokerClusterName, "node_type": "broker",
		"node_id": b.cfg.BrokerName, "dledger_id": b.cfg.DLedgerSelfID,
	}, m.reg)
	m.messagesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rocketmq_messages_in_total", Help: "Messages stored (as leader)."}, []string{"topic", "message_type"})
	m.throughputIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rocketmq_throughput_in_total", Help: "Body bytes of the messages stored (as leader)."}, []string{"topic", "message_type"})
	m.messageSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rocketmq_message_size", Help: "Body size of the messages stored (as leader), bytes.",
		Buckets: messageSizeBuckets}, []string{"topic", "message_type"})
	m.messagesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rocketmq_messages_out_total", Help: "Messages returned to pulls."}, []string{"topic", "consumer_group"})
	m.throughputOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rocketmq_throughput_out_total", Help: "Stored bytes returned to pulls."}, []string{"topic", "consumer_group"})
	m.rpcLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rocketmq_rpc_latency", Help: "Time from a request to its response, ms.",
		Buckets: rpcLatencyBuckets}, []string{"protocol_type", "request_code", "response_code"})
	r.MustRegister(m.messagesIn, m.throughputIn, m.messageSize, m.messagesOut, m.throughputOut, m.rpcLatency,
		&scrapeCollector{b: b})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// inSeries are the stored-message series of one (topic, message type).
type inSeries struct {
	messages, bytes prometheus.Counter
	sizes           prometheus.Observer
}

// outSeries are the pulled-message series of one (topic, consumer group).
type outSeries struct{ messages, bytes prometheus.Counter }

// cached returns what cache holds under k, made by mk the first time: a
// label lookup once per series instead of once per request.
func cached[K comparable, V any](cache *sync.Map, k K, mk func() V) V {
	if v, ok := cache.Load(k); ok {
		return v.(V)
	}
	v, _ := cache.LoadOrStore(k, mk())
	return v.(V)
}

// in returns the series of (topic, typ).
func (m *metrics) in(topic, typ string) *inSeries {
	return cached(&m.inCache, [2]string{topic, typ}, func() *inSeries {
		return &inSeries{
			messages: m.messagesIn.WithLabelValues(topic, typ),
			bytes:    m.throughputIn.WithLabelValues(topic, typ),
			sizes:    m.messageSize.WithLabelValues(topic, typ),
		}
	})
}

// stored counts the messages of one successful send.
func (m *metrics) stored(msgs []*message.MessageExt) {
	m.putTotal.Add(int64(len(msgs)))
	var (
		series   *inSeries
		key      [2]string
		n, bytes float64
	)
	flush := func() {
		if n > 0 {
			series.messages.Add(n)
			series.bytes.Add(bytes)
		}
	}
	for _, msg := range msgs {
		k := [2]string{msg.Topic, "normal"}
		switch msg.Topic {
		case ScheduleTopic:
			k = [2]string{msg.Properties.Get(message.PropRealTopic), "delay"}
		case TransHalfTopic:
			k = [2]string{msg.Properties.Get(message.PropRealTopic), "transaction"}
		}
		if series == nil || k != key {
			flush()
			series, key, n, bytes = m.in(k[0], k[1]), k, 0, 0
		}
		n++
		bytes += float64(len(msg.Body))
		series.sizes.Observe(float64(len(msg.Body)))
	}
	flush()
}

// pulled counts the messages of one PULL response.
func (m *metrics) pulled(topic, group string, count, bytes int) {
	if count == 0 {
		return
	}
	m.getTotal.Add(int64(count))
	out := cached(&m.outCache, [2]string{topic, group}, func() *outSeries {
		return &outSeries{m.messagesOut.WithLabelValues(topic, group), m.throughputOut.WithLabelValues(topic, group)}
	})
	out.messages.Add(float64(count))
	out.bytes.Add(float64(bytes))
}

// instrument times every request mux answers. A request code mux does not
// serve is labelled "other", so that clients cannot create series.
func (m *metrics) instrument(mux *remoting.ServeMux) remoting.Handler {
	type codes struct{ req, resp int32 }
	var observers sync.Map // codes -> prometheus.Observer: no label work per request
	return remoting.HandlerFunc(func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		start := time.Now()
		resp := mux.ServeRemoting(ctx, c, req)
		if resp == nil {
			return nil
		}
		k := codes{req.Code, resp.Code}
		if !mux.Handles(req.RequestCode()) {
			k.req = -1
		}
		o := cached(&observers, k, func() prometheus.Observer {
			code := "other"
			if k.req >= 0 {
				code = strings.ToLower(req.RequestCode().String())
			}
			return m.rpcLatency.WithLabelValues("remoting", code, strings.ToLower(remoting.ResponseCode(resp.Code).String()))
		})
		o.Observe(float64(time.Since(start).Microseconds()) / 1000)
		return resp
	})
}

// scrapeCollector reads the state that is cheaper to look up at a scrape
// than to track: consumer lag, storage size, Raft state, commit-log counters.
type scrapeCollector struct{ b *Broker }

var (
	descLag = prometheus.NewDesc("rocketmq_consumer_lag_messages",
		"Messages between a consumer group's committed offsets and the ends of a topic's queues (leader only).",
		[]string{"topic", "consumer_group"}, nil)
	descStorage   = prometheus.NewDesc("rocketmq_storage_size", "Bytes of commit log this replica holds.", nil, nil)
	descLeader    = prometheus.NewDesc("dledgermq_raft_leader", "1 while this replica is the group's Raft leader.", nil, nil)
	descTerm      = prometheus.NewDesc("dledgermq_raft_term", "Current Raft term.", nil, nil)
	descCommit    = prometheus.NewDesc("dledgermq_raft_commit_index", "Raft commit index.", nil, nil)
	descApplied   = prometheus.NewDesc("dledgermq_raft_applied_index", "Last Raft index applied to the store.", nil, nil)
	descLast      = prometheus.NewDesc("dledgermq_raft_last_index", "Last Raft index in this replica's log.", nil, nil)
	descAppends   = prometheus.NewDesc("dledgermq_commitlog_appends_total", "Batches of Raft entries appended to the commit log.", nil, nil)
	descEntries   = prometheus.NewDesc("dledgermq_commitlog_entries_total", "Raft entries appended to the commit log.", nil, nil)
	descWritten   = prometheus.NewDesc("dledgermq_commitlog_written_bytes_total", "Record bytes appended to the commit log.", nil, nil)
	descSyncs     = prometheus.NewDesc("dledgermq_commitlog_syncs_total", "Commit-log syncs of deferred batches (each covers every batch written before it started).", nil, nil)
	descSyncTime  = prometheus.NewDesc("dledgermq_commitlog_sync_seconds_total", "Time spent in those syncs.", nil, nil)
	scrapeMetrics = []*prometheus.Desc{descLag, descStorage, descLeader, descTerm, descCommit, descApplied, descLast,
		descAppends, descEntries, descWritten, descSyncs, descSyncTime}
)

func (sc *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range scrapeMetrics {
		ch <- d
	}
}

func (sc *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	b := sc.b
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if b.store.LeaderReady() {
		type key struct{ topic, group string }
		lag := map[key]int64{}
		for _, o := range b.store.AllConsumerOffsets() {
			if _, ok := b.store.Topic(o.Topic); !ok {
				continue // offsets of a deleted topic are kept
			}
			k := key{o.Topic, o.Group}
			lag[k] += max(0, b.store.MaxOffset(o.Topic, o.QueueID)-o.Offset)
		}
		for k, v := range lag {
			gauge(descLag, float64(v), k.topic, k.group)
		}
	}
	start, end := b.store.CommitLogBounds()
	gauge(descStorage, float64(end-start))
	n := b.store.Node()
	if n == nil {
		return
	}
	leader := 0.0
	if n.IsLeader() {
		leader = 1
	}
	gauge(descLeader, leader)
	gauge(descTerm, float64(n.Term()))
	gauge(descCommit, float64(n.CommitIndex()))
	gauge(descApplied, float64(n.FSMIndex()))
	gauge(descLast, float64(n.LastIndex()))
	if ls := n.LogStore(); ls != nil {
		st := ls.Stats()
		counter(descAppends, float64(st.Appends))
		counter(descEntries, float64(st.Entries))
		counter(descWritten, float64(st.Bytes))
		counter(descSyncs, float64(st.Syncs))
		counter(descSyncTime, st.SyncTime.Seconds())
	}
}

// metricsServer serves /metrics while the broker runs.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// startMetrics listens on the configured exporter address (nil when the
// exporter is off).
func (b *Broker) startMetrics() (*metricsServer, error) {
	if b.cfg.MetricsExporterType != MetricsProm {
		return nil, nil
	}
	host := b.cfg.MetricsPromExporterHost
	if host == "" {
		host = b.addr.Addr().String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(b.cfg.MetricsPromExporterPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: metrics exporter: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}))
	s := &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	b.goRun(func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("broker: metrics exporter", "err", err)
		}
	})
	b.log.Info("broker: metrics exporter", "url", "http://"+ln.Addr().String()+"/metrics")
	return s, nil
}

func (s *metricsServer) close() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// MetricsAddr is the metrics exporter's address ("" when it is off or the
// broker has not started).
func (b *Broker) MetricsAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.metricsSrv == nil {
		return ""
	}
	return b.metricsSrv.ln.Addr().String()
}

// groupLabel is a consumer group's name for the metrics when the group
// exists (a pull names any group it likes), "other" otherwise.
func (b *Broker) groupLabel(group string) string {
	if _, ok := b.store.SubscriptionGroup(group); ok {
		return group
	}
	return "other"
}
