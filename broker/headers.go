package broker

import (
	"fmt"
	"strconv"

	"github.com/dledgermq/dledgermq/remoting"
)

// sendHeader is SendMessageRequestHeader (REMOTING.md §3.1), decoded from
// either the long names (SEND_MESSAGE) or the one-letter names of
// SendMessageRequestHeaderV2 (SEND_MESSAGE_V2, SEND_BATCH_MESSAGE).
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	unitMode              bool
	maxReconsumeTimes     int32
	batch                 bool
}

// v2Names maps the long header names to their V2 letters.
var v2Names = map[string]string{
	"producerGroup": "a", "topic": "b", "defaultTopic": "c", "defaultTopicQueueNums": "d",
	"queueId": "e", "sysFlag": "f", "bornTimestamp": "g", "flag": "h", "properties": "i",
	"reconsumeTimes": "j", "unitMode": "k", "maxReconsumeTimes": "l", "batch": "m",
}

// headerReader reads typed extFields and remembers the first problem.
type headerReader struct {
	req *remoting.Command
	v2  bool
	err error
}

func (h *headerReader) key(name string) string {
	if h.v2 {
		return v2Names[name]
	}
	return name
}

func (h *headerReader) str(name string, required bool) string {
	v, ok := h.req.ExtFields[h.key(name)]
	if !ok && required && h.err == nil {
		h.err = fmt.Errorf("%w: missing header field %s", ErrBadRequest, name)
	}
	return v
}

func (h *headerReader) int64(name string, required bool) int64 {
	s := h.str(name, required)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && h.err == nil {
		h.err = fmt.Errorf("%w: header field %s=%q is not an integer", ErrBadRequest, name, s)
	}
	return n
}

func (h *headerReader) int32(name string, required bool) int32 {
	s := h.str(name, required)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil && h.err == nil {
		h.err = fmt.Errorf("%w: header field %s=%q is not a 32-bit integer", ErrBadRequest, name, s)
	}
	return int32(n)
}

func (h *headerReader) bool(name string) bool {
	b, _ := strconv.ParseBool(h.str(name, false))
	return b
}

// decodeSendHeader decodes the header of SEND_MESSAGE, SEND_MESSAGE_V2,
// SEND_BATCH_MESSAGE and SEND_REPLY_MESSAGE(_V2).
func decodeSendHeader(req *remoting.Command) (*sendHeader, error) {
	code := req.RequestCode()
	h := &headerReader{req: req, v2: code == remoting.SendMessageV2 || code == remoting.SendBatchMessage || code == remoting.SendReplyMessageV2}
	sh := &sendHeader{
		producerGroup:         h.str("producerGroup", true),
		topic:                 h.str("topic", true),
		defaultTopic:          h.str("defaultTopic", false),
		defaultTopicQueueNums: h.int32("defaultTopicQueueNums", false),
		queueID:               h.int32("queueId", true),
		sysFlag:               h.int32("sysFlag", false),
		bornTimestamp:         h.int64("bornTimestamp", false),
		flag:                  h.int32("flag", false),
		properties:            h.str("properties", false),
		reconsumeTimes:        h.int32("reconsumeTimes", false),
		unitMode:              h.bool("unitMode"),
		maxReconsumeTimes:     h.int32("maxReconsumeTimes", false),
		batch:                 h.bool("batch") || code == remoting.SendBatchMessage,
	}
	if h.err != nil {
		return nil, h.err
	}
	return sh, nil
}

// ext reads a plain request header: the named fields, each required.
type ext struct {
	headerReader
}

func newExt(req *remoting.Command) *ext { return &ext{headerReader{req: req}} }
