package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// TestTokenRevocation: a token revoked on one node of a replicating mesh
// is refused by that node at once, and by every other within the
// revocation list's staleness bound: on the API and in a forward frame
// carrying it. Other tokens go on working.
func TestTokenRevocation(t *testing.T) {
	c, nodes := objectCluster(t, "a", "b", "c")
	a, b := nodes[0], nodes[1]
	agent := revocableToken(t, c.secret, "agent", policy.Grants{KV: map[string]string{"ns": "rw"}})
	other := revocableToken(t, c.secret, "other", policy.Grants{})
	admin := adminToken(t, c.secret)
	run := runWith(`{}`)
	works := func(n *Node, tok string) (int, string) {
		status, _, out := authCall(t, n, "POST", "/v1/run", run, tok)
		msg, _ := out["error"].(string)
		return status, msg
	}
	for _, n := range nodes {
		if status, msg := works(n, agent); status != 200 {
			t.Fatalf("%s before revocation: %d %s", n.id.Name, status, msg)
		}
	}

	// Only an admin revokes; a token without an ID cannot be.
	if status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+agent+`"}`, other); status != 403 {
		t.Fatalf("revoked by a non-admin: %d %v", status, out)
	}
	noID := mintToken(t, c.secret, "no id", policy.Grants{Admin: true}, time.Hour)
	if status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+noID+`"}`, admin); status != 400 || !strings.Contains(out["error"].(string), "no id") {
		t.Fatalf("a token without an ID: %d %v", status, out)
	}
	if status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+expiredToken(t, otherSecret(t))+`"}`, admin); status != 400 || !strings.Contains(out["error"].(string), "signature") {
		t.Fatalf("another mesh's token: %d %v", status, out)
	}

	t0 := time.Now()
	status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+agent+`"}`, admin)
	if status != 200 || out["name"] != "agent" || out["id"] == "" {
		t.Fatalf("revoke: %d %v", status, out)
	}
	if status, msg := works(a, agent); status != 401 || !strings.Contains(msg, "token revoked") {
		t.Fatalf("a, at once: %d %s", status, msg)
	}
	for _, n := range nodes[1:] {
		took := waitFor(t, 10*time.Second, n.id.Name+" refusing the revoked token", func() bool {
			status, msg := works(n, agent)
			return status == 401 && strings.Contains(msg, "token revoked")
		})
		t.Logf("%s refuses it %v after the revocation (%v after its own poll began)", n.id.Name, time.Since(t0).Round(time.Millisecond), took.Round(time.Millisecond))
	}
	// A peer refuses a forward frame that carries it, before running.
	before := b.ran.Load()
	msg, why := sendFrame(t, a.Mesh(), "b", &RunRequest{Code: kvWorker, Bindings: map[string]isolate.Binding{"KV": {KV: "ns"}}, Token: agent})
	if msg != fwdRefused || !strings.Contains(why, "token revoked") {
		t.Fatalf("a frame with the revoked token: %q %q", msg, why)
	}
	if b.ran.Load() != before {
		t.Error("the peer ran a call with the revoked token")
	}
	kv, err := a.kvStore()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.GetWithMetadata(context.Background(), "ns", "k", replication.Strong); !errors.Is(err, replication.ErrKVNotFound) {
		t.Errorf("the refused frame wrote: %v", err)
	}
	// Other tokens are not affected.
	for _, n := range nodes {
		if status, msg := works(n, other); status != 200 {
			t.Errorf("%s, another token: %d %s", n.id.Name, status, msg)
		}
	}
	// Revoking by ID; the list shows both.
	id := policy.NewTokenID()
	if status, _, out := authCall(t, b, "POST", "/v1/tokens/revoke", `{"id":"`+id+`"}`, admin); status != 200 || out["id"] != id {
		t.Fatalf("revoke by id: %d %v", status, out)
	}
	for _, body := range []string{`{}`, `{"id":"a/b"}`, `{"id":"x","token":"y"}`, `{"nope":1}`} {
		if status, _, out := authCall(t, b, "POST", "/v1/tokens/revoke", body, admin); status != 400 || out["code"] != "bad_request" {
			t.Errorf("revoke %s: %d %v", body, status, out)
		}
	}
	waitFor(t, 10*time.Second, "both revocations listed", func() bool {
		status, _, out := authCall(t, nodes[2], "GET", "/v1/tokens/revoked", "", admin)
		b, _ := json.Marshal(out)
		return status == 200 && strings.Contains(string(b), `"name":"agent"`) && strings.Contains(string(b), id)
	})
	// The namespace is warren's: the KV API refuses it, admins included.
	if status, _, out := authCall(t, a, "DELETE", "/v1/kv/"+revokedNS+"/x", "", admin); status != 400 {
		t.Errorf("DELETE in %s through the KV API: %d %v", revokedNS, status, out)
	}
}

// failingList is a KV store whose List fails while fail is set.
type failingList struct {
	replication.KV
	fail     atomic.Bool
	lists    atomic.Int64
	unplaced atomic.Bool // Placed reports false
}

func (f *failingList) Placed() bool { return !f.unplaced.Load() }

func (f *failingList) List(ctx context.Context, ns string, o replication.KVListOptions, c replication.Consistency) (replication.KVListResult, error) {
	f.lists.Add(1)
	if f.fail.Load() {
		return replication.KVListResult{}, replication.ErrKVUnavailable
	}
	return f.KV.List(ctx, ns, o, c)
}

// TestRevocationListUnreadable: a node that read the list and then cannot
// for revokedMaxStale refuses tokens with an ID (503, not a 401: the token
// may be good) and still serves tokens without one; one that never could
// read it (a mesh still forming) serves them, and does not read a store
// that has no placement yet; a node whose callers send no
// token with an ID never reads the list; under steady calls the list is
// read in the background, not once per call.
func TestRevocationListUnreadable(t *testing.T) {
	local, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	kv := &failingList{KV: local}
	c := newCluster(t, 37, "r")
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	n := c.start("r", c.secret, 2)
	noID, err := n.nodeToken()
	if err != nil {
		t.Fatal(err)
	}
	if status, _, out := authCall(t, n, "POST", "/v1/run", runWith(`{}`), noID); status != 200 {
		t.Fatalf("a token without an ID: %d %v", status, out)
	}
	if l := kv.lists.Load(); l != 0 {
		t.Errorf("the list was read %d times for tokens without an ID", l)
	}
	withID := revocableToken(t, c.secret, "agent", policy.Grants{})
	// A store with no placement of its groups yet (a fresh mesh's first
	// seconds) is not read: the read would wait for one until its timeout,
	// and every call meanwhile for revokedWait.
	kv.unplaced.Store(true)
	if status, _, out := authCall(t, n, "GET", "/v1/members", "", withID); status != 200 {
		t.Fatalf("a token with an ID, the store not placed: %d %v", status, out)
	}
	if l := kv.lists.Load(); l != 0 {
		t.Errorf("the list was read %d times before the store was placed", l)
	}
	kv.unplaced.Store(false)
	kv.fail.Store(true)
	if status, _, out := authCall(t, n, "GET", "/v1/members", "", withID); status != 200 {
		t.Fatalf("a token with an ID, the list never read: %d %v", status, out)
	}
	kv.fail.Store(false)
	waitFor(t, 5*time.Second, "the list read", func() bool {
		authCall(t, n, "GET", "/v1/members", "", withID)
		n.revoked.mu.Lock()
		defer n.revoked.mu.Unlock()
		return !n.revoked.read.IsZero()
	})
	kv.lists.Store(0)
	calls := 0
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); calls++ {
		if status, _, out := authCall(t, n, "GET", "/v1/members", "", withID); status != 200 {
			t.Fatalf("a token with an ID: %d %v", status, out)
		}
	}
	if l := kv.lists.Load(); l < 1 || l > 5 || int(l) >= calls {
		t.Errorf("%d calls read the list %d times", calls, l)
	}
	t.Logf("%d calls in 1.5 s read the list %d times", calls, kv.lists.Load())

	kv.fail.Store(true)
	n.revoked.mu.Lock()
	n.revoked.read = time.Now().Add(-revokedMaxStale) // as if it had failed for that long
	n.revoked.mu.Unlock()
	status, _, out := authCall(t, n, "GET", "/v1/members", "", withID)
	if status != 503 || out["code"] != "unavailable" || !strings.Contains(out["error"].(string), "revocation list") {
		t.Fatalf("the list unreadable: %d %v", status, out)
	}
	if status, _, out := authCall(t, n, "GET", "/v1/members", "", noID); status != 200 {
		t.Fatalf("the list unreadable, a token without an ID: %d %v", status, out)
	}
	kv.fail.Store(false)
	waitFor(t, 5*time.Second, "the list readable again", func() bool {
		status, _, _ := authCall(t, n, "GET", "/v1/members", "", withID)
		return status == 200
	})
}

// revocableToken mints a token with an ID from the secret file at path.
func revocableToken(t testing.TB, path, name string, g policy.Grants) string {
	t.Helper()
	tok, err := MintRevocableTokenFile(path, name, g, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// otherSecret is the secret file of another mesh.
func otherSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other")
	if err := InitSecret(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRevokedDeployerSuspendsWorkers: revoking the token that deployed a
// Worker suspends the Worker on every node (its calls ran with that
// token's grants), and keeps the revocation past the token's expiry so
// that it stays suspended; the Workers other tokens deployed go on, and
// deploying it again with a valid token brings it back.
func TestRevokedDeployerSuspendsWorkers(t *testing.T) {
	c, nodes := objectCluster(t, "a", "b", "c")
	a := nodes[0]
	deployer := revocableToken(t, c.secret, "deployer", policy.Grants{Admin: true})
	admin := adminToken(t, c.secret)
	hello := deployBody(`export default { fetch() { return new Response("hello") } }`, "", nil)
	for _, d := range []struct{ name, tok string }{{"leaked", deployer}, {"kept", admin}} {
		if status, _, out := authCall(t, a, "PUT", "/v1/workers/"+d.name, hello, d.tok); status != 200 {
			t.Fatalf("deploy %s: %d %v", d.name, status, out)
		}
	}
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.id.Name+" serving the Worker", func() bool {
			status, _, _ := serve(t, n, "GET", "/w/leaked/", "", nil)
			return status == 200
		})
	}

	t.Logf("deployed and served")
	status, _, out := authCall(t, a, "POST", "/v1/tokens/revoke", `{"token":"`+deployer+`"}`, admin)
	t.Logf("revoked")
	if status != 200 || out["pinned"] != true || len(out["workers"].([]any)) != 1 || out["workers"].([]any)[0] != "leaked" {
		t.Fatalf("revoke: %d %v", status, out)
	}
	id := out["id"].(string)
	if status, _, body := serve(t, a, "GET", "/w/leaked/", "", nil); status != 403 || !strings.Contains(body, "suspended") {
		t.Fatalf("a, at once: %d %s", status, body)
	}
	for _, n := range nodes[1:] {
		waitFor(t, 10*time.Second, n.id.Name+" refusing the suspended Worker", func() bool {
			status, _, body := serve(t, n, "GET", "/w/leaked/", "", nil)
			return status == 403 && strings.Contains(body, "suspended")
		})
	}
	if status, _, body := serve(t, nodes[1], "GET", "/w/kept/", "", nil); status != 200 || body != "hello" {
		t.Fatalf("the Worker another token deployed: %d %s", status, body)
	}
	t.Logf("suspended everywhere")
	// The listing says so; the entry has no expiry.
	status, _, out = authCall(t, a, "GET", "/v1/workers", "", admin)
	if status != 200 {
		t.Fatalf("list: %d %v", status, out)
	}
	for _, w := range out["workers"].([]any) {
		info := w.(map[string]any)
		if s, _ := info["suspended"].(string); (info["name"] == "leaked") != strings.Contains(s, "revoked") {
			t.Errorf("%v in the listing", info)
		}
	}
	kv, err := a.kvStore()
	if err != nil {
		t.Fatal(err)
	}
	v, err := kv.GetWithMetadata(context.Background(), revokedNS, id, replication.Strong)
	if err != nil || v.Expiration != 0 {
		t.Fatalf("the revocation of a token that deployed Workers: expiration %d, %v; want none", v.Expiration, err)
	}

	// A deploy that raced a revocation (whose listing of the deployments
	// missed it) pins the entry itself.
	racer := Revocation{ID: "racer-id", Name: "racer", Expiry: time.Now().Add(time.Hour).Unix()}
	if err := a.putRevocation(context.Background(), kv, racer); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.GetWithMetadata(context.Background(), revokedNS, racer.ID, replication.Strong); v.Expiration == 0 {
		t.Fatal("an unpinned revocation has no expiry")
	}
	if revoked, err := a.pinRevoked(context.Background(), kv, racer.ID); !revoked || err != nil {
		t.Fatalf("pinRevoked: %v %v", revoked, err)
	}
	if v, err := kv.GetWithMetadata(context.Background(), revokedNS, racer.ID, replication.Strong); err != nil || v.Expiration != 0 || !strings.Contains(string(v.Metadata), `"pinned":true`) {
		t.Fatalf("after pinRevoked: expiration %d, metadata %s, %v", v.Expiration, v.Metadata, err)
	}
	if revoked, err := a.pinRevoked(context.Background(), kv, "never-revoked"); revoked || err != nil {
		t.Fatalf("pinRevoked of a token never revoked: %v %v", revoked, err)
	}

	// Deployed again with a valid token, it runs.
	if status, _, out := authCall(t, a, "PUT", "/v1/workers/leaked", hello, admin); status != 200 {
		t.Fatalf("redeploy: %d %v", status, out)
	}
	waitFor(t, 10*time.Second, "the Worker deployed again served", func() bool {
		status, _, body := serve(t, a, "GET", "/w/leaked/", "", nil)
		return status == 200 && body == "hello"
	})
}

// heldList is a KV store whose next List, once armed, reads the store
// and then waits for release before it answers.
type heldList struct {
	replication.KV
	armed   atomic.Bool
	listed  chan struct{}
	release chan struct{}
}

func (h *heldList) List(ctx context.Context, ns string, o replication.KVListOptions, c replication.Consistency) (replication.KVListResult, error) {
	if !h.armed.CompareAndSwap(true, false) {
		return h.KV.List(ctx, ns, o, c)
	}
	res, err := h.KV.List(ctx, ns, o, c)
	close(h.listed)
	<-h.release
	return res, err
}

// TestRevokedDuringRead: a token revoked while the node's read of the
// list is under way, the read having listed before the revocation was
// written, stays refused by the node that took the revocation once the
// read ends. The read's copy replaced the one the revocation had added
// to, and the token was honoured again until the next read.
func TestRevokedDuringRead(t *testing.T) {
	local, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	kv := &heldList{KV: local, listed: make(chan struct{}), release: make(chan struct{})}
	c := newCluster(t, 37, "r")
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	n := c.start("r", c.secret, 2)
	admin := testToken(n.ln.Addr().String())
	agent := revocableToken(t, c.secret, "agent", policy.Grants{})
	kv.armed.Store(true)
	if status, _, out := authCall(t, n, "GET", "/v1/members", "", agent); status != 200 {
		t.Fatalf("before the revocation: %d %v", status, out)
	}
	select {
	case <-kv.listed:
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not read the list")
	}
	b, _ := json.Marshal(map[string]string{"token": agent})
	if status, _, out := authCall(t, n, "POST", "/v1/tokens/revoke", string(b), admin); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	close(kv.release)
	waitFor(t, 10*time.Second, "the read ended", func() bool {
		n.revoked.mu.Lock()
		defer n.revoked.mu.Unlock()
		return n.revoked.busy == nil && !n.revoked.read.IsZero()
	})
	if status, _, out := authCall(t, n, "GET", "/v1/members", "", agent); status != 401 {
		t.Fatalf("the revoked token, after a read that listed before the revocation: %d %v", status, out)
	}
}

// revokedFlakyKV fails the first fails reads of the revocation list's
// entries (a store that cannot answer for a while).
type revokedFlakyKV struct {
	replication.KV
	fails atomic.Int64
}

func (f *revokedFlakyKV) GetWithMetadata(ctx context.Context, ns, key string, cons replication.Consistency) (replication.KVValue, error) {
	if ns == revokedNS && f.fails.Add(-1) >= 0 {
		return replication.KVValue{}, fmt.Errorf("%w: injected", replication.ErrKVUnavailable)
	}
	return f.KV.GetWithMetadata(ctx, ns, key, cons)
}

// A deploy reads, after storing the Worker, whether its token was revoked
// meanwhile (so that the revocation's entry is pinned): a read that fails
// is made again, and a deploy that cannot make it says the Worker is
// stored but unconfirmed rather than answering 200.
func TestDeployConfirmsRevocation(t *testing.T) {
	local, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	kv := &revokedFlakyKV{KV: local}
	c := newCluster(t, 23, "confirm")
	c.tune = func(cfg *Config) {
		cfg.KV, cfg.Groups = kv, testGroups
		cfg.confirmRevocation = 500 * time.Millisecond
	}
	n := c.start("confirm", c.secret, 2)
	deployer := revocableToken(t, c.secret, "deployer", policy.Grants{Admin: true})
	hello := deployBody(`export default { fetch() { return new Response("hello") } }`, "", nil)

	kv.fails.Store(2)
	if status, _, out := authCall(t, n, "PUT", "/v1/workers/flaky", hello, deployer); status != 200 {
		t.Fatalf("deploy, the check failing twice: %d %v", status, out)
	}
	kv.fails.Store(1 << 40)
	status, _, out := authCall(t, n, "PUT", "/v1/workers/down", hello, deployer)
	if msg, _ := out["error"].(string); status != 503 || !strings.Contains(msg, "is stored, but whether its token was revoked") {
		t.Fatalf("deploy, the check failing throughout: %d %v", status, out)
	}
}
