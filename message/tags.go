package message

import (
	"bytes"
	"iter"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// TagsHash is RocketMQ's tags code (MessageExtBrokerInner.tagsString2tagsCode):
// Java String.hashCode() of the tag, computed over UTF-16 code units, as a
// sign-extended int64; 0 for the empty tag. Consume queues store it and
// heartbeats carry it (as decimal strings) in subscription codeSets.
//
// Input is read as UTF-8; each invalid byte counts as U+FFFD (Java decodes
// malformed input to U+FFFD too, though it may merge a truncated sequence
// into one U+FFFD where Go yields one per byte).
func TagsHash(tag string) int64 {
	var h int32
	for i := 0; i < len(tag); {
		c := tag[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(tag[i:])
		h = hashRune(h, r)
		i += n
	}
	return int64(h)
}

// TagsHashBytes is TagsHash over bytes; it does not allocate.
func TagsHashBytes(tag []byte) int64 {
	var h int32
	for i := 0; i < len(tag); {
		c := tag[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(tag[i:])
		h = hashRune(h, r)
		i += n
	}
	return int64(h)
}

func hashRune(h int32, r rune) int32 {
	if r > 0xFFFF {
		hi, lo := utf16.EncodeRune(r)
		return 31*(31*h+hi) + lo
	}
	return 31*h + r
}

// SplitKeys splits a KEYS property on single spaces and drops empty pieces,
// as RocketMQ's index service does.
func SplitKeys(keys string) []string {
	var out []string
	for k := range KeysSeq(keys) {
		out = append(out, k)
	}
	return out
}

// KeysSeq iterates over the non-empty space-separated keys of a KEYS property
// without allocating.
func KeysSeq(keys string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for keys != "" {
			k := keys
			if i := strings.IndexByte(keys, ' '); i >= 0 {
				k, keys = keys[:i], keys[i+1:]
			} else {
				keys = ""
			}
			if k != "" && !yield(k) {
				return
			}
		}
	}
}

// KeysSeqBytes is KeysSeq over bytes; the yielded slices alias keys.
func KeysSeqBytes(keys []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(keys) > 0 {
			k := keys
			if i := bytes.IndexByte(keys, ' '); i >= 0 {
				k, keys = keys[:i], keys[i+1:]
			} else {
				keys = nil
			}
			if len(k) > 0 && !yield(k) {
				return
			}
		}
	}
}
