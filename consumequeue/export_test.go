package consumequeue

// crash drops the store without flushing or writing the checkpoint: what a
// process crash leaves behind (unflushed mapping writes stay in the page
// cache, so they are visible to the next Open, as after a real crash).
func (s *Store) crash() {
	s.closeQueues()
	s.ck.Close()
}

// filePaths returns the paths of the queue's files, oldest first.
func (q *Queue) filePaths() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	var p []string
	for _, f := range q.files {
		p = append(p, f.path)
	}
	return p
}
