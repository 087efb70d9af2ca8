package message

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// javaParse is a literal port of RocketMQ's string2messageProperties (the
// naive twin ParseProperties is checked against), plus first-seen key order.
func javaParse(s string) (map[string]string, []string) {
	m := map[string]string{}
	var order []string
	index := 0
	for index < len(s) {
		newIndex := strings.IndexByte(s[index:], 2)
		if newIndex < 0 {
			newIndex = len(s)
		} else {
			newIndex += index
		}
		if newIndex-index >= 3 {
			kv := strings.IndexByte(s[index:], 1) // Java searches past the item too
			if kv >= 0 {
				kv += index
			}
			if kv > index && kv < newIndex-1 {
				k, v := s[index:kv], s[kv+1:newIndex]
				if _, ok := m[k]; !ok {
					order = append(order, k)
				}
				m[k] = v
			}
		}
		index = newIndex + 1
	}
	return m, order
}

func checkAgainstJava(t *testing.T, s string) Properties {
	t.Helper()
	p := ParseProperties(s)
	wantMap, wantOrder := javaParse(s)
	if !maps.Equal(p.Map(), wantMap) || len(p) != len(wantOrder) {
		t.Fatalf("ParseProperties(%q) = %q, Java gives %q", s, p, wantMap)
	}
	for i, k := range wantOrder {
		if p[i].Key != k {
			t.Fatalf("ParseProperties(%q) order %q, want %q", s, p, wantOrder)
		}
		raw, ok := LookupProperty([]byte(s), k)
		if !ok || string(raw) != wantMap[k] {
			t.Fatalf("LookupProperty(%q, %q) = %q,%v want %q", s, k, raw, ok, wantMap[k])
		}
	}
	return p
}

func TestParseProperties(t *testing.T) {
	cases := []struct {
		in   string
		want Properties
	}{
		{"", nil},
		{"\x02\x02", nil},
		{"TAGS\x01a\x02", Properties{{"TAGS", "a"}}},
		{"TAGS\x01a", Properties{{"TAGS", "a"}}}, // missing trailing separator
		{"A\x011\x02B\x012\x02", Properties{{"A", "1"}, {"B", "2"}}},
		{"A\x011\x02A\x012\x02B\x013", Properties{{"A", "2"}, {"B", "3"}}}, // last wins, first position
		{"\x01v\x02K\x01v", Properties{{"K", "v"}}},                        // empty key skipped
		{"K\x01\x02L\x01w\x02", Properties{{"L", "w"}}},                    // empty value skipped
		{"K\x02L\x01w", Properties{{"L", "w"}}},                            // no separator skipped
		{"K\x01a\x01b\x02", Properties{{"K", "a\x01b"}}},                   // value keeps later 0x01
		{"ab\x02\x01", nil},
		{"标签\x01🚀\x02", Properties{{"标签", "🚀"}}},
	}
	for _, tc := range cases {
		got := checkAgainstJava(t, tc.in)
		if len(got) != len(tc.want) {
			t.Fatalf("ParseProperties(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("ParseProperties(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

func TestParsePropertiesManyKeys(t *testing.T) {
	// Past smallProps the parser switches to a map index; semantics must hold.
	var b strings.Builder
	for i := range 100 {
		b.WriteString(string(rune('A'+i%40)) + string(rune('a'+i%7)) + "\x01" + strings.Repeat("v", i%5+1) + "\x02")
	}
	p := checkAgainstJava(t, b.String())
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPropertiesSetDeleteValidate(t *testing.T) {
	var p Properties
	p.Set("A", "1")
	p.Set("B", "2")
	p.Set("A", "3")
	if p.String() != "A\x013\x02B\x012\x02" || p.Get("A") != "3" || p.EncodedLen() != 8 {
		t.Fatalf("Set: %q", p.String())
	}
	if !p.Delete("A") || p.Delete("A") || p.String() != "B\x012\x02" {
		t.Fatalf("Delete: %q", p.String())
	}
	if _, ok := p.Lookup("A"); ok {
		t.Fatal("deleted key found")
	}
	c := p.Clone()
	c.Set("B", "9")
	if p.Get("B") != "2" {
		t.Fatal("Clone shares storage")
	}
	if got := PropertiesFromMap(map[string]string{"z": "1", "a": "2"}); got.String() != "a\x012\x02z\x011\x02" {
		t.Fatalf("PropertiesFromMap order: %q", got.String())
	}
	if got := AppendProperty([]byte("X\x01y\x02"), PropCluster, "DefaultCluster"); string(got) != "X\x01y\x02CLUSTER\x01DefaultCluster\x02" {
		t.Fatalf("AppendProperty = %q", got)
	}

	bad := []struct {
		p    Properties
		want error
	}{
		{Properties{{"", "v"}}, ErrPropertyInvalid},
		{Properties{{"k", ""}}, ErrPropertyInvalid},
		{Properties{{"k\x01", "v"}}, ErrPropertyInvalid},
		{Properties{{"k\x02", "v"}}, ErrPropertyInvalid},
		{Properties{{"k", "v\x02"}}, ErrPropertyInvalid},
		{Properties{{"k", "1"}, {"k", "2"}}, ErrPropertyInvalid},
		{Properties{{"k", strings.Repeat("x", MaxPropertiesLen-2)}}, ErrPropertiesTooLarge},
	}
	for _, tc := range bad {
		if err := tc.p.Validate(); !errors.Is(err, tc.want) {
			t.Fatalf("Validate(%q) = %v, want %v", tc.p, err, tc.want)
		}
	}
	many := make(Properties, 0, 40)
	for i := range 40 {
		many = append(many, Property{string(rune('a' + i)), "v"})
	}
	many = append(many, Property{"a", "dup"})
	if err := many.Validate(); !errors.Is(err, ErrPropertyInvalid) {
		t.Fatalf("duplicate in a long list: %v", err)
	}
	if err := (Properties{{"k", strings.Repeat("x", MaxPropertiesLen-3)}}).Validate(); err != nil {
		t.Fatalf("exactly MaxPropertiesLen: %v", err)
	}
}

func TestLookupPropertyOddKeys(t *testing.T) {
	raw := []byte("a\x01b\x01c\x02")
	if _, ok := LookupProperty(raw, "a\x01b"); ok {
		t.Fatal("key with 0x01 matched")
	}
	if _, ok := LookupProperty(raw, ""); ok {
		t.Fatal("empty key matched")
	}
	if v, ok := LookupProperty(raw, "a"); !ok || string(v) != "b\x01c" {
		t.Fatalf("LookupProperty(a) = %q %v", v, ok)
	}
	if allocs := testing.AllocsPerRun(100, func() { LookupProperty(raw, "a") }); allocs != 0 {
		t.Fatalf("LookupProperty allocs %v", allocs)
	}
}

func TestTagsHash(t *testing.T) {
	// Values from Java String.hashCode (checked with an independent UTF-16
	// implementation).
	cases := []struct {
		s    string
		want int64
	}{
		{"", 0},
		{"TagA", 2598919},
		{"TagB", 2598920},
		{"é", 233},
		{"标签", 857175},
		{"🚀", 1773027}, // surrogate pair D83D DE80
		{"a🚀", 1866244},
		{"hello world, this overflows the int32 range for sure", -539535415},
		{"TagA||TagB ünïcödé 🚀🚀", -1877002366},
		{"\xff", 0xFFFD}, // invalid UTF-8 counts as U+FFFD
	}
	for _, tc := range cases {
		if got := TagsHash(tc.s); got != tc.want {
			t.Errorf("TagsHash(%q) = %d, want %d", tc.s, got, tc.want)
		}
		if got := TagsHashBytes([]byte(tc.s)); got != tc.want {
			t.Errorf("TagsHashBytes(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestSplitKeys(t *testing.T) {
	cases := map[string][]string{
		"":          nil,
		"   ":       nil,
		"a":         {"a"},
		"a b":       {"a", "b"},
		"  a  b  ":  {"a", "b"},
		"k1\tk2 k3": {"k1\tk2", "k3"}, // only spaces separate
	}
	for in, want := range cases {
		got := SplitKeys(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("SplitKeys(%q) = %q, want %q", in, got, want)
		}
		var gotB []string
		for k := range KeysSeqBytes([]byte(in)) {
			gotB = append(gotB, string(k))
		}
		if strings.Join(gotB, "|") != strings.Join(want, "|") {
			t.Errorf("KeysSeqBytes(%q) = %q", in, gotB)
		}
	}
	for k := range KeysSeq("a b c") { // early break must be honoured
		if k != "a" {
			t.Fatal("iteration continued after break")
		}
		break
	}
}
