// Package remoting implements the RocketMQ 4.x remoting protocol: the frame
// codec (JSON and ROCKETMQ binary headers), a server, and a pipelined client.
// The wire format is documented in FORMAT.md beside this file; the protocol
// contract (and the quirks of the official Go client v2.1.2) in REMOTING.md.
//
// # Commands and codes
//
// A Command is a request or a response (FlagResponse). Request and response
// codes live in codes.go, one table each. NewRequest / NewResponse /
// NotSupported build commands; extFields values are always strings.
//
// # Frames and limits
//
// FrameReader (streams) and DecodeFrame (byte slices) check every length
// against Limits before allocating. A frame error (ErrFrameTooLarge,
// ErrHeaderTooLarge, ErrMalformed) closes that connection only. A
// well-formed request over a request limit (body, properties, topic) yields
// the Command together with an error wrapping ErrIllegalRequest; the
// connection answers it MESSAGE_ILLEGAL (13) without calling the handler, so
// a broker never sees, let alone appends, such a message.
//
// # Connections
//
// A Conn (accepted by a Server or dialed by a Client) runs one reader and one
// writer goroutine. Requests are served concurrently: each runs its
// Handler on its own goroutine, bounded per connection by
// ConnConfig.MaxConcurrent (the reader stops reading while every slot is
// busy), or on the Executor configured for its code (a saturated executor
// answers SYSTEM_BUSY). Give long-poll PULL_MESSAGE its own Executor so held
// pulls never take slots from SEND/HEART_BEAT on the same connection; and do
// not make a handler in a MaxConcurrent slot wait for a response from the same
// peer (the reader that would deliver it may be waiting for a slot).
//
// Writes go through a per-connection queue to the writer goroutine, which
// batches frames into a bufio.Writer and flushes when the queue is empty.
// Responses may go out in any order; calls are matched by opaque.
//
// Every request is answered unless it carries FlagOneway (the Go client never
// sets it, REMOTING.md §1.3). A connection from which no frame arrives for
// IdleTimeout, while none of its own requests awaits an answer, is closed.
// Either end may Invoke the other: a server sends
// NOTIFY_CONSUMER_IDS_CHANGED or CHECK_TRANSACTION_STATE with Conn.Invoke or
// Conn.InvokeOneway on an accepted connection.
//
// # Lifetimes
//
// ServerConfig.OnClose / ClientConfig.OnClose run once per connection, on its
// reader goroutine, right after it closed (before its handlers necessarily
// returned). Server.Close and Client.Close wait for the connections'
// goroutines, including handlers: handlers must return once their context is
// done.
package remoting
