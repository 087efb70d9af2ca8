package remoting

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON header codec (serialize type 0), hand-written for speed.
//
// The encoder writes compact JSON (no whitespace) with every extFields value
// as a JSON string, control bytes escaped (0x01 → \u0001), and other bytes
// copied verbatim (so invalid UTF-8 round-trips byte for byte). Key order:
// code, language, version, opaque, flag, remark, extFields (in map order).
//
// The decoder accepts any JSON object: keys in any order, whitespace,
// escapes, unknown keys with any value (skipped), null for any known field
// (zero value). code/version/opaque/flag must be integers that fit int32;
// extFields values must be strings (or null, read as ""). Duplicate keys: the
// last one wins. It agrees with encoding/json on valid UTF-8 input
// (FuzzJSONHeader checks this against a naive twin).

var errJSON = errors.New("invalid JSON header")

// jsonSafe[c] is true when byte c can be copied into a JSON string as is.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonSafe[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONHeader appends the JSON header of c.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":"`...)
	dst = append(dst, c.Language.String()...)
	dst = append(dst, `","version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	first := true
	for k, v := range c.ExtFields {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	}
	return append(dst, "}}"...)
}

// decodeJSONHeader decodes a JSON header. All strings of the result share
// one allocation (the copy of hdr) unless they contained escapes.
func decodeJSONHeader(hdr []byte) (*Command, error) {
	d := jsonDecoder{s: string(hdr)}
	c := &Command{SerializeType: SerializeJSON}
	if err := d.header(c); err != nil {
		return nil, err
	}
	return c, nil
}

type jsonDecoder struct {
	s string
	i int
}

// maxJSONDepth bounds the nesting of skipped values (as encoding/json does).
const maxJSONDepth = 10000

func (d *jsonDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (d *jsonDecoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *jsonDecoder) expect(c byte) error {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return nil
	}
	return errJSON
}

// null consumes the literal null if it is next.
func (d *jsonDecoder) null() bool {
	if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null" {
		d.i += 4
		return true
	}
	return false
}

func (d *jsonDecoder) header(c *Command) error {
	d.ws()
	if err := d.expect('{'); err != nil {
		return err
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
	} else {
		for {
			key, err := d.str()
			if err != nil {
				return err
			}
			d.ws()
			if err := d.expect(':'); err != nil {
				return err
			}
			d.ws()
			switch key {
			case "code":
				c.Code, err = d.int32()
			case "version":
				c.Version, err = d.int32()
			case "opaque":
				c.Opaque, err = d.int32()
			case "flag":
				c.Flag, err = d.int32()
			case "language":
				if !d.null() {
					var s string
					if s, err = d.str(); err == nil {
						c.Language = parseLanguage(s)
					}
				}
			case "remark":
				if !d.null() {
					c.Remark, err = d.str()
				}
			case "extFields":
				c.ExtFields = nil // the last occurrence wins
				err = d.ext(c)
			default:
				err = d.skip(0)
			}
			if err != nil {
				return err
			}
			d.ws()
			if d.peek() == ',' {
				d.i++
				d.ws()
				continue
			}
			if err := d.expect('}'); err != nil {
				return err
			}
			break
		}
	}
	d.ws()
	if d.i != len(d.s) {
		return errJSON // trailing data
	}
	return nil
}

func (d *jsonDecoder) ext(c *Command) error {
	if d.null() {
		return nil
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
		return nil
	}
	// Collect the pairs first so the map is allocated once at its final size.
	var stack [24][2]string
	pairs := stack[:0]
	for {
		k, err := d.str()
		if err != nil {
			return err
		}
		d.ws()
		if err := d.expect(':'); err != nil {
			return err
		}
		d.ws()
		var v string
		if !d.null() {
			if v, err = d.str(); err != nil {
				return err
			}
		}
		pairs = append(pairs, [2]string{k, v})
		d.ws()
		if d.peek() == ',' {
			d.i++
			d.ws()
			continue
		}
		if err := d.expect('}'); err != nil {
			return err
		}
		c.ExtFields = pairsToMap(pairs)
		return nil
	}
}

// pairsToMap builds a map of exactly the right size; later pairs win.
func pairsToMap(pairs [][2]string) map[string]string {
	m := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		m[kv[0]] = kv[1]
	}
	return m
}

// int32 reads a JSON integer (or null → 0) that fits an int32. Fractions and
// exponents are rejected, as encoding/json does for integer fields.
func (d *jsonDecoder) int32() (int32, error) {
	if d.null() {
		return 0, nil
	}
	start := d.i
	if err := d.number(); err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(d.s[start:d.i], 10, 32)
	if err != nil {
		return 0, errJSON
	}
	return int32(v), nil
}

// number consumes a JSON number (RFC 8259 grammar).
func (d *jsonDecoder) number() error {
	s, i := d.s, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return errJSON
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return errJSON
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return errJSON
		}
	}
	d.i = i
	return nil
}

// str reads a JSON string. Without escapes the result is a substring of the
// header (no allocation).
func (d *jsonDecoder) str() (string, error) {
	s := d.s
	if d.i >= len(s) || s[d.i] != '"' {
		return "", errJSON
	}
	start := d.i + 1
	for i := start; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			d.i = i + 1
			return s[start:i], nil
		}
		if c == '\\' {
			return d.strSlow(start, i)
		}
		if c < 0x20 {
			return "", errJSON
		}
	}
	return "", errJSON
}

// strSlow decodes a string with escapes; s[start:i] is its escape-free prefix
// and s[i] the first backslash. It allocates once: the decoded text is never
// longer than its escaped form.
func (d *jsonDecoder) strSlow(start, i int) (string, error) {
	s := d.s
	end := i
	for end < len(s) && s[end] != '"' {
		if s[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(s) {
		return "", errJSON
	}
	var b strings.Builder
	b.Grow(end - start)
	b.WriteString(s[start:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return b.String(), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			j := i + 1 // copy the run up to the next special byte at once
			for j < len(s) && s[j] != '"' && s[j] != '\\' && s[j] >= 0x20 {
				j++
			}
			b.WriteString(s[i:j])
			i = j
			continue
		}
		if i+1 >= len(s) {
			return "", errJSON
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hex4(s, i)
			if r < 0 {
				return "", errJSON
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A valid pair decodes to one rune; anything else is U+FFFD
				// for the first half (encoding/json's rule).
				first := r
				r = utf8.RuneError
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := hex4(s, i+2); r2 >= 0 {
						if dec := utf16.DecodeRune(first, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						}
					}
				}
			}
			b.WriteRune(r)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

// hex4 parses 4 hex digits at s[i:], or returns -1.
func hex4(s string, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skip consumes and validates any JSON value.
func (d *jsonDecoder) skip(depth int) error {
	if depth > maxJSONDepth {
		return errJSON
	}
	switch c := d.peek(); {
	case c == '"':
		return d.strSkip()
	case c == '{' || c == '[':
		d.i++
		d.ws()
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if d.peek() == closer {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if err := d.strSkip(); err != nil {
					return err
				}
				d.ws()
				if err := d.expect(':'); err != nil {
					return err
				}
				d.ws()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.peek() == ',' {
				d.i++
				d.ws()
				continue
			}
			return d.expect(closer)
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return errJSON
}

// strSkip validates a string without building it.
func (d *jsonDecoder) strSkip() error {
	s := d.s
	if d.i >= len(s) || s[d.i] != '"' {
		return errJSON
	}
	for i := d.i + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.i = i + 1
			return nil
		case c < 0x20:
			return errJSON
		case c == '\\':
			if i+1 >= len(s) {
				return errJSON
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if hex4(s, i+2) < 0 {
					return errJSON
				}
				i += 5
			default:
				return errJSON
			}
		}
	}
	return errJSON
}

func (d *jsonDecoder) literal(lit string) error {
	if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
		d.i += len(lit)
		return nil
	}
	return errJSON
}
