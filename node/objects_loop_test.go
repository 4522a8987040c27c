package node

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// loopWorker's Looper object fetches the URL in its request's ?target=
// (a URL of this Worker on a node, through egress) and answers what came
// back; without a target it answers its name. The Worker's own fetch
// hands /w/NAME/x?name=X&target=T to the object X.
const loopWorker = `import { DurableObject } from "cloudflare:workers";
export class Looper extends DurableObject {
  async fetch(req) {
    const target = new URL(req.url).searchParams.get("target");
    if (!target) return new Response("object " + this.ctx.id.name);
    const r = await fetch(target);
    return new Response("inner " + r.status + ": " + await r.text());
  }
}
export default {
  async fetch(req, env) {
    const name = new URL(req.url).searchParams.get("name") ?? "a";
    try {
      return await env.LOOPER.getByName(name).fetch(req);
    } catch (e) {
      return new Response(e.name + ": " + e.message, { status: 500 });
    }
  }
};`

// TestObjectCallsItselfThroughWorkerURL: an object whose event fetches its
// own Worker's public URL (/w/), which routes back to the same object, is
// told at once that it called itself. Before, the inner call waited for
// the object's event, which waited for the inner call, until the call's
// deadline (30 s). A fetch that reaches another object through /w/ still
// works.
func TestObjectCallsItselfThroughWorkerURL(t *testing.T) {
	_, nodes := objectClusterTuned(t, func(cfg *Config) { cfg.AllowNet = []string{"127.0.0.1"} }, "a")
	n := nodes[0]
	deployClass(t, n, "looper", loopWorker, "LOOPER", "Looper")
	target := func(name string) string { return url.QueryEscape(n.APIURL() + "/w/looper/x?name=" + name) }

	status, _, body := serve(t, n, "GET", "/w/looper/x?name=a&target="+target("b"), "", nil)
	if status != 200 || body != "inner 200: object b" {
		t.Fatalf("object a fetching object b through /w/: %d %q", status, body)
	}

	start := time.Now()
	status, _, body = serve(t, n, "GET", "/w/looper/x?name=a&target="+target("a"), "", nil)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("object a fetching itself through /w/ took %v", took)
	}
	if status != 200 || !strings.HasPrefix(body, "inner 500: ") || !strings.Contains(body, "called itself (through a fetch of a Worker's URL)") {
		t.Errorf("object a fetching itself through /w/: %d %q, want the inner call refused at once", status, body)
	}
}

// TestObjectChainHeader: the header's value round-trips, and a value that
// is not one is ignored.
func TestObjectChainHeader(t *testing.T) {
	keys := []string{isolate.ObjectRef{Worker: "w", Class: "C", ID: strings.Repeat("a", 64)}.Key(), strings.Repeat("0", 32)}
	v := chainHeader(keys)
	got := parseChainHeader(v)
	if len(got) != 2 || got[0] != chainHash(keys[0]) || got[1] != keys[1] {
		t.Fatalf("%q parsed as %q", v, got)
	}
	if err := checkChain(got, keys[0]); err == nil || !strings.Contains(err.Error(), "called itself (through a fetch of a Worker's URL)") {
		t.Errorf("a call to an object of the header's chain: %v", err)
	}
	if err := checkChain(got, isolate.ObjectRef{Worker: "w", Class: "C", ID: strings.Repeat("b", 64)}.Key()); err != nil {
		t.Errorf("a call to another object: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 32), strings.Repeat("0", 31), strings.Repeat("0", 32) + ",", strings.Repeat(strings.Repeat("0", 32)+",", 16) + strings.Repeat("0", 32)} {
		if c := parseChainHeader(bad); c != nil {
			t.Errorf("%q parsed as %q", bad, c)
		}
	}
}
