package contract

import (
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON appends r's JSON (docs/result.md) to dst: what encoding/json
// writes for r, field for field and in the same order, without escaping
// HTML characters (the node answers with SetEscapeHTML(false)). It exists
// because every POST /v1/run answers with a Result, and encoding/json's
// reflection, with Response's own MarshalJSON encoded and then compacted a
// second time, was about a tenth of the node's CPU per call.
// TestResultAppendJSON checks it against encoding/json on random results.
func (r *Result) AppendJSON(dst []byte) ([]byte, error) {
	t := &r.Telemetry
	for _, f := range [...]float64{t.StartupMs, t.CPUTime, t.WallTime} {
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, errUnsupportedFloat
		}
	}
	dst = append(dst, `{"outcome":`...)
	dst = appendJSONString(dst, string(r.Outcome))
	if r.Response != nil {
		dst = append(dst, `,"response":`...)
		dst = r.Response.appendJSON(dst)
	}
	dst = append(dst, `,"logs":`...)
	if r.Logs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Logs {
			l := &r.Logs[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timestamp":`...)
			dst = strconv.AppendInt(dst, l.Timestamp, 10)
			dst = append(dst, `,"level":`...)
			dst = appendJSONString(dst, l.Level)
			dst = append(dst, `,"message":`...)
			dst = appendJSONString(dst, l.Message)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"exceptions":`...)
	if r.Exceptions == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Exceptions {
			e := &r.Exceptions[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timestamp":`...)
			dst = strconv.AppendInt(dst, e.Timestamp, 10)
			dst = append(dst, `,"name":`...)
			dst = appendJSONString(dst, e.Name)
			dst = append(dst, `,"message":`...)
			dst = appendJSONString(dst, e.Message)
			if e.Stack != "" {
				dst = append(dst, `,"stack":`...)
				dst = appendJSONString(dst, e.Stack)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"telemetry":{`...)
	if t.Node != "" {
		dst = append(dst, `"node":`...)
		dst = appendJSONString(dst, t.Node)
		dst = append(dst, ',')
	}
	if len(t.Hops) > 0 {
		dst = append(dst, `"hops":[`...)
		for i, h := range t.Hops {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, h)
		}
		dst = append(dst, "],"...)
	}
	dst = append(dst, `"coldStart":`...)
	dst = strconv.AppendBool(dst, t.ColdStart)
	dst = append(dst, `,"startupMs":`...)
	dst = appendJSONFloat(dst, t.StartupMs)
	dst = append(dst, `,"cpuTime":`...)
	dst = appendJSONFloat(dst, t.CPUTime)
	dst = append(dst, `,"wallTime":`...)
	dst = appendJSONFloat(dst, t.WallTime)
	dst = append(dst, `,"memoryBytes":`...)
	dst = strconv.AppendInt(dst, t.MemoryBytes, 10)
	if t.Executor != "" {
		dst = append(dst, `,"executor":`...)
		dst = appendJSONString(dst, t.Executor)
	}
	dst = append(dst, '}')
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendJSONString(dst, r.Error)
	}
	if r.NoRetry {
		dst = append(dst, `,"noRetry":true`...)
	}
	return append(dst, '}'), nil
}

// MarshalJSON is AppendJSON, for encoding/json (which escapes HTML
// characters afterwards where its caller asks).
func (r *Result) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 256))
}

// appendJSON appends what Response.MarshalJSON writes.
func (r *Response) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"headers":{`...)
	if len(r.Headers) > 0 {
		// encoding/json writes a map's keys sorted.
		var arr [16]string
		keys := arr[:0]
		for k := range r.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, r.Headers[k])
		}
	}
	dst = append(dst, '}')
	if len(r.SetCookie) > 0 {
		dst = append(dst, `,"setCookie":[`...)
		for i, c := range r.SetCookie {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, c)
		}
		dst = append(dst, ']')
	}
	switch {
	case r.Body == nil:
		if !r.Streamed {
			dst = append(dst, `,"body":""`...)
		}
	case len(r.Body) == 0:
		dst = append(dst, `,"body":""`...)
	case utf8.Valid(r.Body):
		dst = append(dst, `,"body":`...)
		// The bytes are only read: no copy of a large body.
		dst = appendJSONString(dst, unsafe.String(&r.Body[0], len(r.Body)))
	default:
		dst = append(dst, `,"bodyBase64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Body)
		dst = append(dst, '"')
	}
	if r.Streamed {
		dst = append(dst, `,"streamed":true`...)
	}
	return append(dst, '}')
}

// errUnsupportedFloat is what encoding/json refuses too.
var errUnsupportedFloat = errors.New("json: unsupported value: NaN or infinite telemetry")

// appendJSONFloat appends f, finite, as encoding/json does: the shortest
// decimal, in exponent form below 1e-6 and from 1e21.
func appendJSONFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json writes it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are
// escaped (JSONP).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
