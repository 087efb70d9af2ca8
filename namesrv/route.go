package namesrv

import "encoding/json"

// Wire bodies of the name-server requests (REMOTING.md §2), JSON as
// RocketMQ 4.x writes them. Brokers and clients use these too.

// Permission bits of a topic (QueueData.Perm, TopicConfig.Perm). Frozen.
const (
	PermPriority = 8
	PermRead     = 4
	PermWrite    = 2
	PermInherit  = 1
)

// AutoCreateTopicKey is the template topic producers fall back to for a
// topic without a route (REMOTING.md §2.2).
const AutoCreateTopicKey = "TBW102"

// MasterID is the brokerId of a broker group's master (our DLedger leader).
const MasterID = 0

// Request and response extFields of the name-server codes.
const (
	ExtTopic        = "topic"
	ExtBrokerName   = "brokerName"
	ExtBrokerAddr   = "brokerAddr"
	ExtClusterName  = "clusterName"
	ExtHAServerAddr = "haServerAddr"
	ExtBrokerID     = "brokerId"
	ExtCompressed   = "compressed"
	ExtBodyCRC32    = "bodyCrc32"
	ExtMasterAddr   = "masterAddr"
	// ExtDLedgerTerm is our addition to REGISTER_BROKER: the Raft term in
	// which the registering node holds its role. Among brokerId-0
	// registrations of one broker group the highest term wins; a
	// registration without it is accepted as in RocketMQ (last one wins).
	ExtDLedgerTerm = "dledgerTerm"
)

// QueueData is one broker group's share of a topic.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	ReadQueueNums  int    `json:"readQueueNums"`
	WriteQueueNums int    `json:"writeQueueNums"`
	Perm           int    `json:"perm"`
	TopicSysFlag   int    `json:"topicSysFlag"`
}

// BrokerData is one broker group: brokerId → "ip:port"; id 0 is the master.
type BrokerData struct {
	Cluster     string           `json:"cluster"`
	BrokerName  string           `json:"brokerName"`
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
}

// MarshalJSON always writes brokerAddrs, as an object ({} when empty): the
// Go client panics on a BrokerData without it (REMOTING.md §2.1).
func (b BrokerData) MarshalJSON() ([]byte, error) {
	type plain BrokerData
	if b.BrokerAddrs == nil {
		b.BrokerAddrs = map[int64]string{}
	}
	return json.Marshal(plain(b))
}

// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC body.
type TopicRouteData struct {
	OrderTopicConf    string              `json:"orderTopicConf,omitempty"`
	QueueDatas        []QueueData         `json:"queueDatas"`
	BrokerDatas       []BrokerData        `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
}

// TopicConfig is a broker's configuration of one topic.
type TopicConfig struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int    `json:"readQueueNums"`
	WriteQueueNums  int    `json:"writeQueueNums"`
	Perm            int    `json:"perm"`
	TopicFilterType string `json:"topicFilterType"`
	TopicSysFlag    int    `json:"topicSysFlag"`
	Order           bool   `json:"order"`
}

// DataVersion identifies a version of a broker's topic table.
type DataVersion struct {
	Timestamp int64 `json:"timestamp"`
	Counter   int64 `json:"counter"`
}

// TopicConfigSerializeWrapper is a broker's topic table with its version.
type TopicConfigSerializeWrapper struct {
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion            `json:"dataVersion"`
}

// RegisterBrokerBody is the (uncompressed) REGISTER_BROKER body.
type RegisterBrokerBody struct {
	TopicConfigSerializeWrapper TopicConfigSerializeWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string                    `json:"filterServerList"`
}

// ClusterInfo is the GET_BROKER_CLUSTER_INFO body.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the GET_ALL_TOPIC_LIST_FROM_NAMESERVER body.
type TopicList struct {
	TopicList  []string `json:"topicList"`
	BrokerAddr *string  `json:"brokerAddr"`
}
