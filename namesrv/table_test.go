package namesrv

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"
)

// checkInvariants verifies the routeTable invariants documented on it.
func checkInvariants(tb *routeTable) error {
	for name, g := range tb.groups {
		if len(g.addrs) == 0 {
			return fmt.Errorf("group %s has no address", name)
		}
		seen := map[string]bool{}
		for id, a := range g.addrs {
			if seen[a] {
				return fmt.Errorf("group %s: %s holds two ids", name, a)
			}
			seen[a] = true
			if lb := tb.live[a]; lb == nil || lb.brokerName != name || lb.brokerID != id {
				return fmt.Errorf("group %s: id %d → %s has live entry %+v", name, id, a, lb)
			}
		}
		if _, ok := tb.clusters[g.cluster][name]; !ok {
			return fmt.Errorf("group %s missing from cluster %s", name, g.cluster)
		}
	}
	for cluster, set := range tb.clusters {
		if len(set) == 0 {
			return fmt.Errorf("empty cluster %s", cluster)
		}
		for name := range set {
			if g := tb.groups[name]; g == nil || g.cluster != cluster {
				return fmt.Errorf("cluster %s lists %s", cluster, name)
			}
		}
	}
	for topic, qs := range tb.topics {
		if len(qs) == 0 {
			return fmt.Errorf("topic %s has no queue data", topic)
		}
		for name := range qs {
			if tb.groups[name] == nil {
				return fmt.Errorf("topic %s refers to missing group %s", topic, name)
			}
		}
	}
	return nil
}

// TestRouteTableInvariantsUnderRandomOperations runs seeded random sequences
// of registrations, unregistrations, expiries, connection closes and topic
// deletions, checking the invariants and the term rule after every step.
func TestRouteTableInvariantsUnderRandomOperations(t *testing.T) {
	names := []string{"a", "b", "c"}
	addrs := []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1"}
	allTopics := []string{"T1", "T2", "T3"}
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		tb := newRouteTable()
		now := time.Unix(1000, 0)
		for step := range 400 {
			op := ""
			switch k := rng.IntN(10); {
			case k < 6:
				r := registration{
					cluster: []string{"c1", "c2"}[rng.IntN(2)],
					name:    names[rng.IntN(len(names))],
					addr:    addrs[rng.IntN(len(addrs))],
					id:      int64(rng.IntN(3)),
					term:    int64(rng.IntN(6)),
					hasTerm: rng.IntN(4) != 0,
					version: DataVersion{Counter: int64(rng.IntN(3))},
					topics:  map[string]TopicConfig{},
				}
				for _, tp := range allTopics {
					if rng.IntN(2) == 0 {
						r.topics[tp] = TopicConfig{TopicName: tp, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}
					}
				}
				var before map[int64]string
				var beforeTerm int64
				var had bool
				if g := tb.groups[r.name]; g != nil {
					before, beforeTerm, had = maps.Clone(g.addrs), g.term, g.hasTerm
				}
				res := tb.register(r, uint64(rng.IntN(3)), now)
				op = fmt.Sprintf("register %+v → %+v", r, res)
				g := tb.groups[r.name]
				switch {
				case res.stale:
					if !had || r.term >= beforeTerm || !maps.Equal(before, g.addrs) {
						t.Fatalf("seed %d step %d: %s: wrongly stale or changed %v → %v", seed, step, op, before, g.addrs)
					}
				case g.addrs[r.id] != r.addr:
					t.Fatalf("seed %d step %d: %s: not registered: %v", seed, step, op, g.addrs)
				case had && g.hasTerm && g.term < beforeTerm:
					t.Fatalf("seed %d step %d: %s: term went down %d → %d", seed, step, op, beforeTerm, g.term)
				}
			case k < 7:
				n, a, id := names[rng.IntN(len(names))], addrs[rng.IntN(len(addrs))], int64(rng.IntN(3))
				op = fmt.Sprintf("unregister %s %s %d", n, a, id)
				tb.unregister(n, a, id)
			case k < 8:
				now = now.Add(time.Duration(rng.IntN(60)) * time.Second)
				op = fmt.Sprintf("expire at %v", now)
				tb.expire(now, 100*time.Second)
			case k < 9:
				id := uint64(rng.IntN(3))
				op = fmt.Sprintf("connClosed %d", id)
				tb.connClosed(id)
			default:
				tp := allTopics[rng.IntN(len(allTopics))]
				op = "deleteTopic " + tp
				tb.deleteTopic(tp)
			}
			if err := checkInvariants(tb); err != nil {
				t.Fatalf("seed %d step %d after %s: %v", seed, step, op, err)
			}
			for _, tp := range append(allTopics, AutoCreateTopicKey) {
				if rd, ok := tb.route(tp, true, 8); ok {
					for _, bd := range rd.BrokerDatas {
						if bd.BrokerAddrs == nil {
							t.Fatalf("seed %d: nil brokerAddrs", seed)
						}
					}
				}
			}
		}
	}
}
