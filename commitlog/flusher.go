package commitlog

import "time"

// flushLoop is the background flusher. Under FlushAsync it makes appended
// records durable every FlushInterval; under both modes it then advances the
// sync point recorded in the active segment's header, which lags one batch
// behind while the log is busy.
func (l *Log) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.backgroundFlush()
		}
	}
}

// backgroundFlush runs one flusher step. It takes flushMu but not mu, so
// appends continue while it waits for the disk.
func (l *Log) backgroundFlush() {
	if l.closed.Load() || l.failure() != nil {
		return
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// The active segment cannot change while flushMu is held: rolls,
	// truncations and resets take it. Its bytes below End are complete.
	l.segMu.RLock()
	seg := l.segs[len(l.segs)-1]
	l.segMu.RUnlock()
	to := l.end.Load()
	var err error
	switch {
	case to > l.durable && to > seg.first && to <= seg.limit():
		err = l.flushDataLocked(seg, to)
	case seg.slotSync < l.durable && l.durable <= seg.limit():
		err = seg.writeSlotFlushLocked(l.durable)
	}
	if err != nil {
		l.fail(err)
	}
}
