package dledger

import (
	"bytes"
	"fmt"
)

// CompareLogs checks two replicas record by record: for every raft index in
// [from, to] that both hold physically (to = 0: up to the shorter log), the
// entry's record must sit at the same commit-log offset with the same bytes.
// It returns how many entries it compared. Replicas that agree this way
// hold every message at the same physical offset.
func CompareLogs(a, b *LogStore, from, to uint64) (int, error) {
	aPhys, _, aNext := a.Bounds()
	bPhys, _, bNext := b.Bounds()
	lo := max(from, aPhys, bPhys)
	hi := min(aNext, bNext) // exclusive
	if to != 0 && to+1 < hi {
		hi = to + 1
	}
	n := 0
	for i := lo; i < hi; i++ {
		aOff, aData, err := a.ReadEntryRecord(i)
		if err != nil {
			return n, fmt.Errorf("dledger: compare entry %d, first replica: %w", i, err)
		}
		bOff, bData, err := b.ReadEntryRecord(i)
		if err != nil {
			return n, fmt.Errorf("dledger: compare entry %d, second replica: %w", i, err)
		}
		if aOff != bOff {
			return n, fmt.Errorf("dledger: entry %d at offset %d on one replica, %d on the other", i, aOff, bOff)
		}
		if !bytes.Equal(aData, bData) {
			return n, fmt.Errorf("dledger: entry %d at offset %d differs between replicas (%d vs %d bytes)",
				i, aOff, len(aData), len(bData))
		}
		n++
	}
	return n, nil
}
