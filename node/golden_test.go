package node

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestContractGolden pins the JSON of results (docs/result.md) and of
// error answers (docs/http-api.md) to testdata/contract.golden.json: a
// change to a contract shows as a diff there. Run with -update to accept
// one. Times, durations and sizes are zeroed; everything else is as a
// node answers it.
func TestContractGolden(t *testing.T) {
	c := newCluster(t, 5, "a")
	n := c.start("a", c.secret, 2)
	reader := mintToken(t, c.secret, "reader", policy.Grants{KV: map[string]string{"ns": policy.KVRead}}, time.Hour)
	admin := adminToken(t, c.secret)
	samples := []struct {
		name, method, path, body, token string
	}{
		{"result ok", "POST", "/v1/run", `{"code":{"mainModule":"main.js","modules":{"main.js":"export default { fetch(req) { console.log('hello', 1); return new Response('hi', {status: 201, headers: {'x-a': 'b'}}) } }"}},"request":{"url":"https://example.com/x"}}`, ""},
		{"result exception", "POST", "/v1/run", `{"code":{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { throw new TypeError('nope') } }"}}}`, ""},
		{"result exceededCpu", "POST", "/v1/run", `{"code":{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { for (;;) {} } }"},"limits":{"cpuMs":5}}}`, ""},
		{"result denied", "POST", "/v1/run", `{"code":{"mainModule":"main.js","modules":{"main.js":"export default { fetch() { return new Response('') } }"}},"bindings":{"KV":{"kv":"other"}}}`, reader},
		{"error bad_request", "POST", "/v1/run", `{"code":{},"hops":["x"]}`, ""},
		{"error invalid_code", "POST", "/v1/run", `{"code":{"mainModule":"a.js","modules":{}}}`, ""},
		{"error unauthorized", "POST", "/v1/run", `{}`, "not-a-token"},
		{"error not_found", "GET", "/nope", ``, ""},
	}
	got := map[string]any{}
	for _, s := range samples {
		tok := s.token
		if tok == "" {
			tok = admin
		}
		status, _, out := authCall(t, n, s.method, s.path, s.body, tok)
		got[s.name] = map[string]any{"status": status, "body": zeroVolatile(out)}
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "contract.golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./node -run TestContractGolden -update writes it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("the contract JSON changed; if on purpose, run go test ./node -run TestContractGolden -update and update the docs.\ngot:\n%s", b)
	}
}

// zeroVolatile zeroes what changes from run to run: times, durations,
// sizes, node-made ids.
func zeroVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "timestamp", "startupMs", "cpuTime", "wallTime", "memoryBytes":
				x[k] = 0
			case "stack":
				if s, ok := e.(string); ok {
					x[k] = strings.SplitN(s, "\n", 2)[0] // the first line is the author's
				}
			default:
				x[k] = zeroVolatile(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = zeroVolatile(e)
		}
	}
	return v
}
