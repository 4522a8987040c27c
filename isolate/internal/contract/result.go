package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcome is how an invocation ended; the names are Cloudflare's (docs/result.md).
type Outcome string

// Outcomes.
const (
	OutcomeOK               Outcome = "ok"
	OutcomeException        Outcome = "exception"
	OutcomeExceededCPU      Outcome = "exceededCpu"
	OutcomeExceededMemory   Outcome = "exceededMemory"
	OutcomeExceededWallTime Outcome = "exceededWallTime"
	OutcomeCanceled         Outcome = "canceled"
	OutcomeLoadShed         Outcome = "loadShed"
	OutcomeInternalError    Outcome = "internalError"
	OutcomeDenied           Outcome = "denied"
)

// Outcomes are every outcome a result may have.
var Outcomes = []Outcome{OutcomeOK, OutcomeException, OutcomeExceededCPU, OutcomeExceededMemory, OutcomeExceededWallTime,
	OutcomeCanceled, OutcomeLoadShed, OutcomeInternalError, OutcomeDenied}

// Known reports whether o is one of Outcomes. A result decoded from a worker
// or a peer carries only these: the outcome becomes a metric's label, a log
// field and the caller's answer.
func (o Outcome) Known() bool { return slices.Contains(Outcomes, o) }

// Request is the HTTP request handed to the Worker's fetch handler.
type Request struct {
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"-"`
	// CF is what the node knows of an incoming request, the Worker's
	// request.cf; set by the node and the Runtime, never read from the
	// request's JSON (a client cannot claim a colo).
	CF *RequestCF `json:"-"`
}

// RequestCF is request.cf: what a self-hosted node knows of an incoming
// request. Empty fields are unknown, and absent from request.cf.
type RequestCF struct {
	// Colo names the node that runs the Worker.
	Colo string `json:"colo,omitempty"`
	// HTTPProtocol is the client's protocol: "HTTP/1.1", "HTTP/2",
	// "HTTP/3".
	HTTPProtocol string `json:"httpProtocol,omitempty"`
	// ClientTCPRTT is the smoothed round-trip time of the client's TCP
	// connection, in milliseconds (0: unknown).
	ClientTCPRTT int `json:"clientTcpRtt,omitempty"`
	// TLSVersion is the TLS version of the client's connection
	// ("TLSv1.3"); empty for plain HTTP.
	TLSVersion string `json:"tlsVersion,omitempty"`
}

type requestJSON struct {
	Method     string            `json:"method,omitempty"`
	URL        string            `json:"url,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 *string           `json:"bodyBase64,omitempty"`
}

// DefaultURL is the URL of a request that names none.
const DefaultURL = "http://localhost/"

// UnmarshalJSON accepts body (UTF-8 text) or bodyBase64, and rejects unknown fields.
func (r *Request) UnmarshalJSON(b []byte) error {
	var j requestJSON
	if err := StrictUnmarshal(b, &j); err != nil {
		return err
	}
	*r = Request{Method: j.Method, URL: j.URL, Headers: j.Headers}
	switch {
	case j.Body != nil && j.BodyBase64 != nil:
		return errors.New("request: give body or bodyBase64, not both")
	case j.Body != nil:
		r.Body = []byte(*j.Body)
	case j.BodyBase64 != nil:
		d, err := base64.StdEncoding.DecodeString(*j.BodyBase64)
		if err != nil {
			return fmt.Errorf("request.bodyBase64: %w", err)
		}
		r.Body = d
	}
	return nil
}

// MarshalJSON writes body as text when it is valid UTF-8, else as bodyBase64.
func (r Request) MarshalJSON() ([]byte, error) {
	j := requestJSON{Method: r.Method, URL: r.URL, Headers: r.Headers}
	j.Body, j.BodyBase64 = encodeBody(r.Body)
	return json.Marshal(j)
}

// Response is what the Worker answered.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// SetCookie holds the values of the response's Set-Cookie headers, in
	// order, when it has two or more (Headers["set-cookie"] joins them
	// with ", ", which a browser cannot split: Expires holds a comma);
	// nil otherwise. SetCookies gives them in every case.
	SetCookie []string `json:"-"`
	Body      []byte   `json:"-"`
	// Streamed says the body did not come with the response: it went,
	// chunk by chunk as the Worker produced it, to the invocation's body
	// pipe (Body is empty). Only an invocation that asked for it
	// (ExecRequest.Stream) gets such a response.
	Streamed bool `json:"-"`
	// Release, when set, gives back what the host counted for Body (the
	// node's bound on the fetched bodies it holds) once the host side holds
	// it no more: its reply written to the worker, or the call ended
	// without collecting it. Host side only: never encoded, nil in a
	// worker. Safe to call more than once and from any goroutine.
	Release func() `json:"-"`
}

// SetCookies is the values of r's Set-Cookie headers, each its own header
// line: SetCookie, or the one value of Headers["set-cookie"].
func (r *Response) SetCookies() []string {
	if len(r.SetCookie) > 0 {
		return r.SetCookie
	}
	if v, ok := r.Headers["set-cookie"]; ok {
		return []string{v}
	}
	return nil
}

// ReleaseBody calls r.Release if r and it are set.
func (r *Response) ReleaseBody() {
	if r != nil && r.Release != nil {
		r.Release()
	}
}

type responseJSON struct {
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	SetCookie  []string          `json:"setCookie,omitempty"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 *string           `json:"bodyBase64,omitempty"`
	Streamed   bool              `json:"streamed,omitempty"`
}

// MarshalJSON writes body as text when it is valid UTF-8, else as bodyBase64.
func (r Response) MarshalJSON() ([]byte, error) {
	j := responseJSON{Status: r.Status, Headers: r.Headers, SetCookie: r.SetCookie, Streamed: r.Streamed}
	if j.Headers == nil {
		j.Headers = map[string]string{}
	}
	j.Body, j.BodyBase64 = encodeBody(r.Body)
	if j.Body == nil && j.BodyBase64 == nil && !r.Streamed {
		empty := ""
		j.Body = &empty
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads body or bodyBase64.
func (r *Response) UnmarshalJSON(b []byte) error {
	var j responseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Response{Status: j.Status, Headers: j.Headers, SetCookie: j.SetCookie, Streamed: j.Streamed}
	if j.Body != nil {
		r.Body = []byte(*j.Body)
	} else if j.BodyBase64 != nil {
		d, err := base64.StdEncoding.DecodeString(*j.BodyBase64)
		if err != nil {
			return fmt.Errorf("response.bodyBase64: %w", err)
		}
		r.Body = d
	}
	return nil
}

func encodeBody(b []byte) (text, b64 *string) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// Log is one console.* call.
type Log struct {
	Timestamp int64  `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
}

// Exception is an uncaught error, with its stack mapped to the author's sources.
type Exception struct {
	Timestamp int64  `json:"timestamp"`
	Name      string `json:"name"`
	Message   string `json:"message"`
	Stack     string `json:"stack,omitempty"`
}

// Telemetry says where and how an invocation ran.
type Telemetry struct {
	Node        string   `json:"node,omitempty"`
	Hops        []string `json:"hops,omitempty"`
	ColdStart   bool     `json:"coldStart"`
	StartupMs   float64  `json:"startupMs"`
	CPUTime     float64  `json:"cpuTime"`
	WallTime    float64  `json:"wallTime"`
	MemoryBytes int64    `json:"memoryBytes"`
	// Executor is "sandbox" or "inprocess".
	Executor string `json:"executor,omitempty"`
}

// Result is the outcome of one invocation (docs/result.md).
type Result struct {
	Outcome    Outcome     `json:"outcome"`
	Response   *Response   `json:"response,omitempty"`
	Logs       []Log       `json:"logs"`
	Exceptions []Exception `json:"exceptions"`
	Telemetry  Telemetry   `json:"telemetry"`
	// Error explains an outcome other than ok and exception (which limit,
	// why denied). With outcome ok, it says what cut ctx.waitUntil work
	// short after the response went out (a limit, BackgroundLimit, an
	// uncaught exception, promises that can never settle); the response
	// stands.
	Error string `json:"error,omitempty"`
	// NoRetry reports that a scheduled handler called
	// controller.noRetry(): the Worker asks not to be retried.
	NoRetry bool `json:"noRetry,omitempty"`
}

// OK reports whether the outcome is ok.
func (r *Result) OK() bool { return r.Outcome == OutcomeOK }

// ResponseHeaders is HeaderMap of a response's header pairs, and the
// values of its set-cookie headers when there are two or more
// (Response.SetCookie).
func ResponseHeaders(names, values []string) (map[string]string, []string) {
	var cookies []string
	for i, n := range names {
		if strings.EqualFold(n, "set-cookie") {
			cookies = append(cookies, values[i])
		}
	}
	if len(cookies) < 2 {
		cookies = nil
	}
	return HeaderMap(names, values), cookies
}

// HeaderMap flattens header pairs into the result's map, joining repeats
// with ", " (set-cookie included: the map cannot hold repeats).
func HeaderMap(names, values []string) map[string]string {
	m := make(map[string]string, len(names))
	for i, n := range names {
		n = strings.ToLower(n)
		if prev, ok := m[n]; ok {
			m[n] = prev + ", " + values[i]
		} else {
			m[n] = values[i]
		}
	}
	return m
}

// SortedKeys returns m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StrictUnmarshal is json.Unmarshal refusing unknown fields.
func StrictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Round3 rounds milliseconds to microseconds, so sums print cleanly.
func Round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// AfterResponse is the final result of a call whose response went out
// (sent, the result then) when a failure, described by why, ended its
// ctx.waitUntil work: the response stands.
func AfterResponse(sent *Result, why string) *Result {
	res := *sent
	res.Logs = slices.Clone(sent.Logs)
	res.Exceptions = slices.Clone(sent.Exceptions)
	res.Error = "ctx.waitUntil work was canceled: " + why
	res.Telemetry.WallTime = 0 // the caller's to fill in
	return &res
}
