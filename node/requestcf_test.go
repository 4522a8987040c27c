package node

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// cacheCFWorker puts, matches and reports request.cf.
const cacheCFWorker = `export default { async fetch(req) {
  const url = new URL(req.url);
  const key = "https://cached.test/item";
  if (url.pathname === "/put") {
    await caches.default.put(key, new Response("from the cache", { headers: { "cache-control": "max-age=600" } }));
    return new Response("put");
  }
  if (url.pathname === "/get") {
    const hit = await caches.default.match(key);
    return hit ? new Response((await hit.text()) + " " + hit.headers.get("cf-cache-status")) : new Response("miss");
  }
  return Response.json(req.cf);
} }`

// TestCacheSurvivesInvocations: a deployed Worker's cache.put is there for
// its later calls on the node.
func TestCacheSurvivesInvocations(t *testing.T) {
	n, _ := kvNode(t, "cachenode")
	if status, _, b := call(t, n, "PUT", "/v1/workers/c", strings.NewReader(deployBody(cacheCFWorker, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	if _, _, body := serve(t, n, "GET", "/w/c/get", "", nil); body != "miss" {
		t.Fatalf("before put: %s", body)
	}
	if _, _, body := serve(t, n, "GET", "/w/c/put", "", nil); body != "put" {
		t.Fatalf("put: %s", body)
	}
	for range 2 {
		if _, _, body := serve(t, n, "GET", "/w/c/get", "", nil); body != "from the cache HIT" {
			t.Fatalf("after put: %s", body)
		}
	}
}

// TestRequestCF: request.cf of a deployed Worker's call and of /v1/run
// names the node and the client's protocol; a run body cannot claim one.
func TestRequestCF(t *testing.T) {
	n, _ := kvNode(t, "cfnode")
	if status, _, b := call(t, n, "PUT", "/v1/workers/c", strings.NewReader(deployBody(cacheCFWorker, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	check := func(what string, body []byte) {
		t.Helper()
		var cf map[string]any
		if err := json.Unmarshal(body, &cf); err != nil {
			t.Fatalf("%s: %s", what, body)
		}
		if cf["colo"] != n.id.Name || cf["httpProtocol"] != "HTTP/1.1" {
			t.Errorf("%s: request.cf %s", what, body)
		}
		if rtt, ok := cf["clientTcpRtt"].(float64); runtime.GOOS == "linux" && (!ok || rtt < 1) {
			t.Errorf("%s: no clientTcpRtt in %s", what, body)
		}
		if _, ok := cf["tlsVersion"]; ok {
			t.Errorf("%s: tlsVersion over plain HTTP: %s", what, body)
		}
	}
	_, _, body := serve(t, n, "GET", "/w/c/cf", "", nil)
	check("/w/", []byte(body))

	code, _ := json.Marshal(map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": cacheCFWorker}})
	claim := `{"code":` + string(code) + `,"request":{"url":"https://x.test/cf"},"cf":{"colo":"claimed"}}`
	if status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(claim), nil); status != 400 || !strings.Contains(string(b), "cf is set by nodes") {
		t.Errorf("a client's cf: %d %s", status, b)
	}
	run := `{"code":` + string(code) + `,"request":{"url":"https://x.test/cf"}}`
	status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(run), nil)
	var res struct {
		Outcome  string `json:"outcome"`
		Response struct {
			Body string `json:"body"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &res); err != nil || status != 200 || res.Outcome != "ok" {
		t.Fatalf("/v1/run: %d %s", status, b)
	}
	check("/v1/run", []byte(res.Response.Body))
}

func TestRequestCFFields(t *testing.T) {
	for _, tc := range []struct {
		major, minor int
		proto        string
		tls          uint16
		want         isolate.RequestCF
	}{
		{1, 1, "HTTP/1.1", 0, isolate.RequestCF{HTTPProtocol: "HTTP/1.1"}},
		{1, 0, "HTTP/1.0", 0, isolate.RequestCF{HTTPProtocol: "HTTP/1.0"}},
		{2, 0, "HTTP/2.0", tls.VersionTLS13, isolate.RequestCF{HTTPProtocol: "HTTP/2", TLSVersion: "TLSv1.3"}},
		{1, 1, "HTTP/1.1", tls.VersionTLS12, isolate.RequestCF{HTTPProtocol: "HTTP/1.1", TLSVersion: "TLSv1.2"}},
	} {
		r := httptest.NewRequest("GET", "http://x/", nil)
		r.ProtoMajor, r.ProtoMinor, r.Proto = tc.major, tc.minor, tc.proto
		if tc.tls != 0 {
			r.TLS = &tls.ConnectionState{Version: tc.tls}
		}
		if got := requestCF(r); *got != tc.want {
			t.Errorf("%s %x: %+v, want %+v", tc.proto, tc.tls, *got, tc.want)
		}
	}
}

// TestCacheScopedByGrants: callers running the same code share its cache
// only if they are granted the same things.
func TestCacheScopedByGrants(t *testing.T) {
	n, _ := kvNode(t, "cachescope")
	a1 := mintToken(t, n.cfg.SecretPath, "a1", policy.Grants{AllowNet: []string{"a.example"}}, time.Hour)
	a2 := mintToken(t, n.cfg.SecretPath, "a2", policy.Grants{AllowNet: []string{"a.example"}}, time.Hour)
	b := mintToken(t, n.cfg.SecretPath, "b", policy.Grants{AllowNet: []string{"b.example"}}, time.Hour)
	code, _ := json.Marshal(map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": cacheCFWorker}})
	run := func(tok, path string) string {
		t.Helper()
		body := `{"code":` + string(code) + `,"request":{"url":"https://x.test` + path + `"}}`
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(body), map[string]string{"Authorization": "Bearer " + tok})
		var res struct {
			Outcome  string `json:"outcome"`
			Response struct {
				Body string `json:"body"`
			} `json:"response"`
		}
		if err := json.Unmarshal(b, &res); err != nil || status != 200 || res.Outcome != "ok" {
			t.Fatalf("%s: %d %s", path, status, b)
		}
		return res.Response.Body
	}
	if got := run(a1, "/put"); got != "put" {
		t.Fatal(got)
	}
	if got := run(a2, "/get"); got != "from the cache HIT" {
		t.Errorf("same grants: %s", got)
	}
	if got := run(b, "/get"); got != "miss" {
		t.Errorf("other grants: %s", got)
	}
	if got := run(adminToken(t, n.cfg.SecretPath), "/get"); got != "miss" {
		t.Errorf("admin: %s", got)
	}
}

// A connection's round-trip time is read from the kernel at most once per
// rttFresh; a stale reading is read again.
func TestClientConnRTTCached(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel reports TCP round-trip times on Linux only")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc := &clientConn{Conn: c}
	now := time.Now()
	if rtt := cc.tcpRTT(now); rtt < 1 {
		t.Fatalf("first reading %d ms, want at least 1", rtt)
	}
	cc.rtt.Store(42 + 1) // as if the kernel had said 42 ms
	if rtt := cc.tcpRTT(now.Add(rttFresh / 2)); rtt != 42 {
		t.Errorf("within rttFresh: %d ms, want the cached 42", rtt)
	}
	if rtt := cc.tcpRTT(now.Add(2 * rttFresh)); rtt == 42 || rtt < 1 {
		t.Errorf("after rttFresh: %d ms, want a fresh reading", rtt)
	}
}
