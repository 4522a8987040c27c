package node

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
)

// TestMeshEgress: a Worker on a mesh node fetches what its caller's token
// grants, here and on the peer a call is forwarded to; a call with an
// admin's token fetches what the node's --allow-net grants (nothing by
// default); private addresses need a grant by address.
func TestMeshEgress(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin says hi to %s", r.URL.Path)
	}))
	defer origin.Close()
	addr := strings.TrimPrefix(origin.URL, "http://") // 127.0.0.1:PORT
	port := addr[strings.LastIndex(addr, ":")+1:]

	c, _ := sharedKVCluster(t, 36, "a", "b")
	kvTune := c.tune
	c.tune = func(cfg *Config) {
		kvTune(cfg)
		if cfg.Name == "b" {
			cfg.AllowNet = []string{"127.0.0.1"}
		}
	}
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })

	fetcher := func(url string) string {
		return `{"code": {"mainModule": "m.js", "modules": {"m.js": ` + fmt.Sprintf("%q", `export default { async fetch() {
  try { const r = await fetch("`+url+`"); return new Response(await r.text()); }
  catch (e) { return new Response("refused: " + e.message); } } }`) + `}}}`
	}
	run := func(n *Node, token, url string) (string, string) {
		t.Helper()
		status, _, out := authCall(t, n, "POST", "/v1/run", fetcher(url), token)
		if status != 200 || out["outcome"] != "ok" {
			t.Fatalf("%d %v", status, out)
		}
		return out["response"].(map[string]any)["body"].(string), out["telemetry"].(map[string]any)["node"].(string)
	}
	granted := mintToken(t, c.secret, "granted", policy.Grants{AllowNet: []string{"127.0.0.1:" + port}}, time.Hour)
	byName := mintToken(t, c.secret, "by-name", policy.Grants{AllowNet: []string{"localhost"}}, time.Hour)
	none := mintToken(t, c.secret, "none", policy.Grants{}, time.Hour)
	admin := mintToken(t, c.secret, "admin", policy.Grants{Admin: true}, time.Hour)

	if body, _ := run(a, granted, origin.URL+"/x"); body != "origin says hi to /x" {
		t.Errorf("granted: %q", body)
	}
	if body, _ := run(a, none, origin.URL+"/x"); !strings.Contains(body, "refused: ") || !strings.Contains(body, "not granted") {
		t.Errorf("no grant: %q", body)
	}
	if body, _ := run(a, byName, "http://localhost:"+port+"/x"); !strings.Contains(body, "grant it by address") {
		t.Errorf("a name resolving to loopback: %q", body)
	}
	if body, _ := run(a, admin, origin.URL+"/x"); !strings.Contains(body, "not granted") {
		t.Errorf("admin on a node without --allow-net: %q", body)
	}
	if body, node := run(b, admin, origin.URL+"/y"); body != "origin says hi to /y" || node != "b" {
		t.Errorf("admin on b (--allow-net 127.0.0.1): %q on %s", body, node)
	}
	// Forwarded: a's only slot is busy, so the call runs on b, under the
	// token's grants (not b's --allow-net).
	occupy(t, a, 5000)
	if body, node := run(a, granted, origin.URL+"/z"); body != "origin says hi to /z" || node != "b" {
		t.Errorf("forwarded with a grant: %q on %s", body, node)
	}
	if body, node := run(a, none, origin.URL+"/z"); !strings.Contains(body, "not granted") || node != "b" {
		t.Errorf("forwarded without a grant: %q on %s", body, node)
	}
}
