package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/node"
	"github.com/warrenmesh/warren/policy"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"objects", benchObjects})
}

// objectsWorker is the benchmark's Worker: a counter object per name,
// incremented through /w/bench/inc?name=X.
// /w/bench/sql?name=X does the same in the object's SQL database: a row
// inserted, the rows counted.
const objectsWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    this.ctx.storage.put("n", n);
    return n;
  }
  sqlIncrement() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at INTEGER)");
    sql.exec("INSERT INTO hits (at) VALUES (?)", Date.now());
    return sql.exec("SELECT count(*) AS n FROM hits").one().n;
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const stub = env.COUNTER.getByName(url.searchParams.get("name") ?? "a");
    const sql = url.pathname.endsWith("/sql");
    let v;
    for (let i = Number(url.searchParams.get("n") ?? 1); i > 0; i--) v = await (sql ? stub.sqlIncrement() : stub.increment());
    return new Response(String(v));
  }
};`

// objNodes is three warren nodes in this process, on loopback, with
// sandboxed isolates and replication, as `warren node` runs them.
type objNodes struct {
	dir    string
	secret string
	token  string
	nodes  []*node.Node
	cfgs   []node.Config
	pcs    []net.PacketConn // each node's mesh socket
	op     string           // the Worker's path: "inc" (the key-value API) or "sql"
}

func startObjNodes() (*objNodes, error) {
	dir, err := os.MkdirTemp("", "warren-bench-objects")
	if err != nil {
		return nil, err
	}
	o := &objNodes{dir: dir, secret: filepath.Join(dir, "secret"), op: "inc"}
	if err := node.InitSecret(o.secret); err != nil {
		return nil, err
	}
	if o.token, err = node.MintTokenFile(o.secret, "bench", policy.Grants{Admin: true}, time.Hour); err != nil {
		return nil, err
	}
	var first string
	for i := range 3 {
		name := fmt.Sprintf("n%d", i)
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		cfg := node.Config{
			Name: name, Data: filepath.Join(dir, name), SecretPath: o.secret, API: "127.0.0.1:0",
			PacketConn: pc, Executor: isolate.Sandboxed, Logger: slog.New(slog.DiscardHandler),
		}
		if first != "" {
			cfg.Join = []string{first}
		} else {
			first = pc.LocalAddr().String()
		}
		n, err := node.Start(context.Background(), cfg)
		if err != nil {
			o.close()
			return nil, err
		}
		o.nodes = append(o.nodes, n)
		o.cfgs = append(o.cfgs, cfg)
		o.pcs = append(o.pcs, pc)
	}
	// Every group placed with a leader: a deploy goes through then.
	if _, err := pollEvery(2*time.Minute, 200*time.Millisecond, func() bool {
		code, _ := o.do(o.nodes[0], "PUT", "/v1/workers/bench", deployJSON())
		return code == 200
	}); err != nil {
		o.close()
		return nil, fmt.Errorf("deploying the benchmark Worker: %w", err)
	}
	return o, nil
}

func deployJSON() string {
	b, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": objectsWorker}},
		"bindings": map[string]any{"COUNTER": map[string]any{"durableObject": map[string]string{"worker": "bench", "class": "Counter"}}},
	})
	return string(b)
}

var objClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (o *objNodes) do(n *node.Node, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, n.APIURL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+o.token)
	resp, err := objClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (o *objNodes) close() {
	for _, n := range o.nodes {
		if n != nil {
			n.Close()
		}
	}
	os.RemoveAll(o.dir)
}

// owner is the node that owns the object name.
func (o *objNodes) owner(name string) (*node.Node, error) {
	var found *node.Node
	var last string
	_, err := pollEvery(30*time.Second, 50*time.Millisecond, func() bool {
		code, body := o.do(o.nodes[0], "GET", "/v1/objects/bench/Counter?name="+name, "")
		var info node.ObjectInfo
		if code != 200 || json.Unmarshal([]byte(body), &info) != nil {
			last = fmt.Sprintf("%d %s", code, body)
			return false
		}
		last = fmt.Sprintf("owner %q", info.Owner)
		for _, n := range o.nodes {
			if n != nil && n.Name() == info.Owner {
				found = n
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("locating %s: %s", name, last)
	}
	return found, nil
}

// objectRate runs clients that call pick() for d, each call of the Worker
// making per calls to the object, and returns object calls/s.
func (o *objNodes) objectRate(clients, per int, d time.Duration, pick func(client, i int) (*node.Node, string)) (float64, int, error) {
	var done atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				n, name := pick(c, i)
				code, body := o.do(n, "POST", fmt.Sprintf("/w/bench/%s?name=%s&n=%d", o.op, name, per), "")
				if code != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", code, body))
					continue
				}
				done.Add(int64(per))
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return 0, 0, fmt.Errorf("%d calls failed, the first: %v", f, firstErr.Load())
	}
	return float64(done.Load()) / d.Seconds(), int(done.Load()), nil
}

func (o *objNodes) serialCalls(n *node.Node, name string, count int) ([]time.Duration, error) {
	d := make([]time.Duration, 0, count)
	for range count {
		start := time.Now()
		if code, body := o.do(n, "POST", "/w/bench/"+o.op+"?name="+name, ""); code != 200 {
			return nil, fmt.Errorf("%d %s", code, body)
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

func benchObjects() ([]Row, error) {
	o, err := startObjNodes()
	if err != nil {
		return nil, err
	}
	defer o.close()
	var rows []Row
	owner, err := o.owner("hot")
	if err != nil {
		return nil, err
	}
	var remote *node.Node
	for _, n := range o.nodes {
		if n != owner {
			remote = n
			break
		}
	}
	// Warm up: the live instance, the code in every worker.
	if _, err := o.serialCalls(owner, "hot", 50); err != nil {
		return nil, err
	}
	rate, n, err := o.objectRate(16, 20, 5*time.Second, func(int, int) (*node.Node, string) { return owner, "hot" })
	if err != nil {
		return nil, err
	}
	rows = append(rows, Row{Name: "objects/calls to one object from co-located callers (16 Workers on its owner's node, each making 20 RPC calls that increment and persist a counter)", Unit: "calls/s", Value: rate, N: n, Target: ">= 2000/s"})
	rate, n, err = o.objectRate(16, 1, 5*time.Second, func(int, int) (*node.Node, string) { return owner, "hot" })
	if err != nil {
		return nil, err
	}
	rows = append(rows, Row{Name: "objects/HTTP calls to one object through its owner's node, 16 clients (each /w/ call a Worker making one RPC call that increments and persists a counter)", Unit: "calls/s", Value: rate, N: n, Target: "report"})

	for _, tc := range []struct {
		label string
		n     *node.Node
	}{{"local owner", owner}, {"remote owner", remote}} {
		d, err := o.serialCalls(tc.n, "hot", 300)
		if err != nil {
			return nil, err
		}
		p50, p99 := latencies(d)
		rows = append(rows, Row{Name: "objects/call p50, " + tc.label + " (HTTP /w/ call, one-shot Worker, RPC to the object, one persisted write)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "report"})
	}

	// The same through the SQL API: a row inserted and the rows counted.
	o.op = "sql"
	if _, err := o.serialCalls(owner, "hotsql", 50); err != nil {
		return nil, err
	}
	sd, err := o.serialCalls(owner, "hotsql", 300)
	if err != nil {
		return nil, err
	}
	sp50, sp99 := latencies(sd)
	rows = append(rows, Row{Name: "objects/call p50, local owner, SQL API (HTTP /w/ call, one-shot Worker, RPC to the object, a row inserted and the rows counted)", Unit: "ms", Value: sp50, P50: sp50, P99: sp99, N: len(sd), Target: "report"})
	rate, n, err = o.objectRate(16, 1, 5*time.Second, func(int, int) (*node.Node, string) { return owner, "hotsql" })
	if err != nil {
		return nil, err
	}
	rows = append(rows, Row{Name: "objects/HTTP calls to one object through its owner's node, 16 clients, SQL API (a row inserted and the rows counted)", Unit: "calls/s", Value: rate, N: n, Target: "report"})
	o.op = "inc"

	rate, n, err = o.objectRate(24, 1, 5*time.Second, func(c, i int) (*node.Node, string) {
		return o.nodes[c%3], fmt.Sprintf("obj-%d", (c*7919+i*104729)%1000)
	})
	if err != nil {
		return nil, err
	}
	rows = append(rows, Row{Name: "objects/calls across 1000 objects on 3 nodes, 24 clients", Unit: "calls/s", Value: rate, N: n, Target: "report"})

	// Failover: kill the owner of an object, time until a call through a
	// survivor succeeds; restart it; five times.
	var fail []time.Duration
	for trial := range 5 {
		name := fmt.Sprintf("failover-%d", trial)
		if _, err := o.serialCalls(o.nodes[trial%3], name, 5); err != nil {
			return nil, err
		}
		victim, err := o.owner(name)
		if err != nil {
			return nil, err
		}
		idx := -1
		for i, n := range o.nodes {
			if n == victim {
				idx = i
			}
		}
		survivor := o.nodes[(idx+1)%3]
		// The node dies when its socket closes: nothing of it reaches
		// the mesh from then on (Kill, which takes a while, cleans up).
		o.pcs[idx].Close()
		killed := time.Now()
		gone := make(chan struct{})
		go func() { victim.Kill(); close(gone) }()
		o.nodes[idx] = nil
		for {
			if code, _ := o.do(survivor, "POST", "/w/bench/inc?name="+name, ""); code == 200 {
				break
			}
			if time.Since(killed) > time.Minute {
				return nil, fmt.Errorf("object %s did not serve within a minute of its owner's death", name)
			}
		}
		fail = append(fail, time.Since(killed))
		<-gone
		cfg := o.cfgs[idx]
		cfg.Join = []string{o.pcs[(idx+1)%3].LocalAddr().String()}
		var pc net.PacketConn
		if _, err := pollEvery(10*time.Second, 50*time.Millisecond, func() bool {
			pc, err = net.ListenPacket("udp", o.pcs[idx].LocalAddr().String())
			return err == nil
		}); err != nil {
			return nil, fmt.Errorf("restarting %s: %w", cfg.Name, err)
		}
		cfg.PacketConn, o.pcs[idx] = pc, pc
		if o.nodes[idx], err = node.Start(context.Background(), cfg); err != nil {
			return nil, fmt.Errorf("restarting %s: %w", cfg.Name, err)
		}
		// Let it rejoin its groups before the next trial.
		if _, err := pollEvery(time.Minute, 200*time.Millisecond, func() bool {
			code, _ := o.do(o.nodes[idx], "GET", "/w/bench/inc?name=probe", "")
			return code == 200
		}); err != nil {
			return nil, err
		}
	}
	p50, p99 := latencies(fail)
	failRow := Row{Name: "objects/time from the owner's death (its mesh socket closed) to the object serving again through a survivor", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(fail), Target: "p50 <= 2000 ms"}
	rows = append(rows, failRow)

	// Placement toward demand: an object called only through one other
	// node moves there (the default window: 10 s, 200 calls, 80 %).
	owner, err = o.owner("demand")
	if err != nil {
		return nil, err
	}
	var caller *node.Node
	for _, n := range o.nodes {
		if n != owner {
			caller = n
			break
		}
	}
	before, err := o.serialCalls(caller, "demand", 200)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for {
		if _, err := o.serialCalls(caller, "demand", 50); err != nil {
			return nil, err
		}
		if now, err := o.owner("demand"); err == nil && now == caller {
			break
		}
		if time.Since(start) > time.Minute {
			return nil, fmt.Errorf("the object did not move to its caller's node within a minute")
		}
	}
	moved := time.Since(start)
	after, err := o.serialCalls(caller, "demand", 200)
	if err != nil {
		return nil, err
	}
	b50, b99 := latencies(before)
	a50, a99 := latencies(after)
	rows = append(rows,
		Row{Name: "objects/call p50 from a node that is not the owner, before the object moves there", Unit: "ms", Value: b50, P50: b50, P99: b99, N: len(before), Target: "report"},
		Row{Name: "objects/call p50 from the same node once the object moved there (placement toward demand)", Unit: "ms", Value: a50, P50: a50, P99: a99, N: len(after), Target: "report"},
		Row{Name: "objects/time until an object called through one node moves there (10 s windows)", Unit: "s", Value: moved.Seconds(), N: 1, Target: "report"},
	)
	return rows, nil
}
