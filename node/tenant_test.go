package node

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// TestTenantOf: administrators are one tenant; any other token is a tenant
// by its name, ID and grants, whenever it was issued.
func TestTenantOf(t *testing.T) {
	g := policy.Grants{AllowNet: []string{"a.example"}}
	base := &policy.Token{Name: "a", Grants: g, IssuedAt: 1, Expiry: 2}
	same := []*policy.Token{
		{Name: "a", Grants: g, IssuedAt: 100, Expiry: 200}, // signed afresh: a deployed Worker's forwarded call
	}
	other := []*policy.Token{
		{Name: "b", Grants: g},
		{Name: "a", ID: "x", Grants: g},
		{Name: "a", Grants: policy.Grants{AllowNet: []string{"b.example"}}},
		{Name: "a", Grants: policy.Grants{}},
		{Name: "a\x00", Grants: g},
		nil,
	}
	tenantOf := func(tok *policy.Token) string {
		if tok == nil {
			return tenantOf(nil, "")
		}
		return tenantOf(tok, cacheScope(&tok.Grants))
	}
	want := tenantOf(base)
	if want == "" {
		t.Fatal("a token without admin is the administrators' tenant")
	}
	for _, tok := range same {
		if got := tenantOf(tok); got != want {
			t.Errorf("%+v: tenant %q, want %q", tok, got, want)
		}
	}
	for _, tok := range other {
		if got := tenantOf(tok); got == want {
			t.Errorf("%+v: the same tenant as %+v", tok, base)
		}
	}
	for _, tok := range []*policy.Token{nil, noAuthToken, {Name: "x", Grants: policy.Grants{Admin: true}}} {
		if got := tenantOf(tok); got != "" {
			t.Errorf("administrator %+v: tenant %q, want \"\"", tok, got)
		}
	}
}

// TestTenantsGetTheirOwnWorkers: through the API of a node with sandbox
// workers, calls of one token in a row keep their worker, and a token of
// another name or grants never gets a worker that ran another's call: with
// every idle worker taken by other tenants, one is ended to make room.
func TestTenantsGetTheirOwnWorkers(t *testing.T) {
	c := newCluster(t, 19, "ten")
	c.tune = func(cfg *Config) { cfg.Executor = isolate.Sandboxed }
	n := c.start("ten", c.secret, 2)
	type stats struct {
		Idle        int    `json:"idle"`
		Spares      int    `json:"spares"`
		Recycled    uint64 `json:"recycled"`
		ParkedTotal uint64 `json:"parkedTotal"`
	}
	read := func() stats {
		b, err := json.Marshal(n.rt.Stats())
		if err != nil {
			t.Fatal(err)
		}
		var s stats
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A worker leaves its slot for another tenant: ended, or parked.
	recycled := func() uint64 { s := read(); return s.Recycled + s.ParkedTotal }
	// The pool answers once its first worker is up: the counts below hold
	// once both slots' workers and the spare are.
	deadline := time.Now().Add(20 * time.Second)
	for s := read(); s.Idle != 2 || s.Spares != 1; s = read() {
		if time.Now().After(deadline) {
			t.Fatalf("the pool not ready within 20 s: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	run := func(tok string) {
		t.Helper()
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(sleepBody(0)), map[string]string{"Authorization": "Bearer " + tok})
		if status != http.StatusOK || !strings.Contains(string(b), `"outcome":"ok"`) {
			t.Fatalf("%d %s", status, b)
		}
	}
	a := mintToken(t, c.secret, "a", policy.Grants{AllowNet: []string{"a.example"}}, time.Hour)
	a2 := mintToken(t, c.secret, "a", policy.Grants{AllowNet: []string{"a.example"}}, 2*time.Hour) // the same tenant
	b := mintToken(t, c.secret, "b", policy.Grants{AllowNet: []string{"a.example"}}, time.Hour)
	cc := mintToken(t, c.secret, "c", policy.Grants{}, time.Hour)
	for _, tok := range []string{a, a2, a, b, a, b} {
		run(tok)
	}
	if r := recycled(); r != 0 {
		t.Errorf("two tenants on two workers: %d recycled, want 0", r)
	}
	run(cc) // both workers have served a tenant: one is ended for c
	if r := recycled(); r != 1 {
		t.Errorf("a third tenant on two workers: %d recycled, want 1", r)
	}
	run(cc)
	run(adminToken(t, c.secret))
	if r := recycled(); r != 2 {
		t.Errorf("an administrator after three tenants: %d recycled, want 2", r)
	}
}

// TestSharedWorkers: with Config.SharedWorkers, the calls of every token
// share the workers: no worker is ended for a change of tenant.
func TestSharedWorkers(t *testing.T) {
	c := newCluster(t, 20, "shared")
	c.tune = func(cfg *Config) { cfg.Executor, cfg.SharedWorkers = isolate.Sandboxed, true }
	n := c.start("shared", c.secret, 1)
	for _, name := range []string{"a", "b", "c", "a"} {
		tok := mintToken(t, c.secret, name, policy.Grants{}, time.Hour)
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(sleepBody(0)), map[string]string{"Authorization": "Bearer " + tok})
		if status != http.StatusOK || !strings.Contains(string(b), `"outcome":"ok"`) {
			t.Fatalf("%s: %d %s", name, status, b)
		}
	}
	b, err := json.Marshal(n.rt.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Recycled    uint64 `json:"recycled"`
		ParkedTotal uint64 `json:"parkedTotal"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Recycled+s.ParkedTotal != 0 {
		t.Errorf("%d workers ended and %d parked (%v), want none", s.Recycled, s.ParkedTotal, err)
	}
}
