// Package client is a lean Go producer and consumer for the RocketMQ 4.x
// remoting protocol, built for the bench tool (throughput and latency) and
// the jepsen harness (fault-injection histories). It is not a replacement
// for the official client: no rebalancing, no push consumer, no heartbeats,
// no transactions, no TBW102 topic auto-creation. It is fast (one
// pipelined connection per broker, batching), predictable (every wait
// bounded, three-way send outcomes) and observable (per-request events,
// counters).
//
//	c, err := client.New(client.DefaultConfig("127.0.0.1:9876"))
//	defer c.Close()
//	_, err = c.Admin().CreateTopic(ctx, client.NewTopicConfig("T", 8), brokerAddrs...)
//	_, err = c.Admin().WaitForRoute(ctx, "T", 8)
//	r, err := c.Producer().Send(ctx, &message.Message{Topic: "T", Body: b})
//	switch client.OutcomeOf(err) { case client.OutcomeOK, client.OutcomeFailed, client.OutcomeUnknown: ... }
//	a, err := c.Consumer("g").Assign(ctx, "T", client.DefaultAssignOptions())
//	for b := range a.C { ... b.Messages[i].BornToConsume() ... }
//
// # Routes
//
// GET_ROUTEINFO_BY_TOPIC (105) answers are parsed in both key styles a
// name server writes (ParseTopicRoute) and cached per topic. Sends go to
// the brokerId-0 (master / Raft leader) address of the chosen queue's
// broker group. A failed send refreshes the route before its retry (a
// leader change), every known topic is refreshed each
// Config.RouteRefreshInterval, refreshes of one topic are single-flight,
// and name servers are tried in turn, starting with the last that
// answered. A stale route is used while no name server answers.
//
// # Sends and outcomes
//
// Producer.Send / SendAsync send one message with SEND_MESSAGE_V2 (310;
// SEND_MESSAGE, 10, with Config.LegacySendHeader), SendBatch one
// SEND_BATCH_MESSAGE (320). BatchingProducer coalesces concurrent sends
// into SEND_BATCH requests per queue. Every send ends in exactly one
// Outcome: OK (the broker acknowledged), Failed (certainly not stored:
// refused, or never written to a connection) or Unknown (ErrUnknown: a
// request was written, or may have been, and no answer came). Retries
// (Config.Retries) happen on SYSTEM_ERROR, SYSTEM_BUSY,
// SERVICE_NOT_AVAILABLE, NO_PERMISSION, TOPIC_NOT_EXIST and transport
// errors, after a backoff and a route refresh; they resend the same bytes
// with the same UNIQ_KEY, so an OK after an unknown attempt is flagged
// SendResult.MaybeDuplicated.
//
// Ordering: sequential sends with ByShardingKey keep a key's order.
// Pipelined sends to one queue (SendAsync, BatchingProducer with
// MaxInFlight > 1) may be stored in any order, because a broker serves a
// connection's requests concurrently.
//
// # Consumers
//
// Consumer.Pull / PullWith issue one PULL_MESSAGE (long polling when
// Suspend > 0, tag filter sent to the broker and applied again here,
// compressed bodies inflated). Consumer.Assign runs one pull loop per queue
// with callback or channel delivery, start positions, periodic offset
// commits and per-message born-to-consume / store-to-consume latencies.
// OnBroker pins a consumer to one broker address, which is how jepsen reads
// each replica. QueryOffset / CommitOffset / MaxOffset / MinOffset /
// SearchOffset wrap requests 14 / 15 / 30 / 31 / 29.
//
// # Concurrency and callbacks
//
// Client, Producer, BatchingProducer, Consumer and Admin are safe for
// concurrent use. Send callbacks and Observer.ObserveRequest run on a
// connection's reader goroutine (or a retry or timer goroutine) and must
// not block; a blocked callback stalls every response of that connection.
// Locks: routeCache.mu then routeEntry.mu (never nested in practice);
// BatchingProducer.mu is never held while sending or calling back.
//
// The request headers the client writes and the response fields it reads
// are listed in FORMAT.md beside this file.
package client
