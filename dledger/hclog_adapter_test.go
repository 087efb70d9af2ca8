package dledger

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func captureLogger(level slog.Level) (*bytes.Buffer, *slog.Logger) {
	var buf bytes.Buffer
	return &buf, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level, AddSource: true}))
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad json %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHCLogLevels(t *testing.T) {
	buf, l := captureLogger(LevelTrace)
	h := NewHCLogger(l, "raft")
	h.Trace("t")
	h.Debug("d")
	h.Info("i")
	h.Warn("w")
	h.Error("e")
	h.Log(hclog.Warn, "lw")
	got := lines(t, buf)
	want := []struct{ msg, level string }{
		{"t", "DEBUG-4"}, {"d", "DEBUG"}, {"i", "INFO"}, {"w", "WARN"}, {"e", "ERROR"}, {"lw", "WARN"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i]["msg"] != w.msg || got[i]["level"] != w.level || got[i]["logger"] != "raft" {
			t.Errorf("line %d = %v, want msg %q level %q logger raft", i, got[i], w.msg, w.level)
		}
		src, _ := got[i]["source"].(map[string]any)
		if f, _ := src["file"].(string); !strings.HasSuffix(f, "hclog_adapter_test.go") {
			t.Errorf("line %d source %v, want the caller's file", i, src)
		}
	}
}

func TestHCLogFilteringAndSetLevel(t *testing.T) {
	buf, l := captureLogger(slog.LevelInfo)
	h := NewHCLogger(l, "")
	if h.IsDebug() || h.IsTrace() || !h.IsInfo() || !h.IsError() {
		t.Fatalf("Is* = trace %v debug %v info %v error %v", h.IsTrace(), h.IsDebug(), h.IsInfo(), h.IsError())
	}
	if h.GetLevel() != hclog.Info {
		t.Fatalf("GetLevel = %v, want info (from the handler)", h.GetLevel())
	}
	h.Debug("hidden")
	child := h.Named("sub")
	h.SetLevel(hclog.Warn) // shared with derived loggers
	child.Info("hidden too")
	child.Warn("shown")
	if got := lines(t, buf); len(got) != 1 || got[0]["msg"] != "shown" || got[0]["logger"] != "sub" {
		t.Fatalf("got %v", got)
	}
	if h.GetLevel() != hclog.Warn || child.IsInfo() {
		t.Fatalf("SetLevel not shared: %v %v", h.GetLevel(), child.IsInfo())
	}
}

func TestHCLogWithNamedArgs(t *testing.T) {
	buf, l := captureLogger(slog.LevelDebug)
	h := NewHCLogger(l, "raft").With("peer", "n1").Named("net")
	if h.Name() != "raft.net" {
		t.Fatalf("Name = %q", h.Name())
	}
	if got := h.ImpliedArgs(); len(got) != 2 || got[0] != "peer" {
		t.Fatalf("ImpliedArgs = %v", got)
	}
	h.Info("hello", "n", 3, "f", hclog.Fmt("%d/%d", 1, 2), "hex", hclog.Hex(255), "odd")
	h.ResetNamed("x").Info("renamed")
	got := lines(t, buf)
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	g := got[0]
	if g["peer"] != "n1" || g["logger"] != "raft.net" || g["n"] != float64(3) || g["f"] != "1/2" || g["hex"] != "0xff" ||
		g[hclog.MissingKey] != "odd" {
		t.Fatalf("attrs = %v", g)
	}
	if got[1]["logger"] != "x" || got[1]["peer"] != "n1" {
		t.Fatalf("ResetNamed line = %v", got[1])
	}
}

func TestHCLogStandardLogger(t *testing.T) {
	buf, l := captureLogger(slog.LevelDebug)
	std := NewHCLogger(l, "raft").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	std.Print("[ERR] broken pipe")
	std.Print("[DEBUG] detail")
	std.Print("plain")
	got := lines(t, buf)
	want := []struct{ msg, level string }{{"broken pipe", "ERROR"}, {"detail", "DEBUG"}, {"plain", "INFO"}}
	if len(got) != 3 {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		if got[i]["msg"] != w.msg || got[i]["level"] != w.level {
			t.Errorf("line %d = %v, want %v", i, got[i], w)
		}
	}
}

func TestHCLogNilLogger(t *testing.T) {
	h := NewHCLogger(nil, "x")
	h.Error("dropped") // must not panic
	if h.IsError() {
		t.Fatal("discard logger reports enabled")
	}
}
