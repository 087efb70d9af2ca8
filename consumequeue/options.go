package consumequeue

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// DefaultEntriesPerFile is RocketMQ's default consume-queue file capacity.
const DefaultEntriesPerFile = 300_000

// Options configures a Store. Zero fields take their defaults in Open.
type Options struct {
	// Dir is the root directory. Queue files live in Dir/<topic>/<queueId>/.
	// Required.
	Dir string
	// FS is the file system all access goes through. Default vfs.OS.
	FS vfs.FS
	// EntriesPerFile is the number of entries (32 bytes each) per queue file
	// for queues created from now on; existing files keep the capacity in
	// their header. Default 300,000 (a 9.6 MB file). At most 67,108,862.
	EntriesPerFile int
	// Logger receives recovery and maintenance messages. Default: discard.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults for a store rooted at dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:            dir,
		FS:             vfs.OS,
		EntriesPerFile: DefaultEntriesPerFile,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func (o *Options) applyDefaults() {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.EntriesPerFile == 0 {
		o.EntriesPerFile = DefaultEntriesPerFile
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: Dir is empty", ErrInvalid))
	}
	if o.FS == nil {
		errs = append(errs, fmt.Errorf("%w: FS is nil", ErrInvalid))
	}
	if o.EntriesPerFile < 1 || o.EntriesPerFile > maxEntriesPerFile {
		errs = append(errs, fmt.Errorf("%w: EntriesPerFile %d outside [1, %d]", ErrInvalid, o.EntriesPerFile, maxEntriesPerFile))
	}
	if o.Logger == nil {
		errs = append(errs, fmt.Errorf("%w: Logger is nil", ErrInvalid))
	}
	return errors.Join(errs...)
}
