package indexfile

import (
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Defaults, as RocketMQ's.
const (
	DefaultSlotCount      = 5_000_000
	DefaultEntriesPerFile = 20_000_000
)

// maxFileSize bounds one index file (it is mapped whole).
const maxFileSize = 1 << 36

// Options configures an Index. Zero fields take their defaults in Open.
type Options struct {
	// Dir is the directory of the index files and the checkpoint. Required.
	Dir string
	// FS is the file system all access goes through. Default vfs.OS.
	FS vfs.FS
	// SlotCount is the number of hash slots (4 bytes each) per new file.
	// Default 5,000,000. Existing files keep the count in their header.
	SlotCount int
	// EntriesPerFile is the number of 32-byte entries per new file; a file
	// rolls over when full. Default 20,000,000 (with the default slots, a
	// 660 MB file). At most 2^32-2.
	EntriesPerFile int
	// Logger receives recovery and maintenance messages. Default: discard.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults for an index in dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:            dir,
		FS:             vfs.OS,
		SlotCount:      DefaultSlotCount,
		EntriesPerFile: DefaultEntriesPerFile,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func (o *Options) applyDefaults() {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.SlotCount == 0 {
		o.SlotCount = DefaultSlotCount
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
	if o.SlotCount < 1 || int64(o.SlotCount) > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("%w: SlotCount %d outside [1, 2^32-1]", ErrInvalid, o.SlotCount))
	}
	if o.EntriesPerFile < 1 || int64(o.EntriesPerFile) > math.MaxUint32-1 {
		errs = append(errs, fmt.Errorf("%w: EntriesPerFile %d outside [1, 2^32-2]", ErrInvalid, o.EntriesPerFile))
	}
	if o.SlotCount >= 1 && o.EntriesPerFile >= 1 {
		if sz := layoutFor(uint32(min(int64(o.SlotCount), math.MaxUint32)), uint32(min(int64(o.EntriesPerFile), math.MaxUint32-1))).size; sz > maxFileSize {
			errs = append(errs, fmt.Errorf("%w: SlotCount and EntriesPerFile make %d-byte files, more than %d", ErrInvalid, sz, int64(maxFileSize)))
		}
	}
	if o.Logger == nil {
		errs = append(errs, fmt.Errorf("%w: Logger is nil", ErrInvalid))
	}
	return errors.Join(errs...)
}
