package message

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestOffsetMsgID(t *testing.T) {
	cases := []struct {
		id   OffsetMsgID
		text string
	}{
		{OffsetMsgID{netip.MustParseAddrPort("127.0.0.1:39613"), 0x961}, "7F00000100009ABD0000000000000961"},
		{OffsetMsgID{netip.MustParseAddrPort("255.254.0.1:65535"), -1}, "FFFE00010000FFFFFFFFFFFFFFFFFFFF"},
		{OffsetMsgID{netip.MustParseAddrPort("[2001:db8::1]:10911"), 1 << 40},
			"20010DB8000000000000000000000001" + "00002A9F" + "0000010000000000"},
	}
	for _, tc := range cases {
		if s := tc.id.String(); s != tc.text {
			t.Errorf("String(%v) = %s, want %s", tc.id, s, tc.text)
		}
		for _, in := range []string{tc.text, strings.ToLower(tc.text)} {
			got, err := ParseOffsetMsgID(in)
			if err != nil || got != tc.id {
				t.Errorf("Parse(%s) = %v, %v; want %v", in, got, err, tc.id)
			}
		}
		var u OffsetMsgID
		txt, _ := tc.id.MarshalText()
		if err := u.UnmarshalText(txt); err != nil || u != tc.id {
			t.Errorf("text round trip %v: %v", tc.id, err)
		}
	}
	if len(cases[2].text) != 56 {
		t.Fatalf("IPv6 id has %d chars", len(cases[2].text))
	}
	for _, bad := range []string{"", "7F00000100009ABD000000000000096", "7F00000100009ABD00000000000009611",
		"7F00000100009ABD000000000000096G", "7F000001FFFFFFFF0000000000000961", "7F0000010001000000000000000000961"} {
		if _, err := ParseOffsetMsgID(bad); !errors.Is(err, ErrBadMsgID) {
			t.Errorf("Parse(%q) err %v", bad, err)
		}
	}
	var u OffsetMsgID
	if err := u.UnmarshalText([]byte("zz")); err == nil {
		t.Error("UnmarshalText accepted junk")
	}
	buf := make([]byte, 0, 64)
	host := netip.MustParseAddrPort("127.0.0.1:39613")
	if a := testing.AllocsPerRun(100, func() { buf = AppendOffsetMsgID(buf[:0], host, 5) }); a != 0 {
		t.Fatalf("AppendOffsetMsgID allocs %v", a)
	}
}

func TestUniqIDFormatAndParse(t *testing.T) {
	// Java's MessageClientIDSetterTest vector: created 2017-03-07 09:04:00
	// in GMT+8.
	id, err := ParseUniqID("AC1F0B01327B5B2133B120D8340B3D7D")
	if err != nil {
		t.Fatal(err)
	}
	want := UniqID{IP: netip.MustParseAddr("172.31.11.1"), PID: 0x327B, Salt: 0x5B2133B1, Delta: 0x20D8340B, Counter: 0x3D7D}
	if id != want {
		t.Fatalf("Parse = %+v, want %+v", id, want)
	}
	if id.String() != "AC1F0B01327B5B2133B120D8340B3D7D" {
		t.Fatalf("String = %s", id.String())
	}
	gmt8 := time.FixedZone("GMT+8", 8*3600)
	now := time.Date(2017, 3, 20, 12, 0, 0, 0, gmt8)
	if got := id.NearlyTime(now); !got.Equal(time.Date(2017, 3, 7, 9, 4, 0, 11e6, gmt8)) {
		t.Fatalf("NearlyTime = %v", got)
	}
	// Seen before its creation time in the month: it was made last month.
	early := time.Date(2017, 4, 2, 0, 0, 0, 0, gmt8)
	if got := id.NearlyTime(early); !got.Equal(time.Date(2017, 3, 7, 9, 4, 0, 11e6, gmt8)) {
		t.Fatalf("NearlyTime from next month = %v", got)
	}

	// The Go client's mixed-case form parses too; our String is upper case.
	g, err := ParseUniqID("C000020249D7000000006981b4600001")
	if err != nil || g.String() != "C000020249D7000000006981B4600001" {
		t.Fatalf("Go client id: %v %s", err, g.String())
	}

	v6 := UniqID{IP: netip.MustParseAddr("2001:db8::5"), PID: 1, Salt: -1, Delta: 1 << 31, Counter: 65535}
	s := v6.String()
	if len(s) != 56 {
		t.Fatalf("IPv6 UNIQ_KEY %q has %d chars", s, len(s))
	}
	if back, err := ParseUniqID(s); err != nil || back != v6 {
		t.Fatalf("IPv6 round trip %v %v", back, err)
	}
	var u UniqID
	if err := u.UnmarshalText([]byte(s)); err != nil || u != v6 {
		t.Fatal("UnmarshalText")
	}
	for _, bad := range []string{"", "AC1F0B01327B5B2133B120D8340B3D7", "XC1F0B01327B5B2133B120D8340B3D7D"} {
		if _, err := ParseUniqID(bad); !errors.Is(err, ErrBadMsgID) {
			t.Errorf("ParseUniqID(%q) = %v", bad, err)
		}
	}
}

func TestIDGenerator(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	clock := time.Date(2024, 2, 29, 23, 59, 59, 500e6, loc)
	cfg := IDGeneratorConfig{
		IP: netip.MustParseAddr("10.0.0.9"), PID: 0x12345, Salt: 77,
		Now: func() time.Time { return clock }, Location: loc,
	}
	g, err := NewIDGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := g.NextID(), g.NextID()
	wantDelta := uint32((28*24*3600+23*3600+59*60+59)*1000 + 500)
	if a.IP != cfg.IP || a.PID != 0x2345 || a.Salt != 77 || a.Delta != wantDelta || a.Counter != 0 || b.Counter != 1 {
		t.Fatalf("ids %+v %+v (want delta %d)", a, b, wantDelta)
	}
	if !a.NearlyTime(clock.Add(time.Second)).Equal(clock) {
		t.Fatalf("NearlyTime = %v, want %v", a.NearlyTime(clock.Add(time.Second)), clock)
	}
	// Crossing into March resets the month start.
	clock = clock.Add(time.Second)
	if c := g.NextID(); c.Delta != 500 || c.Counter != 2 {
		t.Fatalf("after month change %+v", c)
	}
	// A small step back across the boundary clamps to 0.
	clock = clock.Add(-2 * time.Second)
	if c := g.NextID(); c.Delta != 0 {
		t.Fatalf("after small clock step back %+v", c)
	}
	// Counter wraps at 16 bits.
	g.counter = 65535
	if c, d := g.NextID(), g.NextID(); c.Counter != 65535 || d.Counter != 0 {
		t.Fatal("counter wrap")
	}
	if s := g.Next(); len(s) != 32 || s[:8] != "0A000009" {
		t.Fatalf("Next = %s", s)
	}

	if err := (IDGeneratorConfig{}).Validate(); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("Validate should report 3 problems, got %v", err)
	}
	if _, err := NewIDGenerator(IDGeneratorConfig{}); err == nil {
		t.Fatal("NewIDGenerator accepted an empty config")
	}
	d := DefaultIDGeneratorConfig()
	if err := d.Validate(); err != nil || !d.IP.Is4() {
		t.Fatalf("default config: %+v %v", d, err)
	}
	dg, _ := NewIDGenerator(d)
	seen := map[string]bool{}
	for range 1000 {
		s := dg.Next()
		if seen[s] {
			t.Fatalf("duplicate id %s", s)
		}
		seen[s] = true
	}
}

func TestIDGeneratorConcurrent(t *testing.T) {
	g, err := NewIDGenerator(DefaultIDGeneratorConfig())
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 2000
	out := make(chan string, workers*each)
	done := make(chan struct{})
	for range workers {
		go func() {
			for range each {
				out <- g.Next()
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
	close(out)
	seen := map[string]bool{}
	for s := range out {
		if seen[s] {
			t.Fatalf("duplicate id %s", s)
		}
		seen[s] = true
	}
}
