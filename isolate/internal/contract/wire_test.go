package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWireRoundTrip(t *testing.T) {
	x := &ExecRequest{
		Hash: "abc", Wasm: true, Python: true,
		Request: &Request{Method: "POST", URL: "http://x/y", Headers: map[string]string{"a": "1", "b": "2"}, Body: []byte{0, 1, 2},
			CF: &RequestCF{Colo: "n1", HTTPProtocol: "HTTP/2", ClientTCPRTT: 12, TLSVersion: "TLSv1.3"}},
		Env:      map[string]json.RawMessage{"A": json.RawMessage(`"x"`), "N": json.RawMessage(`{"n":1}`)},
		Bindings: map[string]Binding{"KV": {KV: "ns"}},
		Limits:   Limits{CPUMs: 1, MemoryMB: 2, SubRequests: 3, WallMs: 4},
	}
	b, err := EncodeExec(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeExec(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("exec round trip:\n got %+v\nwant %+v", got, x)
	}
	// A scheduled event travels too.
	x.Scheduled = &ScheduledEvent{Cron: "*/5 * * * *", ScheduledTime: 1764300000000}
	if b, err = EncodeExec(x); err != nil {
		t.Fatal(err)
	}
	if got, err = DecodeExec(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("scheduled exec round trip:\n got %+v\nwant %+v", got, x)
	}
	// An absent body stays absent; an empty one stays empty.
	for _, body := range [][]byte{nil, {}} {
		x := &ExecRequest{Request: &Request{Body: body}}
		b, _ := EncodeExec(x)
		got, err := DecodeExec(b)
		if err != nil || (got.Request.Body == nil) != (body == nil) {
			t.Errorf("body %#v came back %#v (%v)", body, got.Request.Body, err)
		}
	}

	res := &Result{
		Outcome:    OutcomeException,
		Error:      "e",
		Response:   &Response{Status: 201, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("hi")},
		Logs:       []Log{{Timestamp: 5, Level: "warn", Message: "m"}},
		Exceptions: []Exception{{Timestamp: 6, Name: "TypeError", Message: "x", Stack: "at a.ts:1:2"}},
		Telemetry:  Telemetry{ColdStart: true, StartupMs: 1.5, CPUTime: 0.25, WallTime: 3, MemoryBytes: 1 << 20, Node: "n2", Hops: []string{"n1", "n2"}, Executor: "sandbox"},
	}
	gotRes, err := DecodeResult(EncodeResult(res))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRes, res) {
		t.Errorf("result round trip:\n got %+v\nwant %+v", gotRes, res)
	}
	// NoRetry is a trailing field, written only when set: a result
	// without it encodes as before.
	before := EncodeResult(res)
	res.NoRetry = true
	withFlag := EncodeResult(res)
	if len(withFlag) != len(before)+1 {
		t.Errorf("NoRetry added %d bytes, want 1", len(withFlag)-len(before))
	}
	if gotRes, err = DecodeResult(withFlag); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRes, res) {
		t.Errorf("NoRetry round trip:\n got %+v\nwant %+v", gotRes, res)
	}
	// Streamed follows it, with or without NoRetry.
	for _, noRetry := range []bool{false, true} {
		res.NoRetry = noRetry
		res.Response.Streamed, res.Response.Body = true, []byte{}
		if gotRes, err = DecodeResult(EncodeResult(res)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotRes, res) {
			t.Errorf("Streamed round trip (noRetry %v):\n got %+v\nwant %+v", noRetry, gotRes, res)
		}
	}
	// A trailing false is not what an encoder writes.
	res.NoRetry, res.Response.Streamed = false, false
	if _, err := DecodeResult(append(EncodeResult(res), 0)); err == nil {
		t.Error("a result with a trailing false decoded")
	}
	if _, err := DecodeResult(append(EncodeResult(res), 1, 0)); err == nil {
		t.Error("a result with Streamed false decoded")
	}
	// The Set-Cookie values follow Streamed, with or without it; they are
	// written only when two or more.
	for _, streamed := range []bool{false, true} {
		res.Response.Streamed = streamed
		res.Response.SetCookie = []string{"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"}
		if gotRes, err = DecodeResult(EncodeResult(res)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotRes, res) {
			t.Errorf("SetCookie round trip (streamed %v):\n got %+v\nwant %+v", streamed, gotRes, res)
		}
	}
	res.Response.Streamed, res.Response.SetCookie = false, nil
	if _, err := DecodeResult(append(EncodeResult(res), 0, 0, 1, 1, 'a')); err == nil {
		t.Error("a result with one Set-Cookie value decoded")
	}
	res.Response.SetCookie = []string{"one"}
	if got, err := DecodeResult(EncodeResult(res)); err != nil || got.Response.SetCookie != nil {
		t.Errorf("one Set-Cookie value: %+v, %v; want it left to the headers", got, err)
	}
	res.Response.SetCookie = nil
	// Exec frames carry Stream.
	sx, err := EncodeExec(&ExecRequest{Hash: "h", Request: &Request{Method: "GET"}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeExec(sx); err != nil || !got.Stream {
		t.Errorf("Stream round trip: %+v, %v", got, err)
	}
}

// OpBody calls cross a worker's channel in their own binary form.
func TestBodyCallRoundTrip(t *testing.T) {
	for _, c := range []*HostCall{
		{Op: OpBody, Chunk: []byte("chunk\x00\xff")},
		{Op: OpBody, End: true},
		{Op: OpBody, End: true, BodyErr: "TypeError: boom"},
	} {
		msg := EncodeBody(c)
		got, err := DecodeHostCall(msg)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
		if len(c.Chunk) > 0 {
			msg[len(msg)-1] = 'X' // the decoded chunk is a copy
			if got.Chunk[len(got.Chunk)-1] == 'X' {
				t.Error("the decoded chunk shares the frame's buffer")
			}
		}
	}
	for _, bad := range [][]byte{{bodyTag}, {bodyTag, 1, 0, 'x'}, {bodyTag, 0, 9, 'a'}} {
		if c, err := DecodeHostCall(bad); err == nil {
			t.Errorf("% x decoded as %+v", bad, c)
		}
	}
}

func FuzzDecodeExec(f *testing.F) {
	b, _ := EncodeExec(&ExecRequest{Hash: "h", Request: &Request{Method: "GET", Headers: map[string]string{"a": "b"}}, Env: map[string]json.RawMessage{"E": json.RawMessage(`1`)}})
	f.Add(b)
	f.Add([]byte{WireVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeExec(b)
		if err != nil {
			return
		}
		again, err := EncodeExec(x)
		if err != nil {
			t.Fatalf("re-encoding a decoded frame: %v", err)
		}
		if _, err := DecodeExec(again); err != nil {
			t.Fatalf("decoding a re-encoded frame: %v", err)
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add(EncodeResult(&Result{Outcome: OutcomeOK, Response: &Response{Status: 200, Body: []byte("x")}, Logs: []Log{{Message: "m"}}}))
	f.Add([]byte{WireVersion, 2, 'o', 'k'})
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := DecodeResult(b)
		if err != nil {
			return
		}
		if _, err := DecodeResult(EncodeResult(res)); err != nil {
			t.Fatalf("decoding a re-encoded result: %v", err)
		}
	})
}

func TestWireObjectRoundTrip(t *testing.T) {
	x := &ObjectRequest{
		ExecRequest: ExecRequest{Hash: "abc", Request: &Request{Method: "GET", URL: "http://do/", Headers: map[string]string{}},
			Bindings: map[string]Binding{"D": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "C"}}}, Limits: Limits{CPUMs: 9}},
		Object: ObjectRef{Worker: "w", Class: "C", ID: strings.Repeat("ab", 32), Name: "n"},
		Epoch:  7, Kind: ObjectCall, Method: "m", Args: []byte{1, 2}, Fresh: true, Idle: time.Second,
	}
	b, err := EncodeObject(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeObject(b)
	if err != nil {
		t.Fatal(err)
	}
	got.Request.Headers = map[string]string{}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("object round trip:\n got %+v\nwant %+v", got, x)
	}
	at := int64(5)
	res := &ObjectResult{
		Result: Result{Outcome: OutcomeException, Logs: []Log{}, Exceptions: []Exception{{Name: "E"}}},
		Value:  []byte{}, Thrown: &ObjectError{Name: "TypeError", Message: "m"},
		Writes: &StorageBatch{DeleteAll: true, Puts: []StoragePut{{Key: "k", Value: []byte{1}}}, Deletes: []string{"d"}, Alarm: &at},
		Reset:  true,
	}
	gotRes, err := DecodeObjectResult(EncodeObjectResult(res))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRes, res) {
		t.Errorf("object result round trip:\n got %+v\nwant %+v", gotRes, res)
	}
	// Hostile bytes never panic.
	for i := range b {
		_, _ = DecodeObject(b[:i])
	}
	enc := EncodeObjectResult(res)
	for i := range enc {
		_, _ = DecodeObjectResult(enc[:i])
	}
}

// A result whose outcome is none of Outcomes (a worker's that is not to be
// trusted) does not decode: its outcome would become a metric's label and
// the caller's answer.
func TestDecodeResultUnknownOutcome(t *testing.T) {
	for _, o := range []Outcome{"", "bogus", "ok\xff"} {
		if _, err := DecodeResult(EncodeResult(&Result{Outcome: o})); !errors.Is(err, ErrWire) {
			t.Errorf("outcome %q: %v", o, err)
		}
	}
	for _, o := range Outcomes {
		if _, err := DecodeResult(EncodeResult(&Result{Outcome: o})); err != nil {
			t.Errorf("outcome %q: %v", o, err)
		}
	}
}

// TestHostCallBodies: request, cached and response bodies cross a
// worker's channel whole (none, empty, NULs, bytes that are not UTF-8), in
// base64: the NULs' encoding is a third larger, not six times.
func TestHostCallBodies(t *testing.T) {
	nuls := make([]byte, 1<<20)
	for _, body := range [][]byte{nil, {}, []byte("text"), nuls, {0xff, 0xfe, 0}} {
		c := &HostCall{Op: OpFetch, Request: &Request{Method: "POST", URL: "https://x.test/", Body: body},
			Cache: &CacheCall{URL: "https://x.test/", Response: &Response{Status: 200, Body: body}}}
		b, err := EncodeHostCall(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) == len(nuls) && len(b) > 2*len(nuls)*3/2 {
			t.Errorf("a call with two bodies of 1 MiB of NULs is %d bytes", len(b))
		}
		got, err := DecodeHostCall(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Request.Body, body) || !bytes.Equal(got.Cache.Response.Body, body) || (body == nil) != (got.Request.Body == nil) {
			t.Errorf("body of %d bytes: request %d, cache %d", len(body), len(got.Request.Body), len(got.Cache.Response.Body))
		}
		if !bytes.Equal(c.Request.Body, body) || !bytes.Equal(c.Cache.Response.Body, body) {
			t.Error("encoding changed the call")
		}
		rb, err := EncodeHostReply(&HostReply{Response: &Response{Status: 200, Body: body}})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := DecodeHostReply(rb)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rep.Response.Body, body) {
			t.Errorf("reply body of %d bytes: %d", len(body), len(rep.Response.Body))
		}
	}
	if _, err := DecodeHostCall([]byte(`{"op":"fetch","reqBody":"AA=="}`)); err == nil {
		t.Error("a request body without a request was taken")
	}
	if _, err := DecodeHostReply([]byte(`{"respBody":"AA=="}`)); err == nil {
		t.Error("a response body without a response was taken")
	}
}
