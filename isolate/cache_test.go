package isolate

import (
	"strings"
	"testing"
)

// TestCacheAPI runs the Cache API on both executors: entries outlive the
// invocation that put them, and stay within one Worker's code.
func TestCacheAPI(t *testing.T) {
	worker := js("main.js", `export default { async fetch(request) {
  const url = new URL(request.url);
  const key = "https://cache.test" + url.pathname;
  const named = await caches.open("named");
  switch (url.searchParams.get("op")) {
  case "put":
    await caches.default.put(key, new Response("cached " + url.pathname, { headers: { "cache-control": "max-age=3600", "x-a": "1" } }));
    await named.put(key, new Response("named"));
    return new Response("put");
  case "get": {
    const hit = await caches.default.match(new Request(key));
    const n = await named.match(key);
    if (!hit) return new Response("miss " + (n ? await n.text() : "-"));
    return new Response([await hit.text(), hit.headers.get("cf-cache-status"), hit.headers.get("x-a"), n ? await n.text() : "-"].join("|"));
  }
  case "delete":
    return new Response(String(await caches.default.delete(key)) + String(await caches.default.delete(key)));
  case "rules": {
    const out = [];
    const attempt = async (f) => { try { await f(); out.push("ok"); } catch (e) { out.push(e.name); } };
    await attempt(() => caches.default.put(new Request(key, { method: "POST", body: "x" }), new Response("p")));
    await attempt(() => caches.default.put(key + "v", new Response("v", { headers: { vary: "*" } })));
    await attempt(() => caches.default.put(key + "p", new Response("p", { status: 206 })));
    await attempt(() => caches.default.put("ftp://x/", new Response("f")));
    await attempt(() => caches.default.put(key, "not a response"));
    await caches.default.put(key + "c", new Response("c", { headers: { "set-cookie": "a=b", "cache-control": "max-age=60" } }));
    await caches.default.put(key + "n", new Response("n", { headers: { "cache-control": "no-store" } }));
    out.push(String(await caches.default.match(key + "c")), String(await caches.default.match(key + "n")));
    out.push(String(await caches.default.match(new Request(key, { method: "HEAD" }))));
    const r = new HTMLRewriter().on("b", { async element(e) { await null; e.tagName = "i" } }).transform(new Response("<b>x</b>"));
    await caches.default.put(key + "h", r);
    out.push(await (await caches.default.match(key + "h")).text());
    const f = await fetch("https://echo.test/", { cf: { cacheTtl: 60, cacheEverything: true, cacheKey: "k" } }).then(r => r.text(), e => e.name);
    out.push(f);
    return new Response(out.join(","));
  }
  }
  return new Response("?");
} }`)
	other := js("main.js", `export default { async fetch() {
  const hit = await caches.default.match("https://cache.test/a");
  return new Response(hit ? "seen" : "not seen");
} }`)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			get := func(c *Code, path string) string {
				t.Helper()
				res := run(t, rt, c, &Request{URL: "https://w.test" + path})
				if res.Outcome != OutcomeOK || res.Response == nil {
					t.Fatalf("%s: %s %s %+v", path, res.Outcome, res.Error, res.Exceptions)
				}
				return string(res.Response.Body)
			}
			if got := get(worker, "/a?op=get"); got != "miss -" {
				t.Fatalf("before put: %q", got)
			}
			if got := get(worker, "/a?op=put"); got != "put" {
				t.Fatal(got)
			}
			if got := get(worker, "/a?op=get"); got != "cached /a|HIT|1|named" {
				t.Fatalf("after put: %q", got)
			}
			if got := get(other, "/"); got != "not seen" {
				t.Fatalf("another Worker: %q", got)
			}
			scoped := rt.Run(t.Context(), &Invocation{Code: worker, Request: &Request{URL: "https://w.test/a?op=get"}, CacheScope: "tenant-2"})
			if scoped.Response == nil || string(scoped.Response.Body) != "miss -" {
				t.Fatalf("another cache scope: %s %+v", scoped.Outcome, scoped.Response)
			}
			if got := get(worker, "/a?op=delete"); got != "truefalse" {
				t.Fatalf("delete: %q", got)
			}
			if got := get(worker, "/a?op=get"); got != "miss named" {
				t.Fatalf("after delete: %q", got)
			}
			if got := get(worker, "/r?op=rules"); got != "TypeError,TypeError,TypeError,TypeError,TypeError,undefined,undefined,undefined,<i>x</i>,echo:GET:" {
				t.Fatalf("rules: %q", got)
			}
		})
	}
}

// TestFetchCacheOptions: fetch's cf cache options go through
// caches.default, on both executors. https://count.test/ answers how many
// requests it has had.
func TestFetchCacheOptions(t *testing.T) {
	worker := js("main.js", `export default { async fetch() {
  const out = [];
  const f = async (url, cf, init = {}) => {
    try {
      const r = await fetch(url, { ...init, cf });
      return (await r.text()) + "/" + r.status + "/" + r.headers.get("cf-cache-status");
    } catch (e) { return e.name; }
  };
  const twice = async (url, cf) => out.push((await f(url, cf)) + " " + (await f(url, cf)));
  await twice("https://count.test/ttl", { cacheTtl: 60 });
  await twice("https://count.test/none", undefined);
  await twice("https://count.test/other", { polish: "lossy" });
  await twice("https://count.test/zero", { cacheTtl: 0 });
  await twice("https://count.test/404s", { cacheTtlByStatus: { "200-299": 60, "404": -1 } });
  await twice("https://count.test/200s", { cacheTtlByStatus: { "200-299": 60, "404": -1 } });
  await twice("https://count.test/nocache", { cacheEverything: true });
  await twice("https://count.test/plain", { cacheEverything: true });
  await twice("https://count.test/cookie", { cacheTtl: 60 });
  await twice("https://count.test/fresh-ttl-overrides", { cacheTtl: -1 });
  out.push((await f("https://count.test/k1", { cacheTtl: 60, cacheKey: "shared" })) + " " + (await f("https://count.test/k2", { cacheTtl: 60, cacheKey: "shared" })));
  out.push((await f("https://count.test/post", { cacheTtl: 60 }, { method: "POST", body: "b" })) + " " + (await f("https://count.test/post", { cacheTtl: 60 }, { method: "POST", body: "b" })));
  out.push(await f("https://count.test/bad", { cacheTtlByStatus: { "ok": 1 } }));
  const m = await caches.default.match("https://count.test/ttl");
  out.push(m ? (await m.text()) + " " + m.headers.get("cache-control") : "no entry");
  const q = new Request("https://count.test/req", { cf: { cacheTtl: 60 } });
  out.push((await (await fetch(q)).text()) + " " + (await (await fetch(q)).text()));
  return new Response(out.join("\n"));
} }`)
	want := strings.Join([]string{
		"n=1/200/MISS n=1/200/HIT",
		"n=2/200/null n=3/200/null",
		"n=4/200/null n=5/200/null",
		"n=6/200/MISS n=7/200/MISS",
		"n=8/404/MISS n=9/404/MISS",
		"n=10/200/MISS n=10/200/HIT",
		"n=11/200/MISS n=12/200/MISS",
		"n=13/200/MISS n=13/200/HIT",
		"n=14/200/MISS n=15/200/MISS",
		"n=16/200/MISS n=17/200/MISS",
		"n=18/200/MISS n=18/200/HIT",
		"n=19/200/null n=20/200/null",
		"TypeError",
		"n=1 max-age=60",
		"n=21 n=21",
	}, "\n")
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			res := run(t, rt, worker, &Request{URL: "https://w.test/"})
			if res.Outcome != OutcomeOK || res.Response == nil {
				t.Fatalf("%s %s %+v", res.Outcome, res.Error, res.Exceptions)
			}
			if got := string(res.Response.Body); got != want {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
