package jepsen

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkCase is a hand-made history and what a checker must say about it.
type checkCase struct {
	name  string
	b     *builder
	valid bool
	// want checks the counts (nil: only the verdict is checked).
	want func(t *testing.T, r Result)
}

func runCases(t *testing.T, cases []checkCase, check func(h History, d Drains) Result) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.b.hist(t)
			r := check(h, drains(t, h))
			if r.OK() != c.valid {
				t.Fatalf("%s: valid %v, want %v: %s", r.Name(), r.OK(), c.valid, r.Summary())
			}
			if c.want != nil {
				c.want(t, r)
			}
		})
	}
}

func TestCheckLost(t *testing.T) {
	good := func() *builder {
		return (&builder{}).acked(1, "a", "", q0, 0).acked(2, "b", "", q0, 1).send(3, "c", "").sendFail(3)
	}
	runCases(t, []checkCase{
		{name: "all present", b: good().drainAll(q0, "a", "b"), valid: true,
			want: func(t *testing.T, r Result) {
				if l := r.(*LostResult); l.Acked != 2 || l.Lost != 0 {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "lost everywhere", b: good().drainAll(q0, "a"), valid: false,
			want: func(t *testing.T, r Result) {
				l := r.(*LostResult)
				if l.Lost != 1 || l.LostEverywhere != 1 || l.Examples[0].Value != "b" || l.Examples[0].Kind != "lost" {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "missing on one replica", b: good().drain("n0", q0, "a", "b").drain("n1", q0, "a", "b").drain("n2", q0, "a"), valid: false,
			want: func(t *testing.T, r Result) {
				l := r.(*LostResult)
				if l.Lost != 1 || l.LostEverywhere != 0 || l.MissingPerNode["n2"] != 1 || l.Examples[0].Kind != "missing" {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "acked value found in another queue still counts as present", b: good().drainAll(q1, "b", "a"), valid: true},
		{name: "unknown recovered and unknown absent", b: good().send(4, "d", "").sendInfo(4).send(5, "e", "").sendInfo(5).drainAll(q0, "a", "b", "d"), valid: true,
			want: func(t *testing.T, r Result) {
				if l := r.(*LostResult); l.Unknown != 2 || l.Recovered != 1 {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "nothing drained", b: good(), valid: false},
	}, func(h History, d Drains) Result { r := CheckLost(h, d, opts()); return &r })
}

func TestCheckUnexpected(t *testing.T) {
	good := func() *builder {
		return (&builder{}).acked(1, "a", "", q0, 0).send(2, "b", "").sendInfo(2).send(3, "c", "").sendFail(3)
	}
	runCases(t, []checkCase{
		{name: "acked and unknown values", b: good().drainAll(q0, "a", "b"), valid: true},
		{name: "read of nothing is fine", b: good().read(4, "n0", q0, 5).readOK(4, "").drainAll(q0, "a"), valid: true},
		{name: "drained value never sent", b: good().drainAll(q0, "a", "zz"), valid: false,
			want: func(t *testing.T, r Result) {
				if u := r.(*UnexpectedResult); u.Unexpected != 1 || u.Examples[0].Value != "zz" {
					t.Fatalf("%+v", u)
				}
			}},
		{name: "read value never sent", b: good().read(4, "n0", q0, 0).readOK(4, "ghost").drainAll(q0, "a"), valid: false},
		{name: "failed send present", b: good().drainAll(q0, "a", "c"), valid: false,
			want: func(t *testing.T, r Result) {
				if u := r.(*UnexpectedResult); u.FailedPresent != 1 || u.Unexpected != 0 {
					t.Fatalf("%+v", u)
				}
			}},
		{name: "empty drained value", b: good().drainAll(q0, "a", ""), valid: false},
	}, func(h History, d Drains) Result { r := CheckUnexpected(h, d, opts()); return &r })
}

func TestCheckDuplicates(t *testing.T) {
	runCases(t, []checkCase{
		{name: "no copies", b: (&builder{}).acked(1, "a", "", q0, 0).acked(1, "b", "", q0, 1).drainAll(q0, "a", "b"), valid: true},
		{name: "retried send stored twice", b: (&builder{}).send(1, "a", "").sendRetriedOK(1, q0, 1).drainAll(q0, "a", "a"), valid: true,
			want: func(t *testing.T, r Result) {
				if d := r.(*DuplicatesResult); d.Allowed != 1 || d.Duplicated != 1 {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "unknown send stored twice", b: (&builder{}).send(1, "a", "").sendInfo(1).drainAll(q0, "a", "a"), valid: true},
		{name: "copies across queues of a retried send", b: (&builder{}).send(1, "a", "").sendRetriedOK(1, q1, 0).drainAll(q0, "a").drainAll(q1, "a"), valid: true},
		{name: "single-attempt send stored twice", b: (&builder{}).acked(1, "a", "", q0, 0).drainAll(q0, "a", "a"), valid: false,
			want: func(t *testing.T, r Result) {
				if d := r.(*DuplicatesResult); d.Disallowed != 1 || d.Examples[0].Value != "a" {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "duplicate on one replica only", b: (&builder{}).acked(1, "a", "", q0, 0).drain("n0", q0, "a").drain("n1", q0, "a", "a"), valid: false},
	}, func(h History, d Drains) Result { r := CheckDuplicates(h, d, opts()); return &r })
}

func TestCheckOffsets(t *testing.T) {
	base := func() *builder { return (&builder{}).acked(1, "a", "", q0, 0).acked(1, "b", "", q0, 1) }
	count := func(f func(*OffsetsResult) int, n int) func(*testing.T, Result) {
		return func(t *testing.T, r Result) {
			if got := f(r.(*OffsetsResult)); got != n {
				t.Fatalf("count %d, want %d: %+v", got, n, r)
			}
		}
	}
	runCases(t, []checkCase{
		{name: "agreeing replicas, acks and reads", b: base().read(2, "n0", q0, 1).readOK(2, "b").drainAll(q0, "a", "b"), valid: true},
		{name: "lagging replica is not inconsistent", b: base().drain("n0", q0, "a", "b").drain("n1", q0, "a"), valid: true},
		{name: "ack offset unknown is skipped", b: (&builder{}).acked(1, "a", "", q0, NoOffset).drainAll(q0, "a"), valid: true},
		{name: "gap in a drain", b: base().drainEntries("n0", q0, []Entry{{0, "a", "", ""}, {2, "b", "", ""}}), valid: false,
			want: count(func(r *OffsetsResult) int { return r.Gaps }, 1)},
		{name: "offsets going back", b: base().drainEntries("n0", q0, []Entry{{0, "a", "", ""}, {0, "b", "", ""}}), valid: false,
			want: count(func(r *OffsetsResult) int { return r.Gaps }, 1)},
		{name: "slot holds different values", b: base().drain("n0", q0, "a", "b").drain("n1", q0, "a", "x"), valid: false,
			want: count(func(r *OffsetsResult) int { return r.SlotConflicts }, 1)},
		{name: "value at different offsets", b: base().drain("n0", q0, "a", "b").drainEntries("n1", q0, []Entry{{0, "a", "", ""}, {1, "x", "", ""}, {2, "b", "", ""}}), valid: false,
			want: count(func(r *OffsetsResult) int { return r.Moved }, 1)},
		{name: "ack names another slot", b: (&builder{}).acked(1, "a", "", q0, 1).acked(1, "b", "", q0, 0).drainAll(q0, "a", "b"), valid: false,
			want: count(func(r *OffsetsResult) int { return r.AckMismatches }, 2)},
		{name: "read disagrees with replicas", b: base().read(2, "n0", q0, 0).readOK(2, "b").drainAll(q0, "a", "b"), valid: false,
			want: count(func(r *OffsetsResult) int { return r.ReadMismatches }, 1)},
	}, func(h History, d Drains) Result { r := CheckOffsets(h, d, opts()); return &r })
}

func TestCheckDivergence(t *testing.T) {
	runCases(t, []checkCase{
		{name: "identical", b: (&builder{}).drainAll(q0, "a", "b", "c"), valid: true},
		{name: "common prefix, one lags", b: (&builder{}).drain("n0", q0, "a", "b", "c").drain("n1", q0, "a").drain("n2", q0), valid: true,
			want: func(t *testing.T, r Result) {
				if d := r.(*DivergenceResult); d.Lagging != 3 {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "queue missing on one replica is lag", b: (&builder{}).drain("n0", q0, "a").drain("n0", q1, "b").drain("n1", q0, "a"), valid: true},
		{name: "differ inside the prefix", b: (&builder{}).drain("n0", q0, "a", "b", "c").drain("n1", q0, "a", "x").drain("n2", q0, "a", "b"), valid: false,
			want: func(t *testing.T, r Result) {
				d := r.(*DivergenceResult)
				if d.Diverged != 2 || d.Examples[0].Offset != 1 {
					t.Fatalf("%+v", d)
				}
			}},
		{name: "same values, shifted offsets", b: (&builder{}).drain("n0", q0, "a").drainEntries("n1", q0, []Entry{{Offset: 5, Value: "a"}}), valid: false},
	}, func(_ History, d Drains) Result { r := CheckDivergence(d, opts()); return &r })
}

func TestCheckConsumerOffsets(t *testing.T) {
	runCases(t, []checkCase{
		{name: "reads follow commits", b: (&builder{}).query(1, "g", q0).queryOK(1, -1).
			commit(1, "g", q0, 3).commitOK(1).query(2, "g", q0).queryOK(2, 3).
			commit(1, "g", q0, 8).commitOK(1).query(2, "g", q0).queryOK(2, 8), valid: true},
		{name: "read concurrent with a commit may see the old value", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).
			commit(1, "g", q0, 8).query(2, "g", q0).commitOK(1).queryOK(2, 3), valid: true},
		{name: "unknown commit may be seen", b: (&builder{}).commit(1, "g", q0, 3).add(1, Info, KindCommitOffset, nil).
			query(2, "g", q0).queryOK(2, 3), valid: true},
		{name: "other group and queue are separate", b: (&builder{}).commit(1, "g", q0, 9).commitOK(1).
			commit(1, "h", q0, 2).commitOK(1).query(2, "h", q0).queryOK(2, 2).query(2, "g", q1).queryOK(2, -1), valid: true},
		{name: "read below an acked commit", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).commit(1, "g", q0, 8).commitOK(1).
			query(2, "g", q0).queryOK(2, 3), valid: false,
			want: func(t *testing.T, r Result) {
				if c := r.(*ConsumerOffsetsResult); c.Regressed != 1 || c.Examples[0].Offset != 3 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "offset lost after an ack", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).query(2, "g", q0).queryOK(2, -1), valid: false},
		{name: "read below an earlier read", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).commit(1, "g", q0, 8).
			query(2, "g", q0).queryOK(2, 8).query(2, "g", q0).queryOK(2, 3).commitOK(1), valid: false,
			want: func(t *testing.T, r Result) {
				if c := r.(*ConsumerOffsetsResult); c.ReadRegressed != 1 || c.Regressed != 0 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "unknown commit landing after a later acked one", b: (&builder{}).commit(1, "g", q0, 3).add(1, Info, KindCommitOffset, nil).
			commit(1, "g", q0, 8).commitOK(1).query(2, "g", q0).queryOK(2, 8).query(2, "g", q0).queryOK(2, 3), valid: true},
		{name: "read below an acked commit with an unknown commit of another value", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).
			commit(1, "g", q0, 5).add(1, Info, KindCommitOffset, nil).commit(1, "g", q0, 8).commitOK(1).
			query(2, "g", q0).queryOK(2, 3), valid: false},
		{name: "phantom offset", b: (&builder{}).commit(1, "g", q0, 3).commitOK(1).query(2, "g", q0).queryOK(2, 42), valid: false},
		{name: "failed commit seen", b: (&builder{}).commit(1, "g", q0, 3).add(1, Fail, KindCommitOffset, nil).
			query(2, "g", q0).queryOK(2, 3), valid: false},
	}, func(h History, _ Drains) Result { r := CheckConsumerOffsets(h, opts()); return &r })
}

func TestCheckKeyOrder(t *testing.T) {
	seq := func() *builder {
		return (&builder{}).acked(1, "a1", "a", q0, 0).acked(1, "a2", "a", q0, 1).acked(1, "a3", "a", q0, 2)
	}
	runCases(t, []checkCase{
		{name: "in order", b: seq().drainAll(q0, "a1", "a2", "a3"), valid: true,
			want: func(t *testing.T, r Result) {
				if k := r.(*KeyOrderResult); k.Keys != 1 {
					t.Fatalf("%+v", k)
				}
			}},
		{name: "overlapping sends may swap", b: (&builder{}).send(1, "a1", "a").send(2, "a2", "a").sendOK(2, q0, 0).sendOK(1, q0, 1).
			drainAll(q0, "a2", "a1"), valid: true},
		{name: "other keys interleave freely", b: seq().acked(2, "b1", "b", q0, 3).drainAll(q0, "b1", "a1", "a2", "a3"), valid: true},
		{name: "unacked send out of order is fine", b: seq().send(1, "a4", "a").sendInfo(1).drainAll(q0, "a4", "a1", "a2", "a3"), valid: true},
		{name: "retried copy later keeps first position", b: (&builder{}).send(1, "a1", "a").sendRetriedOK(1, q0, 0).acked(1, "a2", "a", q0, 1).
			drainAll(q0, "a1", "a2", "a1"), valid: true},
		{name: "swapped", b: seq().drainAll(q0, "a1", "a3", "a2"), valid: false,
			want: func(t *testing.T, r Result) {
				if k := r.(*KeyOrderResult); k.Reordered != 3 {
					t.Fatalf("want one reordering per replica: %+v", k)
				}
			}},
		{name: "swapped on one replica", b: seq().drain("n0", q0, "a1", "a2", "a3").drain("n1", q0, "a2", "a1", "a3"), valid: false},
		{name: "split across queues", b: seq().drainAll(q0, "a1", "a2").drainAll(q1, "a3"), valid: false,
			want: func(t *testing.T, r Result) {
				if k := r.(*KeyOrderResult); k.Split != 3 {
					t.Fatalf("%+v", k)
				}
			}},
	}, func(h History, d Drains) Result { r := CheckKeyOrder(h, d, opts()); return &r })
}

func TestCheckAvailability(t *testing.T) {
	ms := int64(time.Millisecond)
	steady := func() *builder {
		b := &builder{}
		for i := range 10 {
			b.at(int64(i)*100*ms).send(1, "v"+string(rune('a'+i)), "")
			b.at(int64(i)*100*ms+ms).sendOK(1, q0, int64(i))
		}
		return b
	}
	o := opts()
	o.UnavailableAfter = 500 * time.Millisecond
	strict := o
	strict.MaxUnavailable = 2 * time.Second
	check := func(o CheckOptions) func(h History, _ Drains) Result {
		return func(h History, _ Drains) Result { r := CheckAvailability(h, o); return &r }
	}
	gap := func() *builder {
		b := steady()
		b.at(1000*ms).nemesis("kill-leader", "n1")
		b.at(1010*ms).send(1, "x", "").at(4000 * ms).sendInfo(1)
		b.at(4100*ms).send(1, "y", "").at(4200*ms).sendOK(1, q0, 10)
		return b
	}
	runCases(t, []checkCase{
		{name: "steady", b: steady(), valid: true, want: func(t *testing.T, r Result) {
			if a := r.(*AvailabilityResult); len(a.Windows) != 0 || a.Ops != 10 {
				t.Fatalf("%+v", a)
			}
		}},
		{name: "gap reported", b: gap(), valid: true, want: func(t *testing.T, r Result) {
			a := r.(*AvailabilityResult)
			if len(a.Windows) != 1 || a.Windows[0].Start != 901*ms || a.Windows[0].End != 4200*ms ||
				len(a.Windows[0].Faults) != 1 || a.Windows[0].Faults[0] != "kill-leader n1" {
				t.Fatalf("%+v", a)
			}
		}},
	}, check(o))
	runCases(t, []checkCase{
		{name: "gap over the limit", b: gap(), valid: false},
		{name: "never recovers", b: steady().at(1000*ms).send(1, "x", "").at(5000 * ms).sendFail(1), valid: false,
			want: func(t *testing.T, r Result) {
				if a := r.(*AvailabilityResult); a.Windows[0].End != 5000*ms {
					t.Fatalf("tail window %+v", a.Windows)
				}
			}},
		{name: "never available", b: (&builder{}).send(1, "x", "").at(3000 * ms).sendFail(1), valid: false},
	}, check(strict))
}

func TestCheckLinearizable(t *testing.T) {
	runCases(t, []checkCase{
		{name: "appends and reads", b: (&builder{}).read(2, "n0", q0, 0).readOK(2, "").
			acked(1, "a", "", q0, 0).read(2, "n0", q0, 0).readOK(2, "a").acked(1, "b", "", q0, 1).
			read(2, "n0", q0, 1).readOK(2, "b").read(2, "n0", q0, 2).readOK(2, "").drainAll(q0, "a", "b"), valid: true},
		{name: "concurrent append read both ways", b: (&builder{}).send(1, "a", "").read(2, "n0", q0, 0).readOK(2, "a").sendOK(1, q0, 0).
			send(1, "b", "").read(2, "n0", q0, 1).readOK(2, "").sendOK(1, q0, 1).drainAll(q0, "a", "b"), valid: true},
		{name: "unknown settled present, seen later", b: (&builder{}).send(1, "a", "").sendInfo(1).read(2, "n0", q0, 0).readOK(2, "").
			read(2, "n0", q0, 0).readOK(2, "a").acked(3, "b", "", q0, 1).drainAll(q0, "a", "b"), valid: true,
			want: func(t *testing.T, r Result) {
				if l := r.(*LinearizableResult); l.Settled != 1 {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "unknown absent is dropped", b: (&builder{}).send(1, "a", "").sendInfo(1).acked(3, "b", "", q0, 0).drainAll(q0, "b"), valid: true,
			want: func(t *testing.T, r Result) {
				if l := r.(*LinearizableResult); l.Dropped != 1 {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "retried duplicate copy", b: (&builder{}).send(1, "a", "").sendRetriedOK(1, q0, 1).acked(1, "b", "", q0, 2).
			read(2, "n0", q0, 0).readOK(2, "a").drainAll(q0, "a", "a", "b"), valid: true,
			want: func(t *testing.T, r Result) {
				if l := r.(*LinearizableResult); l.Synthetic != 1 {
					t.Fatalf("%+v", l)
				}
			}},
		{name: "acked offset unknown, placed from the drain", b: (&builder{}).acked(1, "a", "", q0, NoOffset).read(2, "n0", q0, 0).readOK(2, "a").drainAll(q0, "a"), valid: true},
		{name: "read sees the future", b: (&builder{}).read(2, "n0", q0, 0).readOK(2, "a").acked(1, "a", "", q0, 0).drainAll(q0, "a"), valid: false,
			want: linWitness("read-from-future", 0, 1, 2, 3)},
		{name: "two acks claim one offset", b: (&builder{}).acked(1, "a", "", q0, 0).acked(1, "b", "", q0, 0).drainAll(q0, "a", "b"), valid: false,
			want: linWitness("offset-claimed-twice", 0, 1, 2, 3)},
		{name: "acks out of real-time order", b: (&builder{}).acked(1, "a", "", q0, 1).acked(1, "b", "", q0, 0).drainAll(q0, "b", "a"), valid: false,
			want: linWitness("append-order-inverted", 0, 1, 2, 3)},
		{name: "failed send visible", b: (&builder{}).send(1, "a", "").sendFail(1).read(2, "n0", q0, 0).readOK(2, "a").drainAll(q0), valid: false,
			want: linWitness("read-unknown-value", 2, 3)},
	}, func(h History, d Drains) Result { r := CheckLinearizable(h, d, opts()); return &r })
}

// TestCheckLinearizableReadContracts: under the default (RocketMQ) read
// contract an empty read is "not yet" — a lagging or restarting replica
// may answer it — but an empty read below the max offset its own replica
// reported is a skip; under StrictReads (reads through a confirmed
// leader) an empty read after an acknowledged append is stale.
func TestCheckLinearizableReadContracts(t *testing.T) {
	stale := func() *builder {
		return (&builder{}).acked(1, "a", "", q0, 0).read(2, "n0", q0, 0).readOK(2, "").drainAll(q0, "a")
	}
	vanish := func() *builder {
		return (&builder{}).acked(1, "a", "", q0, 0).read(2, "n0", q0, 0).readOK(2, "a").
			read(2, "n0", q0, 0).readOK(2, "").drainAll(q0, "a")
	}
	notYet := func(n int) func(*testing.T, Result) {
		return func(t *testing.T, r Result) {
			if l := r.(*LinearizableResult); l.NotYet != n || l.Skipped != 0 {
				t.Fatalf("want %d not-yet reads, no skip: %+v", n, l)
			}
		}
	}
	runCases(t, []checkCase{
		{name: "stale read is not-yet", b: stale(), valid: true, want: notYet(1)},
		{name: "vanished value is not-yet", b: vanish(), valid: true, want: notYet(1)},
	}, func(h History, d Drains) Result { r := CheckLinearizable(h, d, opts()); return &r })
	runCases(t, []checkCase{
		{name: "strict stale read after ack", b: stale(), valid: false, want: linWitness("stale-read", 0, 1, 2, 3)},
		{name: "strict value vanishes", b: vanish(), valid: false, want: linWitness("read-vanished", 2, 3, 4, 5)},
	}, func(h History, d Drains) Result { r := CheckLinearizable(h, d, strictOpts()); return &r })

	// A skip: nothing at offset 0 from a replica reporting max offset 1.
	h := stale().h
	for i := range h {
		if h[i].Kind == KindRead && h[i].Type == OK {
			h[i].MaxOffset = 1
		}
	}
	for _, o := range []CheckOptions{opts(), strictOpts()} {
		r := CheckLinearizable(h, drains(t, h), o)
		if r.Valid || r.Skipped != 1 || len(r.Examples) == 0 || r.Examples[0].Kind != "read-skip" {
			t.Fatalf("strict=%v: skip not flagged: %+v", o.StrictReads, r)
		}
	}
}

// linWitness checks that the linearizability checker explains its verdict
// with the given anomaly over the given history indices.
func linWitness(kind string, ops ...int) func(*testing.T, Result) {
	return func(t *testing.T, r Result) {
		t.Helper()
		l := r.(*LinearizableResult)
		for _, a := range l.Examples {
			if a.Kind == kind && slices.Equal(a.Ops, ops) {
				return
			}
		}
		t.Fatalf("no %s witness over ops %v: %+v", kind, ops, l.Examples)
	}
}

func TestCheckLinearizableNeedsDrain(t *testing.T) {
	h := (&builder{}).acked(1, "a", "", q0, 0).hist(t)
	r := CheckLinearizable(h, Drains{}, opts())
	if r.Valid || r.Problem == "" {
		t.Fatalf("no drain must not pass: %+v", r)
	}
	if r := CheckLinearizable(nil, Drains{}, opts()); !r.Valid {
		t.Fatalf("empty history: %+v", r)
	}
}

func TestCheckLinearizableVisualizes(t *testing.T) {
	dir := t.TempDir()
	o := strictOpts()
	o.VisualizeDir = dir
	h := (&builder{}).acked(1, "a", "", q0, 0).read(2, "n0", q0, 0).readOK(2, "").drainAll(q0, "a").hist(t)
	r := CheckLinearizable(h, drains(t, h), o)
	if r.Valid || len(r.Visualizations) != 1 {
		t.Fatalf("%+v", r)
	}
	if fi, err := os.Stat(r.Visualizations[0]); err != nil || fi.Size() == 0 || filepath.Dir(r.Visualizations[0]) != dir {
		t.Fatalf("visualization %v: %v", r.Visualizations, err)
	}
}

func TestCheckAll(t *testing.T) {
	b := (&builder{}).acked(1, "a", "k", q0, 0).acked(1, "b", "k", q0, 1).drainAll(q0, "a", "b")
	rep, err := CheckAll(b.hist(t), opts())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid {
		t.Fatalf("good history:\n%s", rep.Summary())
	}
	// A hole in the drains invalidates the report.
	b.add(1000, Invoke, KindDrain, func(o *Op) { o.Node, o.Queue = "n1", q1 }).add(1000, Fail, KindDrain, nil)
	b.h[len(b.h)-1].Node, b.h[len(b.h)-1].Queue = "n1", q1
	rep, err = CheckAll(b.hist(t), opts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Valid || len(rep.Undrained) != 1 || !strings.Contains(rep.Summary(), "undrained") {
		t.Fatalf("undrained report:\n%s", rep.Summary())
	}
	if _, err := CheckAll(History{{Index: 3}}, opts()); !errors.Is(err, ErrBadHistory) {
		t.Fatalf("malformed history: %v", err)
	}
	bad := opts()
	bad.MaxExamples, bad.UnavailableAfter, bad.AvailabilityKinds, bad.LinearizableTimeout = 0, 0, nil, 0
	_, err = CheckAll(nil, bad)
	if !errors.Is(err, ErrInvalidConfig) || strings.Count(err.Error(), "\n") < 3 {
		t.Fatalf("invalid options must report every field: %v", err)
	}
}
