// Package broker is one node of a broker group: the RocketMQ 4.x remoting
// server (REMOTING.md) in front of one replica of the group's Raft-replicated
// store. Every replica runs a Broker; the store's Raft leader is the group's
// master.
//
//	cfg, warnings, err := broker.LoadProperties(f) // or broker.DefaultConfig()
//	ln, addr, err := broker.Listen(cfg)    // addr is the store's StoreHost
//	cfg.Listener = ln
//	st, err := store.Open(storeCfg)        // storeCfg.StoreHost = addr
//	b, err := broker.New(cfg, st)          // b owns st from here on
//	err = b.Start()
//	defer b.Close()                        // hand leadership over, unregister, stop
//
// # Roles
//
// The leader (store.LeaderReady: elected and caught up) registers with every
// NameServer as brokerId 0 with its Raft term (namesrv.ExtDLedgerTerm), at
// once on election (measured: ~2 ms after the store reports leadership) and
// every RegisterNameServerPeriod. Followers register as their follower id
// (RocketMQ's DLedger rule: "n<k>" -> k+1). Only the leader runs the delay
// service and creates system topics. Shutdown stops the store first (which
// transfers leadership), then unregisters.
//
// # Group address (brokerVIP)
//
// The Go client sends only to the brokerId-0 address of its cached route
// and refreshes routes every 30 s, not on a failed send: after a kill -9 of
// the leader a running producer keeps dialing the dead address for up to
// 30 s. Config.BrokerVIP (broker.conf brokerVIP=ip:port, the same on every
// replica) is a floating master address, like a virtual IP: the ready
// leader also listens there with a second remoting.Server sharing the
// broker's handler, and registers it instead of its own address as brokerId
// 0 (with its term) once it serves it; followers keep registering their own
// addresses (ids >= 1). A node that loses leadership, shuts down or dies
// closes that listener and every connection accepted on it, so clients
// reconnect, and their reconnect reaches the next leader as soon as it has
// bound the address (vip.go: bind retried every 10-250 ms while leader; the
// old holder, e.g. a partitioned leader until its lease expires, may hold it
// for a moment). The route never changes, so a running producer resumes
// within about the election time. Logs: "holding group address X",
// "released group address X".
//
// On one host any 127.x.y.z address works, with the listen port or another
// one. Across hosts the IP must be made local to the leader's host by a VIP
// manager such as keepalived (e.g. a track script that checks whether this
// node listens on the group address); the bind uses IP_FREEBIND on Linux,
// so it succeeds before the IP arrives, and SO_REUSEADDR. If the address
// cannot be bound for 5 s, the leader registers its own address as brokerId
// 0 meanwhile (the behaviour without a group address) and keeps trying.
//
// Messages keep the writer's own address as STOREHOST, and served messages
// name the serving node's own address (below), never the group address:
// a send-back must reach a concrete node. SEND replies' msgIds are built
// from the node's own address as before.
//
// # Writes on a follower
//
// Writes are served only by the ready leader (store.LeaderReady): a node
// elected a moment ago has not applied its predecessors' last entries yet,
// and auto-creating a topic from a stale view could overwrite its config.
// SEND, CONSUMER_SEND_MSG_BACK, UPDATE_CONSUMER_OFFSET, END_TRANSACTION,
// LOCK/UNLOCK_BATCH_MQ and the topic admin requests that reach a follower
// are forwarded to the
// leader and the leader's answer is relayed (forward.go): producers keep a
// stale leader address for up to 30 s and the Go client retries on the same
// address, so refusing would fail their sends for that long. When the
// leader's address is not known yet, or the forward fails, the follower
// answers SERVICE_NOT_AVAILABLE (14, retried by the Go producer) with a
// remark naming the leader. A forwarded request is never forwarded again.
//
// # Reads
//
// PULL_MESSAGE, offsets queries, QUERY_MESSAGE and VIEW_MESSAGE_BY_ID are
// served by any replica from its applied state. Pulls are held (long
// polling) until a message arrives in their queue (the store's OnArrive
// hook) or min(suspendTimeoutMillis, MaxLongPollingTime) passes; they run on
// their own executor so a held pull never delays other requests of the
// connection. On a follower an offset beyond the queue's end is treated as
// replication lag (held, PULL_NOT_FOUND), never as PULL_OFFSET_MOVED.
// A push consumer's pulls carry no subscription: its heartbeat's is used; a
// pull without either returns every message (the client filters by tag).
//
// # STOREHOST of served messages
//
// The stored bytes keep the STOREHOST of the leader that wrote them (every
// replica holds the same bytes). A PULL, QUERY_MESSAGE or VIEW_MESSAGE_BY_ID
// response instead names the broker serving it, patched at read time like
// the queue and physical offsets (storehost.go). Reason: the Go client sends
// CONSUMER_SEND_MSG_BACK of its consume-timeout and orderly max-reconsume
// paths to msg.StoreHost (REMOTING.md §8 item 15); after a failover the
// writer may be dead, and an orderly queue would then be stuck retrying
// forever. The serving node was alive a moment ago and forwards the
// send-back to the leader if it is a follower; physical offsets are the
// same on every replica, so the offset msg id resolves on any node. Cost:
// the offset msg id of a message depends on which replica served it. A
// client's MsgId is its UNIQ_KEY whenever the producer set one (the Go
// client does for every non-batch send; Java for batch members too); only
// messages without one (Go batch members) show a different MsgId after a
// failover, or when read from a follower, than the SEND reply gave. The
// leader that wrote a message still serves the SEND reply's id.
//
// # Idle connections
//
// ServerChannelMaxIdleTime (serverChannelMaxIdleTimeSeconds, 120 s) closes
// a client connection that has not delivered a complete frame for that
// long: a half-open peer, or one that stopped inside a frame. Every bad
// frame closes only its own connection; over-limit requests are answered
// MESSAGE_ILLEGAL (13) without reaching a handler (remoting.Limits).
//
// The REMOTING.md §8 checklist and §9 code set, with where each item is
// handled and tested, is the last section of FORMAT.md.
//
// # Metrics
//
// metricsExporterType=PROM serves Prometheus metrics over HTTP, named as
// RocketMQ 5.1's where they have a counterpart; metrics.go lists them, their
// labels and what bounds the labels' values (a client cannot create series
// by sending unknown request codes or consumer groups).
//
// # Choices where RocketMQ leaves room
//
//   - QUERY_CONSUMER_OFFSET for a group without a stored offset answers
//     QUERY_NOT_FOUND (22), so the client applies its ConsumeFromWhere.
//   - GET_CONSUMER_LIST_BY_GROUP for an unknown group answers SUCCESS with
//     an empty list.
//   - Delayed messages: SCHEDULE_TOPIC_XXXX queue level-1; each delivered
//     batch and its progress record go in one Raft entry, so a failover
//     neither loses nor duplicates a delayed message.
//   - Transactions: half messages in RMQ_SYS_TRANS_HALF_TOPIC; commit and
//     rollback write an op record, in the same Raft entry as the committed
//     message, so a half message is resolved exactly once. Half messages
//     older than TransactionTimeOut are checked with a live producer of
//     their group (CHECK_TRANSACTION_STATE, oneway) every
//     TransactionCheckInterval and rolled back after TransactionCheckMax
//     checks; check counts are the leader's memory.
//   - Dead-letter topics are write-only (perm 2), as in RocketMQ.
//
// # Concurrency
//
// Handlers run concurrently (one goroutine per request; pulls on their own
// executor). Shared state: clientManager (one mutex), longPoll (one mutex,
// never held while blocking), registrar and forwarder (one mutex each),
// scheduleService and txnChecker (start/stop under their mutex; their
// loops own their offsets), lockTable (one mutex), txnState (one mutex,
// held across the write that resolves a half message so it is resolved
// once). No lock is held while calling the store or the network, except
// txnState's; no two of these locks are ever held together.
package broker
