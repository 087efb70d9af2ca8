package remoting

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// goClientHeader mirrors the Go client's RemotingCommand: the
// encoding/json baseline for the hand-written JSON codec.
type goClientHeader struct {
	Code      int16             `json:"code"`
	Language  string            `json:"language"`
	Version   int16             `json:"version"`
	Opaque    int32             `json:"opaque"`
	Flag      int32             `json:"flag"`
	Remark    string            `json:"remark"`
	ExtFields map[string]string `json:"extFields"`
}

func BenchmarkHeaderEncode(b *testing.B) {
	c := sendCommand()
	b.Run("json/hand", func(b *testing.B) {
		buf := appendJSONHeader(nil, c)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			buf = appendJSONHeader(buf[:0], c)
		}
	})
	b.Run("json/encoding-json", func(b *testing.B) {
		h := goClientHeader{Code: 10, Language: "GO", Version: 317, Opaque: 6, ExtFields: c.ExtFields}
		buf, _ := json.Marshal(&h)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := json.Marshal(&h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		buf, _ := appendBinaryHeader(nil, c)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			buf, _ = appendBinaryHeader(buf[:0], c)
		}
	})
}

func BenchmarkHeaderDecode(b *testing.B) {
	hdr := []byte(sendHeaderJSON)
	b.Run("json/hand", func(b *testing.B) {
		b.SetBytes(int64(len(hdr)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := decodeJSONHeader(hdr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json/encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(hdr)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var h goClientHeader
			if err := json.Unmarshal(hdr, &h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		bin, _ := appendBinaryHeader(nil, sendCommand())
		b.SetBytes(int64(len(bin)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := decodeBinaryHeader(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchSendRequest is a SEND_MESSAGE with a 128-byte body.
func benchSendRequest() *Command {
	c := sendCommand()
	c.Body = make([]byte, 128)
	return c
}

func benchServer(b *testing.B) string {
	cfg := DefaultServerConfig()
	cfg.Conn.Logger, _ = newTestLogger()
	_, addr := startServer(b, cfg, HandlerFunc(func(ctx context.Context, c *Conn, req *Command) *Command {
		resp := NewResponse(req, Success, "")
		resp.ExtFields = map[string]string{"msgId": "7F00000100009ABD0000000000000961", "queueId": "1", "queueOffset": "42"}
		return resp
	}))
	return addr
}

// BenchmarkRoundTrip: SEND-sized request/response pairs over one loopback
// connection with 1 and 64 requests in flight (sync Invoke from that many
// goroutines, and InvokeAsync with a window of 64).
func BenchmarkRoundTrip(b *testing.B) {
	frameLen := int64(len(mustFrame(b, benchSendRequest())))
	for _, inflight := range []int{1, 64} {
		b.Run("sync/inflight="+itoa(inflight), func(b *testing.B) {
			addr := benchServer(b)
			cl := testClient(b, addr, testClientConfig())
			ctx := context.Background()
			if _, err := cl.Invoke(ctx, benchSendRequest()); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(frameLen)
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b)()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range inflight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := cl.Invoke(ctx, benchSendRequest()); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
	b.Run("async/inflight=64", func(b *testing.B) {
		addr := benchServer(b)
		cl := testClient(b, addr, testClientConfig())
		ctx := context.Background()
		if _, err := cl.Invoke(ctx, benchSendRequest()); err != nil {
			b.Fatal(err)
		}
		window := make(chan struct{}, 64)
		var wg sync.WaitGroup
		b.SetBytes(frameLen)
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			window <- struct{}{}
			wg.Add(1)
			if err := cl.InvokeAsync(ctx, benchSendRequest(), func(_ *Command, err error) {
				if err != nil {
					b.Error(err)
				}
				<-window
				wg.Done()
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	})
	// Baseline: the loopback floor — the same request and response bytes
	// bounced over a plain TCP connection by a server that only reads frames
	// and writes a canned response (no decoding, no goroutine per request).
	b.Run("baseline-raw-tcp/inflight=1", func(b *testing.B) {
		req := mustFrame(b, benchSendRequest())
		resp := mustFrame(b, &Command{Code: 0, Flag: FlagResponse, ExtFields: map[string]string{
			"msgId": "7F00000100009ABD0000000000000961", "queueId": "1", "queueOffset": "42"}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			buf := make([]byte, len(req))
			for {
				if _, err := io.ReadFull(br, buf); err != nil {
					return
				}
				if _, err := nc.Write(resp); err != nil {
					return
				}
			}
		}()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		rbuf := make([]byte, len(resp))
		b.SetBytes(frameLen)
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for range b.N {
			if _, err := nc.Write(req); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(br, rbuf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU starts measuring process CPU time; the returned function reports
// it per op as "cpu-ns/op" (see processCPU).
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func BenchmarkWriterYield(b *testing.B) {
	for _, y := range []bool{false, true} {
		writerYield = y
		b.Run("yield="+map[bool]string{false: "off", true: "on"}[y], BenchmarkRoundTrip)
	}
	writerYield = true
}
