//go:build linux

package broker

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// freeBindControl sets IP_FREEBIND on the group address's socket, so the
// bind succeeds even when the IP is not (yet) assigned to a local
// interface: across hosts a VIP manager such as keepalived moves the IP to
// the leader's host, possibly a moment after the broker binds. Failing to
// set it is not an error: the bind then simply needs a local IP.
func freeBindControl(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	})
}
