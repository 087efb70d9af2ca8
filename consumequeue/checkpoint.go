package consumequeue

import (
	"errors"
	"fmt"

	"github.com/dledgermq/dledgermq/internal/dispatchckpt"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// The checkpoint file (dispatch and retention watermarks) is the shared
// internal/dispatchckpt layout with this package's magic. FROZEN (see
// FORMAT.md).
const (
	checkpointName    = "dispatch.ckpt" // '.' cannot occur in a topic name
	checkpointMagic   = "DMCK"
	checkpointRecSize = dispatchckpt.RecSize

	stateOK        = dispatchckpt.StateOK
	stateResetting = dispatchckpt.StateResetting
)

type checkpointRec = dispatchckpt.Rec

// checkpoint wraps the shared file with this package's errors.
type checkpoint struct{ *dispatchckpt.File }

// openCheckpoint opens dir's checkpoint. found is false if there is none;
// then a fresh one holding fresh is created.
func openCheckpoint(fsys vfs.FS, dir string, fresh checkpointRec) (*checkpoint, bool, error) {
	f, found, err := dispatchckpt.Open(fsys, dir, checkpointName, checkpointMagic, fresh)
	switch {
	case errors.Is(err, dispatchckpt.ErrInvalid):
		return nil, found, fmt.Errorf("%w: %w", ErrCorrupt, err)
	case err != nil:
		return nil, found, fmt.Errorf("consumequeue: %w", err)
	}
	return &checkpoint{f}, found, nil
}

// write durably stores r as the next record.
func (c *checkpoint) write(r checkpointRec) error {
	if err := c.File.Write(r); errors.Is(err, dispatchckpt.ErrClosed) {
		return ErrClosed
	} else if err != nil {
		return fmt.Errorf("consumequeue: %w", err)
	}
	return nil
}

func (c *checkpoint) close() error { return c.File.Close() }
