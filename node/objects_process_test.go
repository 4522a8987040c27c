package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/internal/lincheck"
	"github.com/warrenmesh/warren/testnet"
)

// registerWorker exports a class Register whose objects each hold one
// value, read and written by RPC through /w/reg/{get,put,del}?name=K&v=V,
// and a Counter as counterWorker's.
const registerWorker = `import { DurableObject } from "cloudflare:workers";
export class Register extends DurableObject {
  async get() { return (await this.ctx.storage.get("v")) ?? null; }
  async put(v) { await this.ctx.storage.put("v", v); }
  async del() { await this.ctx.storage.delete("v"); }
}
export class Counter extends DurableObject {
  async increment() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return n;
  }
  async get() { return (await this.ctx.storage.get("n")) ?? 0; }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const name = url.searchParams.get("name");
    const op = url.pathname.split("/").pop();
    if (op === "inc" || op === "count") {
      const c = env.COUNTER.getByName(name);
      return new Response(String(op === "inc" ? await c.increment() : await c.get()));
    }
    const r = env.REG.getByName(name);
    switch (op) {
    case "get": {
      const v = await r.get();
      return v === null ? new Response("", {status: 404}) : new Response(v);
    }
    case "put": await r.put(url.searchParams.get("v")); return new Response("ok");
    case "del": await r.del(); return new Response("ok");
    }
    return new Response("unknown op", {status: 400});
  }
};`

// procClient calls a testnet's nodes over HTTP.
type procClient struct{ token string }

var procHTTP = &http.Client{Timeout: 15 * time.Second}

func (p procClient) do(ctx context.Context, method, u, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := procHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestObjectsAcrossProcesses runs Durable Objects on three `warren node`
// processes: a linearizability check of per-object registers while the
// owner of one is killed (SIGKILL) and restarted, and a counter whose
// owner is paused (SIGSTOP) until another node owns it, then resumed.
func TestObjectsAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the multi-process Durable Object test (builds cmd/warren, runs 3 node processes)")
	}
	if _, err := gotool.Path(); err != nil {
		t.Skip("no go tool to build cmd/warren")
	}
	bin := filepath.Join(t.TempDir(), "warren")
	if err := gotool.BuildWarren(bin); err != nil {
		t.Fatal(err)
	}
	testnet.Exclusive(t) // after the build: others' heavy tests run meanwhile
	dir := t.TempDir()
	t.Cleanup(func() { testnet.Down(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := testnet.Up(ctx, testnet.Options{Binary: bin, Dir: dir, N: 3, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.Token(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pc := procClient{token: tok}
	nodes := st.Nodes
	dep, _ := json.Marshal(map[string]any{
		"code": map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": registerWorker}},
		"bindings": map[string]any{
			"REG":     map[string]any{"durableObject": map[string]string{"worker": "reg", "class": "Register"}},
			"COUNTER": map[string]any{"durableObject": map[string]string{"worker": "reg", "class": "Counter"}},
		},
	})
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := pc.do(ctx, "PUT", nodes[0].API+"/v1/workers/reg", string(dep))
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy: %d %s %v", code, body, err)
		}
		time.Sleep(200 * time.Millisecond) // the groups are being placed
	}
	owner := func(class, name string) string {
		t.Helper()
		for {
			code, body, err := pc.do(ctx, "GET", nodes[0].API+"/v1/objects/reg/"+class+"?name="+name, "")
			var info ObjectInfo
			if err == nil && code == 200 && json.Unmarshal([]byte(body), &info) == nil && info.Owner != "" {
				return info.Owner
			}
			if ctx.Err() != nil {
				t.Fatalf("locating %s: %d %s %v", name, code, body, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	public := procClient{}
	for _, n := range nodes { // every node serves, and the objects exist
		for k := range 3 {
			if code, _, err := public.do(ctx, "GET", n.API+"/w/reg/get?name=k"+strconv.Itoa(k), ""); err != nil || code != 404 {
				t.Fatalf("first read of k%d through %s: %d %v", k, n.Name, code, err)
			}
		}
	}

	// Registers under SIGKILL of the owner of k0.
	var mu sync.RWMutex
	down := map[string]bool{}
	do := func(ctx context.Context, client int, op lincheck.Op) (lincheck.Result, lincheck.Outcome) {
		n := nodes[client%3]
		mu.RLock()
		if down[n.Name] {
			n = nodes[(client+1)%3]
		}
		mu.RUnlock()
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		defer ocancel()
		base := n.API + "/w/reg/"
		q := "?name=" + url.QueryEscape(op.Key)
		switch op.Kind {
		case lincheck.Get:
			code, body, err := public.do(octx, "GET", base+"get"+q, "")
			switch {
			case err == nil && code == 200:
				return lincheck.Result{Value: body, Found: true}, lincheck.OK
			case err == nil && code == 404:
				return lincheck.Result{}, lincheck.OK
			}
			return lincheck.Result{}, lincheck.Failed
		case lincheck.Put:
			code, _, err := public.do(octx, "POST", base+"put"+q+"&v="+url.QueryEscape(op.Value), "")
			return lincheck.Result{}, writeOutcome(code, err)
		default:
			code, _, err := public.do(octx, "POST", base+"del"+q, "")
			return lincheck.Result{}, writeOutcome(code, err)
		}
	}
	victim := owner("Register", "k0")
	t.Logf("k0 is owned by %s", victim)
	nemesis := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		mu.Lock()
		down[victim] = true
		mu.Unlock()
		t.Logf("SIGKILL %s", victim)
		if err := testnet.Stop(dir, victim); err != nil {
			nemesis <- err
			return
		}
		time.Sleep(3 * time.Second)
		t.Logf("restart %s", victim)
		err := testnet.Start(ctx, dir, victim)
		mu.Lock()
		down[victim] = false
		mu.Unlock()
		nemesis <- err
	}()
	seed := rand.Uint64() | 1
	rec, err := lincheck.Run(ctx, lincheck.Config{Clients: 6, Keys: 3, Duration: 9 * time.Second, Seed: seed, Logf: t.Logf}, do)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-nemesis; err != nil {
		t.Fatal(err)
	}
	if err := rec.Check(os.TempDir(), time.Minute); err != nil && !errors.Is(err, lincheck.ErrTimeout) {
		t.Fatalf("seed %d: %v", seed, err)
	}

	// A counter whose owner is paused until another node owns it.
	for i := 1; i <= 3; i++ {
		if code, body, err := public.do(ctx, "POST", nodes[i%3].API+"/w/reg/inc?name=p", ""); err != nil || code != 200 || body != strconv.Itoa(i) {
			t.Fatalf("increment %d: %d %q %v", i, code, body, err)
		}
	}
	paused := owner("Counter", "p")
	var others []testnet.NodeInfo
	for _, n := range nodes {
		if n.Name != paused {
			others = append(others, n)
		}
	}
	var pausedNode testnet.NodeInfo
	for _, n := range nodes {
		if n.Name == paused {
			pausedNode = n
		}
	}
	var acked, attempted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	inc := func(api string) {
		attempted.Add(1)
		octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
		defer ocancel()
		if code, _, err := public.do(octx, "POST", api+"/w/reg/inc?name=p", ""); err == nil && code == 200 {
			acked.Add(1)
		}
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				inc(others[i%2].API)
			}
		}()
	}
	// One call goes to the paused owner itself: it may run the event
	// when resumed, but never commit it.
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		inc(pausedNode.API)
	}()
	time.Sleep(200 * time.Millisecond)
	t.Logf("SIGSTOP %s", paused)
	if err := testnet.Pause(dir, paused); err != nil {
		t.Fatal(err)
	}
	before := acked.Load()
	for start := time.Now(); acked.Load() < before+20; {
		if time.Since(start) > time.Minute {
			t.Fatalf("no new owner served the counter within a minute of pausing %s", paused)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("SIGCONT %s", paused)
	if err := testnet.Resume(dir, paused); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	var final int64
	for {
		code, body, err := public.do(ctx, "GET", nodes[0].API+"/w/reg/count?name=p", "")
		if err == nil && code == 200 {
			final, _ = strconv.ParseInt(body, 10, 64)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("reading the count: %d %s %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lo, hi := 3+acked.Load(), 3+attempted.Load()
	t.Logf("counter: acknowledged %d, attempted %d, final %d", acked.Load(), attempted.Load(), final)
	if final < lo || final > hi {
		t.Fatalf("final count %d outside [acknowledged %d, attempted %d]", final, lo, hi)
	}
	// And the count goes on from there, through the resumed node too.
	for i, n := range nodes {
		want := strconv.FormatInt(final+int64(i)+1, 10)
		if code, body, err := public.do(ctx, "POST", n.API+"/w/reg/inc?name=p", ""); err != nil || code != 200 || body != want {
			t.Fatalf("increment through %s after the pause: %d %q %v, want %s", n.Name, code, body, err, want)
		}
	}
}

// writeOutcome classifies a write's answer for the checker: only a 200 is
// known to have applied; a Durable Object call is never retried, so any
// failure may have applied.
func writeOutcome(code int, err error) lincheck.Outcome {
	if err == nil && code == 200 {
		return lincheck.OK
	}
	return lincheck.Unknown
}
