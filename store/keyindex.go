package store

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dledgermq/dledgermq/indexfile"
	"github.com/dledgermq/dledgermq/message"
)

// IndexConfig configures the key index (package indexfile). Zero fields
// take indexfile's defaults.
type IndexConfig struct {
	// SlotCount is the number of hash slots per index file. Default
	// indexfile.DefaultSlotCount (5,000,000).
	SlotCount int
	// EntriesPerFile is the number of key entries per index file. Default
	// indexfile.DefaultEntriesPerFile (20,000,000).
	EntriesPerFile int
}

// DefaultIndexConfig returns indexfile's defaults.
func DefaultIndexConfig() IndexConfig {
	return IndexConfig{SlotCount: indexfile.DefaultSlotCount, EntriesPerFile: indexfile.DefaultEntriesPerFile}
}

func (c IndexConfig) options(dir string) indexfile.Options {
	o := indexfile.DefaultOptions(dir)
	if c.SlotCount != 0 {
		o.SlotCount = c.SlotCount
	}
	if c.EntriesPerFile != 0 {
		o.EntriesPerFile = c.EntriesPerFile
	}
	return o
}

func (c IndexConfig) validate() error {
	if err := c.options("index").Validate(); err != nil {
		return fmt.Errorf("%w: Index: %w", ErrConfig, err)
	}
	return nil
}

// keyIndex dispatches message keys to the index: each KEYS entry and the
// UNIQ_KEY, scoped by topic as RocketMQ's "topic#key".
type keyIndex struct {
	ix  *indexfile.Index
	key []byte // scratch for "topic#key"; used by the dispatcher only
}

// openKeyIndex opens the index, discarding it when it is corrupt (it is
// rebuilt from the commit log by reconcile).
func (s *Store) openKeyIndex() (*keyIndex, error) {
	o := s.cfg.Index.options(filepath.Join(s.cfg.Dir, "index"))
	o.FS, o.Logger = s.cfg.FS, s.logger
	ix, err := indexfile.Open(o)
	if errors.Is(err, indexfile.ErrCorrupt) {
		s.logger.Warn("store: key index corrupt; discarding it for a rebuild", "err", err)
		if rerr := removeAll(s.cfg.FS, o.Dir); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		ix, err = indexfile.Open(o)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open key index: %w", err)
	}
	return &keyIndex{ix: ix}, nil
}

// putMessage indexes the keys of the message at phys.
func (k *keyIndex) putMessage(topic string, phys int64, v message.View) error {
	ts := v.StoreTimestamp()
	if u := v.UniqKey(); len(u) > 0 {
		if err := k.put(topic, u, phys, ts); err != nil {
			return err
		}
	}
	for key := range message.KeysSeqBytes(v.Keys()) {
		if err := k.put(topic, key, phys, ts); err != nil {
			return err
		}
	}
	k.ix.AdvanceDispatched(phys + int64(v.Len()))
	return nil
}

func (k *keyIndex) put(topic string, key []byte, phys, ts int64) error {
	k.key = append(append(append(k.key[:0], topic...), '#'), key...)
	return k.ix.Put(string(k.key), phys, ts)
}

// query returns candidate physical offsets for topic#key, newest first.
func (k *keyIndex) query(topic, key string, max int, begin, end int64) ([]int64, error) {
	return k.ix.Query(topic+"#"+key, begin, end, max)
}

func (k *keyIndex) dispatchedPhys() int64         { return k.ix.DispatchedPhys() }
func (k *keyIndex) advanceDispatched(phys int64)  { k.ix.AdvanceDispatched(phys) }
func (k *keyIndex) truncatePhys(phys int64) error { return k.ix.TruncatePhys(phys) }
func (k *keyIndex) dropBeforePhys(p int64) error  { return k.ix.DropBeforePhys(p) }
func (k *keyIndex) flush() error                  { return k.ix.Flush() }
func (k *keyIndex) close() error                  { return k.ix.Close() }
