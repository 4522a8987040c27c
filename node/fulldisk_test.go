//go:build linux

package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
	"github.com/warrenmesh/warren/testnet"
)

// TestKVDiskFull fills a node's data disk (a tmpfs, so the test needs
// root) through the KV API. Before badger allocated its mapped files'
// blocks, the node died of SIGBUS as soon as the disk was full; a client
// with a write grant, or a Worker with a KV binding, could kill every
// replica of a group. Now the node keeps a reserve: puts stop with 507
// "full" before the disk is, what was acknowledged stays readable, deletes
// and the node's own writes (a deploy) are still taken, a Worker's put
// throws KV_FULL, and puts work again as soon as there is room.
func TestKVDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a replicated node on a small disk")
	}
	testnet.Exclusive(t)
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=200m"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): needs root", err)
	}
	// Registered before the cluster, so that it runs after the node is
	// killed.
	t.Cleanup(func() { _ = syscall.Unmount(disk, syscall.MNT_DETACH) })
	c := newCluster(t, 43, "full")
	c.tune = func(cfg *Config) {
		cfg.NoReplication = false
		cfg.Data = filepath.Join(disk, "full")
		cfg.DiskReserve = 48 << 20
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.QueueTimeout = 10 * time.Second
		cfg.ReplicationTuning = func(cc *replication.ClusterConfig) { cc.Settle = 100 * time.Millisecond }
	}
	n := c.start("full", c.secret, 2)
	waitFor(t, time.Minute, "every group placed with a leader", func() bool {
		gs, err := n.groups.Groups(t.Context())
		if err != nil || len(gs) < 2 {
			return false
		}
		for _, g := range gs {
			if g.Leader == "" {
				return false
			}
		}
		return true
	})

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	value := func(i int) []byte {
		b := make([]byte, 1<<20) // in the value log; random, so incompressible
		var key [32]byte
		copy(key[:], fmt.Sprint(seed, "/", i))
		_, _ = rand.NewChaCha8(key).Read(b)
		return b
	}
	put := func(key string, v []byte) (int, []byte) {
		status, _, body := call(t, n, "PUT", "/v1/kv/ns/"+key, bytes.NewReader(v), nil)
		return status, body
	}
	var acked []int
	full := -1
	for i := 0; i < 400 && full < 0; i++ {
		status, body := put(fmt.Sprint("k", i), value(i))
		switch status {
		case 200:
			acked = append(acked, i)
		case 507:
			full = i
			var e struct{ Code, Error string }
			if err := json.Unmarshal(body, &e); err != nil || e.Code != "full" || !strings.Contains(e.Error, "reserve") {
				t.Fatalf("put %d: 507 %s, want code full and a message naming the reserve", i, body)
			}
			t.Logf("the disk reached its reserve after %d puts of 1 MiB: %s", len(acked), e.Error)
		default:
			t.Fatalf("put %d: %d %s, want 200 until the reserve, then 507", i, status, body)
		}
	}
	if full < 0 {
		t.Fatalf("400 puts of 1 MiB fit on a 200 MiB disk: the test did not fill it")
	}
	// The guard holds, and costs nothing already acknowledged.
	for i := range 3 {
		if status, body := put(fmt.Sprint("more", i), value(1000+i)); status != 507 {
			t.Fatalf("a put past the reserve: %d %s, want 507", status, body)
		}
	}
	for _, i := range acked {
		status, _, body := call(t, n, "GET", fmt.Sprint("/v1/kv/ns/k", i), nil, nil)
		if status != 200 || !bytes.Equal(body, value(i)) {
			t.Fatalf("get k%d after the disk filled: %d and %d bytes, want its value", i, status, len(body))
		}
	}
	if status, _, body := call(t, n, "GET", "/healthz", nil, nil); status != 200 {
		t.Fatalf("healthz with a full disk: %d %s", status, body)
	}
	// A Worker's put throws KV_FULL.
	src := `export default { async fetch(req, env) {
  try { await env.KV.put("w", "v"); return new Response("stored") }
  catch (e) { return new Response(e.code + ": " + e.message) } } }`
	run, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": src}},
		"bindings": map[string]any{"KV": map[string]string{"kv": "ns"}},
	})
	status, _, body := call(t, n, "POST", "/v1/run", bytes.NewReader(run), nil)
	var res isolate.Result
	if err := json.Unmarshal(body, &res); status != 200 || err != nil || res.Response == nil {
		t.Fatalf("run: %d %s", status, body)
	}
	if got := string(res.Response.Body); !strings.HasPrefix(got, "KV_FULL: ") {
		t.Fatalf("a Worker's put on the full disk: %q, want KV_FULL", got)
	}
	// The node's own state passes the guard: an admin can still deploy
	// (and revoke tokens) on a node at its reserve.
	deploy, _ := json.Marshal(map[string]any{"code": map[string]any{"mainModule": "m.js",
		"modules": map[string]string{"m.js": `export default { fetch() { return new Response("up") } }`}}})
	if status, _, body := call(t, n, "PUT", "/v1/workers/up", bytes.NewReader(deploy), nil); status != 200 {
		t.Fatalf("a deploy on the node at its reserve: %d %s", status, body)
	}
	// Deletes make room, so they pass the guard.
	for _, i := range acked[:5] {
		if status, _, body := call(t, n, "DELETE", fmt.Sprint("/v1/kv/ns/k", i), nil, nil); status != 200 {
			t.Fatalf("delete k%d with a full disk: %d %s", i, status, body)
		}
	}
	// Room again (the disk grows): puts are taken once the guard looks.
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_REMOUNT, "size=400m"); err != nil {
		t.Fatalf("growing the disk: %v", err)
	}
	v := value(rng.IntN(1 << 20))
	waitFor(t, 10*time.Second, "a put once the disk has room", func() bool {
		status, _ := put("after", v)
		return status == 200
	})
}
