package remoting

import (
	"fmt"
	"strconv"
	"strings"
)

// SerializeType is the header encoding of a frame (byte 0 of the header-length
// word, REMOTING.md §1). Frozen wire constants.
type SerializeType uint8

const (
	// SerializeJSON is the JSON header, the only form the Go client sends.
	SerializeJSON SerializeType = 0
	// SerializeRocketMQ is the ROCKETMQ binary header (REMOTING.md §1.2).
	SerializeRocketMQ SerializeType = 1
)

func (t SerializeType) String() string {
	switch t {
	case SerializeJSON:
		return "JSON"
	case SerializeRocketMQ:
		return "ROCKETMQ"
	}
	return "SERIALIZE_" + strconv.Itoa(int(t))
}

// LanguageCode is the `language` of a command: a name in JSON headers, a byte
// in binary headers. Values are RocketMQ's LanguageCode (frozen).
type LanguageCode uint8

// Language codes.
const (
	LanguageJava   LanguageCode = 0
	LanguageCPP    LanguageCode = 1
	LanguageDotNet LanguageCode = 2
	LanguagePython LanguageCode = 3
	LanguageDelphi LanguageCode = 4
	LanguageErlang LanguageCode = 5
	LanguageRuby   LanguageCode = 6
	LanguageOther  LanguageCode = 7
	LanguageHTTP   LanguageCode = 8
	LanguageGo     LanguageCode = 9
	LanguagePHP    LanguageCode = 10
	LanguageOMS    LanguageCode = 11
	LanguageRust   LanguageCode = 12
)

var languageNames = [...]string{"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"}

// String returns the JSON name of the language; codes outside the table are
// reported (and JSON-encoded) as "OTHER".
func (l LanguageCode) String() string {
	if int(l) < len(languageNames) {
		return languageNames[l]
	}
	return "OTHER"
}

// parseLanguage maps a JSON language name to its code; unknown names map to
// LanguageOther.
func parseLanguage(s string) LanguageCode {
	switch s { // the common ones first, without a loop
	case "GO":
		return LanguageGo
	case "JAVA":
		return LanguageJava
	}
	for i, n := range languageNames {
		if n == s {
			return LanguageCode(i)
		}
	}
	return LanguageOther
}

// Flag bits (REMOTING.md §1.1). Frozen.
const (
	// FlagResponse marks a response.
	FlagResponse int32 = 1 << 0
	// FlagOneway marks a request that expects no response. The official Go
	// client never sets it (REMOTING.md §1.3); Java clients do.
	FlagOneway int32 = 1 << 1
)

// ProtocolVersion is the `version` this package puts in the commands it
// creates: 317 (MQVersion V4_5_2), what the Go client v2.1.2 sends.
const ProtocolVersion = 317

// Command is one remoting command: a request or a response. Field names follow
// the JSON header keys.
//
// Strings of a decoded Command (Remark, ExtFields keys and values) share one
// backing allocation with the rest of its header; use strings.Clone on a
// value that is kept long after the request is done.
//
// A Command handed to Invoke, InvokeOneway, InvokeAsync or Respond belongs to
// the connection until it has been written: do not modify or reuse it.
type Command struct {
	Code          int32             // request code (RequestCode) or response code (ResponseCode)
	Language      LanguageCode      // sender's language
	Version       int32             // sender's protocol version
	Opaque        int32             // request id, echoed by the response
	Flag          int32             // FlagResponse | FlagOneway
	Remark        string            // error text of a response
	ExtFields     map[string]string // custom header fields; every value is a string on the wire
	Body          []byte            // opaque payload, nil when empty
	SerializeType SerializeType     // header encoding used on the wire
}

// NewRequest returns a JSON-serialized request with the given code, extFields
// (may be nil) and body (may be nil). The connection assigns the opaque.
func NewRequest(code RequestCode, ext map[string]string, body []byte) *Command {
	return &Command{
		Code:      int32(code),
		Language:  LanguageGo,
		Version:   ProtocolVersion,
		ExtFields: ext,
		Body:      body,
	}
}

// NewResponse returns a response to req with the given code and remark. It
// echoes req's opaque and serialization type.
func NewResponse(req *Command, code ResponseCode, remark string) *Command {
	return &Command{
		Code:          int32(code),
		Language:      LanguageJava, // what a Java server sends; every client version knows it
		Version:       ProtocolVersion,
		Opaque:        req.Opaque,
		Flag:          FlagResponse,
		Remark:        remark,
		SerializeType: req.SerializeType,
	}
}

// NotSupported returns the REQUEST_CODE_NOT_SUPPORTED (3) response for req, the
// answer to any request code a handler does not serve.
func NotSupported(req *Command) *Command {
	return NewResponse(req, RequestCodeNotSupported,
		fmt.Sprintf("request type %d not supported", req.Code))
}

// IsResponse reports whether the response flag (bit 0) is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway flag (bit 1) is set.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// RequestCode returns Code as a RequestCode.
func (c *Command) RequestCode() RequestCode { return RequestCode(c.Code) }

// ResponseCode returns Code as a ResponseCode.
func (c *Command) ResponseCode() ResponseCode { return ResponseCode(c.Code) }

// Ext returns the extField key, or "" when absent.
func (c *Command) Ext(key string) string { return c.ExtFields[key] }

// SetExt sets the extField key, allocating the map when needed.
func (c *Command) SetExt(key, value string) {
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, 4)
	}
	c.ExtFields[key] = value
}

// SetExtInt sets the extField key to the decimal form of v (extFields values
// are always strings on the wire).
func (c *Command) SetExtInt(key string, v int64) {
	c.SetExt(key, strconv.FormatInt(v, 10))
}

// ExtInt parses the extField key as a decimal int64. It reports ok=false when
// the field is absent and an error when it is present but not a number.
func (c *Command) ExtInt(key string) (v int64, ok bool, err error) {
	s, ok := c.ExtFields[key]
	if !ok {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("extField %s=%q: %w", key, s, err)
	}
	return v, true, nil
}

// String describes the command for logs (no body bytes, no field values).
func (c *Command) String() string {
	var b strings.Builder
	if c.IsResponse() {
		b.WriteString(ResponseCode(c.Code).String())
	} else {
		b.WriteString(RequestCode(c.Code).String())
	}
	fmt.Fprintf(&b, "(%d) opaque=%d flag=%d", c.Code, c.Opaque, c.Flag)
	if c.Remark != "" {
		fmt.Fprintf(&b, " remark=%q", c.Remark)
	}
	fmt.Fprintf(&b, " ext=%d body=%dB %s", len(c.ExtFields), len(c.Body), c.SerializeType)
	return b.String()
}
