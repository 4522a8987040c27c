package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/hostile"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
)

// The hostile corpus against a live mesh (internal/hostile): every case
// goes to the nodes' POST /v1/run, in turn, with a token that grants egress
// to every public address, the name localhost and a test origin on
// loopback, while honest clients keep calling a hello Worker on every node.
// The testnet's tests and bench/ read the same report: the tests hold it
// to bounds a loaded machine meets, the bench to the figures.

// HostileOptions configure RunHostile.
type HostileOptions struct {
	// HonestClients call the mesh while the corpus runs (default 2).
	HonestClients int
	// IdleCalls are the honest calls timed on the idle mesh, by the same
	// clients (default 200): before each round of the corpus, an equal part.
	IdleCalls int
	// Rounds is how many times the corpus runs (default 1). Idle and
	// attacked phases alternate, so that both see the host as it is at
	// about the same time: on a shared machine its load drifts.
	Rounds int
	// MinAttackCalls, if set, has the corpus run more rounds (up to ten
	// times Rounds) until the honest calls timed under attack are at least
	// this many: a kind of case that ends quickly leaves few, and a p99 of
	// a hundred calls is their slowest.
	MinAttackCalls int
	// Parallel is how many hostile calls are in flight at once (default:
	// one per node).
	Parallel int
	// Only, if set, picks the cases to run (default: all).
	Only func(hostile.Case) bool
	// Honest, if set, is the honest clients' Worker (an ES module whose
	// response body is "hi"), instead of one that answers "hi" at once:
	// a heavier honest call shows what the corpus costs calls that are
	// not the lightest.
	Honest string
}

// HostileResult is one hostile call's end.
type HostileResult struct {
	Name    string
	Outcome string
	// Node ran it (telemetry.node); API is the node it was sent to.
	Node, API string
	// Start is when it was sent; Took how long its answer took.
	Start time.Time
	Took  time.Duration
	// CPU is the CPU time the node reported (telemetry.cpuTime).
	CPU time.Duration
	// Err is what is wrong with its end ("" none): an outcome the case may
	// not have, a body that shows the host, an HTTP error.
	Err string
}

// HostileReport is what RunHostile saw.
type HostileReport struct {
	Cases []HostileResult
	// Idle and Attack are the honest calls' latencies, on the idle mesh
	// and while the corpus ran; AttackAt when each of Attack was sent.
	Idle, Attack []time.Duration
	AttackAt     []time.Time
	// IdleForwarded counts the idle honest calls that ran on another node
	// than the one called; AttackForwarded says it of each of Attack.
	IdleForwarded   int
	AttackForwarded []bool
	// HonestFailures are the honest calls that did not answer "hi".
	HonestFailures []string
	// Unhealthy are the nodes whose /healthz failed after the corpus, or
	// whose process is gone.
	Unhealthy []string
	// Layers are the isolation layers each node's /healthz lists after
	// the corpus, by node.
	Layers map[string][]string
	// Attacks are when the corpus ran: [start, end) of each round.
	Attacks [][2]time.Time
	// Demotions sums the nodes' counts since they started (their /healthz).
	Demotions Demotions
	// Workers sums, over the nodes, how their sandbox workers' counters
	// (/metrics: warren_sandbox_workers_started_total and
	// warren_sandbox_workers_ended_total by reason) grew during the run.
	Workers map[string]float64
}

// workerCounters reads the sandbox worker counters of the node at api
// (its /metrics), keyed "started" and "ended <reason>".
func workerCounters(ctx context.Context, api, token string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := get(ctx, api+"/metrics", token)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "warren_sandbox_workers_started_total":
			out["started"] += v
		case strings.HasPrefix(name, `warren_sandbox_workers_ended_total{reason="`):
			out["ended "+strings.TrimSuffix(strings.TrimPrefix(name, `warren_sandbox_workers_ended_total{reason="`), `"}`)] += v
		}
	}
	return out, nil
}

// Demotions are a node's counts of calls demoted, calls started low and the
// floor's boosts (/healthz isolation).
type Demotions struct {
	Demoted    uint64 `json:"demoted"`
	StartedLow uint64 `json:"startedLow"`
	Boosted    uint64 `json:"boosted"`
}

// Quantile is the q-quantile (0..1) of d, 0 for none.
func Quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// RunHostile runs the hostile corpus against the running nodes of st,
// with honest calls alongside, and reports each call. Its error is about
// the harness (no node, no token), not about the mesh: the mesh's failures
// are in the report.
func RunHostile(ctx context.Context, st *State, o HostileOptions) (*HostileReport, error) {
	if o.HonestClients <= 0 {
		o.HonestClients = 2
	}
	if o.IdleCalls <= 0 {
		o.IdleCalls = 200
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	var apis []string
	for _, n := range st.Nodes {
		if n.PID != 0 {
			apis = append(apis, n.API)
		}
	}
	if len(apis) == 0 {
		return nil, fmt.Errorf("testnet: no node is running")
	}
	if o.Parallel <= 0 {
		o.Parallel = len(apis)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testnet: the origin: %w", err)
	}
	origin := &http.Server{Handler: hostile.Origin(), ReadHeaderTimeout: 5 * time.Second}
	go origin.Serve(ln)
	defer origin.Close()
	originAddr := ln.Addr().String()

	secret, err := mesh.LoadSecret(st.Secret)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	key := secret.DeriveKey(policy.TokenKeyPurpose)
	now := time.Now()
	mint := func(name string, g policy.Grants) (string, error) {
		return policy.SignToken(key, &policy.Token{Name: name, IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Grants: g})
	}
	honestTok, err := mint("honest", policy.Grants{})
	if err != nil {
		return nil, err
	}
	hostileTok, err := mint("hostile", policy.Grants{AllowNet: hostile.Grants(originAddr),
		KV: map[string]string{hostile.StateNamespace: policy.KVReadWrite}, DO: []string{hostile.StateWorker + ".*"}})
	if err != nil {
		return nil, err
	}
	adminTok, err := mint("hostile-harness", policy.Grants{Admin: true})
	if err != nil {
		return nil, err
	}
	cl := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
	defer cl.CloseIdleConnections()

	rep := &HostileReport{Workers: map[string]float64{}}
	for _, api := range apis {
		w, err := workerCounters(ctx, api, adminTok)
		if err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		for k, v := range w {
			rep.Workers[k] -= v
		}
	}
	var mu sync.Mutex
	honestSrc := "export default { fetch() { return new Response('hi') } }"
	if o.Honest != "" {
		honestSrc = o.Honest
	}
	hello := hostileBody(honestSrc, nil, nil, nil)
	honestCall := func(i int) (time.Duration, bool, error) {
		t0 := time.Now()
		res, err := callRun(ctx, cl, apis[i%len(apis)], honestTok, hello)
		took := time.Since(t0)
		if err == nil && (res.Outcome != hostile.OK || res.Response == nil || res.Response.Body != "hi") {
			err = fmt.Errorf("%s on %s: %s %v", res.Outcome, apis[i%len(apis)], res.Error, res.Exceptions)
		}
		return took, err == nil && len(res.Telemetry.Hops) > 1, err
	}
	// The idle mesh, warmed first (code caches, connections).
	for i := range 20 {
		honestCall(i)
	}
	var cases []hostile.Case
	state := false
	for _, c := range slices.Concat(hostile.Scripts(), hostile.Egress(originAddr), hostile.State()) {
		if o.Only == nil || o.Only(c) {
			cases = append(cases, c)
			state = state || c.State
		}
	}
	if state {
		if err := deployState(ctx, cl, apis[0], adminTok); err != nil {
			return nil, err
		}
	}
	idle := func(calls int) {
		var wg sync.WaitGroup
		for c := range o.HonestClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < calls; i += o.HonestClients {
					took, fwd, err := honestCall(i)
					mu.Lock()
					rep.Idle = append(rep.Idle, took)
					if fwd {
						rep.IdleForwarded++
					}
					if err != nil {
						rep.HonestFailures = append(rep.HonestFailures, "idle: "+err.Error())
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	attack := func(round int) []HostileResult {
		stop := make(chan struct{})
		var honest sync.WaitGroup
		for c := range o.HonestClients {
			honest.Add(1)
			go func() {
				defer honest.Done()
				for i := c; ; i += o.HonestClients {
					select {
					case <-stop:
						return
					case <-ctx.Done():
						return
					default:
					}
					t0 := time.Now()
					took, fwd, err := honestCall(i)
					mu.Lock()
					rep.Attack = append(rep.Attack, took)
					rep.AttackAt = append(rep.AttackAt, t0)
					rep.AttackForwarded = append(rep.AttackForwarded, fwd)
					if err != nil {
						rep.HonestFailures = append(rep.HonestFailures, "under attack: "+err.Error())
					}
					mu.Unlock()
				}
			}()
		}
		work := make(chan int)
		var attackers sync.WaitGroup
		results := make([]HostileResult, len(cases))
		for range o.Parallel {
			attackers.Add(1)
			go func() {
				defer attackers.Done()
				for i := range work {
					c := &cases[i]
					api := apis[(round*len(cases)+i)%len(apis)]
					var limits map[string]int64
					if c.CPUMs != 0 || c.MemoryMB != 0 || c.WallMs != 0 {
						limits = map[string]int64{"cpuMs": c.CPUMs, "memoryMb": c.MemoryMB, "wallMs": c.WallMs}
					}
					body := hostileBody(c.Src, c.Compat, limits, c.Body)
					if c.State {
						body = withBindings(body, hostile.StateBindings())
					}
					t0 := time.Now()
					res, err := callRun(ctx, cl, api, hostileTok, body)
					r := HostileResult{Name: c.Name, API: api, Start: t0, Took: time.Since(t0)}
					if err != nil {
						r.Err = err.Error()
					} else {
						r.Outcome, r.Node = res.Outcome, res.Telemetry.Node
						r.CPU = time.Duration(res.Telemetry.CPUTime * float64(time.Millisecond))
						var out string
						if res.Response != nil {
							out = res.Response.Body
						}
						// A thrown error's message is the guest's too: it may
						// not show the host either.
						for _, e := range res.Exceptions {
							out += "\n" + e.Message
						}
						if err := c.Check(res.Outcome, out); err != nil {
							r.Err = fmt.Sprintf("%v (%s)", err, res.Error)
						}
					}
					results[i] = r
				}
			}()
		}
		for i := range cases {
			work <- i
		}
		close(work)
		attackers.Wait()
		close(stop)
		honest.Wait()
		return results
	}
	var results []HostileResult
	for round := 0; round < o.Rounds || round < 10*o.Rounds && len(rep.Attack) < o.MinAttackCalls; round++ {
		idle(o.IdleCalls / o.Rounds)
		t0 := time.Now()
		results = append(results, attack(round)...)
		rep.Attacks = append(rep.Attacks, [2]time.Time{t0, time.Now()})
	}
	rep.Cases = results
	for _, api := range apis {
		if w, err := workerCounters(ctx, api, adminTok); err == nil {
			for k, v := range w {
				rep.Workers[k] += v
			}
		}
	}

	for _, n := range st.Nodes {
		if n.PID == 0 {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := get(hctx, n.API+"/healthz", "")
		cancel()
		if err != nil || !n.Running() {
			rep.Unhealthy = append(rep.Unhealthy, n.Name)
			continue
		}
		var h struct {
			Isolation struct {
				Layers []string `json:"layers"`
				Demotions
			} `json:"isolation"`
		}
		if json.Unmarshal(b, &h) == nil {
			if rep.Layers == nil {
				rep.Layers = map[string][]string{}
			}
			rep.Layers[n.Name] = h.Isolation.Layers
			rep.Demotions.Demoted += h.Isolation.Demoted
			rep.Demotions.StartedLow += h.Isolation.StartedLow
			rep.Demotions.Boosted += h.Isolation.Boosted
		}
	}
	return rep, nil
}

// runResult is the part of a /v1/run answer RunHostile reads.
type runResult struct {
	Outcome  string `json:"outcome"`
	Error    string `json:"error"`
	Response *struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"response"`
	Exceptions []struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"exceptions"`
	Telemetry struct {
		Node    string   `json:"node"`
		Hops    []string `json:"hops"`
		CPUTime float64  `json:"cpuTime"` // ms
	} `json:"telemetry"`
}

// hostileBody is a POST /v1/run body of one module, main.js.
func hostileBody(src string, compat []string, limits map[string]int64, reqBody []byte) []byte {
	code := map[string]any{"mainModule": "main.js", "modules": map[string]string{"main.js": src}}
	if len(compat) > 0 {
		code["compatibilityFlags"] = compat
	}
	if limits != nil {
		code["limits"] = limits
	}
	body := map[string]any{"code": code}
	if reqBody != nil {
		body["request"] = map[string]any{"method": "POST", "bodyBase64": reqBody}
	}
	b, _ := json.Marshal(body) // []byte is base64 in JSON
	return b
}

// withBindings adds bindings to a /v1/run body.
func withBindings(body []byte, bindings map[string]any) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	m["bindings"] = bindings
	b, _ := json.Marshal(m)
	return b
}

// deployState deploys hostile.StateWorker through api, retrying while the
// mesh's store is not ready yet (a new mesh places its groups in seconds).
func deployState(ctx context.Context, cl *http.Client, api, token string) error {
	code := map[string]any{"mainModule": "main.js", "modules": map[string]string{"main.js": hostile.StateObjects}, "limits": hostile.StateLimits}
	body, _ := json.Marshal(map[string]any{"code": code, "bindings": hostile.StateBindings()})
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, api+"/v1/workers/"+hostile.StateWorker, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := cl.Do(req)
		var b []byte
		if err == nil {
			b, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, b)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: deploying %s: %w", hostile.StateWorker, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// callRun posts body to api's /v1/run with token; an answer that is not a
// result (an API error) is an error naming its status.
func callRun(ctx context.Context, cl *http.Client, api, token string, body []byte) (*runResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/run", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %.300s", api, resp.StatusCode, b)
	}
	var r runResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %.300s", api, err, b)
	}
	return &r, nil
}
