package dledger

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level hclog's Trace maps to (below slog.LevelDebug).
const LevelTrace = slog.LevelDebug - 4

// NewHCLogger returns an hclog.Logger that writes through l, so hashicorp/raft
// logs land in the project's slog handler. Levels map Trace→LevelTrace,
// Debug→Debug, Info→Info, Warn→Warn, Error→Error; the logger name is emitted
// as the "logger" attribute. With adds attributes, Named/ResetNamed change the
// name, SetLevel sets a floor shared by every logger derived from this one
// (hclog's semantics) on top of whatever the slog handler filters. A nil l
// discards everything.
func NewHCLogger(l *slog.Logger, name string) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.NoLevel))
	return &hcAdapter{h: l.Handler(), name: name, level: lvl}
}

var _ hclog.Logger = (*hcAdapter)(nil)

type hcAdapter struct {
	h       slog.Handler  // carries the With attributes
	implied []any         // the With arguments, for ImpliedArgs
	name    string        // dotted name, emitted as "logger"
	level   *atomic.Int32 // hclog.Level floor shared by derived loggers; NoLevel = none
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel, DefaultLevel
		return slog.LevelInfo
	}
}

func (a *hcAdapter) enabled(l hclog.Level) bool {
	if l == hclog.Off {
		return false
	}
	if floor := hclog.Level(a.level.Load()); floor != hclog.NoLevel && l < floor {
		return false
	}
	return a.h.Enabled(context.Background(), slogLevel(l))
}

// emit builds the record itself so the source position (for handlers with
// AddSource) is the caller of the hclog method, not this adapter.
func (a *hcAdapter) emit(l hclog.Level, msg string, args []any) {
	if !a.enabled(l) {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(3, pcs[:]) // runtime.Callers, emit, the hclog method
	r := slog.NewRecord(time.Now(), slogLevel(l), msg, pcs[0])
	if a.name != "" {
		r.AddAttrs(slog.String("logger", a.name))
	}
	r.AddAttrs(attrs(args)...)
	_ = a.h.Handle(context.Background(), r)
}

// attrs turns hclog's alternating key/value arguments into slog attributes.
// A trailing value without a key is kept under hclog's own name for it.
func attrs(args []any) []slog.Attr {
	out := make([]slog.Attr, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, slog.Any(hclog.MissingKey, value(args[i])))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		out = append(out, slog.Any(key, value(args[i+1])))
	}
	return out
}

// value renders hclog's formatting helpers the way hclog would.
func value(v any) any {
	switch x := v.(type) {
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		if f, ok := x[0].(string); ok {
			return fmt.Sprintf(f, x[1:]...)
		}
		return fmt.Sprint(x...)
	case hclog.Hex:
		return fmt.Sprintf("0x%x", int(x))
	case hclog.Octal:
		return fmt.Sprintf("0%o", int(x))
	case hclog.Binary:
		return fmt.Sprintf("0b%b", int(x))
	case hclog.Quote:
		return fmt.Sprintf("%q", string(x))
	case error:
		return x.Error()
	}
	return v
}

func (a *hcAdapter) Log(level hclog.Level, msg string, args ...any) { a.emit(level, msg, args) }
func (a *hcAdapter) Trace(msg string, args ...any)                  { a.emit(hclog.Trace, msg, args) }
func (a *hcAdapter) Debug(msg string, args ...any)                  { a.emit(hclog.Debug, msg, args) }
func (a *hcAdapter) Info(msg string, args ...any)                   { a.emit(hclog.Info, msg, args) }
func (a *hcAdapter) Warn(msg string, args ...any)                   { a.emit(hclog.Warn, msg, args) }
func (a *hcAdapter) Error(msg string, args ...any)                  { a.emit(hclog.Error, msg, args) }

func (a *hcAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hcAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hcAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hcAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hcAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hcAdapter) ImpliedArgs() []any { return append([]any(nil), a.implied...) }

func (a *hcAdapter) With(args ...any) hclog.Logger {
	if len(args) == 0 {
		return a
	}
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	as := attrs(args)
	c.h = a.h.WithAttrs(as)
	return &c
}

func (a *hcAdapter) Name() string { return a.name }

func (a *hcAdapter) Named(name string) hclog.Logger {
	c := *a
	if a.name != "" {
		c.name = a.name + "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hcAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *hcAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

// GetLevel returns the floor set with SetLevel or, when none was set, the
// lowest hclog level the slog handler accepts.
func (a *hcAdapter) GetLevel() hclog.Level {
	if l := hclog.Level(a.level.Load()); l != hclog.NoLevel {
		return l
	}
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.h.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return hclog.Off
}

func (a *hcAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hcAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{a: a, opts: *opts}
}

// stdWriter adapts the standard library logger: one Write per line, with the
// "[LEVEL]" prefix convention of hclog's own standard writer.
type stdWriter struct {
	a    *hcAdapter
	opts hclog.StandardLoggerOptions
}

func (w *stdWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := string(bytes.TrimSpace(line))
		level := hclog.Info
		if w.opts.ForceLevel != hclog.NoLevel {
			level = w.opts.ForceLevel
			_, msg = splitLevel(msg)
		} else if w.opts.InferLevels {
			level, msg = splitLevel(msg)
		}
		w.a.emit(level, msg, nil)
	}
	return len(p), nil
}

// splitLevel strips a leading "[LEVEL]" marker and returns the level it names.
func splitLevel(s string) (hclog.Level, string) {
	for _, p := range []struct {
		tag string
		l   hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(s, p.tag); ok {
			return p.l, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, s
}
