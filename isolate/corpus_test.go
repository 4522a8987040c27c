package isolate

import (
	"encoding/json"
	"strings"
	"testing"
)

// corpusCase is a real Worker-style script and what it must produce.
type corpusCase struct {
	name    string
	code    *Code
	req     *Request
	outcome Outcome
	status  int
	body    string // exact, unless bodyHas is set
	bodyHas []string
	logHas  []string
	excHas  []string // substrings of the first exception's name+message+stack
}

func corpus() []corpusCase {
	tsMulti := js(
		"main.ts", `import { greet, Counter } from "./lib/greet";
import { VERSION } from "./version";
export default {
  async fetch(request: Request): Promise<Response> {
    const c = new Counter();
    c.inc(); c.inc();
    return new Response(greet("ts") + " v" + VERSION + " n=" + c.value);
  },
};`,
		"lib/greet.ts", `export function greet(name: string): string { return "hello " + name; }
export class Counter { #n: number = 0; inc(): void { this.#n++; } get value(): number { return this.#n; } }`,
		"version.ts", `export const VERSION: string = "1.2";`,
	)
	router := js("router.js", `
const routes = {
  "/users": (url) => Response.json({ users: ["ada", "bob"], page: Number(url.searchParams.get("page") ?? 1) }),
  "/echo-headers": (url, req) => new Response([...req.headers].map(([k, v]) => k + "=" + v).join(";")),
};
export default {
  fetch(req) {
    const url = new URL(req.url);
    const h = routes[url.pathname];
    if (!h) return new Response("no route " + url.pathname, { status: 404, headers: { "X-Thing": "a", "x-thing": "b" } });
    return h(url, req);
  },
};`)
	throwing := js(
		"main.ts", `import { explode } from "./util";
export default {
  async fetch(): Promise<Response> {
    return explode(3);
  },
};`,
		"util.ts", `type N = number;
export function explode(n: N): Response {
  if (n > 2) throw new TypeError("boom at " + n);
  return new Response("ok");
}`,
	)
	stackWorker := js(
		"main.ts", `import { explode, check, HttpError } from "./util";
export default {
  async fetch(): Promise<Response> {
    const out: string[] = [];
    try {
      explode();
    } catch (e) {
      out.push((e as Error).stack!);
    }
    try { check(1); } catch (e) { out.push((e as Error).stack!); }
    const h = new HttpError(418, "teapot"); out.push(h.stack!);
    out.push([1].map(() => { return new RangeError("r"); })[0].stack!);
    const o: { stack?: string } = {}; Error.captureStackTrace(o); out.push(("captured" + o.stack!.slice(5)));
    const engine = (() => { try { (null as any).x; } catch (e) { return e; } })() as Error;
    out.push([h instanceof HttpError, h instanceof Error, new TypeError("x") instanceof Error, TypeError("y") instanceof TypeError,
      engine instanceof TypeError, engine.constructor === TypeError, Object.getPrototypeOf(RangeError) === Error].join(" "));
    const deep = (n: number): Error => n === 0 ? new Error("deep") : deep(n - 1);
    Error.stackTraceLimit = 10; out.push(String(deep(30).stack!.split("\n").length + 1));
    Error.stackTraceLimit = 0; out.push(String(new Error("none").stack!.split("\n").length - 1));
    Error.stackTraceLimit = 10; try { new Headers(null as any); } catch (e) { out.push((e as Error).stack!); }
    const E = Error as any; E.prepareStackTrace = (err: Error, cs: any[]) => { void err.stack; return cs; };
    const cs = new Error("cs").stack as any as any[]; E.prepareStackTrace = undefined;
    out.push([cs.length, cs[0].getFunctionName(), cs[0].getFileName(), cs[0].getLineNumber(), cs[0].isNative(), String(cs[0])].join(" "));
    Error.stackTraceLimit = 10; const d = new DOMException("m", "AbortError").stack!; out.push(d.split("\n")[0] + " " + /\t|\(\d+\)/.test(d) + " " + d.includes("    at fetch (main.ts:"));
    out.push(engine.stack!); try { JSON.parse("{"); } catch (e) { out.push((e as Error).stack!); }
    return new Response(out.join("|"));
  },
};`,
		"util.ts", `type N = number;
export function explode(): never {
  throw new Error("boom");
}
export function check(n: N): void { if (n) throw new TypeError("bad"); }
export class HttpError extends Error {
  constructor(public status: N, message: string) {
    super(message); this.name = "HttpError";
  }
}`,
	)
	withData := js("main.js", `import cfg from "./cfg.json"; import txt from "./note.txt";
export default { fetch() { return new Response(cfg.name + ":" + txt.trim()); } };`)
	withData.Modules["cfg.json"] = &Module{Kind: ModuleJSON, JSON: []byte(`{"name":"cfg"}`)}
	withData.Modules["note.txt"] = &Module{Kind: ModuleText, Source: "a note\n"}
	withEnv := js("main.js", `export default { fetch(req, env) { return Response.json({ g: env.GREETING, n: env.OBJ.n, kv: typeof env.KV.get }); } };`)
	withEnv.Env = map[string]json.RawMessage{"GREETING": json.RawMessage(`"hello"`), "OBJ": json.RawMessage(`{"n":1}`)}
	nodeCompat := js("main.ts", `import { Buffer } from "node:buffer";
import { EventEmitter, once } from "node:events";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { promisify, inspect, format } from "node:util";
import path from "node:path";
import assert from "node:assert/strict";
import { StringDecoder } from "node:string_decoder";
import process from "node:process";
import { sign } from "./sign";
export default {
  async fetch(req: Request, env: Record<string, unknown>): Promise<Response> {
    const body = Buffer.from(await req.arrayBuffer());
    const bus = new EventEmitter();
    setTimeout(() => bus.emit("done", body.length), 1);
    const [n] = await once(bus, "done");
    const wait = promisify((ms: number, cb: (err: null, v: string) => void) => setTimeout(() => cb(null, "waited"), ms));
    assert.deepEqual({ n }, { n: 6 });
    const d = new StringDecoder("utf8");
    const text = d.write(body.subarray(0, 4)) + d.end(body.subarray(4));
    const mac = sign(process.env.SECRET as string, text);
    console.log(format("%s has %d bytes", path.basename("/in/body.txt"), n), inspect(body.subarray(0, 2)));
    return Response.json({
      text, hex: body.toString("hex"), b64: body.toString("base64url"),
      md5: createHash("md5").update(body).digest("hex"),
      mac, same: timingSafeEqual(Buffer.from(mac, "hex"), createHmac("sha256", "k").update(text).digest()),
      waited: await wait(1), secret: process.env.SECRET, notText: process.env.OBJ ?? null,
      globals: typeof globalThis.Buffer + "," + typeof globalThis.process,
    });
  },
};`, "sign.ts", `import { createHmac } from "crypto";
export function sign(key: string, msg: string): string { return createHmac("sha256", key).update(msg).digest("hex"); }`)
	nodeCompat.CompatibilityFlags = []string{NodeCompatFlag}
	nodeCompat.Env = map[string]json.RawMessage{"SECRET": json.RawMessage(`"k"`), "OBJ": json.RawMessage(`{"n":1}`)}
	noNodeCompat := js("main.js", `import { Buffer } from "node:buffer"; export default { fetch() { return new Response(Buffer.from("x")); } }`)
	withWasm := js("main.js", `import mod from "./add.wasm";
export default { async fetch() {
  // As on Cloudflare: the import is a WebAssembly.Module.
  const inst = await WebAssembly.instantiate(mod, { env: { scale: (x) => x * 10 } });
  const plain = new WebAssembly.Instance(mod, { env: { scale: (x) => x } });
  const kinds = WebAssembly.Module.exports(mod).map(e => e.name + ":" + e.kind).join(" ");
  let trap = "none";
  try { new WebAssembly.Instance(mod, { env: { scale: () => { throw new RangeError("from JS") } } }).exports.add(1, 1); }
  catch (e) { trap = e.name + " " + e.message; }
  return new Response([inst.exports.add(2, 3), plain.exports.add(2, 3), mod instanceof WebAssembly.Module,
    inst.exports.mem.buffer.byteLength, kinds, trap].join(","));
} };`)
	withWasm.Modules["add.wasm"] = &Module{Kind: ModuleWasm, Data: addWasm}
	// npm packages laid out in node_modules, as warren run ships them.
	withPackages := js("src/index.js", `import { id } from "@acme/ids/short";
import legacy from "legacy";
export default { fetch() { return new Response(id() + " " + legacy.name); } };`,
		"node_modules/@acme/ids/esm/short.js", `import { alphabet } from "#alphabet"; export const id = () => alphabet.slice(0, 4);`,
		"node_modules/@acme/ids/esm/alphabet.js", `export const alphabet = "abcdefgh";`,
		"node_modules/@acme/ids/node.js", `import "node:crypto";`,
	)
	withPackages.Modules["node_modules/@acme/ids/package.json"] = &Module{Kind: ModuleJSON, JSON: []byte(`{"name":"@acme/ids",
  "exports":{"./short":{"node":"./node.js","workerd":{"import":"./esm/short.js"},"default":"./node.js"}},
  "imports":{"#alphabet":"./esm/alphabet.js"}}`)}
	withPackages.Modules["node_modules/legacy/package.json"] = &Module{Kind: ModuleJSON, JSON: []byte(`{"main":"lib/main"}`)}
	withPackages.Modules["node_modules/legacy/lib/main.js"] = &Module{Kind: ModuleCommonJS, Source: `module.exports = { name: require("./name.json").name };`}
	withPackages.Modules["node_modules/legacy/lib/name.json"] = &Module{Kind: ModuleJSON, JSON: []byte(`{"name":"legacy-1.0"}`)}
	return []corpusCase{
		{name: "wasm from JS", code: withWasm, outcome: OutcomeOK, status: 200, body: "50,5,true,65536,add:function mem:memory,RangeError from JS"},
		{name: "npm packages from node_modules", code: withPackages, outcome: OutcomeOK, status: 200, body: "abcd legacy-1.0"},
		{name: "hello", code: js("main.js", `export default { fetch() { return new Response("hi") } }`), outcome: OutcomeOK, status: 200, body: "hi"},
		// Libraries tag requests and responses with Symbol-keyed properties.
		{name: "symbol-tagged request", code: js("main.js", `const kSeen = Symbol("seen");
export default { fetch(req) { req[kSeen] = (req[kSeen] ?? 0) + 1; const r = new Response("x"); Object.defineProperty(r, kSeen, { get() { return this.status } });
  return new Response([req[kSeen], r[kSeen], Object.getOwnPropertySymbols(req).length].join()) } }`), outcome: OutcomeOK, status: 200, body: "1,200,1"},
		// The paths goja's patches made fast (third_party/goja-patches):
		// JSON both ways, a stable sort with a comparator, push, +=.
		{name: "data fast paths", code: js("main.js", `export default { fetch() {
  const items = [];
  for (let i = 0; i < 2000; i++) items.push({ id: i, k: (i * 7) % 13, s: "n\"" + i + "\u00e9" });
  const back = JSON.parse(JSON.stringify(items));
  back.sort((a, b) => a.k - b.k);
  let s = "";
  for (const o of back.slice(0, 300)) s += o.id + ",";
  const stable = back.every((o, i) => i === 0 || back[i - 1].k < o.k || (back[i - 1].k === o.k && back[i - 1].id < o.id));
  return new Response([stable, s.length, s.slice(0, 40), back[1999].s, JSON.stringify(JSON.parse('{"a":[1,-0,1e3,"\\ud83d\\ude00\\n"]}'))].join(" "));
} }`), outcome: OutcomeOK, status: 200, body: "true 1328 0,13,26,39,52,65,78,91,104,117,130,143,1 n\"1987é {\"a\":[1,0,1000,\"😀\\n\"]}"},
		// goja's SharedArrayBuffer, Atomics and resizable ArrayBuffer
		// (third_party/goja-patches 0021-0023).
		{name: "SharedArrayBuffer, Atomics, resizable ArrayBuffer", code: js("main.js", `export default { fetch() {
  const sab = new SharedArrayBuffer(8, { maxByteLength: 16 });
  const i32 = new Int32Array(sab);
  Atomics.store(i32, 0, 40);
  const old = Atomics.add(i32, 0, 2);
  const cas = Atomics.compareExchange(i32, 0, 42, 7);
  sab.grow(16);
  let wait;
  try { Atomics.wait(i32, 0, 7, 0); wait = "returned"; } catch (e) { wait = e.name; }
  const rab = new ArrayBuffer(4, { maxByteLength: 64 });
  const tracking = new Uint8Array(rab);
  const fixed = new Uint8Array(rab, 2, 2);
  rab.resize(32);
  const grown = tracking.length;
  rab.resize(3);
  const text = new TextDecoder().decode(new Uint8Array(new SharedArrayBuffer(2)).fill(0x41));
  const copy = structuredClone(rab);
  return new Response([old, Atomics.load(i32, 0), cas, i32.length, wait, grown, tracking.length, fixed.length,
    copy.resizable, copy.maxByteLength, text, Object.prototype.toString.call(sab)].join(" "));
} }`), outcome: OutcomeOK, status: 200, body: "40 7 42 4 TypeError 32 3 0 true 64 AA [object SharedArrayBuffer]"},
		{name: "ts multi-module", code: tsMulti, outcome: OutcomeOK, status: 200, body: "hello ts v1.2 n=2"},
		{name: "router URL", code: router, req: &Request{URL: "https://x.test/users?page=3"}, outcome: OutcomeOK, status: 200, body: `{"users":["ada","bob"],"page":3}`},
		{name: "router headers", code: router, req: &Request{URL: "https://x.test/echo-headers", Headers: map[string]string{"X-B": "2", "x-a": "1"}}, outcome: OutcomeOK, status: 200, body: "x-a=1;x-b=2"},
		{name: "router 404 combines headers", code: router, req: &Request{URL: "https://x.test/nope"}, outcome: OutcomeOK, status: 404, body: "no route /nope"},
		{name: "crypto digest", code: js("main.js", `export default { async fetch() {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc"));
  return new Response([...new Uint8Array(d)].map(b => b.toString(16).padStart(2, "0")).join(""));
} }`), outcome: OutcomeOK, status: 200, body: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{name: "text encoding", code: js("main.js", `export default { fetch() {
  const bytes = new TextEncoder().encode("héllo ✓");
  return new Response(bytes.length + ":" + new TextDecoder().decode(bytes) + ":" + btoa("hi") + ":" + atob("aGk="));
} }`), outcome: OutcomeOK, status: 200, body: "10:héllo ✓:aGk=:hi"},
		{name: "timers and promises", code: js("main.js", `const sleep = (ms, v) => new Promise(r => setTimeout(() => r(v), ms));
export default { async fetch() {
  const order = [];
  queueMicrotask(() => order.push("micro"));
  const t = setTimeout(() => order.push("cleared"), 1); clearTimeout(t);
  let n = 0; const three = new Promise(r => { const iv = setInterval(() => { if (++n === 3) { clearInterval(iv); r(); } }, 1); });
  const vals = await Promise.all([sleep(5, "a"), sleep(1, "b")]);
  await three; // an interval fires once per turn of the loop: on a loaded host 15 ms held only two
  await sleep(10); // cleared: it fires no more
  return new Response(order.join(",") + "|" + vals.join("") + "|" + n);
} }`), outcome: OutcomeOK, status: 200, body: "micro|ab|3"},
		{name: "thrown error maps to TS line", code: throwing, outcome: OutcomeException, excHas: []string{"TypeError", "boom at 3", "util.ts:3", "\nTypeError: boom at 3\n    at explode (util.ts:3:20)\n    at fetch (main.ts:4:12)"}},
		{name: "WebAssembly.Table of an exported funcref table", code: js("main.js", `// A module with a table of 4: entry 0 answers 42, entry 1 adds, entry 2 is null.
const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,16,3,96,0,1,127,96,2,127,127,1,127,96,1,127,1,127,3,4,3,0,1,2,4,5,1,112,1,4,10,7,7,1,3,116,98,108,1,0,9,14,2,0,65,0,11,2,0,1,0,65,3,11,1,2,10,26,3,4,0,65,42,11,7,0,32,0,32,1,106,11,11,0,32,0,32,0,65,0,17,1,0,11]);
export default { fetch() {
  const { tbl } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
  const grown = tbl.grow(1);
  return new Response([tbl instanceof WebAssembly.Table, tbl.length, tbl.get(0)(), tbl.get(1)(40, 2), tbl.get(2), grown].join());
} };`), outcome: OutcomeOK, status: 200, body: "true,5,42,42,,4"},
		{name: "err.stack inside the Worker reads like V8's", code: stackWorker, outcome: OutcomeOK, status: 200,
			body: "Error: boom\n    at explode (util.ts:3:9)\n    at fetch (main.ts:6:7)" +
				"|TypeError: bad\n    at check (util.ts:5:50)\n    at fetch (main.ts:10:11)" +
				"|HttpError: teapot\n    at fetch (main.ts:11:15)" +
				"|RangeError: r\n    at main.ts:12:37\n    at map (native)\n    at fetch (main.ts:12:18)" +
				"|captured\n    at fetch (main.ts:13:45)|true true true true true true true|12|0|TypeError: Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.\n    at fetch (main.ts:20:39)" +
				"|1 fetch main.ts 22 false fetch (main.ts:22:16)|AbortError: m false true" +
				"|TypeError: Cannot read property 'x' of undefined\n    at main.ts:14:49\n    at fetch (main.ts:14:78)" +
				"|SyntaxError: Unexpected end of JSON input\n    at parse (native)\n    at fetch (main.ts:25:41)"},
		{name: "request json and Response.json", code: js("main.js", `export default { async fetch(req) {
  const body = await req.json();
  return Response.json({ got: body.x * 2, method: req.method }, { status: 201 });
} }`), req: &Request{Method: "POST", Body: []byte(`{"x":21}`)}, outcome: OutcomeOK, status: 201, body: `{"got":42,"method":"POST"}`},
		{name: "body used once", code: js("main.js", `export default { async fetch(req) {
  await req.text();
  try { await req.text(); return new Response("read twice"); } catch (e) { return new Response(e.name + " " + req.bodyUsed); }
} }`), req: &Request{Method: "POST", Body: []byte("x")}, outcome: OutcomeOK, status: 200, body: "TypeError true"},
		{name: "data modules", code: withData, outcome: OutcomeOK, status: 200, body: "cfg:a note"},
		{name: "console levels", code: js("main.js", `export default { fetch() {
  console.log("one", 2, { three: 3 }); console.warn("careful"); console.error(new Error("bad"));
  return new Response("logged");
} }`), outcome: OutcomeOK, status: 200, body: "logged", logHas: []string{"log:one 2", "warn:careful", "error:"}},
		{name: "waitUntil runs", code: js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(() => { console.log("after"); r(); }, 5)));
  return new Response("early");
} }`), outcome: OutcomeOK, status: 200, body: "early", logHas: []string{"log:after"}},
		{name: "waitUntil rejected after the response", code: js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise((_, reject) => setTimeout(() => { console.log("after"); reject(new RangeError("late")); }, 5)));
  return new Response("early");
} }`), outcome: OutcomeOK, status: 200, body: "early", logHas: []string{"log:after"}, excHas: []string{"RangeError", "late"}},
		{name: "no fetch handler", code: js("main.js", `export default {}`), outcome: OutcomeException, excHas: []string{"fetch"}},
		{name: "not a Response", code: js("main.js", `export default { fetch() { return "text" } }`), outcome: OutcomeException, excHas: []string{"Response"}},
		{name: "hung promise", code: js("main.js", `export default { fetch() { return new Promise(() => {}) } }`), outcome: OutcomeException, excHas: []string{"hung"}},
		{name: "egress denied", code: js("main.js", `export default { async fetch() {
  try { await fetch("https://example.com/"); return new Response("reached"); } catch (e) { return new Response(e.name + ": " + e.message, { status: 502 }); }
} }`), outcome: OutcomeOK, status: 502, bodyHas: []string{"TypeError", "not granted"}},
		{name: "egress granted", code: js("main.js", `export default { async fetch() {
  const r = await fetch("https://echo.test/x", { method: "POST", body: "ping" });
  return new Response(r.status + " " + await r.text());
} }`), outcome: OutcomeOK, status: 200, body: "200 echo:POST:ping"},
		{name: "kv round trip", code: js("main.js", `export default { async fetch(req, env) {
  await env.KV.put("k1", "v1", { metadata: { by: "test" } });
  await env.KV.put("k2", JSON.stringify({ n: 7 }));
  const v = await env.KV.get("k1");
  const j = await env.KV.get("k2", "json");
  const m = await env.KV.getWithMetadata("k1");
  const l = await env.KV.list({ prefix: "k" });
  await env.KV.delete("k1");
  const gone = await env.KV.get("k1");
  return new Response([v, j.n, m.metadata.by, l.keys.map(k => k.name).join("+"), gone].join(","));
} }`), outcome: OutcomeOK, status: 200, body: "v1,7,test,k1+k2,"},
		{name: "kv consistency and error codes", code: js("main.js", `export default { async fetch(req, env) {
  const out = [];
  out.push(await env.KV.get("echo-consistency", { consistency: "eventual" }));
  out.push(await env.KV.get("echo-consistency"));
  out.push((await env.KV.getWithMetadata("echo-consistency", { type: "text", consistency: "strong" })).value);
  out.push((await env.KV.list({ prefix: "echo-consistency", consistency: "eventual" })).keys[0].name);
  for (const f of [() => env.KV.get("k", { consistency: "weak" }), () => env.KV.list({ consistency: 1 }),
      () => env.KV.get("fail:unavailable"), () => env.KV.put("fail:denied", "v"), () => env.KV.delete("fail:invalid"),
      () => env.KV.get("fail:storage"), () => env.KV.put("k", {}), () => env.KV.put("big", new Uint8Array(25 * 1024 * 1024 + 1))]) {
    try { await f(); out.push("no error"); } catch (e) { out.push([e.name, e.code, e instanceof Error, e.message].join(" ")); }
  }
  return Response.json(out);
} }`), outcome: OutcomeOK, status: 200, body: `["eventual","","strong","eventual",` +
			`"TypeError KV_INVALID true KV get: consistency must be \"strong\" or \"eventual\", not weak",` +
			`"TypeError KV_INVALID true KV list: consistency must be \"strong\" or \"eventual\", not 1",` +
			`"Error KV_UNAVAILABLE true KV KV.get: refused by the test store",` +
			`"Error KV_DENIED true KV KV.put: refused by the test store",` +
			`"TypeError KV_INVALID true KV KV.delete: refused by the test store",` +
			`"Error KV_STORAGE true KV KV.get: the test store failed",` +
			`"TypeError KV_INVALID true KV put: value must be a string, ArrayBuffer or ArrayBufferView, not [object Object]",` +
			`"TypeError KV_INVALID true KV put: value: length of 26214401 exceeds limit of 26214400"]`},
		// A string longer than the bound is refused before it is encoded
		// (in a call of its own: under -race and a loaded machine the
		// copies of 25 MiB above take most of a call's CPU).
		{name: "kv put of a string past the value bound", code: js("main.js", `export default { async fetch(req, env) {
  try { await env.KV.put("big", "x".repeat(25 * 1024 * 1024 + 1)); return new Response("no error"); }
  catch (e) { return new Response([e.name, e.code, e.message].join(" ")); }
} }`), outcome: OutcomeOK, status: 200, body: "TypeError KV_INVALID KV put: value: a string of 26214401 characters exceeds the limit of 26214400 bytes"},
		{name: "kv bulk get and stream", code: js("main.js", `export default { async fetch(req, env) {
  await env.KV.put("a", "1", { metadata: { m: "a" } });
  await env.KV.put("b", JSON.stringify({ n: 2 }));
  const out = [];
  const m = await env.KV.get(["a", "b", "missing"]);
  out.push(m instanceof Map, m.size, m.get("a"), m.get("b"), m.get("missing"));
  const j = await env.KV.get(["b"], { type: "json" });
  out.push(j.get("b").n);
  const w = await env.KV.getWithMetadata(["a", "missing"], "text");
  out.push(w.get("a").value, w.get("a").metadata.m, w.get("missing"));
  out.push(await new Response(await env.KV.get("a", "stream")).text());
  out.push(await env.KV.get("missing", { type: "stream" }));
  const many = Array.from({ length: 101 }, (_, i) => "k" + i);
  for (const f of [() => env.KV.get(many), () => env.KV.get([]), () => env.KV.get(["a"], "arrayBuffer"),
      () => env.KV.getWithMetadata(["a"], { type: "stream" }), () => env.KV.get(["a", "fail:unavailable"])]) {
    try { await f(); out.push("no error"); } catch (e) { out.push([e.name, e.code, e.message].join(" ")); }
  }
  return Response.json(out);
} }`), outcome: OutcomeOK, status: 200, body: `[true,3,"1","{\"n\":2}",null,2,"1","a",null,"1",null,` +
			`"TypeError KV_INVALID KV get: 101 keys; a bulk get takes 1 to 100",` +
			`"TypeError KV_INVALID KV get: 0 keys; a bulk get takes 1 to 100",` +
			`"TypeError KV_INVALID KV get: a bulk get takes the types text and json, not arrayBuffer",` +
			`"TypeError KV_INVALID KV getWithMetadata: a bulk get takes the types text and json, not stream",` +
			`"Error KV_UNAVAILABLE KV KV.getBulk: refused by the test store"]`},
		{name: "structuredClone", code: js("main.js", `export default { fetch() {
  const a = { d: new Date(0), m: new Map([[1, 2]]) }; a.self = a;
  const b = structuredClone(a);
  return new Response(String(b.self === b && b !== a && b.m.get(1) === 2 && b.d.getTime() === 0));
} }`), outcome: OutcomeOK, status: 200, body: "true"},
		{name: "ArrayBuffer transfer", code: js("main.js", `export default { async fetch() {
  const u = new TextEncoder().encode("abc"); const moved = u.buffer.transfer(5);
  const d = await crypto.subtle.digest("SHA-256", u);
  return new Response([u.buffer.detached, u.byteLength, moved.byteLength, new TextDecoder().decode(moved.slice(0, 3)), d.byteLength].join(" "));
} }`), outcome: OutcomeOK, status: 200, body: "true 0 5 abc 32"},
		{name: "for await lowered", code: js("main.js", `async function* gen() { yield 1; yield 2; }
export default { async fetch() { let s = 0; for await (const v of gen()) s += v; return new Response(String(s)); } }`), outcome: OutcomeOK, status: 200, body: "3"},
		{name: "syntax error names the line", code: js("main.ts", "export default {\n  fetch() { return new Response(\"x\" }\n}"), outcome: OutcomeException, excHas: []string{"main.ts:2"}},
		{name: "abort controller", code: js("main.js", `export default { fetch() {
  const c = new AbortController(); let seen = "";
  c.signal.addEventListener("abort", () => seen = "aborted");
  c.abort();
  return new Response(seen + " " + c.signal.aborted);
} }`), outcome: OutcomeOK, status: 200, body: "aborted true"},
		{name: "env values and bindings", code: withEnv, outcome: OutcomeOK, status: 200, body: `{"g":"hello","n":1,"kv":"function"}`},
		{name: "nodejs_compat modules", code: nodeCompat, req: &Request{Method: "POST", URL: "https://x.test/", Body: []byte("h\u00e9\u00e9!")}, outcome: OutcomeOK, status: 200,
			body:   `{"text":"héé!","hex":"68c3a9c3a921","b64":"aMOpw6kh","md5":"84e844d8b4819174b5d5a538b6b738db","mac":"2d3a5cc788e1c1793942081e8dd23e5f0736bcdbf4ef2d0169c0718b597b06db","same":true,"waited":"waited","secret":"k","notText":null,"globals":"function,object"}`,
			logHas: []string{"body.txt has 6 bytes <Buffer 68 c3>"}},
		{name: "node: import without nodejs_compat", code: noNodeCompat, outcome: OutcomeException,
			excHas: []string{`import "node:buffer": add "nodejs_compat" to compatibilityFlags (warren run --compat nodejs_compat)`, "main.js:1"}},
		{name: "streamed response", code: js("main.js", `export default { fetch() {
  const { readable, writable } = new TransformStream();
  const w = writable.getWriter(), enc = new TextEncoder();
  let i = 0;
  const tick = () => setTimeout(async () => {
    if (i === 4) { await w.close(); return; }
    await w.write(enc.encode("chunk" + i++ + ";"));
    tick();
  }, 2);
  tick();
  return new Response(readable, { headers: { "content-type": "text/plain" } });
} }`), outcome: OutcomeOK, status: 200, body: "chunk0;chunk1;chunk2;chunk3;"},
		{name: "streams compose", code: js("main.js", `export default { async fetch(req) {
  const gz = new Response("streams " + "x".repeat(1000)).body.pipeThrough(new CompressionStream("gzip"));
  let text = "";
  for await (const s of gz.pipeThrough(new DecompressionStream("gzip")).pipeThrough(new TextDecoderStream())) text += s;
  let n = 0;
  for await (const c of new Blob(["abc"]).stream()) n += c.byteLength;
  return new Response(text.slice(0, 8) + text.length + " " + n);
} }`), outcome: OutcomeOK, status: 200, body: "streams 1008 3"},
		{name: "fetch with a stream body, response passed through", code: js("main.js", `export default { async fetch() {
  const { readable, writable } = new TransformStream();
  const w = writable.getWriter();
  setTimeout(async () => { await w.write(new TextEncoder().encode("pi")); setTimeout(() => { w.write(new TextEncoder().encode("ng")); w.close(); }, 1); }, 1);
  const r = await fetch("https://echo.test/x", { method: "POST", body: readable });
  const r2 = new Response(r.body, r);
  return new Response(r2.body.pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c); }, flush(ctl) { ctl.enqueue(new TextEncoder().encode("!")); } })), r2);
} }`), outcome: OutcomeOK, status: 200, body: "echo:POST:ping!"},
		{name: "fetch with a stream body too large", code: withCPU(10_000, js("main.js", `export default { async fetch() {
  let n = 0;
  const body = new ReadableStream({ pull(c) { if (n++ === 5) c.close(); else c.enqueue(new Uint8Array(8 << 20)); } });
  const e = await fetch("https://echo.test/x", { method: "POST", body }).then(() => "sent", (e) => e.name + ": " + e.message);
  return new Response(e + " " + body.locked);
} }`)), outcome: OutcomeOK, status: 200, body: "RangeError: fetch: the request body is more than 33554432 bytes true"},
		{name: "fetch with a failing stream body", code: js("main.js", `export default { async fetch() {
  const body = new ReadableStream({ pull(c) { c.error(new SyntaxError("source broke")); } });
  return new Response(await fetch("https://echo.test/x", { method: "POST", body }).then(() => "sent", (e) => e.name + ": " + e.message));
} }`), outcome: OutcomeOK, status: 200, body: "SyntaxError: source broke"},
		{name: "stream chunk not bytes", code: js("main.js", `export default { fetch() {
  return new Response(new ReadableStream({ start(c) { c.enqueue("text"); c.close(); } }));
} }`), outcome: OutcomeException, excHas: []string{"TypeError", "did not return bytes"}},
		{name: "web platform details", code: js("main.js", `export default { async fetch() {
  const out = [];
  try { Headers(); } catch (e) { out.push(e.name); }
  out.push(new TextDecoder("shift_jis").decode(new Uint8Array([0x93, 0xfa, 0x96, 0x7b])));
  const f = new File(["a\r\nb"], "f.txt", { type: "Text/Plain", endings: "native", lastModified: 7 });
  out.push(f instanceof Blob, f.name, f.type, f.lastModified, JSON.stringify(await f.text()));
  const fd = new FormData(); fd.append("x", new Blob(["y"]));
  out.push(fd.get("x") instanceof File, fd.get("x").name);
  const buf = new Uint8Array([1, 2]).buffer;
  const c = structuredClone({ buf }, { transfer: [buf] });
  out.push(buf.byteLength, c.buf.byteLength);
  out.push(Object.prototype.toString.call(new Headers().keys()));
  return new Response(out.join("|"));
} }`), outcome: OutcomeOK, status: 200, body: `TypeError|日本|true|f.txt|text/plain|7|"a\nb"|true|blob|0|2|[object Headers Iterator]`},
		{name: "HTMLRewriter", code: js("main.js", `class Rewrite {
  constructor(prefix) { this.prefix = prefix; this.seen = 0; }
  element(el) { this.seen++; el.setAttribute("href", this.prefix + el.getAttribute("href")); }
}
export default { async fetch(request) {
  const origin = new Response('<!doctype html><html><head><title>Old</title></head><body><a href="/a">A</a><p class="ad">buy</p><ul><li>1</li><li>2</li></ul><!-- x --></body></html>',
    { headers: { "content-type": "text/html;charset=UTF-8" } });
  const links = new Rewrite("https://cdn.example");
  const res = new HTMLRewriter()
    .on("a[href^='/']", links)
    .on("title", { text(t) { if (t.text) t.replace("New") } })
    .on("p.ad", { element(el) { el.remove() } })
    .on("li:nth-child(2)", { async element(el) { await null; el.setInnerContent("<b>two</b>", { html: true }) } })
    .onDocument({ comments(c) { c.remove() }, end(end) { end.append("<!-- rewritten -->", { html: true }) } })
    .transform(origin);
  res.headers.set("x-links", String(links.seen));
  return res;
} }`), outcome: OutcomeOK, status: 200,
			body: `<!doctype html><html><head><title>New</title></head><body><a href="https://cdn.example/a">A</a><ul><li>1</li><li><b>two</b></li></ul></body></html><!-- rewritten -->`},
		{name: "request.cf", code: js("main.js", `export default { fetch(request) {
  const own = new Request("https://x.test/");
  const given = new Request("https://x.test/", { cf: { cacheTtl: 5 } });
  const copied = new Request(request);
  return Response.json({ cf: request.cf, own: own.cf === undefined, given: given.cf.cacheTtl, copied: copied.cf.colo });
} }`), req: &Request{URL: "https://x.test/", CF: &RequestCF{HTTPProtocol: "HTTP/2", ClientTCPRTT: 7}}, outcome: OutcomeOK, status: 200,
			body: `{"cf":{"colo":"test","httpProtocol":"HTTP/2","clientTcpRtt":7},"own":true,"given":5,"copied":"test"}`},
		{name: "Cache API", code: js("main.js", `export default { async fetch(request, env, ctx) {
  const cache = caches.default;
  const key = new Request("https://example.test/page?id=1");
  const first = await cache.match(key);
  const fresh = new Response("rendered", { headers: { "cache-control": "s-maxage=300", "content-type": "text/plain" } });
  await cache.put(key, fresh.clone());
  const hit = await cache.match(key.url);
  const named = await (await caches.open("v2")).match(key);
  return new Response([String(first), fresh.bodyUsed, await hit.text(), hit.headers.get("cf-cache-status"), hit.headers.get("content-type"), String(named), await cache.delete(key)].join("|"));
} }`), outcome: OutcomeOK, status: 200, body: "undefined|false|rendered|HIT|text/plain|undefined|true"},
		{name: "request.cf never undefined", code: js("main.js", `export default { fetch(request) { return Response.json(request.cf) } }`),
			outcome: OutcomeOK, status: 200, body: `{"colo":"test"}`},
		// Expected strings are V8's (ICU's); the IANA zones need the
		// embedded zone database where the sandbox has none.
		{name: "Intl", code: js("main.js", `export default { fetch() {
  const d = new Date(Date.UTC(2024, 6, 4, 18, 30));
  return new Response([
    new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(1234.5),
    new Intl.DateTimeFormat("en-US", { dateStyle: "full", timeStyle: "short", timeZone: "America/New_York" }).format(d),
    d.toLocaleDateString("ja-JP", { timeZone: "Asia/Tokyo" }),
    new Intl.PluralRules("en", { type: "ordinal" }).select(22),
    ["b", "ä", "a"].sort(new Intl.Collator("de").compare).join(""),
    new Intl.NumberFormat("en", { notation: "compact" }).format(1234567),
    new Intl.RelativeTimeFormat("en", { numeric: "auto" }).format(-1, "day"),
    new Intl.ListFormat("en").format(["a", "b", "c"]),
    new Intl.DisplayNames("en", { type: "region" }).of("FR"),
    [...new Intl.Segmenter("en", { granularity: "word" }).segment("hi there")].length,
  ].join("|"));
} }`), outcome: OutcomeOK, status: 200, body: "1.234,50\u00a0€|Thursday, July 4, 2024 at 2:30 PM|2024/7/5|two|aäb|1.2M|yesterday|a, b, and c|France|3"},
		{name: "toLocaleString without Intl", code: js("main.js", `export default { fetch() {
  return new Response([(1234.5).toLocaleString("fr-FR"), "a".localeCompare("B"),
    new Date(0).toLocaleString("en-GB", { timeZone: "Europe/London" })].join("|"));
} }`), outcome: OutcomeOK, status: 200, body: "1\u202f234,5|-1|01/01/1970, 01:00:00"},
	}
}

// withCPU gives code a CPU limit of ms (a case that moves tens of MiB
// needs more than the default under -race).
func withCPU(ms int64, code *Code) *Code {
	code.Limits = &Limits{CPUMs: ms}
	return code
}

func checkCase(t *testing.T, tc corpusCase, res *Result) {
	t.Helper()
	if res.Outcome != tc.outcome {
		t.Fatalf("outcome = %s, want %s (error %q, exceptions %+v)", res.Outcome, tc.outcome, res.Error, res.Exceptions)
	}
	if tc.outcome == OutcomeOK {
		if res.Response == nil {
			t.Fatal("no response")
		}
		if res.Response.Status != tc.status {
			t.Errorf("status = %d, want %d", res.Response.Status, tc.status)
		}
		body := string(res.Response.Body)
		if tc.bodyHas == nil && body != tc.body {
			t.Errorf("body = %q, want %q", body, tc.body)
		}
		for _, s := range tc.bodyHas {
			if !strings.Contains(body, s) {
				t.Errorf("body %q lacks %q", body, s)
			}
		}
	}
	var logs []string
	for _, l := range res.Logs {
		logs = append(logs, l.Level+":"+l.Message)
		if l.Timestamp == 0 {
			t.Errorf("log %q has no timestamp", l.Message)
		}
	}
	for _, s := range tc.logHas {
		if !strings.Contains(strings.Join(logs, "\n"), s) {
			t.Errorf("logs %q lack %q", logs, s)
		}
	}
	if len(tc.excHas) > 0 {
		if len(res.Exceptions) == 0 {
			t.Fatalf("no exception; want %q", tc.excHas)
		}
		e := res.Exceptions[0]
		all := e.Name + ": " + e.Message + "\n" + e.Stack
		for _, s := range tc.excHas {
			if !strings.Contains(all, s) {
				t.Errorf("exception %q lacks %q", all, s)
			}
		}
	}
}

func TestCorpus(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			for _, tc := range corpus() {
				t.Run(tc.name, func(t *testing.T) {
					checkCase(t, tc, run(t, rt, tc.code, tc.req))
				})
			}
		})
	}
}

// TestDifferential runs the corpus through both executors and demands the
// same results, timings aside.
func TestDifferential(t *testing.T) {
	in, sb := testRuntime(t, InProcess), testRuntime(t, Sandboxed)
	for _, tc := range corpus() {
		a, b := normalize(run(t, in, tc.code, tc.req)), normalize(run(t, sb, tc.code, tc.req))
		if ja, jb := mustJSONString(t, a), mustJSONString(t, b); ja != jb {
			t.Errorf("%s: executors disagree\n in-process: %s\n sandboxed:  %s", tc.name, ja, jb)
		}
	}
}

// normalize drops what legitimately differs between runs: timings,
// timestamps, cache state and the executor's name.
func normalize(r *Result) *Result {
	c := *r
	c.Telemetry = Telemetry{Node: r.Telemetry.Node}
	c.Logs = append([]Log(nil), r.Logs...)
	for i := range c.Logs {
		c.Logs[i].Timestamp = 0
	}
	c.Exceptions = append([]Exception(nil), r.Exceptions...)
	for i := range c.Exceptions {
		c.Exceptions[i].Timestamp = 0
	}
	return &c
}
