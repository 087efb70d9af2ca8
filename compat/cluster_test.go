package compat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/dledgermq/dledgermq/namesrv"
	"github.com/dledgermq/dledgermq/remoting"
)

const (
	brokerName  = "broker-a"
	clusterName = "DefaultCluster"
	// segmentSize keeps the preallocated commit-log segments small (64 MiB).
	segmentSize = 64 << 20
)

// clusterOptions shape one test cluster.
type clusterOptions struct {
	// electionTimeout is passed as --election-timeout when non-zero.
	electionTimeout time.Duration
	// conf lines (RocketMQ property names, broker/properties.go) go to a
	// broker.conf passed with -c to every broker.
	conf map[string]string
	// vip gives the group a group address (brokerVIP, a free loopback
	// port) through the broker.conf: the NameServer then names it as
	// brokerId 0, whichever node leads.
	vip bool
}

// node is one dledger-broker process of the group.
type node struct {
	id     string
	listen string // client-facing ip:port
	raft   string // Raft transport ip:port
	data   string
	proc   *proc
}

// cluster is one NameServer plus one three-node broker group on loopback.
type cluster struct {
	t      *testing.T
	dir    string
	nsAddr string
	vip    string // group address, "" without clusterOptions.vip
	ns     *proc
	nodes  []*node
	pool   *remoting.Pool
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// startCluster starts the servers and waits (bounded) until the group has
// elected a leader that registered as brokerId 0. Every process is killed in
// t.Cleanup, whatever happens; on failure the tails of their logs are
// printed and the logs copied under workDir.
func startCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	start := time.Now()
	c := &cluster{t: t, dir: t.TempDir()}
	t.Cleanup(c.stop)

	ports := freePorts(t, 8)
	c.nsAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	if opts.vip {
		c.vip = fmt.Sprintf("127.0.0.1:%d", ports[7])
		conf := map[string]string{"brokerVIP": c.vip}
		for k, v := range opts.conf {
			conf[k] = v
		}
		opts.conf = conf
	}
	var peers []string
	for i := 0; i < 3; i++ {
		n := &node{
			id:     fmt.Sprintf("n%d", i),
			listen: fmt.Sprintf("127.0.0.1:%d", ports[1+2*i]),
			raft:   fmt.Sprintf("127.0.0.1:%d", ports[2+2*i]),
		}
		n.data = filepath.Join(c.dir, n.id)
		c.nodes = append(c.nodes, n)
		peers = append(peers, n.id+"="+n.raft)
	}

	ccfg := remoting.DefaultClientConfig()
	ccfg.Conn.Logger = quietLogger
	pool, err := remoting.NewPool(ccfg)
	if err != nil {
		t.Fatalf("remoting pool: %v", err)
	}
	c.pool = pool

	c.ns = startProc(t, c.dir, "namesrv", filepath.Join(binDir, "namesrv"),
		"--listen", c.nsAddr, "--log-level", "warn")
	c.waitListening(c.ns, c.nsAddr, 20*time.Second)

	var confArgs []string
	if len(opts.conf) > 0 {
		keys := make([]string, 0, len(opts.conf))
		for k := range opts.conf {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, opts.conf[k])
		}
		path := filepath.Join(c.dir, "broker.conf")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		confArgs = []string{"-c", path}
	}
	for _, n := range c.nodes {
		args := append(append([]string(nil), confArgs...),
			"--id", n.id,
			"--peers", strings.Join(peers, ","),
			"--listen", n.listen,
			"--namesrv", c.nsAddr,
			"--data", n.data,
			"--segment-size", strconv.Itoa(segmentSize),
			"--log-level", "warn",
		)
		if opts.electionTimeout > 0 {
			args = append(args, "--election-timeout", opts.electionTimeout.String())
		}
		n.proc = startProc(t, c.dir, "broker-"+n.id, filepath.Join(binDir, "dledger-broker"), args...)
	}
	leader := c.waitLeaderNode(60*time.Second, nil)
	t.Logf("cluster up in %v: namesrv %s, leader %s (%s), group address %q", time.Since(start).Round(time.Millisecond),
		c.nsAddr, leader.listen, leader.id, c.vip)
	return c
}

// stop kills every process; on failure it prints log tails and keeps logs.
func (c *cluster) stop() {
	var procs []*proc
	for _, n := range c.nodes {
		if n.proc != nil {
			procs = append(procs, n.proc)
		}
	}
	if c.ns != nil {
		procs = append(procs, c.ns)
	}
	for _, p := range procs {
		if err := p.kill(); err != nil {
			c.t.Errorf("stop: %v", err)
		}
	}
	if c.pool != nil {
		_ = c.pool.Close()
	}
	if !c.t.Failed() && os.Getenv(keepEnv) == "" {
		return
	}
	keep := filepath.Join(workDir, "logs", strings.ReplaceAll(c.t.Name(), "/", "_"))
	_ = os.MkdirAll(keep, 0o755)
	for _, p := range procs {
		_ = copyFile(p.logPath, filepath.Join(keep, filepath.Base(p.logPath)))
		if c.t.Failed() {
			c.t.Logf("--- tail of %s ---\n%s", p.name, tailFile(p.logPath, 40))
		}
	}
	c.t.Logf("server logs kept in %s", keep)
}

// checkAlive fails the test at once if a server process has exited.
func (c *cluster) checkAlive(p *proc) {
	c.t.Helper()
	if ok, err := p.exited(); ok {
		c.t.Fatalf("%s exited early (%v); log tail:\n%s", p.name, err, tailFile(p.logPath, 40))
	}
}

// waitListening waits until addr accepts TCP connections.
func (c *cluster) waitListening(p *proc, addr string, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.checkAlive(p)
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not listening on %s after %v: %v", p.name, addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// masterAddr asks the NameServer for the group's brokerId-0 address ("" if
// none).
func (c *cluster) masterAddr(ctx context.Context) (string, error) {
	cl, err := c.pool.Client(c.nsAddr)
	if err != nil {
		return "", err
	}
	ci, err := namesrv.GetClusterInfo(ctx, cl)
	if err != nil {
		return "", err
	}
	return ci.BrokerAddrTable[brokerName].BrokerAddrs[namesrv.MasterID], nil
}

// waitLeader waits until the NameServer names a brokerId-0 address other
// than not (pass "" for any) and returns it.
func (c *cluster) waitLeader(d time.Duration, not string) string {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for {
		c.checkAlive(c.ns)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		addr, err := c.masterAddr(ctx)
		cancel()
		if err == nil && addr != "" && addr != not {
			if c.nodeByAddr(addr) == nil && addr != c.vip {
				c.t.Fatalf("NameServer names %s as master, not one of our brokers", addr)
			}
			return addr
		}
		lastErr = err
		if time.Now().After(deadline) {
			c.t.Fatalf("no brokerId-0 address (other than %q) after %v (last error: %v)", not, d, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLeaderNode waits until a node other than not (nil for any) leads
// and returns it. Without a group address the leader is the node the
// NameServer names as brokerId 0. With one, brokerId 0 is always the group
// address: the leader is then the one live node whose own address is not
// registered (the leader registers the group address instead and
// unregisters its own; followers register their own, ids >= 1).
func (c *cluster) waitLeaderNode(d time.Duration, not *node) *node {
	c.t.Helper()
	if c.vip == "" {
		notAddr := ""
		if not != nil {
			notAddr = not.listen
		}
		return c.nodeByAddr(c.waitLeader(d, notAddr))
	}
	deadline := time.Now().Add(d)
	var last string
	for {
		c.checkAlive(c.ns)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		n, why := c.vipLeader(ctx)
		cancel()
		if n != nil && n != not {
			return n
		}
		last = why
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader holding the group address %s (other than %v) after %v: %s", c.vip, not, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vipLeader is one look at the NameServer for waitLeaderNode's group
// address rule: the leader, or nil and why not.
func (c *cluster) vipLeader(ctx context.Context) (*node, string) {
	cl, err := c.pool.Client(c.nsAddr)
	if err != nil {
		return nil, err.Error()
	}
	ci, err := namesrv.GetClusterInfo(ctx, cl)
	if err != nil {
		return nil, err.Error()
	}
	addrs := ci.BrokerAddrTable[brokerName].BrokerAddrs
	if addrs[namesrv.MasterID] != c.vip {
		return nil, fmt.Sprintf("brokerAddrs %v: brokerId 0 is not the group address", addrs)
	}
	registered := map[string]bool{}
	for _, a := range addrs {
		registered[a] = true
	}
	var missing []*node
	for _, n := range c.nodes {
		if ok, _ := n.proc.exited(); !ok && !registered[n.listen] {
			missing = append(missing, n)
		}
	}
	if len(missing) != 1 {
		return nil, fmt.Sprintf("brokerAddrs %v: %d live nodes unregistered, want exactly the leader", addrs, len(missing))
	}
	return missing[0], ""
}

func (c *cluster) nodeByAddr(addr string) *node {
	for _, n := range c.nodes {
		if n.listen == addr {
			return n
		}
	}
	return nil
}

// nsAddrs is the client's NameServer list (an IP literal: REMOTING.md §8.14).
func (c *cluster) nsAddrs() primitive.NamesrvAddr { return primitive.NamesrvAddr{c.nsAddr} }

// route returns the NameServer's route of topic.
func (c *cluster) route(ctx context.Context, topic string) (*namesrv.TopicRouteData, error) {
	cl, err := c.pool.Client(c.nsAddr)
	if err != nil {
		return nil, err
	}
	return namesrv.GetRouteInfo(ctx, cl, topic)
}

// routeReady reports whether topic's route has a brokerId-0 address and,
// when queues > 0, that many read and write queues.
func routeReady(rd *namesrv.TopicRouteData, queues int) bool {
	if rd == nil {
		return false
	}
	master := false
	for _, bd := range rd.BrokerDatas {
		if bd.BrokerName == brokerName && bd.BrokerAddrs[namesrv.MasterID] != "" {
			master = true
		}
	}
	if !master {
		return false
	}
	for _, qd := range rd.QueueDatas {
		if qd.BrokerName == brokerName && (queues <= 0 || qd.ReadQueueNums == queues && qd.WriteQueueNums == queues) {
			return true
		}
	}
	return false
}

// waitRoute waits until the NameServer has a usable route for topic.
func (c *cluster) waitRoute(topic string, queues int, d time.Duration) *namesrv.TopicRouteData {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		rd, err := c.route(ctx, topic)
		cancel()
		if err == nil && routeReady(rd, queues) {
			return rd
		}
		last = err
		if time.Now().After(deadline) {
			c.t.Fatalf("route of %s (queues %d) not ready after %v (last: %+v, %v)", topic, queues, d, rd, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminMu serialises the official admin client: it lives in the client's
// process-global instance map under IP@PID, so two at once would share (and
// close) one instance.
var adminMu sync.Mutex

// createTopic creates topic with the given queue count through the official
// client's admin package (UPDATE_AND_CREATE_TOPIC, 17, to the leader), then
// waits for its route. admin.CreateTopic reports transport errors only, so
// the route is the proof; the request is repeated if the route does not show
// up (e.g. the leader changed in between).
func (c *cluster) createTopic(topic string, queues int) {
	c.t.Helper()
	adminMu.Lock()
	defer adminMu.Unlock()
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(c.nsAddrs())))
	if err != nil {
		c.t.Fatalf("admin: %v", err)
	}
	defer adm.Close()

	deadline := time.Now().Add(30 * time.Second)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		leader, err := c.masterAddr(ctx)
		if err == nil && leader != "" {
			err = adm.CreateTopic(ctx,
				admin.WithTopicCreate(topic),
				admin.WithBrokerAddrCreate(leader),
				admin.WithReadQueueNums(queues),
				admin.WithWriteQueueNums(queues),
				admin.WithPerm(6))
		}
		cancel()
		if err == nil {
			routeDeadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(routeDeadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				rd, rerr := c.route(ctx, topic)
				cancel()
				if rerr == nil && routeReady(rd, queues) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("create topic %s: no route after %d attempts (last error: %v)", topic, attempt, err)
		}
	}
}

// queryTimeout bounds one of our own admin queries (leader lookup included).
const queryTimeout = 5 * time.Second

// invokeLeader sends one request of ours to the current leader and checks
// the transport; the caller checks the code.
func (c *cluster) invokeLeader(code remoting.RequestCode, ext map[string]string) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	leader, err := c.masterAddr(ctx)
	if err != nil {
		return nil, err
	}
	if leader == "" {
		return nil, errors.New("no leader registered")
	}
	return c.pool.Invoke(ctx, leader, remoting.NewRequest(code, ext, nil))
}

// consumerIDs returns GET_CONSUMER_LIST_BY_GROUP (38) from the leader.
func (c *cluster) consumerIDs(group string) ([]string, error) {
	resp, err := c.invokeLeader(remoting.GetConsumerListByGroup, map[string]string{"consumerGroup": group})
	if err != nil {
		return nil, err
	}
	if resp.ResponseCode() != remoting.Success {
		return nil, fmt.Errorf("GET_CONSUMER_LIST_BY_GROUP %s: code %d %s", group, resp.Code, resp.Remark)
	}
	var body struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return nil, err
	}
	return body.ConsumerIDList, nil
}

// consumerOffset returns (offset, found) from QUERY_CONSUMER_OFFSET (14).
func (c *cluster) consumerOffset(group, topic string, queueID int) (int64, bool, error) {
	resp, err := c.invokeLeader(remoting.QueryConsumerOffset, map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queueID),
	})
	if err != nil {
		return 0, false, err
	}
	switch resp.ResponseCode() {
	case remoting.Success:
		v, _, err := resp.ExtInt("offset")
		return v, true, err
	case remoting.QueryNotFound:
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("QUERY_CONSUMER_OFFSET: code %d %s", resp.Code, resp.Remark)
}

// maxOffset returns GET_MAX_OFFSET (30) of a queue.
func (c *cluster) maxOffset(topic string, queueID int) (int64, error) {
	resp, err := c.invokeLeader(remoting.GetMaxOffset, map[string]string{"topic": topic, "queueId": strconv.Itoa(queueID)})
	if err != nil {
		return 0, err
	}
	if resp.ResponseCode() != remoting.Success {
		return 0, fmt.Errorf("GET_MAX_OFFSET: code %d %s", resp.Code, resp.Remark)
	}
	v, _, err := resp.ExtInt("offset")
	return v, err
}

// queryMessage returns the raw store-format records QUERY_MESSAGE (12)
// finds for key in topic (nil when QUERY_NOT_FOUND).
func (c *cluster) queryMessage(topic, key string) ([]byte, error) {
	resp, err := c.invokeLeader(remoting.QueryMessage, map[string]string{
		"topic": topic, "key": key, "maxNum": "32",
		"beginTimestamp": "0", "endTimestamp": strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10),
	})
	if err != nil {
		return nil, err
	}
	switch resp.ResponseCode() {
	case remoting.Success:
		return resp.Body, nil
	case remoting.QueryNotFound:
		return nil, nil
	}
	return nil, fmt.Errorf("QUERY_MESSAGE %s#%s: code %d %s", topic, key, resp.Code, resp.Remark)
}
