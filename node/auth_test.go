package node

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// authCall makes an API request with exactly the given token ("": none)
// and returns the status, the headers and the decoded JSON body.
func authCall(t *testing.T, n *Node, method, path, body, token string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.APIURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := authlessClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: status %d, bad JSON %q", method, path, resp.StatusCode, b)
		}
	} else {
		out = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, resp.Header, out
}

// kvWorker reads env.KV's key k, tries to write it, and answers what
// happened.
var kvWorker = code(`export default { async fetch(req, env) {
  const before = await env.KV.get("k");
  try { await env.KV.put("k", "written"); return new Response("wrote after " + before); }
  catch (e) { return new Response(e.code + ": " + e.message); }
} }`)

// kvRunBody is a run body of kvWorker with env.KV bound to ns, and limits.
func kvRunBody(ns, limits string) string {
	var c map[string]any
	_ = json.Unmarshal(kvWorker, &c)
	if limits != "" {
		c["limits"] = json.RawMessage(limits)
	}
	b, _ := json.Marshal(map[string]any{"code": c, "bindings": map[string]any{"KV": map[string]string{"kv": ns}}})
	return string(b)
}

// sharedKVCluster is a cluster whose nodes share one local KV store.
func sharedKVCluster(t *testing.T, seed int64, names ...string) (*cluster, *replication.LocalKV) {
	t.Helper()
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, seed, names...)
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	return c, kv
}

func TestAPIAuth(t *testing.T) {
	c, kv := sharedKVCluster(t, 31, "auth")
	n := c.start("auth", c.secret, 2)
	if err := kv.Put(context.Background(), "ro", "k", []byte("v0"), replication.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	tok := func(g policy.Grants) string { return mintToken(t, c.secret, "t", g, time.Hour) }
	admin := tok(policy.Grants{Admin: true})
	none := tok(policy.Grants{})
	reader := tok(policy.Grants{KV: map[string]string{"ro": "r", "rw": "rw"}})
	small := tok(policy.Grants{CPUMs: 50, KV: map[string]string{"ro": "rw"}})
	expired := expiredToken(t, c.secret)
	otherSecret := filepath.Join(t.TempDir(), "other")
	if err := InitSecret(otherSecret); err != nil {
		t.Fatal(err)
	}
	foreign := adminToken(t, otherSecret)
	run := runWith(`{}`)

	tests := []struct {
		name, method, path, body, token string
		status                          int
		code, has                       string
	}{
		{"healthz needs nothing", "GET", "/healthz", "", "", 200, "", ""},
		{"no token", "POST", "/v1/run", run, "", 401, "unauthorized", "Bearer"},
		{"no token, members", "GET", "/v1/members", "", "", 401, "unauthorized", ""},
		{"no token, unknown route", "GET", "/nope", "", "", 401, "unauthorized", ""},
		{"garbage token", "GET", "/v1/members", "", "hello", 401, "unauthorized", "malformed"},
		{"expired token", "GET", "/v1/members", "", expired, 401, "unauthorized", "expired"},
		{"another mesh's token", "GET", "/v1/members", "", foreign, 401, "unauthorized", "signature"},
		{"any token lists members", "GET", "/v1/members", "", none, 200, "", ""},
		{"any token lists groups", "GET", "/v1/groups", "", none, 200, "", ""},
		{"any token runs code", "POST", "/v1/run", run, none, 200, "", ""},
		{"token in the body", "POST", "/v1/run", `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"token":"x"}`, admin, 400, "bad_request", "token is set by nodes"},
		{"hops in the body", "POST", "/v1/run", `{"code":{"mainModule":"m.js","modules":{"m.js":"x"}},"hops":["a"]}`, admin, 400, "bad_request", "hops is set by nodes"},
		{"KV read without a grant", "GET", "/v1/kv/ro/k", "", none, 403, "denied", "no access to KV namespace ro"},
		{"KV list without a grant", "GET", "/v1/kv/ro", "", none, 403, "denied", "no access"},
		{"KV read with r", "GET", "/v1/kv/ro/k", "", reader, 200, "", ""},
		{"KV list with r", "GET", "/v1/kv/ro", "", reader, 200, "", ""},
		{"KV put with r", "PUT", "/v1/kv/ro/k", "x", reader, 403, "denied", "only reading"},
		{"KV delete with r", "DELETE", "/v1/kv/ro/k", "", reader, 403, "denied", "only reading"},
		{"KV put with rw", "PUT", "/v1/kv/rw/k", "x", reader, 200, "", ""},
		{"KV put as admin", "PUT", "/v1/kv/any/k", "x", admin, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, out := authCall(t, n, tc.method, tc.path, tc.body, tc.token)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if tc.code != "" && out["code"] != tc.code {
				t.Errorf("code %v, want %s: %v", out["code"], tc.code, out)
			}
			if tc.has != "" && !strings.Contains(out["error"].(string)+h.Get("WWW-Authenticate"), tc.has) {
				t.Errorf("error %q lacks %q", out["error"], tc.has)
			}
			if status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer: %v", h)
			}
		})
	}
	// A refused write left nothing behind.
	if v, err := kv.Get(context.Background(), "ro", "k"); err != nil || string(v) != "v0" {
		t.Errorf("ro/k = %q, %v after refused writes", v, err)
	}

	// Grants inside /v1/run.
	runs := []struct {
		name, token, body string
		outcome, has      string
	}{
		{"binding without a grant", none, kvRunBody("ro", ""), "denied", "binding KV: the token grants no access to KV namespace ro"},
		{"read-only binding: writes reject", reader, kvRunBody("ro", ""), "ok", "KV_DENIED: KV KV.put: the token grants only reading KV namespace ro, not writing it"},
		{"read-write binding", reader, kvRunBody("rw", ""), "ok", "wrote after"},
		{"limits above the ceiling", small, kvRunBody("ro", `{"cpuMs":51}`), "denied", "limits.cpuMs 51 exceeds the token's ceiling of 50"},
		{"limits at the ceiling", small, kvRunBody("ro", `{"cpuMs":50}`), "ok", "wrote after v0"},
		{"admin: any binding, any limit", admin, kvRunBody("elsewhere", `{"cpuMs":5000}`), "ok", "wrote after null"},
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := authCall(t, n, "POST", "/v1/run", tc.body, tc.token)
			if status != 200 || out["outcome"] != tc.outcome {
				t.Fatalf("%d %v", status, out)
			}
			got, _ := out["error"].(string)
			if r, ok := out["response"].(map[string]any); ok {
				got += r["body"].(string)
			}
			if !strings.Contains(got, tc.has) {
				t.Errorf("%q lacks %q", got, tc.has)
			}
		})
	}
}

// TestTokenCeilingDefault: a call that asks for no CPU limit under a
// token with a lower ceiling gets the ceiling, not the node's default.
func TestTokenCeilingDefault(t *testing.T) {
	c := newCluster(t, 32, "ceil")
	n := c.start("ceil", c.secret, 1)
	tok := mintToken(t, c.secret, "t", policy.Grants{CPUMs: 20}, time.Hour)
	spin := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { fetch() { for(;;){} } }"}}}`
	status, _, out := authCall(t, n, "POST", "/v1/run", spin, tok)
	if status != 200 || out["outcome"] != string(isolate.OutcomeExceededCPU) {
		t.Fatalf("%d %v", status, out)
	}
}

// TestNoAuth: a node without auth serves without tokens, on loopback only.
func TestNoAuth(t *testing.T) {
	c := newCluster(t, 33, "open")
	c.tune = func(cfg *Config) { cfg.NoAuth = true }
	n := c.start("open", c.secret, 1)
	if status, _, out := authCall(t, n, "POST", "/v1/run", runWith(`{}`), ""); status != 200 || out["outcome"] != "ok" {
		t.Fatalf("%d %v", status, out)
	}
	for _, api := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:7070"} {
		err := checkNoAuth(Config{API: api}, nil)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--api %s: %v", api, err)
		}
	}
	for _, api := range []string{"127.0.0.1:7070", "[::1]:7070", "localhost:7070"} {
		if err := checkNoAuth(Config{API: api}, nil); err != nil {
			t.Errorf("--api %s: %v", api, err)
		}
	}
	_, err := Start(context.Background(), Config{NoAuth: true, API: "0.0.0.0:0", Data: t.TempDir(), Listen: "127.0.0.1:0", Executor: isolate.InProcess, NoReplication: true})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("no-auth node on 0.0.0.0: %v", err)
	}

	// A browser on this machine is no client of the node: a request of a
	// page of another origin, or to a name of an attacker's that resolves
	// to loopback (DNS rebinding), is refused; curl and the CLI are not.
	_, port, _ := net.SplitHostPort(n.ln.Addr().String())
	for _, tc := range []struct {
		host, origin, site string
		ok                 bool
	}{
		{"127.0.0.1:" + port, "", "", true},
		{"localhost:" + port, "http://localhost:" + port, "same-origin", true},
		{"[::1]:" + port, "", "", true},
		{"attacker.example:" + port, "", "", false},
		{"127.0.0.1:" + port, "http://attacker.example", "", false},
		{"127.0.0.1:" + port, "null", "", false},
		{"127.0.0.1:" + port, "", "cross-site", false},
	} {
		req, _ := http.NewRequest("POST", "http://"+n.ln.Addr().String()+"/v1/run", strings.NewReader(string(runWith(`{}`))))
		req.Host = tc.host
		req.Header.Set("Content-Type", "text/plain")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode == 200) != tc.ok || !tc.ok && resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %s, Origin %q, Sec-Fetch-Site %q: %d %s", tc.host, tc.origin, tc.site, resp.StatusCode, b)
		}
	}
}

// TestForwardedGrants: a call forwarded to a peer runs there under the
// caller's grants: its read-only binding's writes reject on the peer.
func TestForwardedGrants(t *testing.T) {
	c, kv := sharedKVCluster(t, 34, "a", "b")
	a := c.start("a", c.secret, 1)
	c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") })
	if err := kv.Put(context.Background(), "ro", "k", []byte("v0"), replication.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	occupy(t, a, 3000)
	reader := mintToken(t, c.secret, "t", policy.Grants{KV: map[string]string{"ro": "r"}}, time.Hour)
	status, _, out := authCall(t, a, "POST", "/v1/run", kvRunBody("ro", ""), reader)
	if status != 200 || out["outcome"] != "ok" {
		t.Fatalf("%d %v", status, out)
	}
	if node := out["telemetry"].(map[string]any)["node"]; node != "b" {
		t.Fatalf("ran on %v, want b", node)
	}
	if body := out["response"].(map[string]any)["body"]; !strings.Contains(body.(string), "KV_DENIED") {
		t.Errorf("the write on the peer: %q", body)
	}
	if v, err := kv.Get(context.Background(), "ro", "k"); err != nil || string(v) != "v0" {
		t.Errorf("ro/k = %q, %v", v, err)
	}
}

// TestForwardFrameToken: a peer refuses a forward frame whose token is
// absent, forged, expired or another mesh's, before running anything.
func TestForwardFrameToken(t *testing.T) {
	c, kv := sharedKVCluster(t, 35, "a", "b")
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") })
	good := mintToken(t, c.secret, "t", policy.Grants{KV: map[string]string{"ns": "rw"}}, time.Hour)
	_, sig, _ := strings.Cut(strings.TrimPrefix(good, policy.TokenPrefix), ".")
	forgedPayload := `{"name":"t","iat":1,"exp":99999999999,"admin":true}`
	other := filepath.Join(t.TempDir(), "other")
	if err := InitSecret(other); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, has string
	}{
		{"no token", "", "malformed"},
		{"forged grant", policy.TokenPrefix + b64url(forgedPayload) + "." + sig, "signature"},
		{"expired", expiredToken(t, c.secret), "expired"},
		{"another mesh's", adminToken(t, other), "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.ran.Load()
			msg, why := sendFrame(t, a.Mesh(), "b", &RunRequest{Code: kvWorker, Bindings: map[string]isolate.Binding{"KV": {KV: "ns"}}, Token: tc.token})
			if msg != fwdRefused || !strings.Contains(why, errNoToken.Error()) || !strings.Contains(why, tc.has) {
				t.Fatalf("answer %q %q, want a refusal naming %q", msg, why, tc.has)
			}
			if b.ran.Load() != before {
				t.Error("the peer ran the call")
			}
		})
	}
	if _, err := kv.Get(context.Background(), "ns", "k"); !errors.Is(err, replication.ErrKVNotFound) {
		t.Errorf("a refused frame left a side effect: %v", err)
	}
	// The same frame with the valid token runs.
	msg, _ := sendFrame(t, a.Mesh(), "b", &RunRequest{Code: kvWorker, Bindings: map[string]isolate.Binding{"KV": {KV: "ns"}}, Token: good})
	if msg == fwdRefused || msg == fwdFull {
		t.Fatalf("a valid frame: answer %q", msg)
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sendFrame sends one forward frame from m to peer and returns the first
// answer byte and, for a refusal, its message. The caller never gives the
// go-ahead.
func sendFrame(t *testing.T, m *mesh.Mesh, peer string, fr *RunRequest) (byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := m.Open(ctx, peer, protoInvoke)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	body, err := encodeForward(fr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(appendFrame([]byte{mesh.ProtoInvokeVersion}, body)); err != nil {
		t.Fatal(err)
	}
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	msg, err := r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	if msg != fwdRefused {
		return msg, ""
	}
	why, err := readFrame(r)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return msg, string(why)
}

// TestRefusedTokensLeaveNothing: a token that is expired, forged (a
// payload granting admin under another token's signature), another
// mesh's, or revoked is refused on every route that changes something,
// and so is a valid token that lacks the grant, on the API and in a
// forward frame; afterwards the KV store and the deployed Workers are as
// they were.
func TestRefusedTokensLeaveNothing(t *testing.T) {
	c, kv := sharedKVCluster(t, 38, "a", "b")
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") })
	ctx := context.Background()
	if err := kv.Put(ctx, "ns", "pre", []byte("v0"), replication.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	admin := adminToken(t, c.secret)
	if status, _, out := authCall(t, a, "PUT", "/v1/workers/w", deployBody(echoWorker(1), "", map[string]string{"KV": "ns"}), admin); status != 200 {
		t.Fatalf("deploy: %d %v", status, out)
	}
	good := mintToken(t, c.secret, "t", policy.Grants{KV: map[string]string{"other": "rw"}}, time.Hour)
	_, sig, _ := strings.Cut(strings.TrimPrefix(good, policy.TokenPrefix), ".")
	revoked := revocableToken(t, c.secret, "revoked", policy.Grants{Admin: true})
	if status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+revoked+`"}`, admin); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	bad := []struct{ name, token, has string }{
		{"expired", expiredToken(t, c.secret), "expired"},
		{"forged grant", policy.TokenPrefix + b64url(`{"name":"t","iat":1,"exp":99999999999,"admin":true}`) + "." + sig, "signature"},
		{"another mesh's", adminToken(t, otherSecret(t)), "signature"},
		{"revoked", revoked, "revoked"},
		{"missing grant", good, ""},
	}
	changes := []struct{ method, path, body string }{
		{"PUT", "/v1/kv/ns/k", "x"},
		{"DELETE", "/v1/kv/ns/pre", ""},
		{"PUT", "/v1/workers/w", deployBody(echoWorker(2), "", nil)},
		{"DELETE", "/v1/workers/w", ""},
		{"PUT", "/v1/workers/new", deployBody(echoWorker(1), "", nil)},
		{"POST", "/v1/run", kvRunBody("ns", "")},
	}
	for _, tok := range bad {
		for _, n := range []*Node{a, b} {
			for _, ch := range changes {
				status, _, out := authCall(t, n, ch.method, ch.path, ch.body, tok.token)
				switch {
				case tok.has != "": // not a token of this mesh now
					if msg, _ := out["error"].(string); status != 401 || !strings.Contains(msg, tok.has) {
						t.Errorf("%s token, %s %s on %s: %d %v", tok.name, ch.method, ch.path, n.id.Name, status, out)
					}
				case ch.path == "/v1/run":
					if status != 200 || out["outcome"] != "denied" {
						t.Errorf("%s, %s on %s: %d %v", tok.name, ch.path, n.id.Name, status, out)
					}
				default:
					if status != 403 || out["code"] != "denied" {
						t.Errorf("%s, %s %s on %s: %d %v", tok.name, ch.method, ch.path, n.id.Name, status, out)
					}
				}
			}
		}
		// The same attempt as a forward frame from a peer.
		before := b.ran.Load()
		msg, why := sendFrame(t, a.Mesh(), "b", &RunRequest{Code: kvWorker, Bindings: map[string]isolate.Binding{"KV": {KV: "ns"}}, Token: tok.token})
		want := tok.has
		if want == "" {
			want = "the token grants no access to KV namespace ns"
		}
		if msg != fwdRefused || !strings.Contains(why, want) {
			t.Errorf("%s token in a forward frame: %q %q, want a refusal naming %q", tok.name, msg, why, want)
		}
		if b.ran.Load() != before {
			t.Errorf("%s token in a forward frame: the peer ran it", tok.name)
		}
	}
	if _, err := kv.Get(ctx, "ns", "k"); !errors.Is(err, replication.ErrKVNotFound) {
		t.Errorf("ns/k written: %v", err)
	}
	if v, err := kv.Get(ctx, "ns", "pre"); err != nil || string(v) != "v0" {
		t.Errorf("ns/pre = %q, %v", v, err)
	}
	if status, _, out := authCall(t, b, "GET", "/v1/workers/w", "", admin); status != 200 || out["version"] != float64(1) {
		t.Errorf("worker w after the refusals: %d %v", status, out)
	}
	if status, _, out := authCall(t, b, "GET", "/v1/workers/new", "", admin); status != 404 {
		t.Errorf("worker new after the refusals: %d %v", status, out)
	}
}
