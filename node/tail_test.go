package node

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
)

// TestTailMesh: a mesh-wide tail on one node shows the invocations that
// entered through every node, with their logs, filtered as asked.
func TestTailMesh(t *testing.T) {
	c := newCluster(t, 11, "a", "b", "c")
	a := c.start("a", c.secret, 2)
	b := c.start("b", c.secret, 2, "a")
	cc := c.start("c", c.secret, 2, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b", "c") && sees(b, "a", "b", "c") && sees(cc, "a", "b", "c") })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := make(chan TailEvent, 1024)
	follow := func(query string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.APIURL()+"/v1/tail?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken(t, c.secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /v1/tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var e TailEvent
					if json.Unmarshal([]byte(data), &e) == nil {
						events <- e
					}
				}
			}
		}()
	}
	follow("scope=mesh&outcome=ok")
	run := func(n *Node, src string) {
		t.Helper()
		body := `{"code":{"mainModule":"m.js","modules":{"m.js":` + jsonString(src) + `}}}`
		if status, _, out := call(t, n, "POST", "/v1/run", strings.NewReader(body), nil); status != 200 {
			t.Fatalf("run on %s: %d %s", n.Name(), status, out)
		}
	}
	seen := map[string]bool{}
	waitFor(t, 20*time.Second, "events entered through a, b and c", func() bool {
		for _, n := range []*Node{a, b, cc} {
			run(n, `export default { fetch() { console.log("via `+n.Name()+`"); return new Response("x") } }`)
			run(n, `export default { fetch() { throw new Error("filtered out") } }`)
		}
		for {
			select {
			case e := <-events:
				if e.Outcome != "ok" {
					t.Fatalf("the outcome filter let through %+v", e)
				}
				if e.Entry == "run" && len(e.Logs) == 1 && e.Logs[0].Message == "via "+e.Node {
					seen[e.Node] = true
				}
			default:
				return seen["a"] && seen["b"] && seen["c"]
			}
		}
	})
}

// TestTailSlowSubscriber: a subscriber that does not read loses events,
// counted, and never holds up the publisher.
func TestTailSlowSubscriber(t *testing.T) {
	var h tailHub
	s := h.subscribe("", "")
	defer h.unsubscribe(s)
	start := time.Now()
	for i := range tailBuffer + 100 {
		h.publish(TailEvent{Entry: "run", CPUMs: float64(i)})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("publishing to a stalled subscriber took %v", d)
	}
	if got := s.dropped.Load(); got != 100 {
		t.Errorf("dropped %d, want 100", got)
	}
	// Filters: a worker's subscriber sees only that worker.
	w := h.subscribe("chat", "")
	defer h.unsubscribe(w)
	h.publish(TailEvent{Worker: "other"})
	h.publish(TailEvent{Worker: "chat"})
	if e := <-w.ch; e.Worker != "chat" || len(w.ch) != 0 {
		t.Errorf("worker filter: %+v, %d more", e, len(w.ch))
	}
}

// TestTailEndsWithItsToken: a tail ends once the token that opened it is
// revoked (or expires): the stream closes at its next event.
func TestTailEndsWithItsToken(t *testing.T) {
	c, _ := sharedKVCluster(t, 44, "a")
	a := c.start("a", c.secret, 2)
	admin := adminToken(t, c.secret)
	leaked := revocableToken(t, c.secret, "leaked", policy.Grants{Admin: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.APIURL()+"/v1/tail", nil)
	req.Header.Set("Authorization", "Bearer "+leaked)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/tail: %d", resp.StatusCode)
	}
	ended := make(chan string, 1)
	go func() {
		defer resp.Body.Close()
		var last string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				last = sc.Text()
			}
		}
		ended <- last
	}()
	if status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+leaked+`"}`, admin); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if status, _, out := authCall(t, a, "POST", "/v1/run", runWith(`{}`), admin); status != 200 {
			t.Fatalf("run: %d %v", status, out)
		}
		select {
		case last := <-ended:
			if !strings.Contains(last, "revoked") {
				t.Errorf("the tail ended with %q", last)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the tail of a revoked token still runs")
		}
	}
}
