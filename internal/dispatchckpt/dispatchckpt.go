// Package dispatchckpt is the small checkpoint file of the derived stores
// (consumequeue, indexfile): how far dispatch from the commit log has got,
// durably, and the retention watermark. Both packages use the same layout
// with their own magic; the format is in consumequeue/FORMAT.md and
// indexfile/FORMAT.md.
//
// The file has two 64-byte record slots written alternately (seq even →
// slot 0, odd → slot 1), each with a CRC32-C, so a torn write leaves the
// previous record intact; Write syncs before it returns.
package dispatchckpt

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

// Format constants. FROZEN.
const (
	Version = 1
	RecSize = 64
	Size    = 2 * RecSize
	crcOff  = 60
)

// State says whether the store was mid-Reset.
type State uint8

const (
	StateOK        State = 1 // normal
	StateResetting State = 2 // Reset began and may not have finished
)

var (
	// ErrInvalid means neither slot holds a valid record.
	ErrInvalid = errors.New("dispatchckpt: no valid checkpoint record")
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("dispatchckpt: checkpoint closed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Rec is one checkpoint record.
type Rec struct {
	Seq        uint64
	State      State
	Dispatched int64 // every message with phys < Dispatched is in the store, durably
	MinPhys    int64 // retention watermark: entries with phys < MinPhys are dropped
}

func encode(b []byte, magic string, r Rec) {
	clear(b[:RecSize])
	copy(b[0:4], magic)
	binary.LittleEndian.PutUint16(b[4:], Version)
	b[6] = byte(r.State)
	binary.LittleEndian.PutUint64(b[8:], r.Seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Dispatched))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.MinPhys))
	binary.LittleEndian.PutUint32(b[crcOff:], crc32.Checksum(b[:crcOff], castagnoli))
}

func decode(b []byte, magic string) (Rec, bool) {
	if len(b) < RecSize || string(b[0:4]) != magic ||
		binary.LittleEndian.Uint16(b[4:]) != Version ||
		crc32.Checksum(b[:crcOff], castagnoli) != binary.LittleEndian.Uint32(b[crcOff:]) {
		return Rec{}, false
	}
	r := Rec{
		State:      State(b[6]),
		Seq:        binary.LittleEndian.Uint64(b[8:]),
		Dispatched: int64(binary.LittleEndian.Uint64(b[16:])),
		MinPhys:    int64(binary.LittleEndian.Uint64(b[24:])),
	}
	if (r.State != StateOK && r.State != StateResetting) || r.Dispatched < 0 || r.MinPhys < 0 {
		return Rec{}, false
	}
	return r, true
}

// Owner names the package whose checkpoint this is: its error prefix and
// the sentinels its callers test for.
type Owner struct {
	Name    string // error prefix, e.g. "consumequeue"
	Magic   string // 4 bytes, FROZEN per package
	Corrupt error  // wrapped when neither slot holds a valid record
	Closed  error  // returned by Write after Close
}

// File is an open checkpoint. Cur is the last record written or read.
type File struct {
	path  string
	owner Owner
	f     vfs.File
	Cur   Rec
}

// Open opens dir/name. found is false if there was none; then a fresh one
// holding fresh is created (and the directory synced). Errors carry the
// owner's prefix; an unreadable checkpoint wraps owner.Corrupt and ErrInvalid.
func Open(fsys vfs.FS, dir, name string, owner Owner, fresh Rec) (c *File, found bool, err error) {
	c, found, err = open(fsys, dir, name, owner, fresh)
	switch {
	case errors.Is(err, ErrInvalid) && owner.Corrupt != nil:
		return nil, found, fmt.Errorf("%w: %w", owner.Corrupt, err)
	case err != nil:
		return nil, found, fmt.Errorf("%s: %w", owner.Name, err)
	}
	return c, found, nil
}

func open(fsys vfs.FS, dir, name string, owner Owner, fresh Rec) (c *File, found bool, err error) {
	c = &File{path: filepath.Join(dir, name), owner: owner}
	if _, err := fsys.Stat(c.path); errors.Is(err, fs.ErrNotExist) {
		if c.f, err = fsys.Create(c.path); err != nil {
			return nil, false, fmt.Errorf("create checkpoint: %w", err)
		}
		if err := c.write(fresh); err != nil {
			c.f.Close()
			return nil, false, err
		}
		if err := fsys.SyncDir(dir); err != nil {
			c.f.Close()
			return nil, false, fmt.Errorf("sync %s: %w", dir, err)
		}
		return c, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("stat checkpoint: %w", err)
	}
	if c.f, err = fsys.Open(c.path); err != nil {
		return nil, false, fmt.Errorf("open checkpoint: %w", err)
	}
	var buf [Size]byte
	n, err := c.f.ReadAt(buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		c.f.Close()
		return nil, false, fmt.Errorf("read checkpoint: %w", err)
	}
	var best Rec
	ok := false
	for slot := 0; slot < 2; slot++ {
		if (slot+1)*RecSize > n {
			break
		}
		r, valid := decode(buf[slot*RecSize:], owner.Magic)
		if valid && int(r.Seq%2) == slot && (!ok || r.Seq > best.Seq) {
			best, ok = r, true
		}
	}
	if !ok {
		c.f.Close()
		return nil, true, fmt.Errorf("%w: %s", ErrInvalid, c.path)
	}
	c.Cur = best
	return c, true, nil
}

// Write durably stores r as the next record (r.Seq is assigned here).
// After Close it returns the owner's Closed sentinel (ErrClosed if none).
func (c *File) Write(r Rec) error {
	if c.f == nil {
		if c.owner.Closed != nil {
			return c.owner.Closed
		}
		return ErrClosed
	}
	if err := c.write(r); err != nil {
		return fmt.Errorf("%s: %w", c.owner.Name, err)
	}
	return nil
}

func (c *File) write(r Rec) error {
	r.Seq = c.Cur.Seq + 1
	var buf [RecSize]byte
	encode(buf[:], c.owner.Magic, r)
	if _, err := c.f.WriteAt(buf[:], int64(r.Seq%2)*RecSize); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	c.Cur = r
	return nil
}

// Closed reports whether Close has been called.
func (c *File) Closed() bool { return c.f == nil }

// Close closes the file; later Writes fail with ErrClosed.
func (c *File) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
