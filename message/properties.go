package message

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// MaxPropertiesLen is the largest encoded properties string: its length
// travels as a signed 16-bit integer. Frozen.
const MaxPropertiesLen = 32767

// Property is one name/value pair of a message's properties.
type Property struct {
	Key, Value string
}

// Properties is an ordered list of message properties. Encoding follows the
// slice order, so the bytes are deterministic (RocketMQ itself uses a hash
// map; readers must not depend on order). Keys are unique when built with Set
// or returned by the parsers. The zero value is an empty list.
//
// Wire form: key 0x01 value 0x02, repeated (see FORMAT.md).
type Properties []Property

// Lookup returns the value of key and whether it is present.
func (p Properties) Lookup(key string) (string, bool) {
	for i := range p {
		if p[i].Key == key {
			return p[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of key, or "" when absent.
func (p Properties) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// Set replaces the value of key in place, or appends the pair.
func (p *Properties) Set(key, value string) {
	for i := range *p {
		if (*p)[i].Key == key {
			(*p)[i].Value = value
			return
		}
	}
	*p = append(*p, Property{Key: key, Value: value})
}

// Delete removes key, keeping the order of the others, and reports whether
// it was present.
func (p *Properties) Delete(key string) bool {
	for i := range *p {
		if (*p)[i].Key == key {
			*p = append((*p)[:i], (*p)[i+1:]...)
			return true
		}
	}
	return false
}

// Clone returns a copy that shares no backing array with p.
func (p Properties) Clone() Properties {
	if p == nil {
		return nil
	}
	return append(Properties(make([]Property, 0, len(p))), p...)
}

// Map returns the properties as a new map.
func (p Properties) Map() map[string]string {
	m := make(map[string]string, len(p))
	for _, kv := range p {
		m[kv.Key] = kv.Value
	}
	return m
}

// PropertiesFromMap builds Properties from m in sorted key order, so the
// encoding is deterministic.
func PropertiesFromMap(m map[string]string) Properties {
	p := make(Properties, 0, len(m))
	for k, v := range m {
		p = append(p, Property{Key: k, Value: v})
	}
	sort.Slice(p, func(i, j int) bool { return p[i].Key < p[j].Key })
	return p
}

// EncodedLen is the length of the properties string Append writes.
func (p Properties) EncodedLen() int {
	n := 0
	for i := range p {
		n += len(p[i].Key) + len(p[i].Value) + 2
	}
	return n
}

// Append appends the wire form (k 0x01 v 0x02 ...) to dst. It writes every
// pair as given; call Validate first for input that is not known good.
func (p Properties) Append(dst []byte) []byte {
	for i := range p {
		dst = AppendProperty(dst, p[i].Key, p[i].Value)
	}
	return dst
}

// String returns the wire form.
func (p Properties) String() string {
	return string(p.Append(make([]byte, 0, p.EncodedLen())))
}

// AppendProperty appends one encoded pair: key 0x01 value 0x02. The broker
// uses it to add a property (e.g. CLUSTER) to a raw properties string.
func AppendProperty(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	dst = append(dst, NameValueSeparator)
	dst = append(dst, value...)
	return append(dst, PropertySeparator)
}

// Validate reports whether p can be encoded and read back unchanged: keys
// and values non-empty, no 0x02 anywhere, no 0x01 in keys, keys unique, and
// the encoding at most MaxPropertiesLen bytes. A value may contain 0x01
// (RocketMQ readers split each pair at its first 0x01), but the Go client
// v2.1.2 drops such a pair; the broker accepts it as Java does.
func (p Properties) Validate() error {
	for i := range p {
		k, v := p[i].Key, p[i].Value
		switch {
		case k == "":
			return fmt.Errorf("%w: empty key (value %q)", ErrPropertyInvalid, v)
		case v == "":
			return fmt.Errorf("%w: empty value for key %q", ErrPropertyInvalid, k)
		case strings.IndexByte(k, NameValueSeparator) >= 0 || strings.IndexByte(k, PropertySeparator) >= 0:
			return fmt.Errorf("%w: separator byte in key %q", ErrPropertyInvalid, k)
		case strings.IndexByte(v, PropertySeparator) >= 0:
			return fmt.Errorf("%w: separator byte in value of key %q", ErrPropertyInvalid, k)
		}
	}
	if dup, ok := p.duplicateKey(); ok {
		return fmt.Errorf("%w: duplicate key %q", ErrPropertyInvalid, dup)
	}
	if n := p.EncodedLen(); n > MaxPropertiesLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPropertiesTooLarge, n, MaxPropertiesLen)
	}
	return nil
}

// smallProps is the size up to which key uniqueness is checked by a linear
// scan instead of a map.
const smallProps = 16

func (p Properties) duplicateKey() (string, bool) {
	if len(p) <= smallProps {
		for i := 1; i < len(p); i++ {
			for j := 0; j < i; j++ {
				if p[i].Key == p[j].Key {
					return p[i].Key, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(p))
	for i := range p {
		if _, ok := seen[p[i].Key]; ok {
			return p[i].Key, true
		}
		seen[p[i].Key] = struct{}{}
	}
	return "", false
}

// ParseProperties parses a wire-form properties string exactly like RocketMQ
// (MessageDecoder.string2messageProperties): items are split on 0x02 (a
// missing final 0x02 is fine), each item at its first 0x01; items with an
// empty key or an empty value are skipped; for a repeated key the last value
// wins (kept at the position of the first occurrence). Keys and values are
// substrings of s (no copy). It never fails.
func ParseProperties(s string) Properties {
	if s == "" {
		return nil
	}
	p := make(Properties, 0, countItems(s))
	var idx map[string]int // built lazily once p grows past smallProps
	for len(s) > 0 {
		item := s
		if i := strings.IndexByte(s, PropertySeparator); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		k, v, ok := splitItem(item)
		if !ok {
			continue
		}
		if idx == nil && len(p) < smallProps {
			dup := false
			for i := range p {
				if p[i].Key == k {
					p[i].Value, dup = v, true
					break
				}
			}
			if !dup {
				p = append(p, Property{Key: k, Value: v})
			}
			continue
		}
		if idx == nil {
			idx = make(map[string]int, 2*smallProps)
			for i := range p {
				idx[p[i].Key] = i
			}
		}
		if i, dup := idx[k]; dup {
			p[i].Value = v
			continue
		}
		idx[k] = len(p)
		p = append(p, Property{Key: k, Value: v})
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// ParsePropertiesBytes is ParseProperties over bytes; it copies b into one
// string and returns substrings of it.
func ParsePropertiesBytes(b []byte) Properties {
	return ParseProperties(string(b))
}

// splitItem splits one item at its first 0x01; ok is false when the key or
// the value would be empty.
func splitItem(item string) (k, v string, ok bool) {
	i := strings.IndexByte(item, NameValueSeparator)
	if i <= 0 || i == len(item)-1 {
		return "", "", false
	}
	return item[:i], item[i+1:], true
}

// countItems is an upper bound of the number of items in s.
func countItems(s string) int {
	n := strings.Count(s, string(PropertySeparator))
	if s[len(s)-1] != PropertySeparator {
		n++
	}
	return n
}

// LookupProperty finds key in a raw wire-form properties string without
// allocating, with ParseProperties' semantics (last valid item wins). The
// returned value aliases raw.
func LookupProperty(raw []byte, key string) ([]byte, bool) {
	if key == "" || strings.IndexByte(key, NameValueSeparator) >= 0 || strings.IndexByte(key, PropertySeparator) >= 0 {
		return nil, false // such keys never come out of a parse
	}
	var (
		val   []byte
		found bool
	)
	for len(raw) > 0 {
		item := raw
		if i := bytes.IndexByte(raw, PropertySeparator); i >= 0 {
			item, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(item) < len(key)+2 || item[len(key)] != NameValueSeparator || string(item[:len(key)]) != key {
			continue
		}
		val, found = item[len(key)+1:], true
	}
	return val, found
}
