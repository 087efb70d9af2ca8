package jepsen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestRecorderPairsAndRejects(t *testing.T) {
	var sink bytes.Buffer
	r := NewRecorder(&sink)
	inv, err := r.Invoke(Op{Process: 1, Kind: KindSend, Value: "a", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Type != Invoke || inv.Index != 0 {
		t.Fatalf("invoke recorded as %+v", inv)
	}
	if _, err := r.Invoke(Op{Process: 1, Kind: KindSend, Value: "b"}); !errors.Is(err, ErrProcessBusy) {
		t.Fatalf("second invoke of busy process: %v, want ErrProcessBusy", err)
	}
	if _, err := r.Complete(Op{Process: 2, Type: OK, Kind: KindSend}); !errors.Is(err, ErrNotInvoked) {
		t.Fatalf("completion without invoke: %v, want ErrNotInvoked", err)
	}
	if _, err := r.Complete(inv.As(OK).withKind(KindRead)); !errors.Is(err, ErrNotInvoked) {
		t.Fatalf("completion of another kind: %v, want ErrNotInvoked", err)
	}
	if _, err := r.Complete(inv.As(Invoke)); !errors.Is(err, ErrBadHistory) {
		t.Fatalf("completion typed invoke: %v, want ErrBadHistory", err)
	}
	c := inv.As(OK)
	c.Queue, c.Offset = q0, 7
	done, err := r.Complete(c)
	if err != nil {
		t.Fatal(err)
	}
	if done.Index != 1 || done.Value != "a" || done.Key != "k" || done.Time < inv.Time {
		t.Fatalf("completion recorded as %+v", done)
	}
	if _, err := r.Invoke(Op{Process: 3, Kind: KindRead, Queue: q0}); err != nil {
		t.Fatal(err)
	}
	if n := r.CompleteAllInFlight("run ended"); n != 1 {
		t.Fatalf("CompleteAllInFlight = %d, want 1", n)
	}
	h := r.History()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	pairs := h.Pairs()
	if len(pairs) != 2 || pairs[0].Outcome() != OK || pairs[1].Outcome() != Info || pairs[1].Complete.Error != "run ended" {
		t.Fatalf("pairs %+v", pairs)
	}
	if pairs[1].End() != infTime || pairs[0].End() != pairs[0].Complete.Time {
		t.Fatalf("End: %d %d", pairs[0].End(), pairs[1].End())
	}
	// The sink holds the same history, line by line.
	back, err := ReadJSONL(&sink)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Fatalf("sink history differs:\n%v\n%v", back, h)
	}
	if err := r.SinkErr(); err != nil {
		t.Fatal(err)
	}
}

func (o Op) withKind(k Kind) Op { o.Kind = k; return o }

func TestRecorderConcurrent(t *testing.T) {
	var sink bytes.Buffer
	r := NewRecorder(&sink)
	const procs, each = 8, 200
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				inv, err := r.Invoke(Op{Process: p, Kind: KindSend, Value: fmt.Sprintf("%d-%d", p, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.Complete(inv.As(OK)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h := r.History()
	if len(h) != 2*procs*each || r.Len() != len(h) || r.InFlight() != 0 {
		t.Fatalf("len %d, in flight %d", len(h), r.InFlight())
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&sink)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Fatal("sink lines are not the history in index order")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestRecorderSinkErrorKeepsMemory(t *testing.T) {
	r := NewRecorder(failWriter{})
	inv, err := r.Invoke(Op{Process: 0, Kind: KindSend, Value: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Complete(inv.As(OK)); err != nil {
		t.Fatal(err)
	}
	if r.SinkErr() == nil || r.Len() != 2 {
		t.Fatalf("sink error %v, len %d", r.SinkErr(), r.Len())
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	b := &builder{}
	b.send(1, "v1", "k1").sendRetriedOK(1, q0, 3).
		read(2, "n1", q1, 0).readOK(2, "").
		commit(3, "g", q0, 5).commitOK(3).query(3, "g", q0).queryOK(3, -1).
		nemesis("kill", "n2").
		drainEntries("n0", q0, []Entry{{Offset: 0, Value: "v1", Key: "k1", MsgID: "AC11"}})
	h := b.hist(t)
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := SaveHistory(path, h); err != nil {
		t.Fatal(err)
	}
	back, err := LoadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, h) {
		t.Fatalf("round trip differs:\n%+v\n%+v", back, h)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"type":"invoke"`, `"f":"send"`, `"f":"commit-offset"`, `"maybe_dup":true`, `"offset":-1`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestReadJSONLRejects(t *testing.T) {
	header := `{"format":"dledgermq-jepsen-history","version":1}` + "\n"
	good := header + `{"index":0,"process":1,"type":"invoke","f":"send","time":1,"offset":0,"value":"a"}` + "\n"
	cases := map[string]string{
		"garbage":       good + "not json\n",
		"unknown field": good + `{"index":1,"process":1,"type":"ok","f":"send","time":2,"offset":0,"bogus":1}` + "\n",
		"torn line":     good + `{"index":1,"process":1,"ty`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			h, err := ReadJSONL(strings.NewReader(in))
			if !errors.Is(err, ErrBadHistory) || !strings.Contains(err.Error(), "line 3") {
				t.Fatalf("err %v, want ErrBadHistory at line 3", err)
			}
			if len(h) != 1 {
				t.Fatalf("kept %d ops before the bad line, want 1", len(h))
			}
		})
	}
	for name, in := range map[string]string{
		"no header":      strings.TrimPrefix(good, header),
		"future version": strings.Replace(good, `"version":1`, `"version":2`, 1),
		"other format":   strings.Replace(good, "jepsen-history", "something", 1),
		"empty":          "",
	} {
		if _, err := ReadJSONL(strings.NewReader(in)); !errors.Is(err, ErrBadHistory) {
			t.Errorf("%s: err %v, want ErrBadHistory", name, err)
		}
	}
	// A final line without a newline that parses is fine; blank lines skip.
	h, err := ReadJSONL(strings.NewReader("\n" + strings.TrimSuffix(good, "\n")))
	if err != nil || len(h) != 1 {
		t.Fatalf("%v %d", err, len(h))
	}
}

func TestValidateFlagsMalformed(t *testing.T) {
	ok := func() *builder { return (&builder{}).send(1, "a", "").sendOK(1, q0, 0) }
	cases := []struct {
		name string
		mut  func(h History) History
		want string
	}{
		{"index", func(h History) History { h[1].Index = 5; return h }, "index"},
		{"time backwards", func(h History) History { h[1].Time = 0; return h }, "before previous"},
		{"bad type", func(h History) History { h[1].Type = "done"; return h }, "unknown type"},
		{"no kind", func(h History) History { h[0].Kind = ""; return h }, "empty kind"},
		{"completion alone", func(h History) History { return h[1:2] }, "nothing in flight"},
		{"double invoke", func(h History) History { h[1] = h[0]; h[1].Index = 1; return h }, "in flight"},
		{"kind mismatch", func(h History) History { h[1].Kind = KindRead; return h }, "completes"},
	}
	if err := ok().h.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.mut(slicesClone(ok().h))
			err := h.Validate()
			if !errors.Is(err, ErrBadHistory) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want ErrBadHistory mentioning %q", err, c.want)
			}
		})
	}
}

func slicesClone(h History) History { return append(History(nil), h...) }

func TestDrainsOf(t *testing.T) {
	b := &builder{}
	b.drain("n0", q0, "a", "b").drain("n1", q0, "a")
	// A failed drain of n2, then a successful retry: no hole.
	b.add(1000, Invoke, KindDrain, func(o *Op) { o.Node, o.Queue = "n2", q0 }).
		add(1000, Fail, KindDrain, func(o *Op) { o.Node, o.Queue = "n2", q0 })
	b.drain("n2", q0, "a", "b", "c")
	// A drain of n1 q1 that never completes: a hole.
	b.add(1000, Invoke, KindDrain, func(o *Op) { o.Node, o.Queue = "n1", q1 })
	d, holes := DrainsOf(b.hist(t))
	if len(holes) != 1 || holes[0].Node != "n1" || holes[0].Queue != q1 {
		t.Fatalf("holes %v", holes)
	}
	if got := d.Nodes(); !reflect.DeepEqual(got, []string{"n0", "n1", "n2"}) {
		t.Fatalf("nodes %v", got)
	}
	if d.Reference() != "n2" || d.Len("n2") != 3 {
		t.Fatalf("reference %s len %d", d.Reference(), d.Len("n2"))
	}
	pos := d.Positions("n0")
	if len(pos["b"]) != 1 || pos["b"][0] != (Pos{Queue: q0, Offset: 1, Seq: 1}) {
		t.Fatalf("positions %v", pos)
	}
}
