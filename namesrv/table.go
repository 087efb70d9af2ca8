package namesrv

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// routeTable is the name server's state: the RocketMQ RouteInfoManager
// tables, without the filter-server and KV-config parts. All methods are safe
// for concurrent use (one RWMutex; nothing calls out while holding it).
//
// Invariants:
//   - every address in a group's addrs has a live entry naming that group;
//     a live entry need not have an address in addrs (a master displaced by
//     a newer one stays live until it re-registers, expires or disconnects);
//   - a group exists while it has at least one address; its queue data and
//     cluster membership go with it;
//   - one address holds at most one brokerId in its group.
type routeTable struct {
	mu       sync.RWMutex
	topics   map[string]map[string]QueueData // topic → brokerName → queue data
	groups   map[string]*brokerGroup         // brokerName → group
	clusters map[string]map[string]struct{}  // cluster → brokerNames
	live     map[string]*liveBroker          // brokerAddr → registration
}

type brokerGroup struct {
	cluster string
	addrs   map[int64]string // brokerId → address; 0 = master
	term    int64            // highest dledgerTerm of a master registration
	hasTerm bool
	// The master registration whose topic table was applied last.
	applied        bool
	appliedMaster  string
	appliedVersion DataVersion
}

type liveBroker struct {
	brokerName   string
	brokerID     int64
	haServerAddr string
	connID       uint64 // remoting.Conn.ID of the registering connection
	lastUpdate   time.Time
}

// registration is a decoded REGISTER_BROKER request.
type registration struct {
	cluster, name, addr, haServerAddr string
	id                                int64
	term                              int64
	hasTerm                           bool
	topics                            map[string]TopicConfig
	version                           DataVersion
}

// registerResult is what REGISTER_BROKER answers.
type registerResult struct {
	masterAddr, haServerAddr string
	term                     int64 // the group's master term, if hasTerm
	hasTerm                  bool
	stale                    bool // a brokerId-0 registration with an older term: nothing changed
}

func newRouteTable() *routeTable {
	return &routeTable{
		topics:   make(map[string]map[string]QueueData),
		groups:   make(map[string]*brokerGroup),
		clusters: make(map[string]map[string]struct{}),
		live:     make(map[string]*liveBroker),
	}
}

// register applies a broker registration received on connection connID.
func (t *routeTable) register(r registration, connID uint64, now time.Time) registerResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.groups[r.name]
	if r.id == MasterID && r.hasTerm && g != nil && g.hasTerm && r.term < g.term {
		return registerResult{masterAddr: g.addrs[MasterID], haServerAddr: t.haAddrLocked(g.addrs[MasterID]),
			term: g.term, hasTerm: true, stale: true}
	}
	if lb := t.live[r.addr]; lb != nil && lb.brokerName != r.name {
		t.removeAddrLocked(r.addr) // the address moved to another broker group
		g = t.groups[r.name]
	}
	if g == nil {
		g = &brokerGroup{cluster: r.cluster, addrs: make(map[int64]string)}
		t.groups[r.name] = g
		t.addToClusterLocked(r.cluster, r.name)
	} else if g.cluster != r.cluster {
		t.removeFromClusterLocked(g.cluster, r.name)
		t.addToClusterLocked(r.cluster, r.name)
		g.cluster = r.cluster
	}
	if r.id == MasterID && r.hasTerm {
		g.term, g.hasTerm = r.term, true
	}
	for id, a := range g.addrs { // one address, one id (a master stepping down, a follower promoted)
		if a == r.addr && id != r.id {
			delete(g.addrs, id)
		}
	}
	g.addrs[r.id] = r.addr
	t.live[r.addr] = &liveBroker{brokerName: r.name, brokerID: r.id, haServerAddr: r.haServerAddr, connID: connID, lastUpdate: now}
	if r.id == MasterID && (!g.applied || g.appliedMaster != r.addr || g.appliedVersion != r.version) {
		t.applyTopicsLocked(r.name, r.topics)
		g.applied, g.appliedMaster, g.appliedVersion = true, r.addr, r.version
	}
	res := registerResult{term: g.term, hasTerm: g.hasTerm}
	if r.id != MasterID {
		if m := g.addrs[MasterID]; m != "" {
			res.masterAddr, res.haServerAddr = m, t.haAddrLocked(m)
		}
	}
	return res
}

func (t *routeTable) haAddrLocked(addr string) string {
	if lb := t.live[addr]; lb != nil {
		return lb.haServerAddr
	}
	return ""
}

func (t *routeTable) addToClusterLocked(cluster, name string) {
	set := t.clusters[cluster]
	if set == nil {
		set = make(map[string]struct{})
		t.clusters[cluster] = set
	}
	set[name] = struct{}{}
}

func (t *routeTable) removeFromClusterLocked(cluster, name string) {
	if set := t.clusters[cluster]; set != nil {
		delete(set, name)
		if len(set) == 0 {
			delete(t.clusters, cluster)
		}
	}
}

// applyTopicsLocked makes the master's topic table the group's share of the
// routes: topics it lists are added or updated, topics it no longer lists
// lose this group.
func (t *routeTable) applyTopicsLocked(name string, topics map[string]TopicConfig) {
	for topic, qs := range t.topics {
		if _, ok := topics[topic]; !ok {
			delete(qs, name)
			if len(qs) == 0 {
				delete(t.topics, topic)
			}
		}
	}
	for topic, tc := range topics {
		qs := t.topics[topic]
		if qs == nil {
			qs = make(map[string]QueueData)
			t.topics[topic] = qs
		}
		qs[name] = QueueData{BrokerName: name, ReadQueueNums: tc.ReadQueueNums,
			WriteQueueNums: tc.WriteQueueNums, Perm: tc.Perm, TopicSysFlag: tc.TopicSysFlag}
	}
}

// removeAddrLocked forgets the registration of addr.
func (t *routeTable) removeAddrLocked(addr string) {
	lb := t.live[addr]
	if lb == nil {
		return
	}
	delete(t.live, addr)
	g := t.groups[lb.brokerName]
	if g == nil {
		return
	}
	for id, a := range g.addrs {
		if a == addr {
			delete(g.addrs, id)
		}
	}
	if len(g.addrs) == 0 {
		t.removeGroupLocked(lb.brokerName)
	}
}

func (t *routeTable) removeGroupLocked(name string) {
	g := t.groups[name]
	if g == nil {
		return
	}
	delete(t.groups, name)
	t.removeFromClusterLocked(g.cluster, name)
	for topic, qs := range t.topics {
		delete(qs, name)
		if len(qs) == 0 {
			delete(t.topics, topic)
		}
	}
}

// unregister removes brokerId id of group name if addr holds it. It reports
// whether anything changed.
func (t *routeTable) unregister(name, addr string, id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	if lb := t.live[addr]; lb != nil && lb.brokerName == name && lb.brokerID == id {
		delete(t.live, addr)
		changed = true
	}
	if g := t.groups[name]; g != nil && g.addrs[id] == addr {
		delete(g.addrs, id)
		changed = true
		if len(g.addrs) == 0 {
			t.removeGroupLocked(name)
		}
	}
	return changed
}

// expire removes registrations not renewed within expiry and returns their
// addresses.
func (t *routeTable) expire(now time.Time, expiry time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []string
	for addr, lb := range t.live {
		if now.Sub(lb.lastUpdate) > expiry {
			gone = append(gone, addr)
		}
	}
	for _, addr := range gone {
		t.removeAddrLocked(addr)
	}
	return gone
}

// connClosed removes the registrations made over connection connID and
// returns their addresses.
func (t *routeTable) connClosed(connID uint64) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []string
	for addr, lb := range t.live {
		if lb.connID == connID {
			gone = append(gone, addr)
		}
	}
	for _, addr := range gone {
		t.removeAddrLocked(addr)
	}
	return gone
}

func (t *routeTable) brokerDataLocked(name string, g *brokerGroup) BrokerData {
	return BrokerData{Cluster: g.cluster, BrokerName: name, BrokerAddrs: maps.Clone(g.addrs)}
}

// route returns the route of topic. For TBW102 without a registered route
// and synthesize set, every group with a master gets queueNums queues with
// perm 7.
func (t *routeTable) route(topic string, synthesize bool, queueNums int) (*TopicRouteData, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rd := &TopicRouteData{QueueDatas: []QueueData{}, BrokerDatas: []BrokerData{}, FilterServerTable: map[string][]string{}}
	if qs := t.topics[topic]; len(qs) > 0 {
		for _, name := range slices.Sorted(maps.Keys(qs)) {
			g := t.groups[name]
			if g == nil {
				continue
			}
			rd.QueueDatas = append(rd.QueueDatas, qs[name])
			rd.BrokerDatas = append(rd.BrokerDatas, t.brokerDataLocked(name, g))
		}
	} else if topic == AutoCreateTopicKey && synthesize {
		for _, name := range slices.Sorted(maps.Keys(t.groups)) {
			g := t.groups[name]
			if g.addrs[MasterID] == "" {
				continue
			}
			rd.QueueDatas = append(rd.QueueDatas, QueueData{BrokerName: name, ReadQueueNums: queueNums,
				WriteQueueNums: queueNums, Perm: PermRead | PermWrite | PermInherit})
			rd.BrokerDatas = append(rd.BrokerDatas, t.brokerDataLocked(name, g))
		}
	}
	if len(rd.QueueDatas) == 0 {
		return nil, false
	}
	return rd, true
}

// clusterInfo returns every broker group and the groups of every cluster.
func (t *routeTable) clusterInfo() *ClusterInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ci := &ClusterInfo{BrokerAddrTable: make(map[string]BrokerData, len(t.groups)),
		ClusterAddrTable: make(map[string][]string, len(t.clusters))}
	for name, g := range t.groups {
		ci.BrokerAddrTable[name] = t.brokerDataLocked(name, g)
	}
	for cluster, names := range t.clusters {
		ci.ClusterAddrTable[cluster] = slices.Sorted(maps.Keys(names))
	}
	return ci
}

// topicList returns every topic with a route, sorted.
func (t *routeTable) topicList() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Sorted(maps.Keys(t.topics))
}

// deleteTopic removes topic from every broker group; it reports whether it
// existed.
func (t *routeTable) deleteTopic(topic string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.topics[topic]
	delete(t.topics, topic)
	return ok
}
