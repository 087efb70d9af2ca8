package store

import "golang.org/x/sys/unix"

// diskUsedPercent reports how full the file system holding dir is, in
// percent of its blocks, and whether it could tell.
func diskUsedPercent(dir string) (int, bool) {
	used, total, ok := diskBlocks(dir)
	if !ok {
		return 0, false
	}
	return int(used * 100 / total), true
}

// diskBlocks returns the used and total blocks of the file system holding
// dir.
func diskBlocks(dir string) (used, total uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 0, 0, false
	}
	return st.Blocks - st.Bfree, st.Blocks, true
}
