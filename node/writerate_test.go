package node

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// TestWriteRate: a key writes its burst at once, then at the rate, in the
// order of its reservations; other keys are not held by it; a key that
// kept within the rate never waits.
func TestWriteRate(t *testing.T) {
	now := time.Unix(1000, 0)
	w := newWriteRate(1<<20, 2*time.Second) // 1 MiB a second, 2 s ahead
	w.now = func() time.Time { return now }
	const mib = 1 << 20
	for i, want := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second} {
		if got := w.reserve("flood", mib); got != want {
			t.Errorf("reservation %d of a MiB: wait %v, want %v", i, got, want)
		}
	}
	if got := w.reserve("other", 3*mib); got != 0 {
		t.Errorf("another key waits %v", got)
	}
	// Time passes: the debt is paid at the rate.
	now = now.Add(3 * time.Second)
	if got := w.reserve("flood", mib); got != 0 {
		t.Errorf("after 3 s, wait %v, want 0", got)
	}
	// A steady writer within the rate never waits.
	for i := range 20 {
		now = now.Add(time.Second)
		if got := w.reserve("steady", mib/2); got != 0 {
			t.Fatalf("steady write %d waits %v", i, got)
		}
	}
	var off *writeRate
	if off.reserve("x", mib) != 0 || newWriteRate(0, 0).reserve("x", mib) != 0 {
		t.Error("a nil or unlimited pace waits")
	}
}

// TestKVWritesPaced: a token's KV writes, through the API and through its
// Workers' bindings, are paced on a node after their burst; another
// token's and an administrator's are not held by them.
func TestKVWritesPaced(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 21, "kp")
	t.Cleanup(func() { kv.Close() })
	// 128 KiB a second after eight seconds' worth: 1.25 MiB at once puts
	// the token two seconds past its burst, which the next write waits.
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups, cfg.KVWriteRate = kv, testGroups, 128<<10 }
	n := c.start("kp", c.secret, 2)
	rw := policy.Grants{KV: map[string]string{"ns": policy.KVReadWrite}}
	writer, other := mintToken(t, c.secret, "writer", rw, time.Hour), mintToken(t, c.secret, "other", rw, time.Hour)
	put := func(tok, key string, size int) time.Duration {
		t.Helper()
		start := time.Now()
		if status, _, b := call(t, n, "PUT", "/v1/kv/ns/"+key, bytes.NewReader(make([]byte, size)), map[string]string{"Authorization": "Bearer " + tok}); status != 200 {
			t.Fatalf("put %s: %d %s", key, status, b)
		}
		return time.Since(start)
	}
	put(writer, "burst", 1280<<10)
	if d := put(other, "other", 256<<10); d > time.Second {
		t.Errorf("another token's put waited %v", d)
	}
	if d := put(adminToken(t, c.secret), "admin", 256<<10); d > time.Second {
		t.Errorf("an administrator's put waited %v", d)
	}
	if d := put(writer, "paced", 256<<10); d < 1500*time.Millisecond {
		t.Errorf("a put past the token's burst took %v, want about 2 s at 128 KiB a second", d)
	}
	// Through a Worker's binding, under a token of its own.
	worker := mintToken(t, c.secret, "worker", rw, time.Hour)
	body := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { async fetch(req, env) { await env.KV.put('w1', new Uint8Array(1280 << 10)); const t = Date.now(); await env.KV.put('w2', new Uint8Array(256 << 10)); return new Response(String(Date.now() - t)) } }"}},"bindings":{"KV":{"kv":"ns"}}}`
	status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(body), map[string]string{"Authorization": "Bearer " + worker})
	var res struct {
		Outcome  string
		Response struct{ Body string }
	}
	if status != 200 || json.Unmarshal(b, &res) != nil || res.Outcome != "ok" {
		t.Fatalf("run: %d %s", status, b)
	}
	if ms, _ := strconv.Atoi(res.Response.Body); ms < 1500 {
		t.Errorf("the Worker's second put took %s ms, want about 2 s", res.Response.Body)
	}
}
