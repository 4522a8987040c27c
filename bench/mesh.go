package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/node"
	"github.com/warrenmesh/warren/testnet"
)

// benchCluster starts n nodes on real loopback sockets (or on the fabric
// when f is set) sharing one secret.
func benchCluster(dir string, n, slots int, f *testnet.Fabric) ([]*node.Node, error) {
	return benchClusterCounting(dir, n, slots, f, nil)
}

func benchClusterCounting(dir string, n, slots int, f *testnet.Fabric, counter *atomic.Int64) ([]*node.Node, error) {
	secret := filepath.Join(dir, "secret")
	if err := node.InitSecret(secret); err != nil {
		return nil, err
	}
	var nodes []*node.Node
	var first string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("b%d", i+1)
		cfg := node.Config{Name: name, Data: filepath.Join(dir, name), SecretPath: secret, Slots: slots,
			Listen: "127.0.0.1:0", API: "127.0.0.1:0", Logger: quietLogger()}
		if f != nil {
			pc, err := f.Listen(name)
			if err != nil {
				return nil, err
			}
			cfg.PacketConn = pc
			if counter != nil {
				cfg.PacketConn = countingConn{pc, counter}
			}
		}
		if first != "" {
			cfg.Join = []string{first}
		}
		nd, err := node.Start(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		if first == "" {
			first = nd.Mesh().Addr().String()
		}
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

func closeAll(nodes []*node.Node) {
	for _, n := range nodes {
		n.Close()
	}
}

func converged(nodes []*node.Node, want int) bool {
	for _, n := range nodes {
		alive := 0
		for _, p := range n.Mesh().Members() {
			if p.State == mesh.StateAlive {
				alive++
			}
		}
		if alive != want {
			return false
		}
	}
	return true
}

func poll(within time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			return 0, fmt.Errorf("condition not met within %v", within)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), nil
}

var helloRun = func() []byte {
	code, _ := json.Marshal(hello())
	b, _ := json.Marshal(map[string]any{"code": json.RawMessage(code)})
	return b
}()

// httpRun posts one hello to /v1/run.
func httpRun(cl *http.Client, url string) error {
	resp, err := cl.Post(url+"/v1/run", "application/json", bytes.NewReader(helloRun))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"outcome":"ok"`)) {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

func httpClient() *http.Client {
	return &http.Client{Transport: bearer{&http.Transport{MaxIdleConnsPerHost: 64}}, Timeout: 30 * time.Second}
}

// nodeSecret is the mesh secret of the node process startNodeProcess started
// last.
var nodeSecret string

// apiToken is an admin token of the node process startNodeProcess started
// last, set before any client uses it.
var apiToken string

// bearer adds apiToken to each request.
type bearer struct{ inner http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if apiToken != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+apiToken)
	}
	return b.inner.RoundTrip(r)
}

func init() {
	benchmarks = append(benchmarks,
		benchmark{"mesh/http", benchHTTP},
		benchmark{"mesh/tenants", benchTenants},
		benchmark{"replication/fresh node", benchFirstPut},
		benchmark{"mesh/forward", benchForward},
		benchmark{"mesh/converge", benchConverge},
		benchmark{"mesh/detect", benchDetect},
		benchmark{"mesh/gossip", benchGossip},
	)
}

// benchHTTP: fresh-isolate hello through POST /v1/run on one node: a real
// `warren node` process, as users run it, driven by wrk (a load generator in
// its own process) when it is installed, else by Go clients.
func benchHTTP() ([]Row, error) {
	url, _, stop, err := startNodeProcess()
	if err != nil {
		return nil, err
	}
	defer stop()
	cl := httpClient()
	for i := 0; i < 500; i++ {
		if err := httpRun(cl, url); err != nil {
			return nil, err
		}
	}
	const serialName = "mesh/hello via POST /v1/run, serial latency (one warren node process)"
	const rateName = "mesh/hello via POST /v1/run, 16 clients (one warren node process)"
	if serial, err := wrkRun(url, 1, 5*time.Second); err == nil {
		rate, err := wrkRun(url, 16, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return []Row{
			{Name: serialName + ", wrk -c1", Unit: "ms", Value: serial.p50, P50: serial.p50, P99: serial.p99, N: serial.n, Target: "p50 <= 0.2 ms, p99 <= 3 ms"},
			{Name: rateName + ", wrk -c16", Unit: "inv/s", Value: rate.rate, P50: rate.p50, P99: rate.p99, N: rate.n, Target: ">= 10000/s"},
		}, nil
	} else {
		fmt.Fprintln(os.Stderr, "mesh/http: measuring with Go clients in the bench process:", err)
	}
	var d []time.Duration
	for i := 0; i < 3000; i++ {
		t0 := time.Now()
		if err := httpRun(cl, url); err != nil {
			return nil, err
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 := latencies(d)
	rate, n, err := parallel(16, 3*time.Second, func() error { return httpRun(cl, url) })
	if err != nil {
		return nil, err
	}
	return []Row{
		{Name: serialName + ", Go client", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "p50 <= 0.2 ms, p99 <= 3 ms"},
		{Name: rateName + ", Go clients", Unit: "inv/s", Value: rate, N: n, Target: ">= 10000/s"},
	}, nil
}

// benchTenants: hello at 16 clients through one node process (4 slots),
// the calls spread round robin over n tokens, each a tenant whose calls
// run in workers of their own (docs/security.md, "One tenant to a
// worker"): what switching workers between tenants costs.
func benchTenants() ([]Row, error) {
	url, _, stop, err := startNodeProcess()
	if err != nil {
		return nil, err
	}
	defer stop()
	var rows []Row
	for _, n := range []int{1, 2, 4, 8} {
		toks := make([]string, n)
		for i := range toks {
			if toks[i], err = node.MintTokenFile(nodeSecret, fmt.Sprint("tenant", i), node.Grants{}, time.Hour); err != nil {
				return nil, err
			}
		}
		if _, err := wrkRunAs(url, 16, 2*time.Second, toks); err != nil { // warm up
			return nil, err
		}
		res, err := wrkRunAs(url, 16, 5*time.Second, toks)
		if err != nil {
			return nil, err
		}
		rows = append(rows, Row{Name: fmt.Sprintf("mesh/hello via POST /v1/run, 16 clients, %d tokens round robin (one tenant each; one warren node process)", n),
			Unit: "inv/s", Value: res.rate, P50: res.p50, P99: res.p99, N: res.n, Target: "report"})
	}
	return rows, nil
}

// benchFirstPut: how soon a fresh node (a new mesh of one, its data
// directory empty) takes its first KV put, from the start of its process:
// its meta group's election, the meta leader's wait for the membership to
// settle (2 s), and its data groups' elections (replication, Group.standNow).
// The median of three starts.
func benchFirstPut() ([]Row, error) {
	var took []float64
	for range 3 {
		t0 := time.Now()
		url, _, stop, err := startNodeProcess()
		if err != nil {
			return nil, err
		}
		cl := httpClient()
		for {
			req, _ := http.NewRequest(http.MethodPut, url+"/v1/kv/bench/first", strings.NewReader("v"))
			resp, err := cl.Do(req)
			last := fmt.Sprint(err)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = resp.Status
			}
			if time.Since(t0) > time.Minute {
				stop()
				return nil, fmt.Errorf("no KV put within a minute of the node's start (last: %s)", last)
			}
			time.Sleep(10 * time.Millisecond) // a poll interval
		}
		took = append(took, float64(time.Since(t0))/float64(time.Millisecond))
		stop()
	}
	slices.Sort(took)
	return []Row{{Name: "replication/fresh node: first KV put after its process starts (median of 3)", Unit: "ms",
		Value: took[1], N: len(took), Target: "report"}}, nil
}

// startNodeProcess starts a `warren node` process (built by make build) on
// free loopback ports and waits until its API answers.
func startNodeProcess() (url string, pid int, stop func(), err error) {
	bin, err := warrenBinary()
	if err != nil {
		return "", 0, nil, err
	}
	dir, _ := os.MkdirTemp("", "warren-bench")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	api := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "node", "--data", dir, "--listen", "127.0.0.1:0", "--api", api)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	url, cl := "http://"+api, httpClient()
	if _, err := poll(20*time.Second, func() bool {
		resp, err := cl.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("warren node did not come up: %v: %s", err, logs.String())
	}
	// The node created its secret in its data directory.
	nodeSecret = filepath.Join(dir, "secret")
	if apiToken, err = node.MintTokenFile(nodeSecret, "bench", node.Grants{Admin: true}, time.Hour); err != nil {
		stop()
		return "", 0, nil, err
	}
	return url, cmd.Process.Pid, stop, nil
}

// warrenBinary finds the warren binary: the one WARREN_BENCH_BINARY names (for
// A/B runs of two builds, as testnetBinary), else the one `make build` wrote.
func warrenBinary() (string, error) {
	if bin := os.Getenv("WARREN_BENCH_BINARY"); bin != "" {
		return bin, nil
	}
	for _, p := range []string{"bin/warren", "../bin/warren"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return filepath.Abs(p)
		}
	}
	if p, err := exec.LookPath("warren"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no warren binary in bin/ or on PATH: run make build")
}

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rate     float64 // requests/s
	p50, p99 float64 // ms
	n        int
}

// wrkRun drives url's /v1/run with wrk (one thread, conns connections).
func wrkRun(url string, conns int, dur time.Duration) (wrkResult, error) {
	return wrkRunAs(url, conns, dur, []string{apiToken})
}

// wrkRunAs is wrkRun with the requests' tokens taken from tokens in turn.
func wrkRunAs(url string, conns int, dur time.Duration, tokens []string) (wrkResult, error) {
	var res wrkResult
	path, err := exec.LookPath("wrk")
	if err != nil {
		return res, fmt.Errorf("wrk is not installed (apt-get install wrk)")
	}
	dir, err := os.MkdirTemp("", "warren-wrk")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "post.lua")
	body, _ := json.Marshal(string(helloRun))
	toks, _ := json.Marshal(tokens) // a JSON array of strings is a Lua table constructor once its brackets are braces
	lua := "wrk.method = \"POST\"\nwrk.body = " + string(body) + "\nwrk.headers[\"Content-Type\"] = \"application/json\"\n" +
		"local toks = {" + string(toks[1:len(toks)-1]) + "}\nlocal i = 0\n" +
		"request = function()\n  i = i + 1\n  wrk.headers[\"Authorization\"] = \"Bearer \" .. toks[(i % #toks) + 1]\n  return wrk.format()\nend\n" +
		"done = function(summary, latency, requests)\n" +
		"  io.write(string.format(\"WARREN %d %d %d %d %d\\n\", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))\nend\n"
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		return res, err
	}
	out, err := exec.Command(path, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(dur.Seconds())), "-s", script, url+"/v1/run").CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var errs, durUs, p50Us, p99Us int
	for _, ln := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(ln, "WARREN ") {
			fmt.Sscanf(ln, "WARREN %d %d %d %d %d", &res.n, &errs, &durUs, &p50Us, &p99Us)
		}
	}
	if errs > 0 || res.n == 0 || durUs == 0 {
		return res, fmt.Errorf("wrk: %d requests, %d errors: %s", res.n, errs, out)
	}
	res.rate = float64(res.n) / (float64(durUs) / 1e6)
	res.p50, res.p99 = float64(p50Us)/1000, float64(p99Us)/1000
	return res, nil
}

// parallel calls f from `clients` goroutines for dur and returns calls/s;
// the first error stops its goroutine and is returned.
func parallel(clients int, dur time.Duration, f func() error) (float64, int, error) {
	var n atomic.Int64
	var first atomic.Pointer[error]
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := f(); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return 0, 0, *e
	}
	return float64(n.Load()) / time.Since(t0).Seconds(), int(n.Load()), nil
}

// benchForward: the added latency and the rate of invocations forwarded
// from a node with no slot free to a peer, against local ones.
func benchForward() ([]Row, error) {
	dir, _ := os.MkdirTemp("", "warren-bench")
	defer os.RemoveAll(dir)
	nodes, err := benchCluster(dir, 2, 4, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(nodes)
	if _, err := poll(10*time.Second, func() bool { return converged(nodes, 2) }); err != nil {
		return nil, err
	}
	a, b := nodes[0], nodes[1]
	req := &node.RunRequest{Code: mustCode()}
	bigCode, _ := json.Marshal(bundle50K())
	big := &node.RunRequest{Code: bigCode}
	// One subrequest (refused by the default egress policy, after the
	// forwarded call's permission round trip): the cost of holding effects.
	fxCode, _ := json.Marshal(&isolate.Code{MainModule: "fx.js", Modules: map[string]*isolate.Module{"fx.js": {Kind: isolate.ModuleESM,
		Source: `export default { async fetch() { try { await fetch("http://example.com/") } catch {} return new Response("hi") } }`}}})
	fx := &node.RunRequest{Code: fxCode}
	runReq := func(n *node.Node, req *node.RunRequest) (*isolate.Result, error) {
		r := n.Run(context.Background(), req)
		if !r.OK() {
			return r, fmt.Errorf("%s: %s", r.Outcome, r.Error)
		}
		return r, nil
	}
	run := func(n *node.Node) (*isolate.Result, error) { return runReq(n, req) }
	measureReq := func(n *node.Node, req *node.RunRequest, count, want int) ([]time.Duration, error) {
		var d []time.Duration
		for i := 0; i < count; i++ {
			t0 := time.Now()
			r, err := runReq(n, req)
			if err != nil {
				return nil, err
			}
			d = append(d, time.Since(t0))
			if len(r.Telemetry.Hops) != want {
				return nil, fmt.Errorf("hops %v, want %d", r.Telemetry.Hops, want)
			}
		}
		return d, nil
	}
	measure := func(n *node.Node, want int) ([]time.Duration, error) { return measureReq(n, req, 3000, want) }
	for i := 0; i < 200; i++ {
		run(a)
	}
	local, err := measure(a, 1)
	if err != nil {
		return nil, err
	}
	localBig, err := measureReq(a, big, 500, 1)
	if err != nil {
		return nil, err
	}
	localFx, err := measureReq(a, fx, 1000, 1)
	if err != nil {
		return nil, err
	}
	localRate, _, err := parallel(8, 2*time.Second, func() error { _, err := run(a); return err })
	if err != nil {
		return nil, err
	}
	// Fill a's slots with sleepers so everything it gets is forwarded to b.
	hold, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeper := &node.RunRequest{Code: mustSleeper(), Request: &isolate.Request{URL: "http://x/"}}
	for i := 0; i < 4; i++ {
		go a.Run(hold, sleeper)
	}
	if _, err := poll(5*time.Second, func() bool {
		for _, m := range a.Members() {
			if m.Local {
				return m.Free == 0
			}
		}
		return false
	}); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		run(a)
	}
	fwd, err := measure(a, 2)
	if err != nil {
		return nil, err
	}
	fwdBig, err := measureReq(a, big, 500, 2)
	if err != nil {
		return nil, err
	}
	fwdFx, err := measureReq(a, fx, 1000, 2)
	if err != nil {
		return nil, err
	}
	fwdRate, n, err := parallel(8, 2*time.Second, func() error { _, err := run(a); return err })
	if err != nil {
		return nil, err
	}
	lp50, _ := latencies(local)
	fp50, fp99 := latencies(fwd)
	lbp50, _ := latencies(localBig)
	fbp50, fbp99 := latencies(fwdBig)
	lxp50, _ := latencies(localFx)
	fxp50, fxp99 := latencies(fwdFx)
	_ = b
	return []Row{
		{Name: "mesh/forwarded invocation added latency over local (loopback)", Unit: "ms", Value: fp50 - lp50, P50: fp50 - lp50, P99: fp99, N: len(fwd), Target: "p50 <= 0.3 ms"},
		{Name: "mesh/forwarded 50KB-bundle invocation added latency over local (loopback)", Unit: "ms", Value: fbp50 - lbp50, P50: fbp50 - lbp50, P99: fbp99, N: len(fwdBig)},
		{Name: "mesh/forwarded invocation with one subrequest (effect permission round trip) added latency over local", Unit: "ms", Value: fxp50 - lxp50, P50: fxp50 - lxp50, P99: fxp99, N: len(fwdFx)},
		{Name: "mesh/forwarded fresh-isolate invocations/s, 8 clients (2 nodes)", Unit: "inv/s", Value: fwdRate, N: n, Target: fmt.Sprintf(">= 50%% of local (%.0f/s)", localRate)},
		{Name: "mesh/local invocations/s through Node.Run, 8 clients", Unit: "inv/s", Value: localRate, N: 1},
	}, nil
}

func mustCode() json.RawMessage {
	b, _ := json.Marshal(hello())
	return b
}

func mustSleeper() json.RawMessage {
	b, _ := json.Marshal(&isolate.Code{MainModule: "s.js", Modules: map[string]*isolate.Module{"s.js": {Kind: isolate.ModuleESM,
		Source: `export default { fetch() { return new Promise(r => setTimeout(() => r(new Response("z")), 25000)) } }`}},
		Limits: &isolate.Limits{WallMs: 30000}})
	return b
}

// benchConverge: join-to-converged time for 5 and 10 nodes.
func benchConverge() ([]Row, error) {
	var rows []Row
	for _, n := range []int{5, 10} {
		dir, _ := os.MkdirTemp("", "warren-bench")
		t0 := time.Now()
		nodes, err := benchCluster(dir, n, 1, nil)
		if err != nil {
			return nil, err
		}
		started := time.Since(t0)
		took, err := poll(30*time.Second, func() bool { return converged(nodes, n) })
		closeAll(nodes)
		os.RemoveAll(dir)
		if err != nil {
			return nil, err
		}
		rows = append(rows, Row{Name: fmt.Sprintf("mesh/join-to-converged, %d nodes (after the last join)", n), Unit: "s", Value: took.Seconds(), N: 1,
			Target: fmt.Sprintf("<= 1 s (starting all %d took %.2f s)", n, started.Seconds())})
	}
	return rows, nil
}

// benchDetect: time from killing a node to every other marking it dead.
func benchDetect() ([]Row, error) {
	dir, _ := os.MkdirTemp("", "warren-bench")
	defer os.RemoveAll(dir)
	f := testnet.NewFabric(1)
	defer f.Close()
	nodes, err := benchCluster(dir, 5, 1, f)
	if err != nil {
		return nil, err
	}
	defer closeAll(nodes)
	if _, err := poll(10*time.Second, func() bool { return converged(nodes, 5) }); err != nil {
		return nil, err
	}
	victim := nodes[4]
	f.Kill("b5")
	victim.Kill()
	took, err := poll(20*time.Second, func() bool { return converged(nodes[:4], 4) })
	if err != nil {
		return nil, err
	}
	return []Row{{Name: "mesh/failure detection (all 4 survivors mark the dead node)", Unit: "s", Value: took.Seconds(), N: 1, Target: "<= 3 s"}}, nil
}

// benchGossip: idle gossip traffic per node in a 10-node mesh.
func benchGossip() ([]Row, error) {
	dir, _ := os.MkdirTemp("", "warren-bench")
	defer os.RemoveAll(dir)
	f := testnet.NewFabric(1)
	defer f.Close()
	var sent atomic.Int64
	nodes, err := benchClusterCounting(dir, 10, 1, f, &sent)
	if err != nil {
		return nil, err
	}
	defer closeAll(nodes)
	if _, err := poll(20*time.Second, func() bool { return converged(nodes, 10) }); err != nil {
		return nil, err
	}
	before := sent.Load()
	t0 := time.Now()
	time.Sleep(10 * time.Second) // measuring a rate over an interval, not waiting for a condition
	rate := float64(sent.Load()-before) / time.Since(t0).Seconds() / float64(len(nodes))
	return []Row{{Name: "mesh/idle gossip per node, 10-node mesh (UDP payload sent)", Unit: "bytes/s", Value: rate, N: 10}}, nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// countingConn counts the bytes a node sends.
type countingConn struct {
	net.PacketConn
	sent *atomic.Int64
}

func (c countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.sent.Add(int64(len(b)))
	return c.PacketConn.WriteTo(b, addr)
}
