package jepsen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// History file format (FORMAT.md): a header line, then one Op per line.
// Frozen: a change that old readers would misread gets a new version.
const (
	// HistoryFormat names the format in the header line.
	HistoryFormat = "dledgermq-jepsen-history"
	// HistoryVersion is the version this package writes and the highest
	// it reads.
	HistoryVersion = 1
)

// historyHeader is the first line of a history file.
type historyHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Start   time.Time `json:"start,omitzero"` // wall clock of history time 0
}

func headerLine(start time.Time) []byte {
	b, _ := json.Marshal(historyHeader{Format: HistoryFormat, Version: HistoryVersion, Start: start})
	return append(b, '\n')
}

// WriteJSONL writes the header line, then h as JSON lines, one Op per
// line.
func WriteJSONL(w io.Writer, h History) error {
	bw := bufio.NewWriter(w)
	var start time.Time
	if len(h) > 0 && h[0].Wall != 0 {
		start = time.Unix(0, h[0].Wall-h[0].Time).UTC()
	}
	if _, err := bw.Write(headerLine(start)); err != nil {
		return fmt.Errorf("jepsen: write history header: %w", err)
	}
	enc := json.NewEncoder(bw)
	for i := range h {
		if err := enc.Encode(&h[i]); err != nil {
			return fmt.Errorf("jepsen: write history op %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("jepsen: write history: %w", err)
	}
	return nil
}

// ReadJSONL reads a history written by WriteJSONL or a Recorder sink. The
// first non-blank line must be the header of a version this package reads;
// blank lines are skipped; a line that does not parse is an error wrapping
// ErrBadHistory with its line number (the ops before it are returned).
// Lines may be arbitrarily long (a drain carries a whole queue). The
// history is not validated; call Validate.
func ReadJSONL(r io.Reader) (History, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var h History
	header := false
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 && !header {
			var hd historyHeader
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&hd); derr != nil || hd.Format != HistoryFormat {
				return nil, fmt.Errorf("%w: line %d: not a %s header", ErrBadHistory, line, HistoryFormat)
			}
			if hd.Version < 1 || hd.Version > HistoryVersion {
				return nil, fmt.Errorf("%w: line %d: version %d, this reader knows 1..%d", ErrBadHistory, line, hd.Version, HistoryVersion)
			}
			header = true
		} else if len(bytes.TrimSpace(b)) > 0 {
			var op Op
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&op); derr != nil {
				return h, fmt.Errorf("%w: line %d: %w", ErrBadHistory, line, derr)
			}
			h = append(h, op)
		}
		if errors.Is(err, io.EOF) {
			if !header {
				return nil, fmt.Errorf("%w: empty file, no header", ErrBadHistory)
			}
			return h, nil
		}
		if err != nil {
			return h, fmt.Errorf("jepsen: read history line %d: %w", line, err)
		}
	}
}

// SaveHistory writes h to path (created or truncated) and syncs it.
func SaveHistory(path string, h History) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("jepsen: save history: %w", err)
	}
	if err := WriteJSONL(f, h); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("jepsen: save history: %w", err)
	}
	return f.Close()
}

// LoadHistory reads the history at path and validates it.
func LoadHistory(path string) (History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jepsen: load history: %w", err)
	}
	defer f.Close()
	h, err := ReadJSONL(f)
	if err != nil {
		return h, err
	}
	return h, h.Validate()
}
