package remoting

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONHeaderDecodesGoClientFrame(t *testing.T) {
	c, err := decodeJSONHeader([]byte(sendHeaderJSON))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCommand(c, sendCommand()); d != "" {
		t.Fatal(d)
	}
	if got := c.Ext("properties"); !strings.Contains(got, "TAGS\x01TagA\x02") {
		t.Fatalf("\\u0001/\\u0002 not restored: %q", got)
	}
}

func TestJSONHeaderEncodeQuirks(t *testing.T) {
	c := sendCommand()
	c.Remark = "a \"quoted\"\\ line\nnext\ttab \x7f é"
	hdr := appendJSONHeader(nil, c)

	// Compact: no whitespace outside strings.
	var compact bytes.Buffer
	if err := json.Compact(&compact, hdr); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, hdr)
	}
	if !bytes.Equal(compact.Bytes(), hdr) {
		t.Fatalf("not compact:\n%s\n%s", hdr, compact.Bytes())
	}
	// Every extFields value is a JSON string: a map[string]string decode
	// (what json-iterator in the Go client does) must succeed.
	var generic struct {
		Code      int16             `json:"code"`
		Language  string            `json:"language"`
		Version   int16             `json:"version"`
		Opaque    int32             `json:"opaque"`
		Flag      int32             `json:"flag"`
		Remark    string            `json:"remark"`
		ExtFields map[string]string `json:"extFields"`
	}
	if err := json.Unmarshal(hdr, &generic); err != nil {
		t.Fatal(err)
	}
	if generic.ExtFields["properties"] != c.ExtFields["properties"] || generic.Remark != c.Remark ||
		generic.Language != "GO" || generic.Code != 10 || generic.Version != 317 || generic.Opaque != 6 {
		t.Fatalf("standard decoder disagrees: %+v", generic)
	}
	// Control bytes are escaped the way the Go client escapes them.
	if !bytes.Contains(hdr, []byte(`TAGS\u0001TagA\u0002`)) {
		t.Fatalf("properties not escaped as \\u0001/\\u0002: %s", hdr)
	}
	back, err := decodeJSONHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffCommand(back, c); d != "" {
		t.Fatal(d)
	}
}

func TestJSONHeaderGolden(t *testing.T) {
	c := &Command{Code: 105, Language: LanguageGo, Version: 317, Opaque: 7, ExtFields: map[string]string{"topic": "T"}}
	want := `{"code":105,"language":"GO","version":317,"opaque":7,"flag":0,"remark":"","extFields":{"topic":"T"}}`
	if got := string(appendJSONHeader(nil, c)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	c = NewResponse(c, TopicNotExist, "No topic route info in name server for the topic: T")
	want = `{"code":17,"language":"JAVA","version":317,"opaque":7,"flag":1,"remark":"No topic route info in name server for the topic: T","extFields":{}}`
	if got := string(appendJSONHeader(nil, c)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestJSONHeaderDecodeVariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Command
	}{
		{"java style", `{"code":0,"extFields":{"msgId":"7F00000100009ABD0000000000000961","queueId":"1"},"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":395}`,
			Command{Code: 0, Flag: 1, Opaque: 3, Version: 395, Language: LanguageJava,
				ExtFields: map[string]string{"msgId": "7F00000100009ABD0000000000000961", "queueId": "1"}}},
		{"whitespace and nulls", " {\n\t\"code\" : 34 , \"remark\":null, \"extFields\":null, \"language\":null }\r\n",
			Command{Code: 34}},
		{"empty object", `{}`, Command{}},
		{"unknown nested values", `{"x":{"a":[1,2.5e3,-0,true,false,null,{"b":"\u00e9"}]},"code":-3,"y":[]}`,
			Command{Code: -3}},
		{"escapes", `{"remark":"\"\\\/\b\f\n\r\t\u0001\u00e9\ud83d\ude00\ud800x","extFields":{"k\u0031":null}}`,
			Command{Remark: "\"\\/\b\f\n\r\t\x01é😀\uFFFDx", ExtFields: map[string]string{"k1": ""}}},
		{"duplicate keys: last wins", `{"code":1,"code":2,"extFields":{"a":"1"},"extFields":{"b":"2"}}`,
			Command{Code: 2, ExtFields: map[string]string{"b": "2"}}},
		{"unknown language", `{"language":"COBOL"}`, Command{Language: LanguageOther}},
		{"int32 bounds", `{"opaque":2147483647,"flag":-2147483648}`, Command{Opaque: 2147483647, Flag: -2147483648}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeJSONHeader([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffCommand(got, &tc.want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestJSONHeaderDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, ` `, `null`, `[]`, `{`, `{"code":1`, `{"code":1,}`, `{"code" 1}`, `{code:1}`,
		`{"code":1.5}`, `{"code":1e2}`, `{"code":"1"}`, `{"code":2147483648}`, `{"code":01}`, `{"code":-}`,
		`{"extFields":{"queueId":1}}`, `{"extFields":{"a":true}}`, `{"extFields":[]}`,
		`{"remark":"a` + "\x01" + `"}`, `{"remark":"\x"}`, `{"remark":"\u12"}`, `{"remark":"abc}`,
		`{"language":7}`, `{"x":tru}`, `{"x":[1,]}`, `{"x":{"a"}}`, `{} {}`, `{}x`,
		`{"x":` + strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2) + `}`,
	} {
		if c, err := decodeJSONHeader([]byte(in)); err == nil {
			t.Errorf("%.60q: decoded %+v, want error", in, c)
		} else if !errors.Is(err, errJSON) {
			t.Errorf("%.60q: error %v is not errJSON", in, err)
		}
	}
}

func TestJSONHeaderDecodeSharesOneAllocation(t *testing.T) {
	hdr := []byte(`{"code":10,"language":"GO","version":317,"opaque":6,"flag":0,"remark":"","extFields":{"topic":"TopicTest","queueId":"1"}}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeJSONHeader(hdr); err != nil {
			t.Fatal(err)
		}
	})
	// header string, Command, map (+ its storage).
	if allocs > 4 {
		t.Fatalf("%v allocations per decode, want <= 4", allocs)
	}
}
