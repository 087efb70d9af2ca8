package consumequeue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/dledgermq/dledgermq/internal/vfs"
)

// Checkpoint format. FROZEN (see FORMAT.md).
const (
	checkpointName    = "dispatch.ckpt" // '.' cannot occur in a topic name
	checkpointMagic   = "DMCK"
	checkpointVersion = 1
	checkpointRecSize = 64
	checkpointCRCOff  = 60
	checkpointSize    = 2 * checkpointRecSize

	stateOK        uint8 = 1 // normal
	stateResetting uint8 = 2 // Reset began and may not have finished
)

// checkpointRec is one checkpoint record.
type checkpointRec struct {
	seq        uint64
	state      uint8
	dispatched int64 // every message with phys < dispatched is in the queues, durably
	minPhys    int64 // retention watermark: entries with phys < minPhys are dropped
}

func encodeCheckpoint(b []byte, r checkpointRec) {
	clear(b[:checkpointRecSize])
	copy(b[0:4], checkpointMagic)
	binary.LittleEndian.PutUint16(b[4:], checkpointVersion)
	b[6] = r.state
	binary.LittleEndian.PutUint64(b[8:], r.seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(r.dispatched))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.minPhys))
	binary.LittleEndian.PutUint32(b[checkpointCRCOff:], crc32.Checksum(b[:checkpointCRCOff], castagnoli))
}

func decodeCheckpoint(b []byte) (checkpointRec, bool) {
	if len(b) < checkpointRecSize || string(b[0:4]) != checkpointMagic ||
		binary.LittleEndian.Uint16(b[4:]) != checkpointVersion ||
		crc32.Checksum(b[:checkpointCRCOff], castagnoli) != binary.LittleEndian.Uint32(b[checkpointCRCOff:]) {
		return checkpointRec{}, false
	}
	r := checkpointRec{
		state:      b[6],
		seq:        binary.LittleEndian.Uint64(b[8:]),
		dispatched: int64(binary.LittleEndian.Uint64(b[16:])),
		minPhys:    int64(binary.LittleEndian.Uint64(b[24:])),
	}
	if (r.state != stateOK && r.state != stateResetting) || r.dispatched < 0 || r.minPhys < 0 {
		return checkpointRec{}, false
	}
	return r, true
}

// checkpoint is the small file holding the dispatch and retention
// watermarks. It has two record slots written alternately (seq even → slot
// 0, odd → slot 1) so a torn write leaves the previous record intact.
type checkpoint struct {
	fs   vfs.FS
	path string
	f    vfs.File
	cur  checkpointRec
}

// openCheckpoint opens dir's checkpoint. found is false if there is none;
// then a fresh one holding rec is created.
func openCheckpoint(fsys vfs.FS, dir string, fresh checkpointRec) (c *checkpoint, found bool, err error) {
	c = &checkpoint{fs: fsys, path: filepath.Join(dir, checkpointName)}
	if _, err := fsys.Stat(c.path); errors.Is(err, fs.ErrNotExist) {
		if c.f, err = fsys.Create(c.path); err != nil {
			return nil, false, fmt.Errorf("consumequeue: create checkpoint: %w", err)
		}
		if err := c.write(fresh); err != nil {
			c.f.Close()
			return nil, false, err
		}
		if err := fsys.SyncDir(dir); err != nil {
			c.f.Close()
			return nil, false, fmt.Errorf("consumequeue: sync %s: %w", dir, err)
		}
		return c, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("consumequeue: stat checkpoint: %w", err)
	}
	if c.f, err = fsys.Open(c.path); err != nil {
		return nil, false, fmt.Errorf("consumequeue: open checkpoint: %w", err)
	}
	var buf [checkpointSize]byte
	n, err := c.f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		c.f.Close()
		return nil, false, fmt.Errorf("consumequeue: read checkpoint: %w", err)
	}
	var best checkpointRec
	ok := false
	for slot := 0; slot < 2; slot++ {
		if (slot+1)*checkpointRecSize > n {
			break
		}
		r, valid := decodeCheckpoint(buf[slot*checkpointRecSize:])
		if valid && int(r.seq%2) == slot && (!ok || r.seq > best.seq) {
			best, ok = r, true
		}
	}
	if !ok {
		c.f.Close()
		return nil, true, fmt.Errorf("%w: %s: no valid checkpoint record", ErrCorrupt, c.path)
	}
	c.cur = best
	return c, true, nil
}

// write durably stores r as the next record (r.seq is assigned here).
func (c *checkpoint) write(r checkpointRec) error {
	if c.f == nil {
		return ErrClosed
	}
	r.seq = c.cur.seq + 1
	var buf [checkpointRecSize]byte
	encodeCheckpoint(buf[:], r)
	if _, err := c.f.WriteAt(buf[:], int64(r.seq%2)*checkpointRecSize); err != nil {
		return fmt.Errorf("consumequeue: write checkpoint: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("consumequeue: sync checkpoint: %w", err)
	}
	c.cur = r
	return nil
}

func (c *checkpoint) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
