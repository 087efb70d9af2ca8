//go:build !linux

package broker

import "syscall"

// freeBindControl does nothing where IP_FREEBIND does not exist: the group
// address's IP must be local before the broker can bind it.
func freeBindControl(_, _ string, _ syscall.RawConn) error { return nil }
