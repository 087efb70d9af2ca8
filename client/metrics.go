package client

import (
	"sync/atomic"
	"time"

	"github.com/dledgermq/dledgermq/remoting"
)

// RequestEvent describes one request this client made (one send attempt,
// one pull, one route query, ...). The bench tool feeds Latency into HDR
// histograms keyed by Code.
type RequestEvent struct {
	Code     remoting.RequestCode
	Addr     string
	Start    time.Time
	Latency  time.Duration         // from handing the request to the connection to its completion
	Response remoting.ResponseCode // the response code; meaningful when Err == nil
	// Err is the transport error (timeout, broken connection, dial
	// failure); nil when a response arrived, whatever its code.
	Err       error
	Messages  int // messages carried by a send request
	Bytes     int // request body bytes
	RespBytes int // response body bytes (pulled data)
}

// Observer sees every request a Client makes. ObserveRequest runs on the
// goroutine that completed the request (often a connection's reader) and
// must not block; ev is only valid during the call.
type Observer interface {
	ObserveRequest(ev *RequestEvent)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ev *RequestEvent)

// ObserveRequest calls f.
func (f ObserverFunc) ObserveRequest(ev *RequestEvent) { f(ev) }

var _ Observer = ObserverFunc(nil)

// Stats are a Client's cumulative counters.
type Stats struct {
	Requests       uint64 // requests completed (any code, any error)
	RequestErrors  uint64 // requests that ended in a transport error
	Timeouts       uint64 // ... of which timeouts
	MessagesSent   uint64 // messages acknowledged by a broker
	SendsOK        uint64 // send operations (single or batch) that succeeded
	SendsFailed    uint64 // send operations that definitely failed
	SendsUnknown   uint64 // send operations with an unknown outcome
	SendRetries    uint64 // send attempts after the first
	Pulls          uint64 // pull requests answered
	MessagesPulled uint64 // messages returned by pulls (after the tag filter)
	RouteQueries   uint64 // route queries answered by a name server
	RouteErrors    uint64 // route lookups that failed on every name server
	RouteChanges   uint64 // refreshes that found a different route
}

type counters struct {
	requests, requestErrors, timeouts       atomic.Uint64
	messagesSent, sendsOK, sendsFailed      atomic.Uint64
	sendsUnknown, sendRetries               atomic.Uint64
	pulls, messagesPulled                   atomic.Uint64
	routeQueries, routeErrors, routeChanges atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Requests: c.requests.Load(), RequestErrors: c.requestErrors.Load(), Timeouts: c.timeouts.Load(),
		MessagesSent: c.messagesSent.Load(), SendsOK: c.sendsOK.Load(), SendsFailed: c.sendsFailed.Load(),
		SendsUnknown: c.sendsUnknown.Load(), SendRetries: c.sendRetries.Load(),
		Pulls: c.pulls.Load(), MessagesPulled: c.messagesPulled.Load(),
		RouteQueries: c.routeQueries.Load(), RouteErrors: c.routeErrors.Load(), RouteChanges: c.routeChanges.Load(),
	}
}
