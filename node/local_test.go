package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// runLocal runs src's default export once on rt with env.KV bound to
// namespace ns.
func runLocal(t *testing.T, rt *Local, ns, src string) *isolate.Result {
	t.Helper()
	return rt.Run(context.Background(), &isolate.Invocation{
		Code:     &isolate.Code{MainModule: "m.js", Modules: map[string]*isolate.Module{"m.js": {Kind: isolate.ModuleESM, Source: src}}},
		Bindings: map[string]isolate.Binding{"KV": {KV: ns}},
	})
}

func newLocal(t *testing.T, o LocalOptions) *Local {
	t.Helper()
	o.InProcess = true
	rt, err := NewLocal(o)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestLocalKV: with KVDir the embedded runtime's KV bindings reach a store
// on disk, with Workers KV's semantics as a Worker sees them, and what is
// stored survives the runtime.
func TestLocalKV(t *testing.T) {
	dir := t.TempDir()
	rt := newLocal(t, LocalOptions{KVDir: dir})
	res := runLocal(t, rt, "ns", `export default { async fetch(req, env) {
  const out = [];
  out.push(await env.KV.get("missing"));
  await env.KV.put("user:1", "ada", { metadata: { admin: true } });
  await env.KV.put("user:2", new TextEncoder().encode("bob"), { expirationTtl: 3600 });
  await env.KV.put("user:3", JSON.stringify({ n: 3 }));
  await env.KV.put("other", "x");
  out.push(await env.KV.get("user:1"));
  out.push((await env.KV.get("user:3", "json")).n);
  out.push(new TextDecoder().decode(await env.KV.get("user:2", { type: "arrayBuffer" })));
  const m = await env.KV.getWithMetadata("user:1");
  out.push(m.value, m.metadata.admin);
  const page = await env.KV.list({ prefix: "user:", limit: 2 });
  out.push(page.keys.map((k) => k.name).join(","), page.list_complete, page.keys[0].metadata.admin, page.keys[1].expiration > Date.now() / 1000);
  const rest = await env.KV.list({ prefix: "user:", cursor: page.cursor });
  out.push(rest.keys.map((k) => k.name).join(","), rest.list_complete);
  await env.KV.delete("user:3");
  out.push(await env.KV.get("user:3"));
  for (const bad of [() => env.KV.put("k".repeat(600), "v"), () => env.KV.put("k", "v", { expirationTtl: 10 }), () => env.KV.list({ cursor: "nope" })]) {
    try { await bad(); out.push("no error"); } catch (e) { out.push(e.message); }
  }
  return Response.json(out);
} }`)
	if res.Outcome != isolate.OutcomeOK || res.Response == nil {
		t.Fatalf("outcome %s: %s %+v", res.Outcome, res.Error, res.Exceptions)
	}
	want := `[null,"ada",3,"bob","ada",true,"user:1,user:2",false,true,true,"user:3",true,null,` +
		`"KV KV.put: key: UTF-8 encoded length of 600 exceeds key length limit of 512",` +
		`"KV KV.put: expirationTtl: 10: expiration TTL must be at least 60",` +
		`"KV KV.list: cursor: not a cursor of this API"]`
	if got := string(res.Response.Body); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	// An uncaught KV error is the Worker's exception, not the runtime's.
	res = runLocal(t, rt, "ns", `export default { async fetch(req, env) {
  await env.KV.put("k".repeat(600), "v");
  return new Response("stored");
} }`)
	if res.Outcome != isolate.OutcomeException || len(res.Exceptions) != 1 || !strings.Contains(res.Exceptions[0].Message, "key length limit of 512") {
		t.Errorf("uncaught bad put: %s %+v", res.Outcome, res.Exceptions)
	}
	// A bad namespace rejects every call.
	res = runLocal(t, rt, "n/s", `export default { async fetch(req, env) {
  try { await env.KV.get("k"); } catch (e) { return new Response(e.message); }
  return new Response("no error");
} }`)
	if got := string(res.Response.Body); !strings.Contains(got, "namespace: byte 0x2f at 1") {
		t.Errorf("bad namespace: %q", got)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	rt = newLocal(t, LocalOptions{KVDir: dir})
	defer rt.Close()
	// The store is locked while a runtime holds it.
	if other, err := NewLocal(LocalOptions{InProcess: true, KVDir: dir}); err == nil {
		other.Close()
		t.Error("a second runtime opened the same KV directory")
	}
	res = runLocal(t, rt, "ns", `export default { async fetch(req, env) {
  return new Response(await env.KV.get("user:1") + " " + await env.KV.get("user:1", { type: "text" }));
} }`)
	if res.Outcome != isolate.OutcomeOK || string(res.Response.Body) != "ada ada" {
		t.Errorf("after reopening: %s %q %+v", res.Outcome, res.Response.Body, res.Exceptions)
	}
}

// TestLocalNoKV: without KVDir a KV binding's calls reject as before.
func TestLocalNoKV(t *testing.T) {
	rt := newLocal(t, LocalOptions{})
	defer rt.Close()
	res := runLocal(t, rt, "ns", `export default { async fetch(req, env) {
  try { await env.KV.get("k"); } catch (e) { return new Response(e.message); }
  return new Response("no error");
} }`)
	if got := string(res.Response.Body); !strings.Contains(got, "no KV storage") {
		t.Errorf("KV without storage: %q", got)
	}
}

func TestValidateKVNamespace(t *testing.T) {
	if err := ValidateKVNamespace("my-ns.v1_2"); err != nil {
		t.Error(err)
	}
	for _, ns := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("n", 65)} {
		err := ValidateKVNamespace(ns)
		if !errors.Is(err, replication.ErrKVInvalid) || strings.Contains(err.Error(), "kvsm") {
			t.Errorf("%q: %v", ns, err)
		}
	}
}
