package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/internal/lincheck"
	"github.com/warrenmesh/warren/testnet"
)

// buildWarren builds cmd/warren into a temporary directory.
func buildWarren(t *testing.T) string {
	t.Helper()
	if _, err := gotool.Path(); err != nil {
		t.Skip("no go tool to build cmd/warren")
	}
	out := filepath.Join(t.TempDir(), "warren")
	if err := gotool.BuildWarren(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// httpKV is a client of one node's /v1/kv API.
type httpKV struct{ api string }

// apiToken is the admin token of the testnet under test (set once, after
// testnet.Up, before any call).
var apiToken string

var kvClient = &http.Client{Timeout: 15 * time.Second}

func (h httpKV) do(ctx context.Context, method, path, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.api+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := kvClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func (h httpKV) put(ctx context.Context, ns, key, val string) (int, error) {
	code, _, err := h.do(ctx, http.MethodPut, "/v1/kv/"+ns+"/"+url.PathEscape(key), val)
	return code, err
}

func (h httpKV) get(ctx context.Context, ns, key string) (int, string, error) {
	return h.do(ctx, http.MethodGet, "/v1/kv/"+ns+"/"+url.PathEscape(key), "")
}

// waitGroupsPlaced polls api's /v1/groups until every group has a leader
// and want replicas.
func waitGroupsPlaced(t *testing.T, api string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body, err := httpKV{api}.do(context.Background(), http.MethodGet, "/v1/groups", "")
		var gs struct{ Groups []GroupInfo }
		ok := err == nil && code == 200 && json.Unmarshal([]byte(body), &gs) == nil && len(gs.Groups) == 33
		for _, g := range gs.Groups {
			if g.Leader == "" || len(g.Replicas) != want {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups not placed with %d replicas within %v: %d %v %.2000s", want, within, code, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKVAcrossProcesses runs three warren node processes. A value put on
// one node is read at once on the others; a Worker counts its visits in
// KV through every node; one node is killed with SIGKILL and restarted
// while clients on every node put, get and delete a few keys over HTTP,
// and the history is checked with porcupine; nothing acknowledged is lost,
// also when every node is killed at once and started again.
func TestKVAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the multi-process KV test (builds cmd/warren, runs 3 node processes)")
	}
	bin := buildWarren(t) // before the lock: others' heavy tests run meanwhile
	testnet.Exclusive(t)
	dir := t.TempDir()
	t.Cleanup(func() { testnet.Down(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := testnet.Up(ctx, testnet.Options{Binary: bin, Dir: dir, N: 3, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if apiToken, err = st.Token(time.Hour); err != nil {
		t.Fatal(err)
	}
	nodes := st.Nodes
	waitGroupsPlaced(t, nodes[0].API, 3, time.Minute)

	// Put on one node, read on the others at once.
	for i := range 20 {
		k := fmt.Sprintf("k%d", i)
		if code, err := (httpKV{nodes[i%3].API}).put(ctx, "ns", k, "v"+k); err != nil || code != 200 {
			t.Fatalf("put %s: %d %v", k, code, err)
		}
		for j := 1; j < 3; j++ {
			if code, body, err := (httpKV{nodes[(i+j)%3].API}).get(ctx, "ns", k); err != nil || code != 200 || body != "v"+k {
				t.Fatalf("get %s on %s: %d %q %v", k, nodes[(i+j)%3].Name, code, body, err)
			}
		}
	}
	largeWriteFlood(ctx, t, nodes)

	// A Worker counts its visits across nodes.
	visit := func(api string) string {
		t.Helper()
		body := `{"code":{"mainModule":"c.js","modules":{"c.js":"export default { async fetch(r, env) { const n = Number((await env.V.get('count')) ?? 0) + 1; await env.V.put('count', String(n)); return new Response('visit ' + n) } }"}},"bindings":{"V":{"kv":"visits"}}}`
		code, out, err := httpKV{api}.do(ctx, http.MethodPost, "/v1/run", body)
		if err != nil || code != 200 {
			t.Fatalf("run: %d %v %s", code, err, out)
		}
		var res struct {
			Outcome  string
			Response struct{ Body string }
		}
		json.Unmarshal([]byte(out), &res)
		return res.Outcome + " " + res.Response.Body
	}
	for i := range 6 {
		if got, want := visit(nodes[i%3].API), fmt.Sprintf("ok visit %d", i+1); got != want {
			t.Fatalf("visit through %s: %q, want %q", nodes[i%3].Name, got, want)
		}
	}

	// Clients on every node while one node is killed and restarted.
	var mu sync.RWMutex
	down := map[string]bool{}
	do := func(ctx context.Context, client int, op lincheck.Op) (lincheck.Result, lincheck.Outcome) {
		n := nodes[client%3]
		mu.RLock()
		isDown := down[n.Name]
		mu.RUnlock()
		if isDown {
			n = nodes[(client+1)%3]
		}
		h := httpKV{n.API}
		octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
		defer ocancel()
		switch op.Kind {
		case lincheck.Get:
			code, body, err := h.get(octx, "lin", op.Key)
			switch {
			case err == nil && code == 200:
				return lincheck.Result{Value: body, Found: true}, lincheck.OK
			case err == nil && code == 404:
				return lincheck.Result{}, lincheck.OK
			}
			return lincheck.Result{}, lincheck.Failed
		case lincheck.Put:
			code, err := h.put(octx, "lin", op.Key, op.Value)
			return lincheck.Result{}, httpOutcome(code, err)
		default:
			code, _, err := h.do(octx, http.MethodDelete, "/v1/kv/lin/"+op.Key, "")
			return lincheck.Result{}, httpOutcome(code, err)
		}
	}
	seed := rand.Uint64()
	victim := nodes[1+rand.IntN(2)]
	nemesis := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		mu.Lock()
		down[victim.Name] = true
		mu.Unlock()
		t.Logf("SIGKILL %s", victim.Name)
		if err := testnet.Stop(dir, victim.Name); err != nil {
			nemesis <- err
			return
		}
		time.Sleep(3 * time.Second)
		t.Logf("restart %s", victim.Name)
		err := testnet.Start(ctx, dir, victim.Name)
		mu.Lock()
		down[victim.Name] = false
		mu.Unlock()
		nemesis <- err
	}()
	rec, err := lincheck.Run(ctx, lincheck.Config{Clients: 6, Keys: 4, Duration: 9 * time.Second, Seed: seed, Logf: t.Logf}, do)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-nemesis; err != nil {
		t.Fatal(err)
	}
	if err := rec.Check(os.TempDir(), time.Minute); err != nil && !errors.Is(err, lincheck.ErrTimeout) {
		t.Fatalf("seed %d: %v", seed, err)
	}

	// Nothing acknowledged was lost, and the restarted node agrees.
	waitGroupsPlaced(t, victim.API, 3, time.Minute)
	for i := range 20 {
		k := fmt.Sprintf("k%d", i)
		for _, n := range nodes {
			if code, body, err := (httpKV{n.API}).get(ctx, "ns", k); err != nil || code != 200 || body != "v"+k {
				t.Fatalf("after the kill, get %s on %s: %d %q %v", k, n.Name, code, body, err)
			}
		}
	}
	if got := visit(victim.API); got != "ok visit 7" {
		t.Fatalf("visit after the kill: %q", got)
	}

	// Every node killed at once, then started again: everything
	// acknowledged is still there.
	for _, n := range nodes {
		if err := testnet.Stop(dir, n.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if err := testnet.Start(ctx, dir, n.Name); err != nil {
			t.Fatal(err)
		}
	}
	waitGroupsPlaced(t, nodes[2].API, 3, time.Minute)
	for i := range 20 {
		k := fmt.Sprintf("k%d", i)
		if code, body, err := (httpKV{nodes[i%3].API}).get(ctx, "ns", k); err != nil || code != 200 || body != "v"+k {
			t.Fatalf("after restarting every node, get %s: %d %q %v", k, code, body, err)
		}
	}
	if got := visit(nodes[0].API); got != "ok visit 8" {
		t.Fatalf("visit after restarting every node: %q", got)
	}
}

// largeWriteFlood puts 12 values of 20 MiB at once, four through each
// node (largewrites.go). Each put either succeeds or is refused as not
// made; none ends with an unknown outcome (before the leaders admitted
// large writes by their bytes in flight, most of 8 such puts outlived
// their 10 s with an unknown outcome while every attempt was proposed
// again, and heartbeats of idle groups came too late). A refused value
// is absent, a made one reads back whole, and every group still has a
// leader.
func largeWriteFlood(ctx context.Context, t *testing.T, nodes []testnet.NodeInfo) {
	t.Helper()
	const n, size = 12, 20 << 20
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i*7 + i>>12)
	}
	type answer struct {
		code int
		body string
		err  error
		took time.Duration
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/v1/kv/flood/big%d", nodes[i%3].API, i), bytes.NewReader(val))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer "+apiToken)
			t1 := time.Now()
			resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
			answers[i].took = time.Since(t1)
			if err != nil {
				answers[i].err = err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = answer{resp.StatusCode, string(b), err, answers[i].took}
		})
	}
	wg.Wait()
	made := 0
	for i, a := range answers {
		t.Logf("flood put %d through %s: %d in %v %.200s", i, nodes[i%3].Name, a.code, a.took.Round(time.Millisecond), a.body)
		key := fmt.Sprintf("big%d", i)
		switch {
		case a.err != nil:
			t.Errorf("flood put %d: %v", i, a.err)
		case a.code == 200:
			made++
			code, body, err := httpKV{nodes[(i+1)%3].API}.get(ctx, "flood", key)
			if err != nil || code != 200 || body != string(val) {
				t.Errorf("flood put %d made, then read: %d, %d bytes, %v", i, code, len(body), err)
			}
		case a.code == 503 && strings.Contains(a.body, "was not made"):
			if code, _, err := (httpKV{nodes[(i+1)%3].API}).get(ctx, "flood", key); err != nil || code != 404 {
				t.Errorf("flood put %d refused as not made, then read: %d %v", i, code, err)
			}
		default:
			t.Errorf("flood put %d: %d %s, want made or refused as not made", i, a.code, a.body)
		}
	}
	t.Logf("flood: %d of %d puts of %d MiB made in %v", made, n, size>>20, time.Since(t0).Round(time.Millisecond))
	if made < n/2 {
		t.Errorf("flood: only %d of %d puts made", made, n)
	}
	waitGroupsPlaced(t, nodes[0].API, 3, time.Minute)
}

// httpOutcome classifies a write's HTTP answer for the checker: only a
// 200 is known to have applied, and only a 400-class answer is known not
// to have; anything else may or may not have.
func httpOutcome(code int, err error) lincheck.Outcome {
	switch {
	case err == nil && code == 200:
		return lincheck.OK
	case err == nil && code >= 400 && code < 500:
		return lincheck.Failed
	}
	return lincheck.Unknown
}
