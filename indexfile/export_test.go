package indexfile

// crash drops the index without flushing: what a process crash leaves
// (unflushed mapping writes stay in the page cache and are seen by the
// next Open).
func (ix *Index) crash() {
	ix.mu.Lock()
	for _, f := range ix.files {
		f.close()
	}
	ix.files = nil
	ix.closed = true
	ix.mu.Unlock()
	ix.ck.Close()
}

// fileCount returns the number of index files.
func (ix *Index) fileCount() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.files)
}

func (ix *Index) filePath(i int) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.files[i].path
}
