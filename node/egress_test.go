package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// An egress error tells the guest what failed, never the host's resolver
// or local addresses.
func TestEgressErrorsLeakNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	e := NewEgress(policy.Egress{Grants: []string{"*.invalid", "127.0.0.1"}})
	resolvers := []string{":53"}
	for _, tc := range []struct{ url, want string }{
		{"http://no-such-host.invalid/", "lookup no-such-host.invalid: "},
		{"http://" + closed + "/", "dial tcp " + closed + ": connection refused"},
	} {
		_, err := e.Fetch(context.Background(), &isolate.Request{Method: "GET", URL: tc.url})
		if err == nil {
			t.Fatalf("%s: no error", tc.url)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%s: %q, want it to start with %q", tc.url, msg, tc.want)
		}
		for _, r := range resolvers {
			if strings.Contains(msg, r) {
				t.Errorf("%s: %q names a resolver", tc.url, msg)
			}
		}
	}
}

// An egress response past MaxEgressBody is refused: at once when its
// Content-Length announces it (the origin here never sends the body), and
// once the cap is read when it comes chunked; one within the cap arrives
// whole, chunked or not.
func TestEgressBodyCap(t *testing.T) {
	ready := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(MaxEgressBody+1))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-ready // the body never comes
	})
	chunk := bytes.Repeat([]byte("b"), 1<<20)
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(ready) // before Close, which waits for the handler
	host := strings.TrimPrefix(srv.URL, "http://")
	e := NewEgress(policy.Egress{Grants: []string{host}})
	fetch := func(path string) (*isolate.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return e.Fetch(ctx, &isolate.Request{Method: "GET", URL: srv.URL + path})
	}
	if _, err := fetch("/announced"); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("an announced body past the cap: %v", err)
	}
	if _, err := fetch("/chunked?n=" + strconv.Itoa(MaxEgressBody+1)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("a chunked body past the cap: %v", err)
	}
	for _, n := range []int{0, 5, 3<<20 + 1, MaxEgressBody} {
		res, err := fetch("/chunked?n=" + strconv.Itoa(n))
		if err != nil || len(res.Body) != n || (n > 0 && res.Body[n-1] != 'b') {
			t.Errorf("a chunked body of %d bytes: %v", n, err)
		}
	}
}

// With "*" granted, the node's own addresses are refused as loopback is: a
// connection to one reaches every service of the host that listens on all
// addresses. Granted by address, one is reached. A refusal names the host
// asked for and the kind of address, not the address.
func TestEgressRefusesOwnAddresses(t *testing.T) {
	var own netip.Addr
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, ia := range as {
			if n, ok := ia.(*net.IPNet); ok {
				if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap().Is4() && !a.IsLoopback() && !a.IsPrivate() && !a.IsLinkLocalUnicast() {
					own = a.Unmap()
				}
			}
		}
	}
	if !own.IsValid() {
		t.Skip("this host has no public-looking IPv4 address of its own")
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("local only")) })}
	go srv.Serve(l)
	defer srv.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	url := "http://" + net.JoinHostPort(own.String(), port) + "/"

	_, err = NewEgress(policy.Egress{Grants: []string{"*"}}).Fetch(context.Background(), &isolate.Request{URL: url})
	if !errors.Is(err, policy.ErrDenied) || !strings.Contains(err.Error(), "the node itself") {
		t.Fatalf("%s under *: %v, want a refusal naming the node itself", url, err)
	}
	resp, err := NewEgress(policy.Egress{Grants: []string{"*", own.String()}}).Fetch(context.Background(), &isolate.Request{URL: url})
	if err != nil || string(resp.Body) != "local only" {
		t.Fatalf("%s granted by address: %v", url, err)
	}
	_, err = NewEgress(policy.Egress{Grants: []string{"*"}}).Fetch(context.Background(), &isolate.Request{URL: "http://localhost:" + port + "/"})
	if err == nil || !strings.Contains(err.Error(), "network access to localhost is refused: it resolves to a loopback address") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("localhost under *: %v, want a refusal naming localhost and not its address", err)
	}
}

// A guest's hop-by-hop headers do not reach the origin, and a response
// head past maxEgressHeader is refused.
func TestEgressHeaders(t *testing.T) {
	seen := make(chan http.Header, 2)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		if r.URL.Path == "/big" {
			for i := range 64 {
				w.Header().Set("X-Pad-"+strconv.Itoa(i), strings.Repeat("p", 8<<10))
			}
		}
		w.Write([]byte("ok"))
	}))
	defer origin.Close()
	e := NewEgress(policy.Egress{Grants: []string{"127.0.0.1"}})
	resp, err := e.Fetch(context.Background(), &isolate.Request{URL: origin.URL + "/", Headers: map[string]string{
		"connection": "keep-alive, X-Forwarded-For", "upgrade": "websocket", "keep-alive": "timeout=999", "x-kept": "yes"}})
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("fetch: %v", err)
	}
	if got := <-seen; got.Get("Upgrade") != "" || got.Get("Keep-Alive") != "" || strings.Contains(got.Get("Connection"), "X-Forwarded-For") || got.Get("X-Kept") != "yes" {
		t.Errorf("the origin saw %v", got)
	}
	if _, err := e.Fetch(context.Background(), &isolate.Request{URL: origin.URL + "/big"}); err == nil {
		t.Error("a response head of 512 KiB was taken")
	}
}

// Grant lists that joined into one string shared one egress host, and so
// one policy: their keys differ.
func TestEgressPoolKeys(t *testing.T) {
	if grantsKey([]string{"a\x00b"}) == grantsKey([]string{"a", "b"}) || grantsKey([]string{"ab"}) == grantsKey([]string{"a", "b"}) || grantsKey(nil) == grantsKey([]string{""}) {
		t.Error("two grant lists share a key")
	}
	p := newEgressPool()
	if p.get([]string{"a", "b"}) == p.get([]string{"a\x00b"}) {
		t.Error("two grant lists share an egress host")
	}
}

// The fetched bodies a node holds for its calls are bounded
// (MaxEgressHeld): past the bound a fetch waits, then fails with a clear
// error; a body gives its room back once released, or once it is garbage.
func TestEgressHeldBound(t *testing.T) {
	body := bytes.Repeat([]byte("h"), 3<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("small") != "" {
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("small"))
			return
		}
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write(body)
	}))
	defer srv.Close()
	e := NewEgress(policy.Egress{Grants: []string{strings.TrimPrefix(srv.URL, "http://")}})
	const bound = 8 << 20
	e.held = semaphore.NewWeighted(bound)
	defer func(w time.Duration) { egressHeldWait = w }(egressHeldWait)
	egressHeldWait = 100 * time.Millisecond
	fetch := func(query string) (*isolate.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return e.Fetch(ctx, &isolate.Request{URL: srv.URL + "/?" + query})
	}
	a, err := fetch("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fetch("chunked=1")
	if err != nil {
		t.Fatal(err)
	}
	// 6 MiB held: a third body of 3 finds no room.
	if _, err := fetch(""); !errors.Is(err, errEgressFull) {
		t.Fatalf("a third body of 3 MiB under a bound of 8: %v", err)
	}
	// A body whose Content-Length says it is small takes only that (not
	// a whole chunk of 1 MiB) while it is read.
	if !e.held.TryAcquire(bound - 6<<20 - 10) {
		t.Fatal("two bodies of 3 MiB hold more than 6 MiB")
	}
	small, err := fetch("small=1")
	if err != nil {
		t.Fatalf("a 5-byte body with 10 bytes of room: %v", err)
	}
	small.Release()
	e.held.Release(bound - 6<<20 - 10)
	a.Release()
	a.Release() // a second release gives nothing back
	c, err := fetch("")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if len(c.Body) != len(body) || len(b.Body) != len(body) {
		t.Fatalf("bodies of %d and %d bytes, want %d", len(b.Body), len(c.Body), len(body))
	}
	b.Release()
	c.Release()
	if !e.held.TryAcquire(bound) {
		t.Fatal("released bodies did not give all their room back")
	}
	e.held.Release(bound)

	// Never released: the room comes back once the response is garbage.
	for range 2 {
		if _, err := fetch(""); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !e.held.TryAcquire(bound) {
		if time.Now().After(deadline) {
			t.Fatal("responses dropped without a release kept their room")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	e.held.Release(bound)
}

// Through a sandbox worker: the bodies of fetches a Worker collects, and
// of those it started and never collected, give their room back when the
// call is over (not only once they are garbage).
func TestEgressHeldReleasedByCalls(t *testing.T) {
	body := bytes.Repeat([]byte("w"), 2<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer srv.Close()
	e := NewEgress(policy.Egress{Grants: []string{strings.TrimPrefix(srv.URL, "http://")}})
	const bound = 32 << 20
	e.held = semaphore.NewWeighted(bound)
	rt, err := isolate.New(isolate.Options{Executor: isolate.Sandboxed, Workers: 1, Host: e, Node: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, tc := range []struct{ name, src string }{
		{"collected", `export default { async fetch() {
			let n = 0
			for (let i = 0; i < 4; i++) n += (await (await fetch(%q)).arrayBuffer()).byteLength
			return new Response(String(n))
		} }`},
		{"never collected", `export default { async fetch() {
			for (let i = 0; i < 6; i++) fetch(%q)
			await new Promise(r => setTimeout(r, 200))
			return new Response("left")
		} }`},
	} {
		src := fmt.Sprintf(tc.src, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := rt.Run(ctx, &isolate.Invocation{
			Code: &isolate.Code{MainModule: "m.js", Modules: map[string]*isolate.Module{"m.js": {Kind: isolate.ModuleESM, Source: src}},
				Limits: &isolate.Limits{CPUMs: 10000}}, // reading bodies under -race
			Request: &isolate.Request{Method: "GET", URL: "http://w/"},
		})
		cancel()
		if res.Outcome != isolate.OutcomeOK {
			t.Fatalf("%s: %s %s %v", tc.name, res.Outcome, res.Error, res.Exceptions)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !e.held.TryAcquire(bound) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the fetched bodies kept their room after the call", tc.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.held.Release(bound)
	}
}
