package jepsen

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// MountTmpfs mounts a tmpfs of size bytes (rounded up to pages by the
// kernel) at dir, which must exist: a node's data directory there hits
// ENOSPC once it holds size bytes (the disk-full fault). Needs root. The
// mount is in the host's mount namespace: Unmount it before removing the
// directory.
func MountTmpfs(dir string, size int64) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: mount tmpfs", ErrNotPermitted)
	}
	if size <= 0 {
		return fmt.Errorf("%w: tmpfs size %d", ErrInvalidConfig, size)
	}
	if err := unix.Mount("jepsen-tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.FormatInt(size, 10)+",mode=0755"); err != nil {
		return fmt.Errorf("jepsen: mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

// Unmount unmounts dir, lazily (MNT_DETACH) if it is busy.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("jepsen: unmount %s: %w", dir, err)
	}
	return nil
}
