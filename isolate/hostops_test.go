package isolate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

type codedErr string

func (e codedErr) Error() string  { return "coded" }
func (e codedErr) KVCode() string { return string(e) }

func TestHostErrorCode(t *testing.T) {
	for _, tc := range []struct {
		op   contract.HostOp
		err  error
		want contract.HostErrCode
	}{
		{contract.OpKV, nil, ""},
		{contract.OpKV, errors.New("x"), contract.CodeStorage},
		{contract.OpKV, fmt.Errorf("w: %w", &KVError{Code: KVCodeDenied, Err: errors.New("no")}), contract.CodeDenied},
		{contract.OpKV, context.DeadlineExceeded, contract.CodeUnavailable},
		{contract.OpStorageGet, errors.New("disk"), contract.CodeStorage},
		{contract.OpFetch, errors.New("dial"), contract.CodeUnavailable},
		{contract.OpFetch, codedErr("denied"), contract.CodeDenied},
		{contract.OpCode, errors.New("x"), contract.CodeInternal},
		{contract.OpDOCall, contract.HostErrorf(contract.CodeInvalid, "bad"), contract.CodeInvalid},
	} {
		if got := contract.ErrorCode(tc.op, tc.err); got != tc.want {
			t.Errorf("ErrorCode(%s, %v) = %q, want %q", tc.op, tc.err, got, tc.want)
		}
		if tc.op == contract.OpKV && KVErrorCode(tc.err) != string(tc.want) {
			t.Errorf("KVErrorCode(%v) = %q, want %q", tc.err, KVErrorCode(tc.err), tc.want)
		}
	}
	rep := contract.FailReply(contract.OpKV, &KVError{Code: KVCodeInvalid, Err: errors.New("key too long")})
	if rep.Error != "key too long" || rep.Code != contract.CodeInvalid {
		t.Errorf("FailReply = %+v", rep)
	}
	var he *contract.HostError
	if err := rep.Err(); !errors.As(err, &he) || he.KVCode() != string(contract.CodeInvalid) || err.Error() != "key too long" {
		t.Errorf("reply's err() = %v", err)
	}
}

func TestDispatcherRefusesOutOfSide(t *testing.T) {
	d := &dispatcher{}
	for _, op := range []contract.HostOp{contract.OpWait, contract.OpRespond, contract.OpStorageGet, contract.OpStorageCommit, 0} {
		if rep, err := d.call(context.Background(), &contract.HostCall{Op: op}); err == nil {
			t.Errorf("%s answered without its side: %+v", op, rep)
		}
	}
	rep, err := d.call(context.Background(), &contract.HostCall{Op: contract.OpKV, Binding: "K", Method: "get"})
	if err != nil || rep.Code != contract.CodeInvalid {
		t.Errorf("KV without a binding: %+v, %v", rep, err)
	}
}

// An invocation has at most MaxOpenFetches egress fetches in flight; the
// others wait their turn and all answer.
func TestOpenFetchesBounded(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			h := newMemHost()
			rt, err := New(Options{Executor: kind, Workers: 1, Host: h, Node: "test"})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			res := run(t, rt, js("main.js", `export default { async fetch() {
  const rs = await Promise.all(Array.from({length: 15}, () => fetch("https://slow.test/40").then(r => r.text())));
  return new Response(rs.filter(b => b === "slow 40").length + " answered");
}}`), nil)
			if res.Outcome != OutcomeOK || bodyOf(res) != "15 answered" {
				t.Fatalf("%+v %s", res, bodyOf(res))
			}
			if most := h.slowMost.Load(); most != MaxOpenFetches {
				t.Errorf("%d fetches in flight at most, want %d", most, MaxOpenFetches)
			}
		})
	}
}

// A sandboxed invocation has at most MaxStartedCalls host calls started and
// not collected; a start past them fails at once (it held a goroutine and
// its answer in the node, without bound), and the invocation goes on.
func TestStartedCallsBounded(t *testing.T) {
	rt := testRuntime(t, Sandboxed)
	c := js("main.js", `export default { async fetch() {
  const rs = await Promise.allSettled(Array.from({length: 300}, () => fetch("https://slow.test/30").then(r => r.text())));
  const ok = rs.filter(r => r.status === "fulfilled" && r.value === "slow 30").length;
  const refused = rs.filter(r => r.status === "rejected" && String(r.reason).includes("too many host calls in flight")).length;
  return new Response(ok + " " + refused);
}}`)
	c.Limits = &Limits{SubRequests: 1000}
	res := run(t, rt, c, nil)
	if res.Outcome != OutcomeOK {
		t.Fatalf("%+v", res)
	}
	var ok, refused int
	if _, err := fmt.Sscan(bodyOf(res), &ok, &refused); err != nil || ok+refused != 300 || refused == 0 || ok < MaxStartedCalls {
		t.Fatalf("answered %q: want at least %d answered and the rest refused", bodyOf(res), MaxStartedCalls)
	}
	if res := run(t, rt, js("main.js", `export default { fetch() { return new Response("after") } }`), nil); bodyOf(res) != "after" {
		t.Fatalf("the next call: %+v", res)
	}
}

// A worker the pool killed past its CPU bound (its own count aside) ends
// its call exceededCpu; the bound is far above what an honest engine uses.
func TestWorkerCPUBound(t *testing.T) {
	s := &sandboxed{}
	r := &contract.ExecRequest{Limits: Limits{CPUMs: 50, MemoryMB: 128, WallMs: 30000}}
	res := s.crashResult(context.Background(), r, &sandbox.CrashError{Reason: "cpu", ExitCode: -1})
	if res.Outcome != OutcomeExceededCPU || !strings.Contains(res.Error, "50 ms") {
		t.Errorf("a worker killed for its CPU time: %+v", res)
	}
	if b := workerCPUBound(50); b != 2100*time.Millisecond {
		t.Errorf("the bound of 50 ms: %v", b)
	}
	if workerCPUBound(0) != 0 {
		t.Error("no cpuMs, yet a bound")
	}
}

// A JavaScript Worker is held to limits.subRequests by its engine, with
// Cloudflare's message.
func TestSubrequestLimitJS(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			c := js("main.js", `export default { async fetch() {
  let made = 0;
  try { for (let i = 0; i < 8; i++) { await fetch("https://echo.test/x"); made++ } } catch (e) { return new Response(made + " | " + e.message) }
  return new Response(made + " | no limit");
}}`)
			c.Limits = &Limits{SubRequests: 5}
			res := run(t, testRuntime(t, kind), c, nil)
			if res.Outcome != OutcomeOK || !strings.HasPrefix(bodyOf(res), "5 | ") || !strings.Contains(bodyOf(res), "Too many subrequests: the limit is 5 per invocation") {
				t.Fatalf("%+v %s", res, bodyOf(res))
			}
		})
	}
}

// keyCounter is an ObjectHost that records how many keys a get asked for.
type keyCounter struct {
	ObjectHost
	asked int
}

func (k *keyCounter) StorageGet(_ context.Context, keys []string) (map[string][]byte, error) {
	k.asked += len(keys)
	return map[string][]byte{}, nil
}

// A storage get from a worker process names at most MaxStorageKeysPerCall
// keys, as the engine sends them: a worker that sent millions in one frame
// (a guest out of its isolate) had the node build a map of them all.
func TestDispatcherBoundsStorageGet(t *testing.T) {
	k := &keyCounter{}
	d := &dispatcher{obj: k}
	keys := make([]string, contract.MaxStorageKeysPerCall+1)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	rep, err := d.call(context.Background(), &contract.HostCall{Op: contract.OpStorageGet, Keys: keys})
	if err != nil || rep.Code != contract.CodeInvalid || k.asked != 0 {
		t.Fatalf("a get of %d keys: %+v, %v; the host asked for %d", len(keys), rep, err, k.asked)
	}
	if rep, err := d.call(context.Background(), &contract.HostCall{Op: contract.OpStorageGet, Keys: keys[1:]}); err != nil || rep.Error != "" || k.asked != len(keys)-1 {
		t.Fatalf("a get of %d keys: %+v, %v", len(keys)-1, rep, err)
	}
}

// TestFetchBodyOfNULs: a request and a response body of 24 MiB of NULs
// (valid UTF-8, which JSON text escapes to six times its size) cross a
// sandbox worker's channel, within its frame, and quickly.
func TestFetchBodyOfNULs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	// 24 MiB through the worker's channel: its CPU is about the code as
	// built, which -race slows past the limit.
	skipUnderRace(t)
	rt := testRuntime(t, Sandboxed)
	c := js("main.js", `export default { async fetch() {
  const r = await fetch("https://echo.test/", { method: "POST", body: new Uint8Array(24 << 20) });
  const b = new Uint8Array(await r.arrayBuffer());
  return new Response(r.status + " " + b.length + " " + new TextDecoder().decode(b.subarray(0, 10)) + " " + (b[10] + b[b.length >> 1] + b[b.length - 1]));
} }`)
	c.Limits = &Limits{CPUMs: 5000, MemoryMB: 512, WallMs: 20_000}
	start := time.Now()
	res := run(t, rt, c, nil)
	if !res.OK() || string(res.Response.Body) != "200 25165834 echo:POST: 0" {
		t.Fatalf("%s %s %+v", res.Outcome, res.Error, res.Exceptions)
	}
	t.Logf("took %v, %.0f ms of CPU", time.Since(start), res.Telemetry.CPUTime)
}

// TestFetchHeaderBound: a fetch whose request method and headers come to
// more than MaxFetchHeaderBytes (the method, names, values and 4 bytes a
// header) rejects inside the Worker with a TypeError naming the bound; up
// to it the fetch goes out. They were unbounded on their way to the node's
// egress (thousands of headers, or one of megabytes; a method of any
// length).
func TestFetchHeaderBound(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			if kind == Sandboxed && testing.Short() {
				t.Skip("starts worker processes")
			}
			rt := testRuntime(t, kind)
			res := run(t, rt, js("main.js", `export default { async fetch() {
  const out = [];
  const t = async (name, h, method = "GET") => { try { const r = await fetch("https://echo.test/", { headers: h, method }); out.push(name + " " + r.status) } catch (e) { out.push(name + " " + e.name + ": " + e.message) } };
  await t("one long", { a: "x".repeat(128 << 10) });
  const many = new Headers(); for (let i = 0; i < 20000; i++) many.append("h" + i, "v");
  await t("many", many);
  await t("a long method", {}, "M".repeat(128 << 10) + "X");
  await t("at the bound", { a: "x".repeat((128 << 10) - 8) });
  return new Response(out.join("\n"));
} }`), nil)
			if !res.OK() {
				t.Fatalf("%s %s %+v", res.Outcome, res.Error, res.Exceptions)
			}
			const why = " bytes, more than 131072 (128 KiB; the method counts its length, each header its name, its value and 4 bytes)\n"
			want := "one long TypeError: fetch: the request's method and headers are 131080" + why +
				"many TypeError: fetch: the request's method and headers are 208893" + why +
				"a long method TypeError: fetch: the request's method and headers are 131073" + why +
				"at the bound 200"
			if got := string(res.Response.Body); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// fetchCounter is a Host whose fetches, and its objects', only count.
type fetchCounter struct {
	Host
	fetched int
}

func (f *fetchCounter) Fetch(context.Context, *Request) (*Response, error) {
	f.fetched++
	return &Response{Status: 200}, nil
}

func (f *fetchCounter) DurableObjects(DurableObjectBinding) (DurableObjectNamespace, error) {
	return objectsCounted{f}, nil
}

// objectsCounted is a fetchCounter's Durable Object namespace.
type objectsCounted struct{ f *fetchCounter }

func (o objectsCounted) Fetch(ctx context.Context, _ ObjectRef, r *Request) (*Response, error) {
	return o.f.Fetch(ctx, r)
}

func (o objectsCounted) Call(context.Context, ObjectRef, string, []byte) ([]byte, error) {
	return nil, nil
}

// A fetch from a worker process is checked by the node as the engine
// checks it before it sends it: a worker that sent what its engine refuses
// (a guest out of its isolate) had the node send it on, with headers of
// any size, a method the engine refuses, or a URL with credentials.
func TestDispatcherChecksFetchRequests(t *testing.T) {
	ok := func() *Request {
		return &Request{Method: "POST", URL: "https://example.com/a?b", Headers: map[string]string{"x-a": "b"}, Body: []byte("body")}
	}
	for _, tc := range []struct {
		name string
		bad  func(r *Request)
		want string
	}{
		{"headers past the bound", func(r *Request) { r.Headers["a"] = strings.Repeat("x", contract.MaxFetchHeaderBytes) }, "headers are 131089 bytes, more than 131072"},
		{"a method past the bound", func(r *Request) { r.Method = strings.Repeat("M", contract.MaxFetchHeaderBytes) }, "method and headers are 131080 bytes, more than 131072"},
		{"many headers", func(r *Request) {
			for i := range 20000 {
				r.Headers["h"+strconv.Itoa(i)] = "v"
			}
		}, "more than 131072"},
		{"a header name not a token", func(r *Request) { r.Headers["a b"] = "c" }, `header name "a b" is not an HTTP token`},
		{"an empty header name", func(r *Request) { r.Headers[""] = "c" }, `header name "" is not an HTTP token`},
		{"a header value with CR LF", func(r *Request) { r.Headers["a"] = "b\r\nc: d" }, `header "a": the value has a CR, LF or NUL`},
		{"a header value with NUL", func(r *Request) { r.Headers["a"] = "b\x00" }, `header "a": the value has a CR, LF or NUL`},
		{"a method not a token", func(r *Request) { r.Method = "GET /x HTTP/1.1\r\n" }, "is not a valid HTTP method"},
		{"CONNECT", func(r *Request) { r.Method = "connect" }, `"connect" HTTP method is unsupported`},
		{"TRACE", func(r *Request) { r.Method = "TRACE" }, `"TRACE" HTTP method is unsupported`},
		{"a GET with a body", func(r *Request) { r.Method = "get" }, "a GET or HEAD request cannot have a body"},
		{"no method with a body", func(r *Request) { r.Method = "" }, "a GET or HEAD request cannot have a body"},
		{"a HEAD with a body", func(r *Request) { r.Method = "HEAD" }, "a GET or HEAD request cannot have a body"},
		{"a body past the bound", func(r *Request) { r.Body = make([]byte, contract.MaxResponseBytes+1) }, "the request body is 33554433 bytes, more than 33554432"},
		{"a URL past the bound", func(r *Request) { r.URL = "https://example.com/" + strings.Repeat("a", 1<<20) }, "URL too long"},
		{"a URL with credentials", func(r *Request) { r.URL = "https://user:pass@example.com/" }, "includes credentials"},
		{"a URL with a user", func(r *Request) { r.URL = "https://user@example.com/" }, "includes credentials"},
		{"an invalid URL", func(r *Request) { r.URL = "https://exa mple.com/" }, "invalid URL"},
		{"a relative URL", func(r *Request) { r.URL = "/a" }, "invalid URL"},
	} {
		for _, op := range []contract.HostOp{contract.OpFetch, contract.OpDOFetch} {
			h := &fetchCounter{}
			d := &dispatcher{host: h, bindings: map[string]Binding{"OBJ": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "C"}}}}
			r := ok()
			tc.bad(r)
			c := &contract.HostCall{Op: op, Request: r}
			if op == contract.OpDOFetch {
				c.Binding, c.Object = "OBJ", &contract.ObjectRef{ID: ObjectIDFromName("w", "C", "a"), Name: "a"}
			}
			rep, err := d.call(context.Background(), c)
			if err != nil || rep.Code != contract.CodeInvalid || !strings.Contains(rep.Error, tc.want) || h.fetched != 0 {
				t.Errorf("%s, %s: %+v, %v, want %q; %d fetches made", tc.name, op, rep, err, tc.want, h.fetched)
			}
			if len(rep.Error) > 1000 {
				t.Errorf("%s, %s: an error of %d bytes", tc.name, op, len(rep.Error))
			}
		}
	}
	for _, op := range []contract.HostOp{contract.OpFetch, contract.OpDOFetch} {
		for _, r := range []*Request{ok(), {URL: "http://example.com/"}, {Method: "HEAD", URL: "http://example.com/", Body: []byte{}},
			{Method: "PUT", URL: "https://example.com/", Headers: map[string]string{"a": strings.Repeat("x", contract.MaxFetchHeaderBytes-5-len("PUT"))}, Body: make([]byte, contract.MaxResponseBytes)}} {
			h := &fetchCounter{}
			d := &dispatcher{host: h, bindings: map[string]Binding{"OBJ": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "C"}}}}
			c := &contract.HostCall{Op: op, Request: r}
			if op == contract.OpDOFetch {
				c.Binding, c.Object = "OBJ", &contract.ObjectRef{ID: ObjectIDFromName("w", "C", "a"), Name: "a"}
			}
			if rep, err := d.call(context.Background(), c); err != nil || rep.Error != "" || h.fetched != 1 {
				t.Errorf("%s of %s %s: %+v, %v; %d fetches made", op, r.Method, r.URL, rep, err, h.fetched)
			}
		}
	}
}

// A fetch's request body of more than MaxResponseBytes rejects inside the
// Worker with a RangeError, a buffered one as a stream did; the node
// refuses it too (TestDispatcherChecksFetchRequests).
func TestFetchBodyBound(t *testing.T) {
	rt := testRuntime(t, InProcess)
	c := js("main.js", `export default { async fetch() {
  try { await fetch("https://echo.test/", { method: "POST", body: new Uint8Array((32 << 20) + 1) }); return new Response("sent") }
  catch (e) { return new Response(e.name + ": " + e.message) }
} }`)
	c.Limits = &Limits{CPUMs: 5000, MemoryMB: 512, WallMs: 20_000}
	res := run(t, rt, c, nil)
	if want := "RangeError: fetch: the request body is more than 33554432 bytes"; !res.OK() || string(res.Response.Body) != want {
		t.Fatalf("%s %s %q, want %q", res.Outcome, res.Error, res.Response.Body, want)
	}
}
