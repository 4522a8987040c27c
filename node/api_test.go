package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// runWith is a run body whose Worker answers its request's method.
func runWith(request string) string {
	return `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { fetch(req) { return new Response(req.method) } }"}},"request":` + request + `}`
}

// manyHeaders is a request with k headers.
func manyHeaders(k int) string {
	hs := make([]string, k)
	for i := range hs {
		hs[i] = fmt.Sprintf(`"h%d":"v"`, i)
	}
	return `{"headers":{` + strings.Join(hs, ",") + `}}`
}

func TestAPI(t *testing.T) {
	c := newCluster(t, 6, "api")
	n := c.start("api", c.secret, 2)
	post := func(body string) (int, map[string]any) {
		t.Helper()
		return runFrom(t, http.DefaultClient, n, body)
	}
	okBody := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { async fetch(req) { return new Response(req.method + ' ' + await req.text()) } }"}},"request":{"method":"PUT","url":"http://x/","body":"hi"}}`
	status, out := post(okBody)
	if status != 200 || out["outcome"] != "ok" || out["response"].(map[string]any)["body"] != "PUT hi" {
		t.Fatalf("run: %d %v", status, out)
	}
	if hops := out["telemetry"].(map[string]any)["hops"]; len(hops.([]any)) != 1 {
		t.Errorf("hops %v", hops)
	}
	// What the checks of the request allow runs.
	status, out = post(runWith(`{"method":"PROPFIND","url":"https://[::1]:8443/a b?q=1#f","headers":{"X-A":" padded\t","Accept":"*/*"}}`))
	if status != 200 || out["outcome"] != "ok" {
		t.Fatalf("a valid unusual request: %d %v", status, out)
	}
	if status, out := post(runWith(manyHeaders(maxRequestHeaders))); status != 200 || out["outcome"] != "ok" {
		t.Fatalf("%d headers: %d %v", maxRequestHeaders, status, out)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		has        string
	}{
		{"unknown field", `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"extra":1}`, 400, "extra"},
		{"invalid code names the field", `{"code":{"mainModule":"n.js","modules":{"m.js":"x"}}}`, 400, "mainModule"},
		{"missing code", `{}`, 400, "code"},
		{"bad JSON", `{"code":`, 400, "decoding"},
		{"bad binding", `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"bindings":{"B":{}}}`, 400, "binding"},
		{"node-set field", `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"client":"10.0.0.1"}`, 400, "client"},
		// The guest's Request is checked before it reaches the runtime.
		{"CRLF in the method", runWith(`{"method":"GET\r\nX-Evil: 1"}`), 400, "request.method"},
		{"space in the method", runWith(`{"method":"GET /"}`), 400, "request.method"},
		{"CRLF in a header name", runWith(`{"headers":{"a\r\nb":"c"}}`), 400, "request.headers"},
		{"empty header name", runWith(`{"headers":{"":"c"}}`), 400, "request.headers"},
		{"CRLF in a header value", runWith(`{"headers":{"a":"b\r\nc: d"}}`), 400, `request.headers["a"]`},
		{"NUL in a header value", runWith(`{"headers":{"a":"b\u0000"}}`), 400, `request.headers["a"]`},
		{"LF in the URL", runWith(`{"url":"http://x/\nfoo"}`), 400, "request.url"},
		{"relative URL", runWith(`{"url":"/path"}`), 400, "request.url"},
		{"not http", runWith(`{"url":"ftp://x/"}`), 400, "request.url"},
		{"no host", runWith(`{"url":"http:///p"}`), 400, "request.url"},
		{"bad escape", runWith(`{"url":"http://x/%zz"}`), 400, "request.url"},
		{"too many headers", runWith(manyHeaders(maxRequestHeaders + 1)), 400, "request.headers"},
	} {
		status, out := post(tc.body)
		if status != tc.status || !strings.Contains(out["error"].(string), tc.has) || out["code"] == "" {
			t.Errorf("%s: %d %v, want %d mentioning %q", tc.name, status, out, tc.status, tc.has)
		}
	}
	// Oversize bodies are refused with 413, not read to the end.
	big := bytes.NewReader(append([]byte(`{"code":{"mainModule":"m.js","modules":{"m.js":"`), bytes.Repeat([]byte("x"), MaxRunBody+10)...))
	resp, err := http.Post(n.APIURL()+"/v1/run", "application/json", big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize: status %d", resp.StatusCode)
	}
	// Unknown routes and routes of later issues answer JSON errors.
	for path, want := range map[string]int{"/nope": 404, "/mcp": 405} {
		resp, err := http.Get(n.APIURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != want || e["error"] == "" {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, e)
		}
	}
	// The client and the members/health endpoints.
	cl := NewClient(n.APIURL())
	ms, err := cl.Members(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Name != "api" || !ms[0].Local || ms[0].Slots != 2 {
		t.Errorf("members: %+v %v", ms, err)
	}
	res, err := cl.Run(context.Background(), &isolate.Code{MainModule: "m.js", Modules: map[string]*isolate.Module{"m.js": {Kind: isolate.ModuleESM, Source: `export default { fetch() { return new Response(new Uint8Array([0, 255])) } }`}}}, nil, nil)
	if err != nil || !res.OK() || !bytes.Equal(res.Response.Body, []byte{0, 255}) {
		t.Errorf("client run: %+v %v", res, err)
	}
	// The body budget: a body larger than what is left is refused with
	// 503, and the budget comes back when requests end.
	n.bodies = newByteBudget(1<<20, 1<<20)
	n.cfg.BodyBudget, n.cfg.ClientBodyBudget = 1<<20, 1<<20
	fat := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { fetch() { return new Response('` + strings.Repeat("y", 2<<20) + `') } }"}}}`
	if status, out := post(fat); status != http.StatusServiceUnavailable || out["code"] != "busy" {
		t.Errorf("body over the budget: %d %v", status, out["code"])
	}
	for range 3 {
		if status, out := post(okBody); status != 200 || out["outcome"] != "ok" {
			t.Errorf("after the refusal: %d %v", status, out)
		}
	}
	// (A handler gives its share back just after its response is sent.)
	waitFor(t, 5*time.Second, "the whole budget back", func() bool { return n.bodies.available() == 1<<20 })
	resp, err = http.Get(n.APIURL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	var h map[string]any
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	// Seven successful runs above; the bad requests fail validation before
	// they run.
	if err != nil || h["status"] != "ok" || h["ran"] != 7.0 || h["running"] != 0.0 || h["free"] != 2.0 {
		t.Errorf("healthz: %v %v", h, err)
	}
}

// TestRunBindingErrors: bad bindings are 400 invalid_bindings named as
// they sit beside the code object, Durable Object ones included, before
// anything runs.
func TestRunBindingErrors(t *testing.T) {
	const code = `{"code":{"mainModule":"m.js","modules":{"m.js":"x"},"env":{"E":"v"}},"bindings":`
	for _, tc := range []struct{ bindings, want string }{
		{`{"B":{}}`, `bindings["B"]: empty binding`},
		{`{"E":{"kv":"ns"}}`, `bindings["E"]: name is also a plain env value`},
		{`{"OBJ":{"durableObject":{"worker":"w","class":"a b"}}}`, `bindings["OBJ"]: durableObject class "a b"`},
		{`{"OBJ":{"durableObject":{"worker":"-w","class":"C"}}}`, `bindings["OBJ"]: durableObject worker: `},
		{`{"OBJ":{"durableObject":{"worker":"w","class":"` + strings.Repeat("C", 129) + `"}}}`, `bindings["OBJ"]: durableObject class is 129 bytes, more than 128`},
	} {
		_, _, err := parseRun(strings.NewReader(code+tc.bindings+"}"), newCodeCache())
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != 400 || ae.code != "invalid_bindings" || !strings.HasPrefix(ae.msg, tc.want) {
			t.Errorf("bindings %s: %#v, want 400 invalid_bindings starting %q", tc.bindings, err, tc.want)
		}
	}
	if _, inv, err := parseRun(strings.NewReader(code+`{"KV":{"kv":"ns"}}}`), newCodeCache()); err != nil || inv.Bindings["KV"].KV != "ns" {
		t.Errorf("a KV binding: %v", err)
	}
}

// TestRunHostHeader: a Host header in request.headers sets the host of
// request.url, as workerd builds the URL from the Host header; a Host that
// is not a host is 400 bad_request before anything runs.
func TestRunHostHeader(t *testing.T) {
	const code = `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"request":`
	for _, tc := range []struct{ request, url, err string }{
		{`{"url":"https://localhost:8787/a/b?q=1","headers":{"host":"example.com"}}`, "https://example.com/a/b?q=1", ""},
		{`{"headers":{"Host":"example.com:8080"}}`, "http://example.com:8080/", ""},
		{`{"url":"http://x.test/p%20q","headers":{"host":"[::1]:9"}}`, "http://[::1]:9/p%20q", ""},
		{`{"url":"http://x.test/","headers":{"host":""}}`, "http://x.test/", ""},
		{`{"url":"http://x.test/","headers":{"x-other":"y"}}`, "http://x.test/", ""},
		{`{"headers":{"host":"a/b"}}`, "", `request.headers: the Host header "a/b" is not a host with an optional port`},
		{`{"headers":{"host":"user@evil.test"}}`, "", "is not a host"},
		{`{"headers":{"host":"exa mple.com"}}`, "", "is not a host"},
		{`{"headers":{"host":":80"}}`, "", "is not a host"},
	} {
		_, inv, err := parseRun(strings.NewReader(code+tc.request+"}"), newCodeCache())
		if tc.err != "" {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 || ae.code != "bad_request" || !strings.Contains(ae.msg, tc.err) {
				t.Errorf("%s: %v, want 400 bad_request saying %q", tc.request, err, tc.err)
			}
			continue
		}
		if err != nil || inv.Request.URL != tc.url {
			t.Errorf("%s: url %q, %v; want %q", tc.request, inv.Request.URL, err, tc.url)
		}
	}
}
