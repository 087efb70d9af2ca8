package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackBelowEphemeralRange(t *testing.T) {
	addrs, err := Loopback(8)
	if err != nil {
		t.Fatal(err)
	}
	low := ephemeralLow()
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s returned twice", a)
		}
		seen[a] = true
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("address %q: host %q, %v", a, host, err)
		}
		p, _ := strconv.Atoi(port)
		if p >= low || p < low-span {
			t.Fatalf("port %d outside [%d, %d)", p, low-span, low)
		}
		l, err := net.Listen("tcp", a) // released, so bindable again
		if err != nil {
			t.Fatalf("bind %s: %v", a, err)
		}
		_ = l.Close()
	}
}

func TestLoopbackSkipsTakenPorts(t *testing.T) {
	// Occupy many candidates; the rest must still be found.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	low := ephemeralLow()
	for p := low - span; p < low-span+200; p++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			held = append(held, l)
		}
	}
	addrs, err := Loopback(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		for _, l := range held {
			if l.Addr().String() == a {
				t.Fatalf("returned %s, which is in use", a)
			}
		}
	}
}
