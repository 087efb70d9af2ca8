package dledger

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func newTestLayer(t *testing.T) *StreamLayer {
	t.Helper()
	s, err := NewStreamLayer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// echo accepts connections and echoes a line back until the layer closes.
func echo(s *StreamLayer) {
	for {
		c, err := s.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
	}
}

func roundTrip(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	_, err := io.ReadFull(c, b)
	return err
}

func TestStreamLayerDialBindsLocalIP(t *testing.T) {
	a, b := newTestLayer(t), newTestLayer(t)
	go echo(b)
	if !a.LocalIP().Equal(net.ParseIP("127.0.0.1")) {
		t.Fatalf("LocalIP = %v", a.LocalIP())
	}
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Fatal(err)
	}
	if ip := c.LocalAddr().(*net.TCPAddr).IP; !ip.Equal(a.LocalIP()) {
		t.Fatalf("dial left from %v, want %v", ip, a.LocalIP())
	}
}

func TestStreamLayerRejectsUnspecifiedBind(t *testing.T) {
	for _, bind := range []string{"0.0.0.0:0", ":0", "localhost:0", "nonsense"} {
		if s, err := NewStreamLayer(bind, nil); err == nil {
			_ = s.Close()
			t.Errorf("NewStreamLayer(%q) succeeded", bind)
		}
	}
}

func TestStreamLayerIsolateAndBlock(t *testing.T) {
	a, b := newTestLayer(t), newTestLayer(t)
	go echo(b)
	addr := raft.ServerAddress(b.Addr().String())
	c, err := a.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c); err != nil {
		t.Fatal(err)
	}

	// Isolating a closes its open connection and refuses new dials.
	a.Isolate(true)
	if err := roundTrip(c); err == nil {
		t.Fatal("connection survived isolation")
	}
	if _, err := a.Dial(addr, time.Second); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial while isolated: %v", err)
	}
	a.Isolate(false)

	// Isolating the accepting side drops incoming connections.
	b.Isolate(true)
	c2, err := a.Dial(addr, time.Second)
	if err == nil {
		if roundTrip(c2) == nil {
			t.Fatal("isolated layer served a connection")
		}
		_ = c2.Close()
	}
	b.Isolate(false)

	// Block refuses one target only.
	a.Block(string(addr))
	if _, err := a.Dial(addr, time.Second); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial to blocked address: %v", err)
	}
	a.Unblock()
	c3, err := a.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(c3); err != nil {
		t.Fatal(err)
	}
}

func TestStreamLayerCloseClosesConnections(t *testing.T) {
	a, b := newTestLayer(t), newTestLayer(t)
	go echo(b)
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if err := roundTrip(c); err == nil {
		t.Fatal("connection survived Close")
	}
	if _, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after close: %v", err)
	}
}
