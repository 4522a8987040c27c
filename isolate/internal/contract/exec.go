package contract

import (
	"encoding/json"
	"time"
)

// BackgroundLimit bounds the ctx.waitUntil work of a call after its
// response is out, as on Cloudflare; a call's wall-time limit, if smaller,
// bounds it instead. The call's CPU and memory limits cover that work too.
const BackgroundLimit = 30 * time.Second

// ScheduledEvent asks an invocation to run the Worker's scheduled handler,
// as a Cloudflare Cron Trigger does.
type ScheduledEvent struct {
	Cron          string `json:"cron"`          // the cron expression that fired ("" when run by hand)
	ScheduledTime int64  `json:"scheduledTime"` // unix ms of the tick
}

// Program is prepared code as it travels to the engine that runs it: a
// bundled script or a wasm module, named by the code's hash.
type Program struct {
	Hash   string `json:"hash"`
	Name   string `json:"name"`
	Script string `json:"script,omitempty"`
	Wasm   []byte `json:"wasm,omitempty"`
	// Python is set for a Python program: every module of the code object
	// by name (source, text, JSON or data), Name the main module.
	Python map[string][]byte `json:"python,omitempty"`
}

// ExecRequest is one invocation as an engine sees it (and the request frame
// a sandbox worker receives): code by hash only, fetched with an OpCode host
// call on a cache miss.
type ExecRequest struct {
	Hash string `json:"hash"`
	Wasm bool   `json:"wasm,omitempty"`
	// Python runs the program in CPython on WASI (docs/python.md).
	Python bool `json:"python,omitempty"`
	// Deterministic seeds a WASI command's random_get from the module's hash
	// (compatibility flag DeterministicRandomFlag).
	Deterministic bool                       `json:"deterministic,omitempty"`
	Request       *Request                   `json:"request"`
	Scheduled     *ScheduledEvent            `json:"scheduled,omitempty"` // run the scheduled handler, not fetch
	Env           map[string]json.RawMessage `json:"env,omitempty"`
	Bindings      map[string]Binding         `json:"bindings,omitempty"`
	Limits        Limits                     `json:"limits"`
	// Stream asks for a response whose body is a stream to be sent as it
	// is produced: its head with OpRespond (Response.Streamed), then its
	// chunks and end with OpBody calls.
	Stream bool `json:"stream,omitempty"`
}

// Failure is a result with outcome o, explained by msg.
func Failure(o Outcome, msg string) *Result {
	return &Result{Outcome: o, Error: msg, Logs: []Log{}, Exceptions: []Exception{}}
}

// ExceptionResult is a result with outcome exception, of one exception.
func ExceptionResult(name, msg, stack string) *Result {
	r := Failure(OutcomeException, "")
	r.Exceptions = append(r.Exceptions, Exception{Timestamp: time.Now().UnixMilli(), Name: name, Message: msg, Stack: stack})
	return r
}

// ObjectFailure is the result of an object event that failed with o.
func ObjectFailure(o Outcome, msg string) *ObjectResult {
	return &ObjectResult{Result: *Failure(o, msg), Reset: true}
}

// BackgroundPeriod is how long ctx.waitUntil work may go on after the
// response: BackgroundLimit, or the call's wall-time limit if smaller.
func BackgroundPeriod(l Limits) time.Duration { return min(BackgroundLimit, LimitWall(l)) }
