package isolate

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// nodeCase is one case of testdata/nodecompat/cases.json: an expression
// over the node: modules and the string Node gives for it (written by
// gen.js, in Node).
type nodeCase struct {
	Module string `json:"module"`
	Expr   string `json:"expr"`
	Want   string `json:"want"`
}

// nodeDiffers are the cases where warren deliberately gives another
// answer than Node, with the reason; docs/workers-api.md lists them.
var nodeDiffers = map[string]struct{ want, why string }{
	`(() => { try { Buffer.alloc(2 ** 31); } catch (e) { return e.name + ": " + e.code; } })()`: {
		"RangeError: ERR_OUT_OF_RANGE", "kMaxLength is 2**31-1, as in buffer@6 (Node 20: 2**32)"},
	`(async () => { const out = []; process.nextTick((a) => out.push("tick " + a), 1); Promise.resolve().then(() => out.push("then")); out.push("sync"); await new Promise((r) => setTimeout(r, 1)); return out.join(","); })()`: {
		"sync,tick 1,then", "nextTick queues a microtask, as in workerd"},
	`typeof process.nextTick + " " + typeof process.env + " " + process.platform + " " + process.cwd()`: {
		"function object linux /", "a Worker's working directory is /"},
	`util.inspect({ a: { b: { c: { d: 1 } } } }, { depth: null })`: {
		"{ a: { b: { c: { d: 1 } } } }", "inspect does not break lines"},
	`(() => { const o = { x: 1 }; o.self = o; return util.inspect(o); })()`: {
		"{ x: 1, self: [Circular] }", "cycles are not numbered"},
	`util.format("%o", [1])`: {"[ 1 ]", "%o does not show hidden properties"},
	`(() => { try { assert.strictEqual({ a: 1 }, { a: 1 }); } catch (e) { return e.message; } })()`: {
		"Values have same structure but are not reference-equal:\n\n{ a: 1 }\n", "inspect does not break lines"},
}

// nodeHarnessWorker is a Worker that evaluates the cases it is sent
// (a JSON array of expressions) with the harness gen.js uses in Node.
func nodeHarnessWorker(t *testing.T) *Code {
	t.Helper()
	harness, err := os.ReadFile("testdata/nodecompat/harness.js")
	if err != nil {
		t.Fatal(err)
	}
	c := js("main.js", `import { Buffer } from "node:buffer";
import * as bufferModule from "node:buffer";
import EventEmitter from "node:events";
import util from "node:util";
import path from "node:path";
import assert from "node:assert";
import assertStrict from "node:assert/strict";
import { StringDecoder } from "node:string_decoder";
import process from "node:process";
import crypto from "node:crypto";
`+string(harness)+`
const mods = { Buffer, bufferModule, EventEmitter, util, path, assert, assertStrict, StringDecoder, process, crypto };
export default {
  async fetch(request) {
    const out = [];
    for (const src of await request.json()) out.push(await evaluate(mods, src));
    return Response.json(out);
  },
};`)
	c.CompatibilityFlags = []string{NodeCompatFlag}
	return c
}

// TestNodeCompatModules runs every case of cases.json in warren and
// compares with what Node gives.
func TestNodeCompatModules(t *testing.T) {
	b, err := os.ReadFile("testdata/nodecompat/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []nodeCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	exprs := make([]string, len(cases))
	for i, c := range cases {
		exprs[i] = c.Expr
	}
	body, _ := json.Marshal(exprs)
	rt := testRuntime(t, InProcess)
	res := run(t, rt, nodeHarnessWorker(t), &Request{Method: "POST", URL: "https://x.test/", Body: body})
	if res.Outcome != OutcomeOK || res.Response == nil {
		t.Fatalf("outcome %s: %s %+v", res.Outcome, res.Error, res.Exceptions)
	}
	var got []string
	if err := json.Unmarshal(res.Response.Body, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("response %q: %v", res.Response.Body, err)
	}
	for i, c := range cases {
		want := c.Want
		if d, ok := nodeDiffers[c.Expr]; ok {
			want = d.want
		}
		if got[i] != want {
			t.Errorf("%s: %s\n got %q\nwant %q", c.Module, c.Expr, got[i], want)
		}
	}
}

func benchNode(b *testing.B, src string) {
	rt, err := New(Options{Executor: InProcess})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	code := js("main.js", src)
	code.CompatibilityFlags = []string{NodeCompatFlag}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := rt.Run(ctx, &Invocation{Code: code}); !r.OK() {
			b.Fatalf("%s %s %v", r.Outcome, r.Error, r.Exceptions)
		}
	}
}

// BenchmarkNodeCompatHello is hello with nodejs_compat: the globals are
// there, but nothing of Node's runs.
func BenchmarkNodeCompatHello(b *testing.B) {
	benchNode(b, `export default { fetch() { return new Response("hi") } }`)
}

// BenchmarkNodeCompatBuffer runs node:buffer and node:crypto once per call.
func BenchmarkNodeCompatBuffer(b *testing.B) {
	benchNode(b, `import { Buffer } from "node:buffer"; import { createHash } from "node:crypto";
export default { fetch() { return new Response(createHash("sha256").update(Buffer.from("hi")).digest("hex")) } }`)
}
