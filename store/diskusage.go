package store

import "golang.org/x/sys/unix"

// diskUsedPercent reports how full the file system holding dir is, in
// percent of its blocks, and whether it could tell.
func diskUsedPercent(dir string) (int, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 0, false
	}
	return int((st.Blocks - st.Bfree) * 100 / st.Blocks), true
}
