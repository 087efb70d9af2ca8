package client

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Topic permission bits (RocketMQ PermName). A normal topic is
// PermRead|PermWrite (6).
const (
	PermPriority = 8
	PermRead     = 4
	PermWrite    = 2
	PermInherit  = 1
)

// MasterID is the brokerId of a broker group's master (for a DLedger group:
// its current leader) in BrokerData.Addrs.
const MasterID = 0

// MessageQueue names one queue of a topic on one broker group.
type MessageQueue struct {
	Topic      string
	BrokerName string
	QueueID    int32
}

func (q MessageQueue) String() string {
	return q.Topic + "@" + q.BrokerName + "#" + strconv.Itoa(int(q.QueueID))
}

func compareQueues(a, b MessageQueue) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := cmp.Compare(a.BrokerName, b.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(a.QueueID, b.QueueID)
}

// TopicRoute is a parsed GET_ROUTEINFO_BY_TOPIC (105) answer
// (RocketMQ TopicRouteData, REMOTING.md §2.1).
type TopicRoute struct {
	Topic          string
	Brokers        []BrokerData
	Queues         []QueueData
	OrderTopicConf string // "brokerName:queues;..." when the topic is ordered; informational
}

// BrokerData is one broker group of a route.
type BrokerData struct {
	Cluster string
	Name    string
	// Addrs maps brokerId to "ip:port"; MasterID (0) is the master.
	Addrs map[int64]string
}

// QueueData is the queue configuration of a topic on one broker group.
type QueueData struct {
	BrokerName     string
	ReadQueueNums  int
	WriteQueueNums int
	Perm           int
	TopicSysFlag   int
}

// routeJSON is the JSON shape of TopicRouteData.
type routeJSON struct {
	OrderTopicConf string `json:"orderTopicConf"`
	QueueDatas     []struct {
		BrokerName     string `json:"brokerName"`
		ReadQueueNums  int    `json:"readQueueNums"`
		WriteQueueNums int    `json:"writeQueueNums"`
		Perm           int    `json:"perm"`
		TopicSysFlag   int    `json:"topicSysFlag"`
	} `json:"queueDatas"`
	BrokerDatas []struct {
		Cluster     string          `json:"cluster"`
		BrokerName  string          `json:"brokerName"`
		BrokerAddrs json.RawMessage `json:"brokerAddrs"`
	} `json:"brokerDatas"`
}

// ParseTopicRoute parses a TopicRouteData body. It accepts both forms a
// RocketMQ name server writes for the brokerAddrs map: fastjson's unquoted
// numeric keys ({0:"ip:port"}) and standard JSON ({"0":"ip:port"}), with or
// without whitespace; unknown fields (filterServerTable, ...) are ignored.
// A broker without brokerAddrs has no addresses (the official Go client
// panics on that; CheckGoClientCompat reports it). Errors wrap ErrBadRoute.
func ParseTopicRoute(topic string, body []byte) (*TopicRoute, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty body for topic %q", ErrBadRoute, topic)
	}
	std, err := quoteBareKeys(body)
	if err != nil {
		return nil, fmt.Errorf("%w: topic %q: %w", ErrBadRoute, topic, err)
	}
	var rj routeJSON
	if err := json.Unmarshal(std, &rj); err != nil {
		return nil, fmt.Errorf("%w: topic %q: %w", ErrBadRoute, topic, err)
	}
	r := &TopicRoute{Topic: topic, OrderTopicConf: rj.OrderTopicConf}
	for _, q := range rj.QueueDatas {
		r.Queues = append(r.Queues, QueueData{
			BrokerName: q.BrokerName, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums,
			Perm: q.Perm, TopicSysFlag: q.TopicSysFlag,
		})
	}
	for _, b := range rj.BrokerDatas {
		bd := BrokerData{Cluster: b.Cluster, Name: b.BrokerName, Addrs: map[int64]string{}}
		if raw := bytes.TrimSpace(b.BrokerAddrs); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
			var m map[string]string
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("%w: topic %q broker %q brokerAddrs: %w", ErrBadRoute, topic, b.BrokerName, err)
			}
			for k, v := range m {
				id, err := strconv.ParseInt(k, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%w: topic %q broker %q: brokerId %q is not an integer", ErrBadRoute, topic, b.BrokerName, k)
				}
				bd.Addrs[id] = v
			}
		}
		r.Brokers = append(r.Brokers, bd)
	}
	return r, nil
}

// quoteBareKeys rewrites fastjson's unquoted object keys ({0:"a"}) as JSON
// strings ({"0":"a"}) and leaves everything else (whitespace included)
// byte for byte. Bare keys may hold [A-Za-z0-9_.+-]. It returns b itself
// when there is nothing to rewrite.
func quoteBareKeys(b []byte) ([]byte, error) {
	var (
		out       []byte // nil until the first rewrite
		copied    int    // b[:copied] is already in out
		stack     []byte // open containers: '{' or '['
		expectKey bool
	)
	for i := 0; i < len(b); {
		c := b[i]
		switch c {
		case '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return nil, fmt.Errorf("unterminated string at byte %d", i)
			}
			i = j + 1
			expectKey = false
			continue
		case '{':
			stack = append(stack, '{')
			expectKey = true
		case '[':
			stack = append(stack, '[')
			expectKey = false
		case '}', ']':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced %q at byte %d", c, i)
			}
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
		case ':':
			expectKey = false
		case ' ', '\t', '\r', '\n':
		default:
			if !expectKey {
				break
			}
			j := i
			for j < len(b) && bareKeyChar(b[j]) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected byte %q at %d", c, i)
			}
			if out == nil {
				out = make([]byte, 0, len(b)+16)
			}
			out = append(out, b[copied:i]...)
			out = append(out, '"')
			out = append(out, b[i:j]...)
			out = append(out, '"')
			copied = j
			i = j
			expectKey = false
			continue
		}
		i++
	}
	if out == nil {
		return b, nil
	}
	return append(out, b[copied:]...), nil
}

func bareKeyChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == '_' || c == '-' || c == '.' || c == '+'
}

// MasterAddr returns the brokerId-0 address of the named broker group.
func (r *TopicRoute) MasterAddr(brokerName string) (string, bool) {
	for i := range r.Brokers {
		if r.Brokers[i].Name == brokerName {
			a, ok := r.Brokers[i].Addrs[MasterID]
			return a, ok && a != ""
		}
	}
	return "", false
}

// BrokerAddrs returns every address of the named broker group, keyed by
// brokerId (nil when the group is not in the route).
func (r *TopicRoute) BrokerAddrs(brokerName string) map[int64]string {
	for i := range r.Brokers {
		if r.Brokers[i].Name == brokerName {
			return r.Brokers[i].Addrs
		}
	}
	return nil
}

// PublishQueues returns the queues a producer may send to: queues
// 0..writeQueueNums-1 of every QueueData with PermWrite whose broker group
// has a master address, sorted by broker name then queue id.
func (r *TopicRoute) PublishQueues() []MessageQueue {
	var qs []MessageQueue
	for _, q := range r.Queues {
		if q.Perm&PermWrite == 0 {
			continue
		}
		if _, ok := r.MasterAddr(q.BrokerName); !ok {
			continue
		}
		for id := 0; id < q.WriteQueueNums; id++ {
			qs = append(qs, MessageQueue{Topic: r.Topic, BrokerName: q.BrokerName, QueueID: int32(id)})
		}
	}
	slices.SortFunc(qs, compareQueues)
	return qs
}

// SubscribeQueues returns the queues a consumer reads: queues
// 0..readQueueNums-1 of every QueueData with PermRead, sorted.
func (r *TopicRoute) SubscribeQueues() []MessageQueue {
	var qs []MessageQueue
	for _, q := range r.Queues {
		if q.Perm&PermRead == 0 {
			continue
		}
		for id := 0; id < q.ReadQueueNums; id++ {
			qs = append(qs, MessageQueue{Topic: r.Topic, BrokerName: q.BrokerName, QueueID: int32(id)})
		}
	}
	slices.SortFunc(qs, compareQueues)
	return qs
}

// Equal reports whether two routes have the same brokers, addresses and
// queue configurations (order-insensitive).
func (r *TopicRoute) Equal(o *TopicRoute) bool {
	if r == nil || o == nil {
		return r == o
	}
	if r.Topic != o.Topic || r.OrderTopicConf != o.OrderTopicConf ||
		len(r.Brokers) != len(o.Brokers) || len(r.Queues) != len(o.Queues) {
		return false
	}
	for _, b := range r.Brokers {
		i := slices.IndexFunc(o.Brokers, func(x BrokerData) bool { return x.Name == b.Name })
		if i < 0 || o.Brokers[i].Cluster != b.Cluster || !maps.Equal(o.Brokers[i].Addrs, b.Addrs) {
			return false
		}
	}
	for _, q := range r.Queues {
		if !slices.Contains(o.Queues, q) {
			return false
		}
	}
	return true
}

// CheckGoClientCompat reports whether the official Go client v2.1.2 would
// read body (a TopicRouteData) as ParseTopicRoute does. That client takes
// each brokerAddrs as raw text, strips its first and last byte, splits on
// ',' and each piece at its first ':', deletes quotes and parses the key
// as an integer (REMOTING.md §2.1); so a missing brokerAddrs panics it and
// whitespace ends up inside keys or addresses. Use it to test a name
// server; the client logs a warning when a route fails it.
func CheckGoClientCompat(topic string, body []byte) error {
	r, err := ParseTopicRoute(topic, body)
	if err != nil {
		return err
	}
	std, err := quoteBareKeys(body)
	if err != nil {
		return err
	}
	var rj routeJSON
	if err := json.Unmarshal(std, &rj); err != nil {
		return err
	}
	for i, b := range rj.BrokerDatas {
		raw := string(b.BrokerAddrs)
		if len(raw) < 2 {
			return fmt.Errorf("%w: broker %q has no brokerAddrs (the Go client panics)", ErrBadRoute, b.BrokerName)
		}
		got := map[int64]string{}
		for _, piece := range strings.Split(raw[1:len(raw)-1], ",") {
			k, v, ok := strings.Cut(piece, ":")
			if !ok {
				continue
			}
			k = strings.ReplaceAll(k, `"`, "")
			v = strings.ReplaceAll(v, `"`, "")
			id, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: broker %q: the Go client reads brokerId %q", ErrBadRoute, b.BrokerName, k)
			}
			got[id] = v
		}
		if !maps.Equal(got, r.Brokers[i].Addrs) {
			return fmt.Errorf("%w: broker %q: the Go client reads brokerAddrs %v, the route says %v",
				ErrBadRoute, b.BrokerName, got, r.Brokers[i].Addrs)
		}
	}
	return nil
}
