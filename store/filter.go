package store

import (
	"strings"

	"github.com/dledgermq/dledgermq/message"
)

// MessageFilter decides from a consume-queue entry's tag hash whether a
// message goes to the consumer (RocketMQ's isMatchedByConsumeQueue). A nil
// filter matches everything.
type MessageFilter interface {
	MatchTagHash(tagHash int64) bool
}

// TagFilter matches a TAG subscription: "*" (or "") matches every message;
// otherwise a message matches when its tag hash is one of the
// subscription's codes. Like RocketMQ it compares the 32-bit hashes, so a
// message without tags (hash 0) matches only "*".
type TagFilter struct {
	all   bool
	codes []int32
}

var _ MessageFilter = (*TagFilter)(nil)

// ParseTagFilter builds a filter from a subscription expression such as
// "TagA || TagB" or "*".
func ParseTagFilter(expr string) *TagFilter {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return &TagFilter{all: true}
	}
	f := &TagFilter{}
	for _, t := range strings.Split(expr, "||") {
		if t = strings.TrimSpace(t); t != "" {
			f.codes = append(f.codes, int32(message.TagsHash(t)))
		}
	}
	if len(f.codes) == 0 {
		f.all = true
	}
	return f
}

// NewTagFilter builds a filter from a heartbeat subscription's codeSet
// (the tags' hashes); no codes means "*".
func NewTagFilter(codes ...int32) *TagFilter {
	if len(codes) == 0 {
		return &TagFilter{all: true}
	}
	return &TagFilter{codes: append([]int32(nil), codes...)}
}

// MatchTagHash implements MessageFilter.
func (f *TagFilter) MatchTagHash(h int64) bool {
	if f == nil || f.all {
		return true
	}
	for _, c := range f.codes {
		if c == int32(h) {
			return true
		}
	}
	return false
}
