package node

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestWorkerRequestConnectionTokens: the headers a request's Connection
// names do not reach the Worker, and a Connection header of a megabyte of
// names costs the node little memory. Before, every name went into a map
// first: 186,000 names made 16 MB for one request, which any client of a
// deployed Worker could send (no token needed).
func TestWorkerRequestConnectionTokens(t *testing.T) {
	r := httptest.NewRequest("GET", "http://x/w/echo/p", nil)
	r.Header.Set("X-Keep", "1")
	r.Header.Set("X-Drop", "1")
	r.Header.Set("Connection", "keep-alive, X-DROP")
	h := workerRequest(r, nil).Headers
	if h["x-keep"] != "1" || h["x-drop"] != "" || h["connection"] != "" {
		t.Fatalf("headers: %v", h)
	}

	var b strings.Builder
	for i := 0; b.Len() < 1<<20-32; i++ {
		fmt.Fprintf(&b, "%x,", i)
	}
	r.Header.Set("Connection", b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h = workerRequest(r, nil).Headers
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("a Connection header of %d bytes cost %d bytes, want under 1 MiB", b.Len(), got)
	}
	if h["x-keep"] != "1" || h["x-drop"] != "1" {
		t.Fatalf("headers: %v", h)
	}
}

// TestWorkerRequestEscapedName: the URL a Worker sees has the path after
// /w/{name} however the client escaped the name or the /w/ (the mux routes
// /w/%65cho and /%77/echo to the Worker echo). Before, only a literal
// /w/echo prefix was cut, and those gave the Worker /w/%65cho/x.
func TestWorkerRequestEscapedName(t *testing.T) {
	for target, want := range map[string]string{
		"/w/echo":           "http://x/",
		"/w/echo/":          "http://x/",
		"/w/echo/a%2Fb?q=1": "http://x/a%2Fb?q=1",
		"/w/%65cho/x":       "http://x/x",
		"/%77/echo/x":       "http://x/x",
		"/w/%65cho":         "http://x/",
	} {
		r := httptest.NewRequest("GET", "http://x"+target, nil)
		if got := workerRequest(r, nil).URL; got != want {
			t.Errorf("%s: the Worker sees %s, want %s", target, got, want)
		}
	}
}
