package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// withWall is the sleeper asking for wallMs of wall time.
func withWall(ms int, wallMs int64) *RunRequest {
	var c isolate.Code
	if err := json.Unmarshal(sleeper, &c); err != nil {
		panic(err)
	}
	c.Limits = &isolate.Limits{WallMs: wallMs}
	b, _ := json.Marshal(&c)
	r := sleepReq(ms)
	r.Code = b
	return r
}

// TestMaxWallMs: a call asking for more wall time than a node allows is
// denied, whether it would run there or on a peer that allows more; a peer
// applies its own ceiling to what it is forwarded. A call that asks for
// nothing gets the lower of the default and the ceiling.
func TestMaxWallMs(t *testing.T) {
	c := newCluster(t, 16, "low", "high")
	c.tune = func(cfg *Config) {
		if cfg.Name == "low" {
			cfg.MaxWallMs = 1000
		}
	}
	low := c.start("low", c.secret, 1)
	high := c.start("high", c.secret, 1, "low")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(low, "low", "high") && sees(high, "low", "high") })
	if high.cfg.MaxWallMs != DefaultMaxWallMs {
		t.Fatalf("default MaxWallMs %d", high.cfg.MaxWallMs)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		req  *RunRequest
		want isolate.Outcome
	}{
		{withWall(0, 1000), isolate.OutcomeOK},
		{withWall(0, 1001), isolate.OutcomeDenied},
		{sleepReq(0), isolate.OutcomeOK},
	} {
		if r := low.Run(ctx, tc.req); r.Outcome != tc.want || strings.Join(r.Telemetry.Hops, ">") != "low" {
			t.Errorf("on low: %s %q hops %v, want %s on low", r.Outcome, r.Error, r.Telemetry.Hops, tc.want)
		}
	}
	// The default wall time on low is its ceiling: the runtime stops a
	// call there, not 30 s later.
	if r := low.Run(ctx, sleepReq(5000)); r.Outcome != isolate.OutcomeExceededWallTime {
		t.Errorf("a 5 s sleeper on low: %s %q, want exceededWallTime", r.Outcome, r.Error)
	}
	// low is full: a call over its ceiling is denied, not sent to high.
	hold, release := context.WithCancel(ctx)
	defer release()
	go low.Run(hold, withWall(20000, 1000))
	waitFor(t, 5*time.Second, "low busy", func() bool { return low.running.Load() == 1 })
	ran := high.ran.Load()
	r := low.Run(ctx, withWall(0, 5000))
	if r.Outcome != isolate.OutcomeDenied || !strings.Contains(r.Error, "limits.wallMs 5000") || high.ran.Load() != ran {
		t.Errorf("over low's ceiling while low is full: %s %q, high ran %d more", r.Outcome, r.Error, high.ran.Load()-ran)
	}
	if r := low.Run(ctx, withWall(0, 1000)); !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "low>high" {
		t.Errorf("within the ceiling while low is full: %s %q hops %v, want ok on high", r.Outcome, r.Error, r.Telemetry.Hops)
	}
	// high is full: a call within its ceiling but over low's, forwarded to
	// low, is denied there.
	holdHigh, releaseHigh := context.WithCancel(ctx)
	defer releaseHigh()
	go high.Run(holdHigh, sleepReq(20000))
	waitFor(t, 5*time.Second, "high busy", func() bool { return high.running.Load() == 1 })
	release()
	waitFor(t, 5*time.Second, "low free", func() bool { return low.running.Load() == 0 && len(low.slots) == 0 })
	r = high.Run(ctx, withWall(0, 5000))
	if r.Outcome != isolate.OutcomeDenied || strings.Join(r.Telemetry.Hops, ">") != "high>low" || !strings.Contains(r.Error, "maximum of 1000") {
		t.Errorf("over low's ceiling, forwarded to low: %s %q hops %v", r.Outcome, r.Error, r.Telemetry.Hops)
	}
}

// callResult is what a call through the API came back with.
type callResult struct {
	status  int
	outcome isolate.Outcome
	error   string
	hops    []string
}

// callFrom posts body to the node at url from the client; it reports
// instead of failing, for use in goroutines.
func callFrom(ctx context.Context, cl *http.Client, url, body string) callResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/run", strings.NewReader(body))
	if err != nil {
		return callResult{error: err.Error()}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return callResult{error: err.Error()}
	}
	defer resp.Body.Close()
	var res isolate.Result
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &res); err != nil {
		return callResult{status: resp.StatusCode, error: string(b)}
	}
	return callResult{status: resp.StatusCode, outcome: res.Outcome, error: res.Error, hops: res.Telemetry.Hops}
}

// sleepBody is the API body of a sleeper of ms.
func sleepBody(ms int) string {
	return fmt.Sprintf(`{"code":%s,"request":{"url":"http://x/?ms=%d"}}`, sleeper, ms)
}

// flood sends k sleepers of 20 s to url from the client at once; they end
// when ctx does. Their results come on the channel.
func flood(ctx context.Context, cl *http.Client, url string, k int) <-chan callResult {
	out := make(chan callResult, k)
	for range k {
		go func() { out <- callFrom(ctx, cl, url, sleepBody(20000)) }()
	}
	return out
}

// clientAs is a client that sends requests from the address from with
// its own token, minted from the secret file at secret for name: the
// calls of one token share one client's share, from whichever address.
func clientAs(t *testing.T, from, secret, name string) *http.Client {
	tok := mintToken(t, secret, name, policy.Grants{Admin: true}, time.Hour)
	tr := &http.Transport{DialContext: dialerFrom(from).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: &bearerTransport{inner: tr, tok: tok}, Timeout: 30 * time.Second}
}

// bearerTransport sends every request with its token.
type bearerTransport struct {
	inner http.RoundTripper
	tok   string
}

func (b *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return b.inner.RoundTrip(r)
}

// TestShareOf: a call's client, for the slot shares, is its token's name,
// and its address where there is no token to name it.
func TestShareOf(t *testing.T) {
	r := &http.Request{RemoteAddr: "203.0.113.7:4242"}
	for _, tc := range []struct {
		tok  *policy.Token
		want string
	}{
		{nil, "203.0.113.7"},
		{noAuthToken, "203.0.113.7"},
		{&policy.Token{}, "203.0.113.7"},
		{&policy.Token{Name: "agent 7", ID: "abc"}, `token "agent 7"`},
		{&policy.Token{Name: "203.0.113.7"}, `token "203.0.113.7"`},
	} {
		if got := shareOf(r, tc.tok); got != tc.want {
			t.Errorf("shareOf(%+v) = %q, want %q", tc.tok, got, tc.want)
		}
	}
}

// TestClientSlotShare: one client (a token) that fills a node with calls
// that only wait gets its share of the slots and of the queue, from
// whichever address it calls; another client's calls still run at once,
// from the same address too.
func TestClientSlotShare(t *testing.T) {
	c := newCluster(t, 17, "s")
	c.tune = func(cfg *Config) { cfg.MaxQueued, cfg.QueueTimeout = 8, 5*time.Second }
	n := c.start("s", c.secret, 4)
	if n.cfg.ClientSlots != 3 || n.cfg.ClientQueued != 6 {
		t.Fatalf("shares of 4 slots and 8 queue places: %d and %d, want 3 and 6", n.cfg.ClientSlots, n.cfg.ClientQueued)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	greedy := clientAs(t, "127.0.0.2", c.secret, "greedy")
	held := flood(ctx, greedy, n.APIURL(), 3+6)
	waitFor(t, 5*time.Second, "the greedy client's share running and queued", func() bool {
		return n.running.Load() == 3 && n.queued.Load() == 6
	})
	// Past its share of the queue, its next call is shed at once, from
	// another address with the same token too.
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		if r := callFrom(ctx, clientAs(t, from, c.secret, "greedy"), n.APIURL(), sleepBody(0)); r.outcome != isolate.OutcomeLoadShed || !strings.Contains(r.error, `client token "greedy" already has 6`) {
			t.Errorf("a call past the client's queue share, from %s: %d %s %q", from, r.status, r.outcome, r.error)
		}
	}
	// Another client's calls run, here and at once (well before the queue
	// timeout): from another address, and from the greedy one's with a
	// token of its own.
	for _, honest := range []*http.Client{clientFrom(t, "127.0.0.1"), clientAs(t, "127.0.0.2", c.secret, "honest")} {
		for range 3 {
			t0 := time.Now()
			r := callFrom(ctx, honest, n.APIURL(), sleepBody(0))
			if r.outcome != isolate.OutcomeOK || strings.Join(r.hops, ">") != "s" || time.Since(t0) > time.Second {
				t.Fatalf("an honest call: %d %s %q hops %v after %v", r.status, r.outcome, r.error, r.hops, time.Since(t0))
			}
		}
	}
	if running := n.running.Load(); running != 3 {
		t.Errorf("%d calls running after the honest ones, want the greedy client's 3", running)
	}
	stop()
	for range 3 + 6 {
		if r := <-held; r.outcome == isolate.OutcomeOK {
			t.Errorf("a greedy call ended ok before its 20 s")
		}
	}
	waitFor(t, 5*time.Second, "every slot and share back", func() bool {
		n.share.mu.Lock()
		defer n.share.mu.Unlock()
		return len(n.slots) == 0 && len(n.share.clients) == 0
	})
}

// TestClientSlotShareMesh: in a mesh, a client's share holds on each node,
// counted by the client that made the call, not by the node that
// forwarded it: a client flooding one node gets its share of every node,
// and another client's calls run on whichever node it asks.
func TestClientSlotShareMesh(t *testing.T) {
	c := newCluster(t, 18, "m1", "m2", "m3")
	c.tune = func(cfg *Config) { cfg.QueueTimeout = 5 * time.Second }
	m1 := c.start("m1", c.secret, 4)
	c.start("m2", c.secret, 4, "m1")
	c.start("m3", c.secret, 4, "m1")
	names := []string{"m1", "m2", "m3"}
	waitFor(t, 10*time.Second, "convergence", func() bool {
		for _, n := range c.nodes {
			if !sees(n, names...) {
				return false
			}
		}
		return true
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Twelve waiting calls would take every slot of the mesh; three more
	// wait in the queue.
	held := flood(ctx, clientAs(t, "127.0.0.2", c.secret, "greedy"), m1.APIURL(), 15)
	waitFor(t, 10*time.Second, "the greedy client's share on every node", func() bool {
		for _, n := range c.nodes {
			if n.running.Load() != 3 {
				return false
			}
		}
		return true
	})
	for _, name := range names {
		n := c.nodes[name]
		n.share.mu.Lock()
		cs := n.share.clients[`token "greedy"`]
		n.share.mu.Unlock()
		if cs == nil || len(cs.slots) != 3 {
			t.Errorf("%s does not count the greedy client's 3 calls as its own: %+v", name, cs)
		}
	}
	honest := clientFrom(t, "127.0.0.1")
	for _, name := range names {
		for range 2 {
			r := callFrom(ctx, honest, c.nodes[name].APIURL(), sleepBody(0))
			if r.outcome != isolate.OutcomeOK || strings.Join(r.hops, ">") != name {
				t.Errorf("an honest call to %s: %d %s %q hops %v", name, r.status, r.outcome, r.error, r.hops)
			}
		}
	}
	stop()
	for range 15 {
		<-held
	}
}

// withMemory is the sleeper asking for memoryMb of memory.
func withMemory(ms int, memoryMB int64) *RunRequest {
	r := withWall(ms, 0)
	var c isolate.Code
	if err := json.Unmarshal(r.Code, &c); err != nil {
		panic(err)
	}
	c.Limits = &isolate.Limits{MemoryMB: memoryMB}
	r.Code, _ = json.Marshal(&c)
	return r
}

// TestMaxMemoryMB: a node's ceiling on limits.memoryMb is its operator's
// (Config.MaxMemoryMB, warren node --max-memory-mb), above the default of
// 512 as well as below it. A call over it is denied, whether it would run
// there or on a peer that allows more, with a message naming the ceiling
// and the flag; a call that asks for nothing gets the lower of the
// default and the ceiling.
func TestMaxMemoryMB(t *testing.T) {
	n, err := Start(context.Background(), Config{MaxMemoryMB: 4097, Data: t.TempDir(), Listen: "127.0.0.1:0", API: "127.0.0.1:0", Executor: isolate.InProcess})
	if err == nil {
		n.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "4097") || !strings.Contains(err.Error(), "4096") {
		t.Errorf("MaxMemoryMB 4097: %v, want an error naming it and the runtime's 4096", err)
	}
	c := newCluster(t, 17, "low", "high")
	c.tune = func(cfg *Config) {
		cfg.MaxMemoryMB = map[string]int64{"low": 64, "high": 1024}[cfg.Name]
	}
	low := c.start("low", c.secret, 1)
	high := c.start("high", c.secret, 1, "low")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(low, "low", "high") && sees(high, "low", "high") })
	ctx := context.Background()
	for _, tc := range []struct {
		n    *Node
		req  *RunRequest
		want isolate.Outcome
	}{
		{low, withMemory(0, 64), isolate.OutcomeOK},
		{low, withMemory(0, 65), isolate.OutcomeDenied},
		{low, sleepReq(0), isolate.OutcomeOK}, // 64, not the default 128
		{high, withMemory(0, 1024), isolate.OutcomeOK},
		{high, withMemory(0, DefaultMaxMemoryMB+1), isolate.OutcomeOK},
		{high, withMemory(0, 1025), isolate.OutcomeDenied},
	} {
		r := tc.n.Run(ctx, tc.req)
		if r.Outcome != tc.want || strings.Join(r.Telemetry.Hops, ">") != tc.n.Name() {
			t.Errorf("on %s: %s %q hops %v, want %s there", tc.n.Name(), r.Outcome, r.Error, r.Telemetry.Hops, tc.want)
		}
		if r.Outcome == isolate.OutcomeDenied && (!strings.Contains(r.Error, fmt.Sprintf("maximum of %d", tc.n.cfg.MaxMemoryMB)) || !strings.Contains(r.Error, "--max-memory-mb")) {
			t.Errorf("on %s: %q, want the ceiling and the flag named", tc.n.Name(), r.Error)
		}
	}
	// low is full: a call over its ceiling is denied, not sent to high.
	hold, release := context.WithCancel(ctx)
	defer release()
	go low.Run(hold, sleepReq(20000))
	waitFor(t, 5*time.Second, "low busy", func() bool { return low.running.Load() == 1 })
	ran := high.ran.Load()
	if r := low.Run(ctx, withMemory(0, 128)); r.Outcome != isolate.OutcomeDenied || high.ran.Load() != ran {
		t.Errorf("over low's ceiling while low is full: %s %q, high ran %d more", r.Outcome, r.Error, high.ran.Load()-ran)
	}
	// high is full: a call within its ceiling but over low's, forwarded to
	// low, is denied there.
	holdHigh, releaseHigh := context.WithCancel(ctx)
	defer releaseHigh()
	go high.Run(holdHigh, sleepReq(20000))
	waitFor(t, 5*time.Second, "high busy", func() bool { return high.running.Load() == 1 })
	release()
	waitFor(t, 5*time.Second, "low free", func() bool { return low.running.Load() == 0 && len(low.slots) == 0 })
	if r := high.Run(ctx, withMemory(0, 128)); r.Outcome != isolate.OutcomeDenied || strings.Join(r.Telemetry.Hops, ">") != "high>low" || !strings.Contains(r.Error, "maximum of 64") {
		t.Errorf("over low's ceiling, forwarded to low: %s %q hops %v", r.Outcome, r.Error, r.Telemetry.Hops)
	}
}
