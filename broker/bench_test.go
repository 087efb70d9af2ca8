package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// BenchmarkSend measures SEND_MESSAGE through the broker (remoting client ->
// leader -> replicated store, acknowledged after a majority commit) against
// the baseline of calling the leader's store directly with the same
// messages, at the same concurrency (8 x GOMAXPROCS goroutines).
//
//	go test -run '^$' -bench BenchmarkSend -benchtime 3000x ./broker/
func BenchmarkSend(b *testing.B) {
	g := newGroup(b, nil)
	l := g.leader()
	addr := g.broker(l).Addr()
	st := g.broker(l).store
	for _, size := range []int{256, 4096} {
		body := make([]byte, size)
		topic := fmt.Sprintf("Bench%d", size)
		c := dial(b, addr, nil)
		send(b, c, topic, 0, nil, body) // create the topic
		b.Run(fmt.Sprintf("size=%d/path=broker", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Invoke(context.Background(), sendReq(topic, 0, nil, body))
					if err != nil || resp.ResponseCode() != remoting.Success {
						b.Errorf("send: %v %v", err, resp)
						return
					}
				}
			})
		})
		b.Run(fmt.Sprintf("size=%d/path=store", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := &message.MessageExt{Message: message.Message{Topic: topic, Body: body,
						Properties: message.Properties{{Key: message.PropCluster, Value: "DefaultCluster"}}}}
					if _, err := st.PutMessages(context.Background(), []*message.MessageExt{m}); err != nil {
						b.Errorf("put: %v", err)
						return
					}
				}
			})
		})
	}
}
