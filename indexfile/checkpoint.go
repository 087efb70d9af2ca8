package indexfile

import (
	"github.com/dledgermq/dledgermq/internal/dispatchckpt"
	"github.com/dledgermq/dledgermq/internal/vfs"
)

// The checkpoint file (dispatch and retention watermarks) is the shared
// internal/dispatchckpt layout with this package's magic. FROZEN (see
// FORMAT.md).
const (
	checkpointName    = "dispatch.ckpt" // '.' cannot occur in a topic name
	checkpointRecSize = dispatchckpt.RecSize

	stateOK        = dispatchckpt.StateOK
	stateResetting = dispatchckpt.StateResetting
)

type checkpointRec = dispatchckpt.Rec

var checkpointOwner = dispatchckpt.Owner{Name: "indexfile", Magic: "DMIK", Corrupt: ErrCorrupt, Closed: ErrClosed}

// openCheckpoint opens dir's checkpoint. found is false if there is none;
// then a fresh one holding fresh is created.
func openCheckpoint(fsys vfs.FS, dir string, fresh checkpointRec) (*dispatchckpt.File, bool, error) {
	return dispatchckpt.Open(fsys, dir, checkpointName, checkpointOwner, fresh)
}
