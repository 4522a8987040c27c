package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// TestRevokeBounds: POST /v1/tokens/revoke refuses malformed requests
// with a 400, is idempotent, refuses a revocation once the list holds
// maxRevocations (which would leave every node unable to read it, and so
// refusing every revocable token), and a body that stalls is a 408.
func TestRevokeBounds(t *testing.T) {
	defer func(k int) { maxRevocations = k }(maxRevocations)
	maxRevocations = 3
	n, _ := kvNode(t, "rv")
	n.cfg.BodyGrace = 300 * time.Millisecond
	admin := testToken(n.ln.Addr().String())
	revoke := func(body string) (int, map[string]any) {
		t.Helper()
		status, _, out := authCall(t, n, "POST", "/v1/tokens/revoke", body, admin)
		return status, out
	}
	for _, body := range []string{
		``, `{`, `[]`, `{"id":""}`, `{"id":"a/b"}`, `{"id":"` + strings.Repeat("a", 200) + `"}`, `{"id":"ok","exp":-1}`,
		`{"id":"ok","exp":9223372036854775807}`, `{"id":"ok"}{}`, `{"id":"ok","extra":1}`, `{"token":"garbage"}`,
		`{"token":"x","id":"y"}`, `{"id":"ok","exp":1e99}`,
	} {
		if status, out := revoke(body); status != 400 || out["code"] != "bad_request" {
			t.Errorf("revoke %.60s: %d %v, want 400 bad_request", body, status, out)
		}
	}
	for i := range 3 {
		if status, out := revoke(fmt.Sprintf(`{"id":"id-%d","exp":%d}`, i, time.Now().Add(time.Hour).Unix())); status != 200 {
			t.Fatalf("revocation %d: %d %v", i, status, out)
		}
	}
	// Again: the same answer, the list unchanged.
	if status, out := revoke(`{"id":"id-1"}`); status != 200 || out["id"] != "id-1" {
		t.Errorf("revoking id-1 again: %d %v", status, out)
	}
	if status, out := revoke(`{"id":"id-3"}`); status != http.StatusInsufficientStorage || out["code"] != "full" {
		t.Errorf("a revocation past the list's bound: %d %v, want 507 full", status, out)
	}
	status, _, out := authCall(t, n, "GET", "/v1/tokens/revoked", "", admin)
	if list, _ := out["revoked"].([]any); status != 200 || len(list) != 3 {
		t.Errorf("the list: %d %v, want 3 entries", status, out)
	}

	// A body that stops.
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/tokens/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"id\"", admin)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a stalled body got no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"code":"slow_body"`) {
		t.Errorf("a stalled body: %d %s, want 408 slow_body", resp.StatusCode, b)
	}
}

// TestRevokeBoundConcurrent: revocations sent to one node at once do not
// overrun the list's bound. Each counted the list before any wrote, so
// that 50 at once made a list of 50 where the bound was 3: a script
// revoking in parallel could grow the list past what a node reads, and
// every node would then refuse every revocable token.
func TestRevokeBoundConcurrent(t *testing.T) {
	defer func(k int) { maxRevocations = k }(maxRevocations)
	maxRevocations = 3
	n, _ := kvNode(t, "rc")
	admin := testToken(n.ln.Addr().String())
	const k = 50
	statuses := make(chan int, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Go(func() {
			req, err := http.NewRequest("POST", n.APIURL()+"/v1/tokens/revoke", strings.NewReader(fmt.Sprintf(`{"id":"c-%d"}`, i)))
			if err != nil {
				statuses <- -1
				return
			}
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := authlessClient.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	ok, full := 0, 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case http.StatusInsufficientStorage:
			full++
		default:
			t.Errorf("a revocation answered %d", s)
		}
	}
	list, err := n.listRevocations(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok != maxRevocations || full != k-maxRevocations || len(list) != maxRevocations {
		t.Errorf("%d revocations at once with room for %d: %d made, %d refused, the list holds %d", k, maxRevocations, ok, full, len(list))
	}
}

// TestRevokeFarFutureToken: a token that expires past the year 9999 (its
// signer chose any exp) is revoked for good, as a revocation by id without
// exp is. Before, the entry was kept until the token's expiry and the
// clock skew: for an exp near 2^63 that sum overflowed, and the entry was
// kept 2 minutes, after which the token worked again; for one past 2^53
// the store refused the entry's expiration, and the token could not be
// revoked.
func TestRevokeFarFutureToken(t *testing.T) {
	n, kv := kvNode(t, "rf")
	admin := testToken(n.ln.Addr().String())
	for i, exp := range []int64{math.MaxInt64, 1 << 60} {
		id := fmt.Sprintf("far-%d", i)
		tok, err := policy.SignToken(n.tokenKey, &policy.Token{Name: "far", ID: id, IssuedAt: time.Now().Unix(), Expiry: exp})
		if err != nil {
			t.Fatal(err)
		}
		if status, _, out := authCall(t, n, "POST", "/v1/tokens/revoke", `{"token":"`+tok+`"}`, admin); status != 200 {
			t.Errorf("revoking a token that expires at %d: %d %v", exp, status, out)
			continue
		}
		v, err := kv.GetWithMetadata(context.Background(), revokedNS, id, replication.Strong)
		if err != nil || v.Expiration != 0 {
			t.Errorf("the revocation of a token that expires at %d: expiration %d (%v), want none", exp, v.Expiration, err)
		}
	}
}
