// Package freeport picks loopback TCP addresses for servers a process (or
// a test) starts a little later.
//
// A port found free by binding to port 0 is an ephemeral port: once the
// probe releases it, the kernel may hand it to any outgoing connection or
// to another Listen(":0") before the intended server binds it (the
// three-node groups of the bench and the tests dial each other while the
// last node is still starting, and once lost a start-up to "address
// already in use"). Loopback picks ports below the kernel's ephemeral range
// instead, which only an explicit bind can take.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// span is how many ports below the ephemeral range are candidates.
const span = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > span+1024 {
				return v
			}
		}
	}
	return 32768
}

// Loopback returns n distinct "127.0.0.1:port" addresses whose ports were
// free when probed and lie below the ephemeral range.
func Loopback(n int) ([]string, error) {
	hi := ephemeralLow()
	lo := hi - span
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	out := make([]string, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries >= 50*n {
			return nil, fmt.Errorf("freeport: no free port in [%d, %d) after %d tries", lo, hi, tries)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(span)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		ls = append(ls, l)
		out = append(out, addr)
	}
	return out, nil
}
