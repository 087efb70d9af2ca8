package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dledgermq/dledgermq/commitlog"
)

// commitLogLoad opens a commit log under dir and returns the load that
// appends Batch records of Size bytes per operation from Concurrency
// writers (all serialize on the log's writer lock; under FlushSync each
// Append is one msync), and a function closing the log.
func commitLogLoad(cfg Config, dir string) (load, func() error, []string, error) {
	o := commitlog.DefaultOptions(filepath.Join(dir, "commitlog"))
	o.Flush = cfg.Flush
	o.SegmentSize = cfg.SegmentSize
	o.WarmSegments = cfg.WarmSegments
	if cfg.Logger != nil {
		o.Logger = cfg.Logger
	}
	l, err := commitlog.Open(o)
	if err != nil {
		return load{}, nil, nil, fmt.Errorf("%w: open commit log: %w", ErrSetup, err)
	}
	data := payload(cfg.Size)
	workers := cfg.Concurrency()
	recs := make([][]commitlog.Record, workers)
	offs := make([][]int64, workers)
	for w := range recs {
		recs[w] = make([]commitlog.Record, cfg.Batch)
		for i := range recs[w] {
			recs[w][i] = commitlog.Record{Type: 1, Data: data}
		}
		offs[w] = make([]int64, 0, cfg.Batch)
	}
	ld := load{
		workers:  workers,
		msgBytes: cfg.Size,
		sync: func(_ context.Context, w, msgs int, _ time.Time) (Outcome, error) {
			var err error
			offs[w], err = l.AppendInto(offs[w][:0], recs[w][:msgs])
			if err != nil {
				// A failed append makes the log refuse every later write.
				return SendFailed, fmt.Errorf("%w: commit log append: %w", ErrAborted, err)
			}
			return OK, nil
		},
	}
	setup := []string{fmt.Sprintf("commit log in %s, starting at offset %d", o.Dir, l.End())}
	return ld, l.Close, setup, nil
}
