package node

import (
	"encoding/json"
	"fmt"
	"github.com/warrenmesh/warren/replication"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sqlWorker keeps a counter and a log of increments in its Durable
// Object's SQL database.
const sqlWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at INTEGER, pad TEXT)");
  }
  increment() {
    this.ctx.storage.sql.exec("INSERT INTO hits (at, pad) VALUES (?, ?)", Date.now(), "x".repeat(300));
    return this.ctx.storage.sql.exec("SELECT count(*) AS n FROM hits").one().n;
  }
  get() { return this.ctx.storage.sql.exec("SELECT count(*) AS n FROM hits").one().n; }
  check() { return this.ctx.storage.sql.exec("PRAGMA integrity_check").raw().toArray().join(","); }
  async flood(mib) {
    const v = "x".repeat(100000);
    for (let i = 0; i < mib * 10; i++) this.ctx.storage.put("f" + i, v);
    await this.ctx.storage.deleteAll();
    return "flooded";
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const c = env.COUNTER.getByName(url.searchParams.get("name") ?? "a");
    switch (url.pathname.split("/").pop()) {
    case "inc": return new Response(String(await c.increment()));
    case "get": return new Response(String(await c.get()));
    case "check": return new Response(await c.check());
    case "flood":
      try { return new Response(await c.flood(Number(url.searchParams.get("mib")))); } catch (e) { return new Response(e.name + ": " + e.message, { status: 500 }); }
    }
    return new Response("unknown op", {status: 404});
  }
};`

// TestObjectSQLSurvivesItsOwner: a Durable Object's SQL database is its
// replicated storage: its owner killed while increments go on, a new owner
// opens the database as the last acknowledged write left it.
func TestObjectSQLSurvivesItsOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 3-node replicated cluster")
	}
	// Each Worker's object writes paced at 256 KiB a second on a node; the
	// leaders' lease longer than objectClusterTuned's 250 ms: a follower's
	// append of a MiB batch under -race on a loaded host (make test runs
	// packages side by side) took longer now and then, the leader stepped
	// down, and the flood's write ended "may or may not commit".
	_, nodes := objectClusterTuned(t, func(cfg *Config) {
		cfg.ObjectWriteRate = 256 << 10
		tuned := cfg.ReplicationTuning
		cfg.ReplicationTuning = func(cc *replication.ClusterConfig) {
			tuned(cc)
			inner := cc.Tune
			cc.Tune = func(g *replication.GroupConfig) {
				inner(g)
				g.HeartbeatTimeout, g.ElectionTimeout, g.LeaderLeaseTimeout = time.Second, time.Second, 750*time.Millisecond
			}
		}
	}, "a", "b", "c")
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/sql", strings.NewReader(doDeployBody("sql", sqlWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	// The notes example: a SQL database per user.
	src, err := os.ReadFile("../examples/notes.js")
	if err != nil {
		t.Fatal(err)
	}
	dep, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "notes.js", "modules": map[string]string{"notes.js": string(src)}},
		"bindings": map[string]any{"NOTES": map[string]any{"durableObject": map[string]string{"worker": "notes", "class": "Notes"}}},
	})
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/notes", strings.NewReader(string(dep)), nil); status != 200 {
		t.Fatalf("deploy notes: %d %s", status, body)
	}
	for i, text := range []string{"buy milk", "call bob", "milk the cow"} {
		if status, _, body := serve(t, nodes[i], "POST", "/w/notes/ada", text, nil); status != 200 || !strings.HasPrefix(body, fmt.Sprintf(`{"id":%d,"count":%d}`, i+1, i+1)) {
			t.Fatalf("note %d: %d %s", i+1, status, body)
		}
	}
	// More rows than one page holds, so the table spans pages.
	for i := 1; i <= 30; i++ {
		if status, _, body := serve(t, nodes[i%3], "POST", "/w/sql/inc?name=x", "", nil); status != 200 || body != strconv.Itoa(i) {
			t.Fatalf("increment %d: %d %q", i, status, body)
		}
	}
	// A Worker's objects write at most 256 KiB a second on a node, after
	// two seconds' worth: 4 MB, committed in batches of a MiB as the
	// event goes, take more than 5 s (a fraction of one without the pace),
	// and the other Worker's writes are not held by them.
	// Its objects get the CPU and time to build 6 MB of values under -race.
	var flood map[string]any
	_ = json.Unmarshal([]byte(doDeployBody("flood", sqlWorker)), &flood)
	flood["code"].(map[string]any)["limits"] = map[string]int64{"cpuMs": 20_000, "wallMs": 30_000}
	floodBody, _ := json.Marshal(flood)
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/flood", strings.NewReader(string(floodBody)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	began := time.Now()
	flooded := make(chan string, 1)
	go func() {
		_, _, body := serve(t, nodes[0], "POST", "/w/flood/flood?name=f&mib=4", "", nil)
		flooded <- body
	}()
	if status, _, body := serve(t, nodes[1], "POST", "/w/sql/inc?name=other", "", nil); status != 200 || body != "1" {
		t.Fatalf("another Worker's write during the flood: %d %q", status, body)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("another Worker's write waited %v behind the flood", took)
	}
	if body := <-flooded; body != "flooded" {
		t.Fatalf("flood: %q", body)
	}
	if took := time.Since(began); took < 4*time.Second {
		t.Errorf("4 MB of one Worker's object writes took %v, want more than 5 s at 256 KiB a second", took)
	}
	owner, others := objectOwner(t, nodes, "sql", "Counter", "x")
	countThroughDeath(t, owner, others, 3, "/w/sql/inc?name=x", "/w/sql/get?name=x", 30)
	if status, _, body := serve(t, others[1], "GET", "/w/sql/check?name=x", "", nil); status != 200 || body != "ok" {
		t.Fatalf("integrity_check on the new owner: %d %q", status, body)
	}
	var found []struct {
		ID   int
		Text string
	}
	if status, _, body := serve(t, others[0], "GET", "/w/notes/ada?q=milk", "", nil); status != 200 || json.Unmarshal([]byte(body), &found) != nil ||
		len(found) != 2 || found[0].Text != "milk the cow" || found[1].ID != 1 {
		t.Fatalf("the notes after the owner's death: %d %s", status, body)
	}
}
