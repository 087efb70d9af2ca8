package broker

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dledgermq/dledgermq/message"
)

// HEART_BEAT body (REMOTING.md §3.3). Only the fields the broker uses are
// decoded; unknown ones are ignored.

// heartbeatData is the HEART_BEAT body.
type heartbeatData struct {
	ClientID        string         `json:"clientID"`
	ProducerDataSet []producerData `json:"producerDataSet"`
	ConsumerDataSet []consumerData `json:"consumerDataSet"`
}

type producerData struct {
	GroupName string `json:"groupName"`
}

type consumerData struct {
	GroupName           string             `json:"groupName"`
	ConsumeType         string             `json:"consumeType"`
	MessageModel        string             `json:"messageModel"`
	ConsumeFromWhere    string             `json:"consumeFromWhere"`
	UnitMode            bool               `json:"unitMode"`
	SubscriptionDataSet []subscriptionData `json:"subscriptionDataSet"`
}

// subscriptionData is one subscribed topic of a consumer group.
type subscriptionData struct {
	ClassFilterMode bool      `json:"classFilterMode"`
	Topic           string    `json:"topic"`
	SubString       string    `json:"subString"`
	TagsSet         []string  `json:"tagsSet"`
	CodeSet         flexInts  `json:"codeSet"`
	SubVersion      flexInt64 `json:"subVersion"`
	ExpressionType  string    `json:"expressionType"`
	codes           []int64   // CodeSet parsed
	all             bool      // "*" or empty: every tag matches
}

// flexInts decodes a JSON array whose elements are numbers or numeric
// strings (the Go client sends codeSet as strings, Java as numbers).
type flexInts []int64

func (f *flexInts) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make([]int64, 0, len(raw))
	for _, r := range raw {
		var v flexInt64
		if err := v.UnmarshalJSON(r); err != nil {
			return err
		}
		out = append(out, int64(v))
	}
	*f = out
	return nil
}

// flexInt64 decodes a number or a numeric string.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Large unsigned or float forms: keep what fits.
		fl, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not a number: %s", b)
		}
		n = int64(fl)
	}
	*f = flexInt64(n)
	return nil
}

// parseHeartbeat decodes and normalises a HEART_BEAT body.
func parseHeartbeat(body []byte) (*heartbeatData, error) {
	var hb heartbeatData
	if err := json.Unmarshal(body, &hb); err != nil {
		return nil, fmt.Errorf("%w: heartbeat body: %v", ErrBadRequest, err)
	}
	if hb.ClientID == "" {
		return nil, fmt.Errorf("%w: heartbeat without clientID", ErrBadRequest)
	}
	for i := range hb.ConsumerDataSet {
		for j := range hb.ConsumerDataSet[i].SubscriptionDataSet {
			hb.ConsumerDataSet[i].SubscriptionDataSet[j].normalise()
		}
	}
	return &hb, nil
}

func (s *subscriptionData) normalise() {
	s.codes = []int64(s.CodeSet)
	sub := strings.TrimSpace(s.SubString)
	s.all = sub == "" || sub == "*"
	if s.ExpressionType != "" && s.ExpressionType != "TAG" {
		// SQL92 and class filters are not evaluated here: deliver everything
		// and let the client filter (REMOTING.md §3.5).
		s.all = true
	}
}

// matches reports whether a message with tags hash code passes the
// subscription. Messages without tags (code 0) only pass "*".
func (s *subscriptionData) matches(code int64) bool {
	if s == nil || s.all {
		return true
	}
	for _, c := range s.codes {
		if c == code {
			return true
		}
	}
	return false
}

// subscriptionFromExpression builds a TAG subscription from a PULL request's
// own expression ("TagA || TagB", "*").
func subscriptionFromExpression(topic, expr, typ string) *subscriptionData {
	s := &subscriptionData{Topic: topic, SubString: expr, ExpressionType: typ}
	if typ == "" || typ == "TAG" {
		for _, t := range strings.Split(expr, "||") {
			if t = strings.TrimSpace(t); t != "" && t != "*" {
				s.TagsSet = append(s.TagsSet, t)
				s.CodeSet = append(s.CodeSet, message.TagsHash(t))
			}
		}
	}
	s.normalise()
	return s
}
