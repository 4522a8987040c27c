package node

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"

	"go.uber.org/goleak"
)

// TestMain doubles as the sandbox worker of the nodes the tests start.
func TestMain(m *testing.M) {
	if IsSandboxWorker() {
		if err := ServeSandboxWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Requests through http.DefaultTransport carry the admin token of the
	// node they go to (tests of auth itself use authlessClient).
	http.DefaultTransport = &authTransport{inner: http.DefaultTransport}
	// Every test stops its nodes: nothing of theirs may outlive the tests.
	// (net/http lingers half a second on a connection whose request body
	// it refused to read, by design; memberlist's Shutdown does not wait
	// for a probe in flight, which ends within a probe interval, as in
	// mesh's tests.)
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// testTokens maps a node's API host:port to an admin token of its mesh,
// registered by the helpers that start nodes.
var testTokens sync.Map

// adminToken mints an admin token from the secret file at path.
func adminToken(t testing.TB, path string) string {
	return mintToken(t, path, "test admin", policy.Grants{Admin: true}, time.Hour)
}

// mintToken mints a token from the secret file at path.
func mintToken(t testing.TB, path, name string, g policy.Grants, ttl time.Duration) string {
	t.Helper()
	s, err := mesh.LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := MintToken(s, name, g, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// registerToken makes requests to n through the default transport carry tok.
func registerToken(n *Node, tok string) { testTokens.Store(n.ln.Addr().String(), tok) }

// testToken is the token registered for a node's API host:port ("" none).
func testToken(addr string) string {
	tok, _ := testTokens.Load(addr)
	s, _ := tok.(string)
	return s
}

// authTransport adds the registered token to a request that has no
// Authorization header.
type authTransport struct{ inner http.RoundTripper }

func (a *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tok := testToken(r.URL.Host); tok != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return a.inner.RoundTrip(r)
}

// authlessClient sends requests as they are: no token is added.
var authlessClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// expiredToken is an admin token of the secret at path that expired an
// hour ago.
func expiredToken(t testing.TB, path string) string {
	t.Helper()
	s, err := mesh.LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := policy.SignToken(TokenKey(s), &policy.Token{Name: "old", IssuedAt: now.Add(-2 * time.Hour).Unix(), Expiry: now.Add(-time.Hour).Unix(), Grants: policy.Grants{Admin: true}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
