package node

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

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
