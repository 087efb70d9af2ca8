package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// routeSnapshot is an immutable, parsed route with the queue lists derived
// from it, shared by every sender until the next refresh replaces it.
type routeSnapshot struct {
	route     *TopicRoute
	publish   []MessageQueue
	subscribe []MessageQueue
	fetched   time.Time
}

func newSnapshot(r *TopicRoute) *routeSnapshot {
	return &routeSnapshot{route: r, publish: r.PublishQueues(), subscribe: r.SubscribeQueues(), fetched: time.Now()}
}

// flight is one route query in progress; concurrent refreshes of a topic
// wait for it instead of starting their own (single flight).
type flight struct {
	done chan struct{}
	snap *routeSnapshot
	err  error
}

type routeEntry struct {
	snap atomic.Pointer[routeSnapshot] // nil until the first successful query

	mu       sync.Mutex
	inflight *flight // guarded by mu
}

// routeCache maps topics to their latest route. Reads are a map lookup
// under mu plus an atomic load; refreshes are single-flight per topic.
// Lock order: routeCache.mu, then routeEntry.mu (never held together in
// practice).
type routeCache struct {
	c      *Client
	mu     sync.Mutex
	topics map[string]*routeEntry
	nsNext atomic.Uint32 // name server to ask first: the last one that answered
}

func newRouteCache(c *Client) *routeCache {
	return &routeCache{c: c, topics: make(map[string]*routeEntry)}
}

func (rc *routeCache) entry(topic string) *routeEntry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e := rc.topics[topic]
	if e == nil {
		e = &routeEntry{}
		rc.topics[topic] = e
	}
	return e
}

// cached returns the current snapshot of topic without querying.
func (rc *routeCache) cached(topic string) *routeSnapshot {
	return rc.entry(topic).snap.Load()
}

// get returns the cached route, querying the name servers on a miss.
func (rc *routeCache) get(ctx context.Context, topic string) (*routeSnapshot, error) {
	e := rc.entry(topic)
	if s := e.snap.Load(); s != nil {
		return s, nil
	}
	return rc.refreshEntry(ctx, topic, e)
}

// refresh queries the name servers now (joining a query in progress).
func (rc *routeCache) refresh(ctx context.Context, topic string) (*routeSnapshot, error) {
	return rc.refreshEntry(ctx, topic, rc.entry(topic))
}

// refreshOrStale refreshes and falls back to the cached snapshot when the
// query fails: a stale route beats none while a name server is down.
func (rc *routeCache) refreshOrStale(ctx context.Context, topic string) (*routeSnapshot, error) {
	s, err := rc.refresh(ctx, topic)
	if err != nil {
		if old := rc.cached(topic); old != nil && ctx.Err() == nil {
			return old, nil
		}
		return nil, err
	}
	return s, nil
}

func (rc *routeCache) refreshEntry(ctx context.Context, topic string, e *routeEntry) (*routeSnapshot, error) {
	e.mu.Lock()
	f := e.inflight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.inflight = f
		e.mu.Unlock()
		// The query runs on its own goroutine with the client's lifetime,
		// so a caller whose context ends does not fail the others waiting.
		started := rc.c.goBackground(func() {
			f.snap, f.err = rc.fetch(topic, e)
			e.mu.Lock()
			e.inflight = nil
			e.mu.Unlock()
			close(f.done)
		})
		if !started {
			e.mu.Lock()
			e.inflight = nil
			e.mu.Unlock()
			f.err = ErrClosed
			close(f.done)
		}
	} else {
		e.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.snap, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch asks the name servers in turn, starting with the last one that
// answered, and installs the route on success.
func (rc *routeCache) fetch(topic string, e *routeEntry) (*routeSnapshot, error) {
	c := rc.c
	ns := c.cfg.NameServers
	start := int(rc.nsNext.Load())
	var errs []error
	notExist := false
	for i := range ns {
		idx := (start + i) % len(ns)
		addr := ns[idx]
		req := remoting.NewRequest(remoting.GetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
		resp, err := c.invoke(c.ctx, addr, req, c.cfg.RouteQueryTimeout)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		switch resp.ResponseCode() {
		case remoting.Success:
			r, err := ParseTopicRoute(topic, resp.Body)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", addr, err))
				continue
			}
			c.stats.routeQueries.Add(1)
			rc.nsNext.Store(uint32(idx))
			return rc.install(topic, e, r, resp.Body), nil
		case remoting.TopicNotExist:
			c.stats.routeQueries.Add(1)
			notExist = true
			errs = append(errs, fmt.Errorf("%s: %w", addr, brokerError(remoting.GetRouteInfoByTopic, resp, addr)))
		default:
			errs = append(errs, brokerError(remoting.GetRouteInfoByTopic, resp, addr))
		}
	}
	c.stats.routeErrors.Add(1)
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if notExist {
		if e.snap.Load() == nil { // never existed: stop the periodic refresh from asking again
			rc.mu.Lock()
			if rc.topics[topic] == e {
				delete(rc.topics, topic)
			}
			rc.mu.Unlock()
		}
		return nil, fmt.Errorf("%w: %q: %w", ErrTopicNotExist, topic, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: route of %q: %w", ErrNameServer, topic, errors.Join(errs...))
}

// install publishes a freshly fetched route, logging changes.
func (rc *routeCache) install(topic string, e *routeEntry, r *TopicRoute, body []byte) *routeSnapshot {
	s := newSnapshot(r)
	old := e.snap.Swap(s)
	if old == nil || !old.route.Equal(r) {
		c := rc.c
		if old != nil {
			c.stats.routeChanges.Add(1)
		}
		c.log.Info("client: route", "topic", topic, "brokers", r.Brokers, "publish_queues", len(s.publish),
			"subscribe_queues", len(s.subscribe))
		if err := CheckGoClientCompat(topic, body); err != nil {
			c.log.Warn("client: the official Go client would misread this route", "topic", topic, "err", err)
		}
	}
	return s
}

// refreshLoop re-queries every known topic each RouteRefreshInterval.
func (rc *routeCache) refreshLoop() {
	defer rc.c.wg.Done()
	t := time.NewTicker(rc.c.cfg.RouteRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-rc.c.ctx.Done():
			return
		case <-t.C:
		}
		rc.mu.Lock()
		topics := make([]string, 0, len(rc.topics))
		for topic := range rc.topics {
			topics = append(topics, topic)
		}
		rc.mu.Unlock()
		for _, topic := range topics {
			if _, err := rc.refresh(rc.c.ctx, topic); err != nil && rc.c.ctx.Err() == nil {
				rc.c.log.Debug("client: periodic route refresh failed", "topic", topic, "err", err)
			}
		}
	}
}
