package remoting

import (
	"bytes"
	"fmt"
	"maps"
)

// sendHeaderJSON is the SEND_MESSAGE header the Go client v2.1.2 put on the
// wire (REMOTING.md §11).
const sendHeaderJSON = `{"code":10,"language":"GO","version":317,"opaque":6,"flag":0,"remark":"","extFields":{"producerGroup":"pg1",` +
	`"bornTimestamp":"1795261308780","flag":"0","unitMode":"false","defaultTopic":"TBW102","batch":"false",` +
	`"topic":"TopicTest","queueId":"1","sysFlag":"0","reconsumeTimes":"0","maxReconsumeTimes":"0",` +
	`"defaultTopicQueueNums":"4","properties":"TAGS\u0001TagA\u0002KEYS\u0001k0\u0002UNIQ_KEY\u0001C000020249D7000000006981b4600001\u0002"}}`

// sendCommand is the Command of sendHeaderJSON.
func sendCommand() *Command {
	return &Command{
		Code: 10, Language: LanguageGo, Version: 317, Opaque: 6,
		ExtFields: map[string]string{
			"producerGroup": "pg1", "bornTimestamp": "1795261308780", "flag": "0", "unitMode": "false",
			"defaultTopic": "TBW102", "batch": "false", "topic": "TopicTest", "queueId": "1", "sysFlag": "0",
			"reconsumeTimes": "0", "maxReconsumeTimes": "0", "defaultTopicQueueNums": "4",
			"properties": "TAGS\x01TagA\x02KEYS\x01k0\x02UNIQ_KEY\x01C000020249D7000000006981b4600001\x02",
		},
	}
}

// diffCommand describes how a and b differ ("" when equal). nil and empty
// maps and bodies are equal.
func diffCommand(a, b *Command) string {
	switch {
	case a == nil && b == nil:
		return ""
	case a == nil || b == nil:
		return fmt.Sprintf("one is nil: %v vs %v", a, b)
	}
	var d []string
	if a.Code != b.Code || a.Language != b.Language || a.Version != b.Version || a.Opaque != b.Opaque ||
		a.Flag != b.Flag || a.SerializeType != b.SerializeType {
		d = append(d, fmt.Sprintf("fixed fields: %+v vs %+v", *a, *b))
	}
	if a.Remark != b.Remark {
		d = append(d, fmt.Sprintf("remark %q vs %q", a.Remark, b.Remark))
	}
	if !maps.Equal(a.ExtFields, b.ExtFields) && (len(a.ExtFields) != 0 || len(b.ExtFields) != 0) {
		d = append(d, fmt.Sprintf("ext %q vs %q", a.ExtFields, b.ExtFields))
	}
	if !bytes.Equal(a.Body, b.Body) {
		d = append(d, fmt.Sprintf("body %d vs %d bytes", len(a.Body), len(b.Body)))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}
