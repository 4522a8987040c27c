package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// TestDecommission: a node asked to retire has its replicas moved to the
// other nodes while it lives (every group keeps 3 voters throughout the
// move's end), holds none once done, and stopping it then moves nothing;
// what was written reads back. The node retired is the meta leader, the
// one that plans the moves: it moves its own replicas off too.
func TestDecommission(t *testing.T) {
	c, nodes := objectCluster(t, "a", "b", "c", "d")
	admin := adminToken(t, c.secret)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var a, d *Node
	gs, err := nodes[0].groups.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.ID == "meta" {
			for _, n := range nodes {
				if n.Name() == g.Leader {
					d = n
				} else if a == nil {
					a = n
				}
			}
		}
	}
	if d == nil {
		t.Fatalf("no meta leader in %+v", gs)
	}
	t.Logf("retiring %s, the meta leader", d.Name())
	kv, err := a.kvStore()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		if err := kv.Put(ctx, "ns", fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)), replication.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(method string) Decommission {
		t.Helper()
		st, _, out := authCall(t, d, method, "/v1/decommission", "", admin)
		if st == 503 && method == "GET" {
			// The meta group between leaders (its leader retired).
			return Decommission{Retiring: true, Groups: []string{"?"}}
		}
		if st != 200 {
			t.Fatalf("%s /v1/decommission: %d %v", method, st, out)
		}
		b, _ := json.Marshal(out)
		var dc Decommission
		if err := json.Unmarshal(b, &dc); err != nil {
			t.Fatal(err)
		}
		return dc
	}
	if st, _, _ := authCall(t, d, "POST", "/v1/decommission", "", mintToken(t, c.secret, "agent", policy.Grants{}, time.Hour)); st != 403 {
		t.Fatalf("decommissioned by a non-admin: %d", st)
	}
	before := status("GET")
	if before.Retiring || len(before.Groups) == 0 {
		t.Fatalf("before: %+v", before)
	}
	t.Logf("d holds %d replicas", len(before.Groups))
	start := time.Now()
	if dc := status("POST"); !dc.Retiring || dc.Done {
		t.Fatalf("asked to retire: %+v", dc)
	}
	// The others see it retiring (GET /v1/members).
	waitFor(t, 10*time.Second, "a seeing d retiring", func() bool {
		for _, m := range a.Members() {
			if m.Name == d.Name() {
				return m.Retiring
			}
		}
		return false
	})
	last := time.Now()
	waitFor(t, 90*time.Second, "d holding no replica", func() bool {
		dc := status("GET")
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			gs, _ := a.groups.Groups(ctx)
			n := 0
			for _, g := range gs {
				for _, r := range g.Replicas {
					if r.Node == d.Name() {
						n++
					}
				}
			}
			t.Logf("d holds %v; a's view puts %d replicas on d", dc.Groups, n)
		}
		return dc.Done
	})
	t.Logf("d holds none %v after it was asked", time.Since(start).Round(time.Millisecond))
	// Every group has 3 voters, none on d.
	waitFor(t, 30*time.Second, "every group with 3 voters on a, b and c", func() bool {
		gs, err := a.groups.Groups(ctx)
		if err != nil {
			return false
		}
		for _, g := range gs {
			voters := 0
			for _, r := range g.Replicas {
				if r.Node == d.Name() {
					return false
				}
				if r.Voter {
					voters++
				}
			}
			if voters != 3 {
				return false
			}
		}
		return true
	})
	// Stopped now, it takes nothing with it.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		v, err := kv.GetWithMetadata(ctx, "ns", fmt.Sprint("k", i), replication.Strong)
		if err != nil || string(v.Value) != fmt.Sprint("v", i) {
			t.Fatalf("k%d after d stopped: %q %v", i, v.Value, err)
		}
	}
}

// TestDecommissionNeedsNodes: on three nodes no other node can take a
// retiring node's replicas; it keeps them, and the answer says why. The
// mark outlives a restart, and a cancel ends it.
func TestDecommissionNeedsNodes(t *testing.T) {
	c, nodes := objectCluster(t, "a", "b", "c")
	admin := adminToken(t, c.secret)
	st, _, out := authCall(t, nodes[2], "POST", "/v1/decommission", "", admin)
	if st != 200 || out["retiring"] != true || out["done"] == true || out["note"] == nil {
		t.Fatalf("retiring one of three: %d %v", st, out)
	}
	if groups, _ := out["groups"].([]any); len(groups) == 0 {
		t.Fatalf("a retiring node of three holds no replica: %v", out)
	}
	// The decommission outlives a restart.
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	restarted := c.start("c", c.secret, 4, "a")
	if st, _, out := authCall(t, restarted, "GET", "/v1/decommission", "", admin); st != 200 || out["retiring"] != true {
		t.Fatalf("after a restart: %d %v", st, out)
	}
	// Cancelling ends its retirement, for good.
	st, _, out = authCall(t, restarted, "DELETE", "/v1/decommission", "", admin)
	if st != 200 || out["retiring"] == true || out["note"] != nil {
		t.Fatalf("cancel: %d %v", st, out)
	}
}

// TestDecommissionConcurrent: POSTs and DELETEs sent at once leave the
// node's mark and its record in the data directory agreeing, so that a
// restart keeps what the node did last. Each wrote or removed the file
// and then set the mark, unordered with the others: a POST's file could
// be removed by a DELETE that then lost its mark to the POST's, and the
// node retired until a restart forgot it (or the other way round).
func TestDecommissionConcurrent(t *testing.T) {
	c, nodes := objectCluster(t, "a", "b", "c")
	admin := adminToken(t, c.secret)
	n := nodes[2]
	send := func(method string) int {
		req, err := http.NewRequest(method, n.APIURL()+"/v1/decommission", nil)
		if err != nil {
			return -1
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := authlessClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for round := range 20 {
		var wg sync.WaitGroup
		statuses := make(chan int, 16)
		for i := range 16 {
			method := http.MethodPost
			if i%2 == 1 {
				method = http.MethodDelete
			}
			wg.Go(func() { statuses <- send(method) })
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != 200 {
				t.Fatalf("round %d: a call answered %d", round, s)
			}
		}
		_, err := os.Stat(n.retiringPath())
		if recorded := err == nil; recorded != n.retiring.Load() {
			t.Fatalf("round %d: retiring %v, recorded in the data directory %v (%v)", round, n.retiring.Load(), recorded, err)
		}
	}
}
