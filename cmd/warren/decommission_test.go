package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/node"
)

// TestDecommissionWaitOutlivesToken: `warren decommission --wait` polls
// for longer than the token it mints from the secret lasts (5 minutes; a
// second here) with a token of the moment. It minted one for the whole
// wait, and once that expired every poll was refused, silently, until
// the wait ended in an "invalid token" error, however far the node had
// got.
func TestDecommissionWaitOutlivesToken(t *testing.T) {
	defer func(d time.Duration) { mintedTTL = d }(mintedTTL)
	mintedTTL = time.Second
	path := testSecret(t)
	start := time.Now()
	var polls, refused atomic.Int32
	// A token's life, as a node judges it: from when it was first seen
	// (the CLI mints it just before), mintedTTL long.
	var mu sync.Mutex
	seen := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		first, ok := seen[tok]
		if !ok {
			first, seen[tok] = time.Now(), time.Now()
		}
		mu.Unlock()
		if tok == "" || time.Since(first) >= mintedTTL {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid token: expired", "code": "unauthorized"})
			return
		}
		polls.Add(1)
		// Done once the first token has long expired.
		done := time.Since(start) > 3*mintedTTL
		groups := []string{"g1"}
		if done {
			groups = []string{}
		}
		json.NewEncoder(w).Encode(node.Decommission{Node: "n4", Retiring: true, Groups: groups, Done: done})
	}))
	defer srv.Close()
	c := newDecommissionCmd()
	var out, errOut strings.Builder
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs([]string{"--node", srv.URL, "--secret", path, "--wait", "6s"})
	if err := c.Execute(); err != nil {
		t.Fatalf("decommission --wait: %v (%d polls answered, %d refused)\n%s", err, polls.Load(), refused.Load(), out.String())
	}
	if !strings.Contains(out.String(), "holds no replica: it may be stopped") || refused.Load() != 0 {
		t.Errorf("decommission --wait: %d polls answered, %d refused:\n%s", polls.Load(), refused.Load(), out.String())
	}
}
