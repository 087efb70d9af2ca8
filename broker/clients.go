package broker

import (
	"slices"
	"sync"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// clientChannel is one client instance (ClientID) of a group, with the
// connection its last heartbeat arrived on.
type clientChannel struct {
	conn       *remoting.Conn
	clientID   string
	language   remoting.LanguageCode
	version    int32
	lastUpdate time.Time
}

// consumerGroup is the live membership and subscription of one group.
type consumerGroup struct {
	clients          map[string]*clientChannel    // by clientID
	subs             map[string]*subscriptionData // by topic
	consumeType      string
	messageModel     string
	consumeFromWhere string
}

// clientManager keeps producer and consumer group membership (RocketMQ's
// ProducerManager + ConsumerManager). Members are keyed by ClientID; a
// member leaves when its connection closes, when it has not sent a
// heartbeat for the expiry, or on UNREGISTER_CLIENT.
//
// Locking: mu guards everything; it is never held while calling out.
type clientManager struct {
	mu        sync.Mutex
	producers map[string]map[string]*clientChannel // group -> clientID -> channel
	consumers map[string]*consumerGroup
}

func newClientManager() *clientManager {
	return &clientManager{
		producers: make(map[string]map[string]*clientChannel),
		consumers: make(map[string]*consumerGroup),
	}
}

// heartbeat registers every group of hb on conn and returns the consumer
// groups whose membership or subscriptions changed.
func (m *clientManager) heartbeat(conn *remoting.Conn, req *remoting.Command, hb *heartbeatData, now time.Time) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A connection is marked closed before its close hook runs, and the hook
	// takes m.mu: a heartbeat that lost the race to the close must not
	// register a member the hook has already cleaned up (it would stay a
	// ghost member until the next client scan).
	if conn.IsClosed() {
		return nil
	}
	ch := func() *clientChannel {
		return &clientChannel{conn: conn, clientID: hb.ClientID, language: req.Language, version: req.Version, lastUpdate: now}
	}
	for _, p := range hb.ProducerDataSet {
		if p.GroupName == "" {
			continue
		}
		g := m.producers[p.GroupName]
		if g == nil {
			g = make(map[string]*clientChannel)
			m.producers[p.GroupName] = g
		}
		g[hb.ClientID] = ch()
	}
	for i := range hb.ConsumerDataSet {
		cd := &hb.ConsumerDataSet[i]
		if cd.GroupName == "" {
			continue
		}
		g := m.consumers[cd.GroupName]
		if g == nil {
			g = &consumerGroup{clients: make(map[string]*clientChannel), subs: make(map[string]*subscriptionData)}
			m.consumers[cd.GroupName] = g
		}
		g.consumeType, g.messageModel, g.consumeFromWhere = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere
		changedHere := false
		if old, ok := g.clients[hb.ClientID]; !ok || old.conn != conn {
			changedHere = true // a new member, or one that reconnected
		}
		g.clients[hb.ClientID] = ch()
		// Subscriptions: the group's union, as RocketMQ keeps it; a topic's
		// entry is replaced when its expression changes.
		for j := range cd.SubscriptionDataSet {
			s := cd.SubscriptionDataSet[j]
			old := g.subs[s.Topic]
			if old == nil || old.SubString != s.SubString || old.ExpressionType != s.ExpressionType {
				if old != nil {
					changedHere = true
				}
				g.subs[s.Topic] = &s
			}
		}
		if changedHere {
			changed = append(changed, cd.GroupName)
		}
	}
	return changed
}

// unregister removes clientID from the named groups (UNREGISTER_CLIENT) and
// returns the consumer groups that changed.
func (m *clientManager) unregister(clientID, producerGroup, consumerGroup string) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.producers[producerGroup]; g != nil {
		delete(g, clientID)
		if len(g) == 0 {
			delete(m.producers, producerGroup)
		}
	}
	if g := m.consumers[consumerGroup]; g != nil {
		if _, ok := g.clients[clientID]; ok {
			delete(g.clients, clientID)
			changed = append(changed, consumerGroup)
			if len(g.clients) == 0 {
				delete(m.consumers, consumerGroup)
			}
		}
	}
	return changed
}

// remove drops every member matching drop and returns the consumer groups
// that changed (sorted).
func (m *clientManager) remove(drop func(*clientChannel) bool) (changed []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, g := range m.producers {
		for id, ch := range g {
			if drop(ch) {
				delete(g, id)
			}
		}
		if len(g) == 0 {
			delete(m.producers, name)
		}
	}
	for name, g := range m.consumers {
		n := len(g.clients)
		for id, ch := range g.clients {
			if drop(ch) {
				delete(g.clients, id)
			}
		}
		if len(g.clients) != n {
			changed = append(changed, name)
		}
		if len(g.clients) == 0 {
			delete(m.consumers, name)
		}
	}
	slices.Sort(changed)
	return changed
}

// connClosed drops every member whose channel is conn.
func (m *clientManager) connClosed(conn *remoting.Conn) []string {
	return m.remove(func(ch *clientChannel) bool { return ch.conn == conn })
}

// expire drops every member without a heartbeat since before cutoff, or
// whose connection is closed.
func (m *clientManager) expire(cutoff time.Time) []string {
	return m.remove(func(ch *clientChannel) bool { return ch.lastUpdate.Before(cutoff) || ch.conn.IsClosed() })
}

// consumerIDs returns the ClientIDs of group's live members, sorted.
func (m *clientManager) consumerIDs(group string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.consumers[group]
	if g == nil {
		return nil
	}
	ids := make([]string, 0, len(g.clients))
	for id := range g.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// consumerConns returns the connections of group's members.
func (m *clientManager) consumerConns(group string) []*remoting.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.consumers[group]
	if g == nil {
		return nil
	}
	conns := make([]*remoting.Conn, 0, len(g.clients))
	for _, ch := range g.clients {
		conns = append(conns, ch.conn)
	}
	return conns
}

// producerConn returns a live connection of a member of producer group
// (for CHECK_TRANSACTION_STATE), or nil.
func (m *clientManager) producerConn(group string) *remoting.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *clientChannel
	for _, ch := range m.producers[group] {
		if !ch.conn.IsClosed() && (best == nil || ch.lastUpdate.After(best.lastUpdate)) {
			best = ch
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}

// subscription returns group's subscription of topic, or nil when the group
// or the topic is unknown.
func (m *clientManager) subscription(group, topic string) *subscriptionData {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g := m.consumers[group]; g != nil {
		return g.subs[topic]
	}
	return nil
}
