// Package namesrv is a RocketMQ-compatible name server: brokers register
// their addresses and topic tables (REGISTER_BROKER 103), clients ask for
// topic routes (GET_ROUTEINFO_BY_TOPIC 105). REMOTING.md §2 is the contract.
// State lives in memory only; several name servers run independently, each
// broker registering with every one of them.
//
// Served codes: 103, 104 UNREGISTER_BROKER, 105, 106 GET_BROKER_CLUSTER_INFO,
// 206 GET_ALL_TOPIC_LIST_FROM_NAMESERVER, 216 DELETE_TOPIC_IN_NAMESRV; every
// other code is answered REQUEST_CODE_NOT_SUPPORTED (3).
//
// # Routes
//
// A topic's route is the union, over broker groups (brokerName) that list it,
// of the group's QueueData and BrokerData. brokerAddrs maps brokerId to
// "ip:port"; id 0 is the group's master, for us the DLedger leader. Bodies are
// compact standard JSON ({"0":"127.0.0.1:10911"}); brokerAddrs is always
// present, queueDatas and brokerDatas are always arrays (the Go client's
// parser panics or misreads otherwise). Unknown topics answer
// TOPIC_NOT_EXIST (17).
//
// A group's topic table is the one its master (brokerId 0) registered last:
// topics it lists are added or updated, topics it stopped listing lose the
// group. It is applied when the master's address or dataVersion changes, so a
// topic removed with DELETE_TOPIC_IN_NAMESRV comes back only when its
// broker's table changes (as in RocketMQ). Follower topic tables are ignored.
//
// # TBW102
//
// Brokers may register TBW102 themselves, as RocketMQ brokers do; that route
// is then served as is. If none did and Config.SynthesizeTBW102 is set (the
// default), the name server answers TBW102 with every group that has a
// master: perm 7 (read|write|inherit), Config.AutoCreateQueueNums queues. So
// producers can auto-create topics as soon as one master is registered,
// whatever the broker registers.
//
// # Liveness
//
// A registration (per broker address) expires after Config.BrokerExpiry
// without renewal, and is dropped at once when the connection it was last
// made on closes. When a group's last address goes, its queue data goes with
// it. UNREGISTER_BROKER removes brokerId id only if that address holds it, so
// a late unregister from a deposed master cannot remove its successor.
//
// # DLedger masters and terms
//
// Every node of a group registers: the Raft leader with brokerId 0, the
// followers with ids >= 1. A brokerId-0 registration replaces the previous
// master address; an address holds one id at a time, so a deposed master that
// re-registers as a follower moves to its new id. Registrations may carry the
// extField dledgerTerm (the node's Raft term). Per group the name server keeps
// the highest term seen in a brokerId-0 registration; a brokerId-0
// registration with a lower term is refused with NO_PERMISSION (16) and
// changes nothing; the response names the current master (masterAddr) and
// term (dledgerTerm), and RegisterBroker returns ErrStaleTerm. A registration
// without dledgerTerm is accepted as RocketMQ would (last one wins). The term
// is forgotten with the group.
//
// REGISTER_BROKER answers SUCCESS with extFields masterAddr and haServerAddr
// (the master's, for a follower; empty otherwise) and dledgerTerm when known.
// A body with bodyCrc32 != 0 must match BodyCRC32; compressed bodies are not
// supported (SYSTEM_ERROR).
package namesrv
