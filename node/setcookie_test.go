package node

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// cookieWorker answers two Set-Cookie headers whose Expires hold commas;
// /w/NAME/fetch?u=URL answers the Set-Cookie values that URL's response
// gave it (getSetCookie), as JSON.
const cookieWorker = `export default { async fetch(req) {
  const u = new URL(req.url).searchParams.get("u");
  if (u) {
    const r = await fetch(u);
    return new Response(JSON.stringify(r.headers.getSetCookie()));
  }
  const h = new Headers();
  h.append("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/");
  h.append("Set-Cookie", "b=2; Expires=Thu, 22 Oct 2026 07:28:00 GMT");
  h.append("X-Other", "x");
  return new Response("ok", { headers: h });
} }`

var wantCookies = []string{"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/", "b=2; Expires=Thu, 22 Oct 2026 07:28:00 GMT"}

// TestWorkerSetCookies: each Set-Cookie of a deployed Worker's response
// goes out as its own header line, from the node that took the call and
// from a peer it forwarded the call to; a run's result lists them in
// response.setCookie beside the joined header; and a fetched response's
// Set-Cookie headers reach the Worker apart (getSetCookie). Before, /w/
// sent one line with the values joined by ", ", which a browser splits at
// the commas of Expires, and getSetCookie gave the fetched ones joined.
func TestWorkerSetCookies(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range wantCookies {
			w.Header().Add("Set-Cookie", c)
		}
		w.Write([]byte("origin"))
	}))
	defer origin.Close()

	c, _ := sharedKVCluster(t, 43, "a", "b")
	kvTune := c.tune
	c.tune = func(cfg *Config) {
		kvTune(cfg)
		cfg.AllowNet = []string{"127.0.0.1"}
	}
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })
	if status, _, body := call(t, a, "PUT", "/v1/workers/cookies", strings.NewReader(deployBody(cookieWorker, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}

	check := func(where string) {
		t.Helper()
		status, h, body := serve(t, a, "GET", "/w/cookies/x", "", nil)
		if status != 200 || body != "ok" || h.Get("X-Other") != "x" {
			t.Fatalf("%s: %d %q %v", where, status, body, h)
		}
		if got := h.Values("Set-Cookie"); !slices.Equal(got, wantCookies) {
			t.Errorf("%s: Set-Cookie lines %q, want %q", where, got, wantCookies)
		}
	}
	check("run on a")
	ran := b.ran.Load()
	occupy(t, a, 5000)
	check("forwarded to b")
	if b.ran.Load() == ran {
		t.Errorf("the call did not run on b")
	}

	// The result of a run lists them, and joins them in headers as before.
	run := `{"code": {"mainModule": "m.js", "modules": {"m.js": ` + jsonString(cookieWorker) + `}}, "request": {"url": "http://x/"}}`
	status, _, out := call(t, b, "POST", "/v1/run", strings.NewReader(run), nil)
	var res struct {
		Response struct {
			Headers   map[string]string `json:"headers"`
			SetCookie []string          `json:"setCookie"`
		} `json:"response"`
	}
	if status != 200 || json.Unmarshal(out, &res) != nil {
		t.Fatalf("run: %d %s", status, out)
	}
	if !slices.Equal(res.Response.SetCookie, wantCookies) || res.Response.Headers["set-cookie"] != strings.Join(wantCookies, ", ") {
		t.Errorf("run: response %s", out)
	}

	// A fetched response's Set-Cookie headers stay apart.
	status, _, body := serve(t, b, "GET", "/w/cookies/x?u="+url.QueryEscape(origin.URL+"/"), "", nil)
	if want, _ := json.Marshal(wantCookies); status != 200 || body != string(want) {
		t.Errorf("getSetCookie of a fetched response: %d %s, want %s", status, body, want)
	}
}

// forwardCookies sends to, as a peer from would, the invocation of
// cookieWorker with RunRequest.SetCookie set to ask, and gives back the
// result it answers.
func forwardCookies(t *testing.T, from, to *Node, ask bool) *isolate.Result {
	t.Helper()
	tok, err := from.nodeToken()
	if err != nil {
		t.Fatal(err)
	}
	body, err := encodeForward(&RunRequest{Code: code(cookieWorker), Request: &isolate.Request{URL: "http://x/"}, Token: tok, Hops: []string{from.Name()}, SetCookie: ask})
	if err != nil {
		t.Fatal(err)
	}
	s, err := from.Mesh().Open(context.Background(), to.Name(), protoInvoke)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.Write(appendFrame([]byte{mesh.ProtoInvokeVersion}, body)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(s)
	for {
		msg, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading %s's answer: %v", to.Name(), err)
		}
		switch msg {
		case fwdStarted:
		case fwdResult:
			out, err := readFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			_ = s.CloseWrite()
			var res isolate.Result
			if err := res.UnmarshalBinary(out); err != nil {
				t.Fatalf("decoding %s's result: %v", to.Name(), err)
			}
			return &res
		default:
			t.Fatalf("%s answered %q", to.Name(), msg)
		}
	}
}

// TestForwardSetCookieAsked: a peer keeps a result's Set-Cookie values
// apart (Response.SetCookie) only for a forwarding node that asks for them
// (RunRequest.SetCookie): one from before them cannot decode the result
// that holds them, and gets the joined header alone, as it always did.
func TestForwardSetCookieAsked(t *testing.T) {
	c := newCluster(t, 44, "a", "b")
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })
	joined := strings.Join(wantCookies, ", ")

	res := forwardCookies(t, a, b, true)
	if !res.OK() || res.Response == nil {
		t.Fatalf("asked: %s %q", res.Outcome, res.Error)
	}
	if !slices.Equal(res.Response.SetCookie, wantCookies) || res.Response.Headers["set-cookie"] != joined {
		t.Errorf("asked: setCookie %q, set-cookie %q; want both", res.Response.SetCookie, res.Response.Headers["set-cookie"])
	}

	res = forwardCookies(t, a, b, false)
	if !res.OK() || res.Response == nil {
		t.Fatalf("not asked: %s %q", res.Outcome, res.Error)
	}
	if res.Response.SetCookie != nil || res.Response.Headers["set-cookie"] != joined || res.Response.Headers["x-other"] != "x" || string(res.Response.Body) != "ok" {
		t.Errorf("not asked: setCookie %q, headers %q, body %q; want the joined header alone", res.Response.SetCookie, res.Response.Headers, res.Response.Body)
	}
}

// TestPythonWorkerSetCookies: a Python Worker's Set-Cookie headers
// (Headers.append) go out of /w/ each as its own line, and one that is not
// valid HTTP is never sent: the response is checked as it leaves Python,
// and the call ends with a TypeError (500 worker_exception). Before, its
// headers were a dict: it could send one Set-Cookie.
func TestPythonWorkerSetCookies(t *testing.T) {
	requirePython(t)
	n, _ := kvNode(t, "cookies")
	src := `
from workers import WorkerEntrypoint, Response, Headers
class Default(WorkerEntrypoint):
    async def fetch(self, request):
        h = Headers({"x-other": "x"})
        for c in ` + jsonString(wantCookies[0]) + `, ` + jsonString(wantCookies[1]) + `:
            h.append("Set-Cookie", c)
        if "bad" in request.url:
            h.append("Set-Cookie", "c=3\r\nX-Evil: 1")
        return Response("ok", headers=h)
`
	if status, _, b := call(t, n, "PUT", "/v1/workers/py", strings.NewReader(pythonWorker(src)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	status, h, body := serve(t, n, "GET", "/w/py/", "", nil)
	if status != 200 || body != "ok" || h.Get("X-Other") != "x" {
		t.Fatalf("%d %q %v", status, body, h)
	}
	if got := h.Values("Set-Cookie"); !slices.Equal(got, wantCookies) {
		t.Errorf("Set-Cookie lines %q, want %q", got, wantCookies)
	}
	status, h, body = serve(t, n, "GET", "/w/py/bad", "", nil)
	if status != 500 || errCode([]byte(body)) != "worker_exception" || h.Get("Set-Cookie") != "" || h.Get("X-Evil") != "" {
		t.Errorf("a Set-Cookie with CR LF: %d %v %s, want a 500 worker_exception", status, h, body)
	}
}
