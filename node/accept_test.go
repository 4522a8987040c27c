package node

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// acceptsNDJSON finds application/x-ndjson among an Accept header's media
// ranges, and reads a large header without a copy of its parts: a
// client's 128 KiB of commas cost the node a megabyte and more a request.
func TestAcceptsNDJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/x-ndjson":                          true,
		"text/html, Application/X-NDJSON;q=0.9":         true,
		"application/json":                              false,
		"application/x-ndjsonx, x/application/x-ndjson": false,
		"": false,
	} {
		r := &http.Request{Header: http.Header{}}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := acceptsNDJSON(r); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
	r := &http.Request{Header: http.Header{"Accept": {strings.Repeat(",", 128<<10)}}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if acceptsNDJSON(r) {
			t.Fatal("commas accept NDJSON")
		}
	}
	runtime.ReadMemStats(&after)
	if b := after.TotalAlloc - before.TotalAlloc; b > 1<<20 { // 2 MB a call before
		t.Errorf("10 reads of 128 KiB of commas allocated %d bytes", b)
	}
}
