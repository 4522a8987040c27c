package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// bigEvent is a tail event whose logs hold about size bytes.
func bigEvent(size int) TailEvent {
	return TailEvent{Entry: "run", Outcome: isolate.OutcomeOK, Logs: []isolate.Log{{Level: "log", Message: strings.Repeat("x", size)}}}
}

// TestTailBufferBytes: a subscriber that does not read holds at most
// tailBufferBytes of events, however large they are, and the events it
// missed are counted.
func TestTailBufferBytes(t *testing.T) {
	var h tailHub
	s := h.subscribe("", "")
	defer h.unsubscribe(s)
	const n = 200
	for range n {
		h.publish(bigEvent(256 << 10))
	}
	var held int64
	kept, dropped := len(s.ch), s.dropped.Load()
	for range kept {
		it := <-s.ch
		held += it.size
		if _, err := s.next(it); err != nil {
			t.Fatal(err)
		}
	}
	if held > tailBufferBytes {
		t.Errorf("a stalled subscriber holds %d bytes of events, want at most %d", held, tailBufferBytes)
	}
	if dropped != int64(n-kept) || kept == 0 {
		t.Errorf("kept %d, dropped %d, want %d in all and at least one kept", kept, dropped, n)
	}
	// An event larger than the whole buffer still reaches a subscriber
	// that keeps up.
	h.publish(bigEvent(tailBufferBytes + 1))
	if len(s.ch) != 1 {
		t.Errorf("an event larger than the buffer did not reach an idle subscriber")
	}
}

// tailGet opens GET /v1/tail?query on n and answers the response, or its
// status and error body.
func tailGet(t *testing.T, ctx context.Context, cl *http.Client, n *Node, query string) (*http.Response, int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIURL()+"/v1/tail?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, 200, ""
	}
	defer resp.Body.Close()
	var e struct{ Error, Code string }
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Code == "" || e.Error == "" {
		t.Errorf("GET /v1/tail?%s: %d, not a JSON error: %v", query, resp.StatusCode, err)
	}
	return nil, resp.StatusCode, e.Code
}

// TestTailLimits: a client holds at most maxTailsPerClient tails of a
// node at once (429 after), malformed query parameters are a 400, and
// when the tails end their goroutines and subscriptions go.
func TestTailLimits(t *testing.T) {
	c := newCluster(t, 21, "a")
	n := c.start("a", c.secret, 1)
	tr := &http.Transport{MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: &authTransport{inner: tr}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, q := range []string{
		"outcome=bogus", "outcome=OK", "worker=../x", "worker=" + strings.Repeat("w", 300),
		"scope=mesh&scope=node", "workr=chat", "scope=everywhere", "worker=a&worker=b",
	} {
		if _, status, code := tailGet(t, ctx, cl, n, q); status != http.StatusBadRequest || code != "bad_request" {
			t.Errorf("GET /v1/tail?%s: %d %s, want 400 bad_request", q, status, code)
		}
	}

	base := runtime.NumGoroutine()
	var open []*http.Response
	for i := range maxTailsPerClient {
		resp, status, code := tailGet(t, ctx, cl, n, "outcome=ok&worker=chat")
		if status != 200 {
			t.Fatalf("tail %d: %d %s", i, status, code)
		}
		open = append(open, resp)
	}
	if _, status, code := tailGet(t, ctx, cl, n, ""); status != http.StatusTooManyRequests || code != "too_many_tails" {
		t.Errorf("tail %d of one client: %d %s, want 429 too_many_tails", maxTailsPerClient+1, status, code)
	}
	// Every open tail reads the events it asked for.
	n.tails.publish(TailEvent{Worker: "chat", Outcome: isolate.OutcomeOK, Entry: "worker"})
	for i, resp := range open {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
		}
		if !strings.Contains(sc.Text(), `"worker":"chat"`) {
			t.Errorf("tail %d read %q", i, sc.Text())
		}
	}
	for _, resp := range open {
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	waitFor(t, 10*time.Second, "the tails to end", func() bool { return n.tails.n.Load() == 0 })
	waitFor(t, 10*time.Second, "the goroutines to go", func() bool { return runtime.NumGoroutine() <= base+2 })
	// The client's share is back.
	resp, status, code := tailGet(t, ctx, cl, n, "")
	if status != 200 {
		t.Fatalf("a tail after the others ended: %d %s", status, code)
	}
	resp.Body.Close()
}

// TestTailStalledReader: a client that opens a tail and never reads it
// does not hold the node's goroutine, subscription or memory for ever:
// once a write has waited tailStall, the tail ends.
func TestTailStalledReader(t *testing.T) {
	defer tailStall.set(tailStall.get())
	tailStall.set(300 * time.Millisecond)
	c := newCluster(t, 22, "a")
	n := c.start("a", c.secret, 1)
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer fills sooner.
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "GET /v1/tail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", adminToken(t, c.secret))
	waitFor(t, 10*time.Second, "the tail to start", func() bool { return n.tails.n.Load() == 1 })
	// Events keep coming; the client reads none of them.
	ev := bigEvent(256 << 10)
	waitFor(t, 20*time.Second, "the stalled tail to end", func() bool {
		n.tails.publish(ev)
		return n.tails.n.Load() == 0
	})
}

// TestTailHead: HEAD /v1/tail answers the stream's head and ends: it
// holds no subscription (its body would be thrown away) and leaves the
// connection free for the client's next request.
func TestTailHead(t *testing.T) {
	c := newCluster(t, 23, "a")
	n := c.start("a", c.secret, 1)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: &authTransport{inner: tr}, Timeout: 10 * time.Second}
	for range 2 { // the second on the same connection
		resp, err := cl.Head(n.APIURL() + "/v1/tail")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("HEAD /v1/tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	waitFor(t, 5*time.Second, "no tail left", func() bool { return n.tails.n.Load() == 0 })
}

// TestTailSharedJSON: an event is encoded once for all the tails that show
// it, and each tail's count of the events it missed is added to its copy.
func TestTailSharedJSON(t *testing.T) {
	var h tailHub
	fast, slow := h.subscribe("", ""), h.subscribe("", "")
	defer h.unsubscribe(fast)
	defer h.unsubscribe(slow)
	slow.dropped.Store(3)
	h.publish(TailEvent{Entry: "run", Worker: "w", Outcome: isolate.OutcomeOK, Logs: []isolate.Log{{Level: "log", Message: "hi"}}})
	a, b := <-fast.ch, <-slow.ch
	if a.enc != b.enc {
		t.Fatal("the tails do not share the event's encoding")
	}
	for _, tc := range []struct {
		s       *tailSub
		it      tailItem
		dropped int64
	}{{fast, a, 0}, {slow, b, 3}} {
		raw, err := tc.s.next(tc.it)
		if err != nil {
			t.Fatal(err)
		}
		var e TailEvent
		if err := json.Unmarshal(raw, &e); err != nil || e.Dropped != tc.dropped || e.Worker != "w" || len(e.Logs) != 1 {
			t.Errorf("%s: %+v %v, want dropped %d", raw, e, err, tc.dropped)
		}
	}
	// A peer's event that counts drops of its own adds this tail's.
	slow.dropped.Store(2)
	slow.offer(TailEvent{Entry: "run", Dropped: 5})
	raw, err := slow.next(<-slow.ch)
	var e TailEvent
	if err != nil || json.Unmarshal(raw, &e) != nil || e.Dropped != 7 {
		t.Errorf("a peer's event: %s %v, want dropped 7", raw, err)
	}
}

// TestTailMeshCleanup: a mesh-wide tail follows each peer with a stream
// the peer counts as the node's, not as a client's; when the client goes,
// the streams to the peers go too.
func TestTailMeshCleanup(t *testing.T) {
	c := newCluster(t, 24, "a", "b")
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: &authTransport{inner: tr}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, status, code := tailGet(t, ctx, cl, a, "scope=mesh")
	if status != 200 {
		t.Fatalf("GET /v1/tail?scope=mesh: %d %s", status, code)
	}
	waitFor(t, 10*time.Second, "a's stream from b", func() bool {
		b.tails.mu.Lock()
		defer b.tails.mu.Unlock()
		return b.tails.streams["node a"] == 1 && b.tails.own == 0
	})
	resp.Body.Close()
	tr.CloseIdleConnections()
	waitFor(t, 10*time.Second, "the tails on a and b to end", func() bool { return a.tails.n.Load() == 0 && b.tails.n.Load() == 0 })
	b.tails.mu.Lock()
	defer b.tails.mu.Unlock()
	if len(b.tails.streams) != 0 || b.tails.own != 0 {
		t.Errorf("b still counts streams: %v, %d", b.tails.streams, b.tails.own)
	}
}

// TestTailPeerSilent: a mesh-wide tail gives up on a peer whose stream
// goes silent (a peer cut off without a FIN sends nothing, not even its
// keep-alives), so that it follows the peer afresh once it is back.
func TestTailPeerSilent(t *testing.T) {
	defer tailPeerSilence.set(tailPeerSilence.get())
	tailPeerSilence.set(300 * time.Millisecond)
	c := newCluster(t, 25, "a")
	n := c.start("a", c.secret, 1)
	release := make(chan struct{})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprint(w, ": a peer's tail\n\ndata: {\"entry\":\"run\",\"worker\":\"w\"}\n\n")
		w.(http.Flusher).Flush()
		select { // then silence
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer peer.Close()
	defer close(release)
	sub := n.tails.subscribe("", "")
	defer n.tails.unsubscribe(sub)
	done := make(chan struct{})
	go func() {
		n.followPeer(context.Background(), sub, peer.URL, "", "")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("following a silent peer did not end")
	}
	if it := <-sub.ch; it.Worker != "w" {
		t.Errorf("the peer's event: %+v", it.TailEvent)
	}
}
