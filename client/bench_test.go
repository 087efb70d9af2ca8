package client

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dledgermq/dledgermq/message"
	"github.com/dledgermq/dledgermq/remoting"
)

// Benchmarks of the client's own cost. Run:
//
//	go test -run '^$' -bench . -benchtime 2s ./client/

func benchMessages(n, size int) []*message.Message {
	body := []byte(strings.Repeat("x", size))
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = &message.Message{Topic: "BenchTopic", Body: body}
		msgs[i].Properties.Set(message.PropTags, "TagA")
		msgs[i].Properties.Set(message.PropKeys, fmt.Sprint("key-", i))
	}
	return msgs
}

// BenchmarkBatchEncode: the client's whole SEND_BATCH request encoding
// (validation, UNIQ_KEY per message, body, V2 header, frame header) per
// batch of 64, against the bare message.AppendBatch codec on messages that
// already carry their UNIQ_KEY (the baseline).
func BenchmarkBatchEncode(b *testing.B) {
	const batch = 64
	for _, size := range []int{128, 1024} {
		msgs := benchMessages(batch, size)
		b.Run(fmt.Sprintf("client/%dB", size), func(b *testing.B) {
			c := newClient(b, testConfig("127.0.0.1:1"))
			p := c.Producer()
			ctx := context.Background()
			frame := make([]byte, 0, 256<<10)
			b.SetBytes(int64(batch * size))
			b.ReportAllocs()
			for b.Loop() {
				op, err := p.newBatch(ctx, msgs, nil)
				if err != nil {
					b.Fatal(err)
				}
				ext := sendHeaderV2(c.cfg.ProducerGroup, op.topic, 1, op.sysFlag, op.bornTs, op.flag, op.props, true)
				frame, err = remoting.AppendFrame(frame[:0], remoting.NewRequest(op.code, ext, op.body), 16<<20)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
		})
		b.Run(fmt.Sprintf("baseline-AppendBatch/%dB", size), func(b *testing.B) {
			plain := make([]message.Message, batch)
			for i, m := range msgs {
				plain[i] = *m
				plain[i].Properties = append(m.Properties.Clone(), message.Property{Key: message.PropUniqKey, Value: fmt.Sprintf("%032X", i)})
			}
			buf := make([]byte, 0, 256<<10)
			b.SetBytes(int64(batch * size))
			b.ReportAllocs()
			for b.Loop() {
				buf = message.AppendBatch(buf[:0], plain)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
		})
	}
}

// sinkBroker answers every send at once without storing anything: the
// client's ceiling on loopback, not the broker's.
func sinkBroker(b *testing.B) string {
	_, addr := startServer(b, remoting.HandlerFunc(func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		r := remoting.NewResponse(req, remoting.Success, "")
		r.ExtFields = map[string]string{"msgId": "7F00000100009ABD0000000000000961", "queueId": "0", "queueOffset": "0"}
		return r
	}))
	return addr
}

// BenchmarkSendLoopback: messages/s through one Client against sinkBroker,
// per mode, with the raw remoting pipelined InvokeAsync of an equivalent
// frame as the baseline (the transport's ceiling in the same run).
func BenchmarkSendLoopback(b *testing.B) {
	const size = 256
	addr := sinkBroker(b)
	ns := newFakeNamesrv(b)
	ns.setRoute("BenchTopic", fastjsonRoute("broker-a", addr, 8))
	newBenchClient := func(b *testing.B) *Client {
		cfg := testConfig(ns.addr)
		cfg.MaxAsyncInFlight = 2048
		cfg.Remoting.Conn.SendQueue = 4096
		c := newClient(b, cfg)
		if _, err := c.Route(context.Background(), "BenchTopic"); err != nil {
			b.Fatal(err)
		}
		return c
	}
	msgs := benchMessages(1, size)
	msg := msgs[0]
	perMsg := func(b *testing.B, n int) {
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	}

	b.Run("baseline-remoting-InvokeAsync", func(b *testing.B) {
		cfg := remoting.DefaultClientConfig()
		cfg.Conn.Logger = discard
		cfg.Conn.SendQueue = 4096
		rc, err := remoting.NewClient(addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		sem := make(chan struct{}, 2048)
		var wg sync.WaitGroup
		props := encodeProps(msg, "0A000001000100000000000000000001")
		b.SetBytes(size)
		for b.Loop() {
			sem <- struct{}{}
			wg.Add(1)
			req := remoting.NewRequest(remoting.SendMessageV2, sendHeaderV2("g", "BenchTopic", 0, "0", "1700000000000", "0", props, false), msg.Body)
			if err := rc.InvokeAsync(context.Background(), req, func(*remoting.Command, error) { <-sem; wg.Done() }); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		perMsg(b, b.N)
	})
	b.Run("Send-sequential", func(b *testing.B) {
		p := newBenchClient(b).Producer()
		ctx := context.Background()
		b.SetBytes(size)
		for b.Loop() {
			if _, err := p.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		perMsg(b, b.N)
	})
	b.Run("Send-64-goroutines", func(b *testing.B) {
		p := newBenchClient(b).Producer()
		ctx := context.Background()
		b.SetBytes(size)
		b.SetParallelism(32) // 2 cores × 32
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Send(ctx, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
	b.Run("SendAsync", func(b *testing.B) {
		p := newBenchClient(b).Producer()
		ctx := context.Background()
		var wg sync.WaitGroup
		b.SetBytes(size)
		for b.Loop() {
			wg.Add(1)
			if err := p.SendAsync(ctx, msg, func(_ SendResult, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		perMsg(b, b.N)
	})
	b.Run("BatchingProducer", func(b *testing.B) {
		c := newBenchClient(b)
		bp, err := c.NewBatchingProducer(DefaultBatchOptions())
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		sem := make(chan struct{}, 8192) // bounded outstanding messages
		var wg sync.WaitGroup
		b.SetBytes(size)
		for b.Loop() {
			sem <- struct{}{}
			wg.Add(1)
			if err := bp.SendAsync(ctx, msg, func(_ SendResult, err error) {
				if err != nil {
					b.Error(err)
				}
				<-sem
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		perMsg(b, b.N)
		_ = bp.Close()
	})
}
