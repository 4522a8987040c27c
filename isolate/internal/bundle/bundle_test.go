package bundle

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// jsEval evaluates expr in vm (after the bundle ran) and returns it settled,
// as a string.
func jsEval(t *testing.T, vm *goja.Runtime, expr string) string {
	t.Helper()
	v, err := vm.RunString(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	v, err = settle(v)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v.String()
}

func TestBundleRuns(t *testing.T) {
	cases := []struct {
		name   string
		main   string
		mods   []Module
		checks map[string]string // JS expression (after the script ran) -> want
	}{
		{
			name: "multi-module TypeScript, relative and bare imports",
			main: "main.ts",
			mods: []Module{
				esm("main.ts", `import { twice } from "./lib/util";
import { add } from "lib/math.ts";
import * as shared from "./shared.js"; // the TS convention: .js names the .ts source
import dir from "./lib/dir";
export const answer: number = add(twice(20), 2);
export default { name: shared.NAME + dir, fetch(): number { return answer } };`),
				esm("lib/util.ts", `import { add } from "./math";
export function twice(n: number): number { return add(n, n) }`),
				esm("lib/math.ts", `export const add = (a: number, b: number): number => a + b;`),
				esm("shared.ts", `export const NAME: string = "shared"; export type T = number;`),
				esm("lib/dir/index.mts", `import { NAME } from "../../shared.ts"; export default "+" + NAME.length`),
			},
			checks: map[string]string{
				"__warrenMain.answer":          "42",
				"__warrenMain.default.fetch()": "42",
				"__warrenMain.default.name":    "shared+6",
			},
		},
		{
			name: "ESM imports CommonJS",
			main: "main.js",
			mods: []Module{
				esm("main.js", `import cjs, { named } from "./c.cjs"; export default cjs.named + named + cjs.fn()`),
				{Name: "c.cjs", Kind: CommonJS, Source: `exports.named = 1; module.exports.fn = () => 2;`},
			},
			checks: map[string]string{"__warrenMain.default": "4"},
		},
		{
			name: "CommonJS requires ESM and CommonJS",
			main: "main.js",
			mods: []Module{
				esm("main.js", `import x from "./a.js"; export default x`),
				{Name: "a.js", Kind: CommonJS, Source: `const e = require("./e.mjs"); const c = require("./c");
module.exports = e.default + e.named + c.v;`},
				esm("e.mjs", `export default 10; export const named = 20;`),
				{Name: "c.cjs", Kind: CommonJS, Source: `exports.v = 12;`},
			},
			checks: map[string]string{"__warrenMain.default": "42"},
		},
		{
			name: "CommonJS main: module.exports is the default export",
			main: "main.cjs",
			mods: []Module{{Name: "main.cjs", Kind: CommonJS, Source: `module.exports = { fetch() { return "hi" }, n: 3 };`}},
			checks: map[string]string{
				"__warrenMain.default.fetch()": "hi",
				"__warrenMain.n":               "3",
			},
		},
		{
			name: "CommonJS main with __esModule default",
			main: "main.js",
			mods: []Module{{Name: "main.js", Kind: CommonJS, Source: `Object.defineProperty(exports, "__esModule", { value: true });
exports.default = { fetch() { return "esm-ish" } }; exports.Counter = class Counter {};`}},
			checks: map[string]string{
				"__warrenMain.default.fetch()": "esm-ish",
				"typeof __warrenMain.Counter":  "function",
				"__warrenMain.Counter.name":    "Counter",
			},
		},
		{
			name: "text, data and json modules",
			main: "main.ts",
			mods: []Module{
				esm("main.ts", `import txt from "./t.txt";
import bin from "bin";
import data, { list } from "./d.json";
import cfg from "./c"; // extensionless json
export const text = txt;
export const isBuf = bin instanceof ArrayBuffer;
export const bytes = Array.from(new Uint8Array(bin)).join();
export const size = bin.byteLength;
export const json = JSON.stringify(data) + list.length + cfg.on;`),
				{Name: "t.txt", Kind: Text, Source: "héllo\n`${x}`\u2028"},
				{Name: "bin", Kind: Data, Data: []byte{0, 1, 2, 250, 255}},
				{Name: "d.json", Kind: JSON, JSON: []byte(`{"a":{"b":[1,2]},"list":[1,2,3]}`)},
				{Name: "c.json", Kind: JSON, JSON: []byte(`{"on":true}`)},
			},
			checks: map[string]string{
				"__warrenMain.text":  "héllo\n`${x}`\u2028",
				"__warrenMain.isBuf": "true",
				"__warrenMain.bytes": "0,1,2,250,255",
				"__warrenMain.size":  "5",
				"__warrenMain.json":  `{"a":{"b":[1,2]},"list":[1,2,3]}3true`,
			},
		},
		{
			name: "empty data module",
			main: "main.js",
			mods: []Module{
				esm("main.js", `import b from "./e.bin"; export default b instanceof ArrayBuffer && b.byteLength === 0`),
				{Name: "e.bin", Kind: Data},
			},
			checks: map[string]string{"__warrenMain.default": "true"},
		},
		{
			name: "cloudflare:workers classes",
			main: "main.ts",
			mods: []Module{esm("main.ts", `import { DurableObject, WorkerEntrypoint, RpcTarget, WorkflowEntrypoint, env } from "cloudflare:workers";
export class Counter extends DurableObject {
  count = 0;
  constructor(ctx: any, env: any) { super(ctx, env); this.count = env.START }
  inc(): number { return ++this.count + this.ctx.id }
}
export class Flow extends WorkflowEntrypoint { run() { return this.env.X } }
export class Thing extends RpcTarget { hi() { return "hi" } }
export function readEnv() { return env.GREETING + ":" + ("GREETING" in env) + ":" + Object.keys(env).join() }
export default class extends WorkerEntrypoint { fetch() { return this.env.GREETING } }`)},
			checks: map[string]string{
				"new __warrenMain.Counter({id: 100}, {START: 1}).inc()":                   "102",
				"new __warrenMain.Counter({id: 1}, {START: 1}).env.START":                 "1",
				`__warrenMain.Counter[Symbol.for("warren.entrypoint")]`:                   "DurableObject",
				`__warrenMain.default[Symbol.for("warren.entrypoint")]`:                   "WorkerEntrypoint",
				`__warrenMain.Flow[Symbol.for("warren.entrypoint")]`:                      "WorkflowEntrypoint",
				`__warrenMain.Thing[Symbol.for("warren.entrypoint")]`:                     "RpcTarget",
				"new __warrenMain.default({}, {GREETING: 'hey'}).fetch()":                 "hey",
				"new __warrenMain.Flow({}, {X: 7}).run()":                                 "7",
				"new __warrenMain.Thing().hi()":                                           "hi",
				"globalThis.__warrenEnv = {GREETING: 'yo', K: 1}; __warrenMain.readEnv()": "yo:true:GREETING,K",
				"Object.getPrototypeOf(__warrenMain.Counter.prototype).constructor.name":  "DurableObject",
			},
		},
		{
			name: "dynamic import of a bundled module",
			main: "main.js",
			mods: []Module{
				esm("main.js", `export default { async fetch() { const m = await import("./lazy.js"); return m.v } }`),
				esm("lazy.js", `export const v = "lazy"`),
			},
			checks: map[string]string{"__warrenMain.default.fetch()": "lazy"},
		},
		{
			name:   "ESM is strict",
			main:   "main.js",
			mods:   []Module{esm("main.js", `export default (function () { return this === undefined })()`)},
			checks: map[string]string{"__warrenMain.default": "true"},
		},
		{
			name: "JSX in .tsx",
			main: "main.tsx",
			mods: []Module{esm("main.tsx", `const React = { createElement: (t: string, p: any, ...c: any[]) => t + ":" + c.join() };
export default <b>{1}{2}</b>;`)},
			checks: map[string]string{"__warrenMain.default": "b:1,2"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Bundle(c.main, c.mods)
			if err != nil {
				t.Fatal(err)
			}
			vm, _, err := runScript(res.Script)
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Script)
			}
			for expr, want := range c.checks {
				if got := jsEval(t, vm, expr); got != want {
					t.Errorf("%s = %q, want %q", expr, got, want)
				}
			}
		})
	}
}

// An async handler using async generators and for-await, driven from Go the
// way the isolate does it: the promise settles when the outermost call returns.
func TestAsyncHandlerFromGo(t *testing.T) {
	res, err := Bundle("main.ts", []Module{esm("main.ts", `
async function* chunks(n: number): AsyncGenerator<string> {
  for (let i = 0; i < n; i++) { await Promise.resolve(); yield "c" + i; }
}
export default {
  async fetch(req: { n: number }): Promise<string> {
    const out: string[] = [];
    for await (const c of chunks(req.n)) out.push(c);
    return out.join(",");
  },
};`)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Script, "for await") || strings.Contains(res.Script, "async function*") {
		t.Fatal("async iteration was not lowered")
	}
	vm, ns, err := runScript(res.Script)
	if err != nil {
		t.Fatal(err)
	}
	fetch, ok := goja.AssertFunction(ns.Get("default").ToObject(vm).Get("fetch"))
	if !ok {
		t.Fatal("default.fetch is not a function")
	}
	v, err := fetch(goja.Undefined(), vm.ToValue(map[string]any{"n": 3}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := settle(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "c0,c1,c2" {
		t.Fatalf("fetch() = %q", got)
	}
}

func TestBundleErrors(t *testing.T) {
	cases := []struct {
		name      string
		main      string
		mods      []Module
		file      string
		line, col int
		textHas   []string
		errorIs   string // exact Error() if set
	}{
		{
			name: "syntax error",
			main: "main.ts",
			mods: []Module{esm("main.ts", "const a = 1;\nconst b = 2;\nlet x = a b;\n")},
			file: "main.ts", line: 3, col: 11,
			errorIs: `main.ts:3:11: Expected ";" but found "b"`,
		},
		{
			name: "syntax error in an imported module, after non-ASCII text",
			main: "main.js",
			mods: []Module{esm("main.js", `import "./lib/u.ts"`), esm("lib/u.ts", "// x\nconst s = \"😀é\"; let y: = 1;\n")},
			file: "lib/u.ts", line: 2, col: 25, // UTF-16: the emoji counts 2
			textHas: []string{`Unexpected "="`},
		},
		{
			name: "TypeScript syntax in a .js module",
			main: "main.js",
			mods: []Module{esm("main.js", "let n: number = 1;\nexport default n")},
			file: "main.js", line: 1, col: 6,
			textHas: []string{`Expected ";" but found ":"`},
		},
		{
			name: "unknown relative import",
			main: "main.ts",
			mods: []Module{esm("main.ts", "\nimport { x } from \"./nope\";\nexport default x")},
			file: "main.ts", line: 2, col: 19,
			textHas: []string{`"./nope"`, `"main.ts"`},
		},
		{
			name: "unknown bare import is not looked up on disk or with extensions",
			main: "main.js",
			mods: []Module{esm("main.js", `import u from "helpers"; export default u`), esm("helpers.js", "export default 1")},
			file: "main.js", line: 1, col: 15,
			textHas: []string{`"helpers"`, `"main.js"`},
		},
		{
			name: "a package subpath its exports do not list",
			main: "src/main.js",
			mods: []Module{
				esm("src/main.js", "\n  import x from \"@acme/p/internal\"; export default x"),
				{Name: "node_modules/@acme/p/package.json", Kind: JSON, JSON: []byte(`{"exports":{".":"./index.js"}}`)},
				esm("node_modules/@acme/p/index.js", "export default 1"),
				esm("node_modules/@acme/p/internal.js", "export default 2"),
			},
			file: "src/main.js", line: 2, col: 17,
			errorIs: `src/main.js:2:17: cannot resolve "@acme/p/internal" imported by "src/main.js": node_modules/@acme/p/package.json: the package does not export "./internal" for the conditions workerd, worker, browser, import, default`,
		},
		{
			name: "a require() of a package with only an import condition",
			main: "main.cjs",
			mods: []Module{
				{Name: "main.cjs", Kind: CommonJS, Source: `module.exports = require("p")`},
				{Name: "node_modules/p/package.json", Kind: JSON, JSON: []byte(`{"exports":{"import":"./index.js"}}`)},
				esm("node_modules/p/index.js", "export default 1"),
			},
			file: "main.cjs", line: 1, col: 26,
			textHas: []string{`cannot resolve "p" imported by "main.cjs"`, `for the conditions workerd, worker, browser, require, default`},
		},
		{
			name: "absolute path is not read from disk",
			main: "main.js",
			mods: []Module{esm("main.js", `import h from "/etc/hostname"; export default h`)},
			file: "main.js",
			line: 1, col: 15,
			textHas: []string{`"/etc/hostname"`},
		},
		{
			name: "import above the root",
			main: "lib/main.js",
			mods: []Module{esm("lib/main.js", `import "../../x.js"`), esm("x.js", "")},
			file: "lib/main.js", line: 1, col: 8,
			textHas: []string{`"../../x.js"`},
		},
		{
			name: "require of an unknown module",
			main: "main.js",
			mods: []Module{{Name: "main.js", Kind: CommonJS, Source: `module.exports = require("./missing")`}},
			file: "main.js", line: 1, col: 26,
			textHas: []string{`"./missing"`},
		},
		{
			name: "node builtin",
			main: "main.js",
			mods: []Module{esm("main.js", `import fs from "node:fs"`)},
			file: "main.js", line: 1, col: 16,
			textHas: []string{`"node:fs"`, "does not support", "node:buffer"},
		},
		{
			name: "other cloudflare module",
			main: "main.js",
			mods: []Module{esm("main.js", `import { connect } from "cloudflare:sockets"`)},
			file: "main.js", line: 1, col: 25,
			textHas: []string{`"cloudflare:sockets"`, "not available"},
		},
		{
			name: "top-level await",
			main: "main.ts",
			mods: []Module{esm("main.ts", "export default await 1")},
			file: "main.ts", line: 1, col: 16,
			textHas: []string{"Top-level await"},
		},
		{
			name:    "main missing",
			main:    "main.js",
			mods:    []Module{esm("other.js", "")},
			textHas: []string{`"main.js"`},
		},
		{
			name:    "main is text",
			main:    "main.txt",
			mods:    []Module{{Name: "main.txt", Kind: Text, Source: "x"}},
			textHas: []string{`"main.txt"`, "text"},
		},
		{
			name:    "main is wasm",
			main:    "m.wasm",
			mods:    []Module{{Name: "m.wasm", Kind: Wasm}},
			textHas: []string{`"m.wasm"`, "wasm"},
		},
		{
			name:    "duplicate module",
			main:    "main.js",
			mods:    []Module{esm("main.js", ""), esm("main.js", "")},
			textHas: []string{"duplicate", `"main.js"`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Bundle(c.main, c.mods)
			if err == nil {
				t.Fatalf("no error; script:\n%s", res.Script)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.File != c.file || (c.line != 0 && (e.Line != c.line || e.Column != c.col)) {
				t.Errorf("location = %s:%d:%d, want %s:%d:%d (%v)", e.File, e.Line, e.Column, c.file, c.line, c.col, err)
			}
			if c.errorIs != "" && err.Error() != c.errorIs {
				t.Errorf("Error() = %q, want %q", err.Error(), c.errorIs)
			}
			for _, s := range c.textHas {
				if !strings.Contains(e.Text, s) {
					t.Errorf("Text %q does not contain %s", e.Text, s)
				}
			}
			if len(e.Messages) == 0 || e.Messages[0] != err.Error() {
				t.Errorf("Messages = %q, want the first to be %q", e.Messages, err.Error())
			}
			if strings.Contains(err.Error(), "warren-") || strings.Contains(err.Error(), "warren:") {
				t.Errorf("error leaks an internal namespace: %v", err)
			}
		})
	}
}

// Files in the working directory are never read, and tsconfig.json or
// package.json there change nothing.
func TestNoFilesystem(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"util.js":       "export default 'from disk'",
		"main.js":       "export default 'from disk'",
		"tsconfig.json": "{ this is not json",
		"package.json":  "{ nor this",
		".pnp.cjs":      "throw 1",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	_, err := Bundle("main.js", []Module{esm("main.js", `import u from "./util.js"; export default u`)})
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Text, `"./util.js"`) {
		t.Fatalf("err = %v, want an unresolved import", err)
	}
	_, v, err := bundleRun(t, "main.ts", []Module{esm("main.ts", `export default "in memory" as string`)}, "default")
	if err != nil || v.String() != "in memory" {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestErrorMessagesBounded(t *testing.T) {
	var mods []Module
	var imports strings.Builder
	for i := 0; i < 50; i++ {
		imports.WriteString("import \"./missing" + strings.Repeat("x", i) + "\";\n")
	}
	mods = append(mods, esm("main.js", imports.String()))
	_, err := Bundle("main.js", mods)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if len(e.Messages) < 10 || len(e.Messages) > maxMessages+1 {
		t.Fatalf("%d messages: %q", len(e.Messages), e.Messages)
	}
}

var stackFrame = regexp.MustCompile(`at (\S+) \(([^:()]+):(\d+):(\d+)`)

// The stack of an exception thrown in a TypeScript helper names the author's
// file, line and column (1-based, like an editor).
func TestSourceMappedStack(t *testing.T) {
	util := `// helpers
export interface Opts { n: number }

export function check(o: Opts): number {
  const limit: number = 3;
  if (o.n > limit) {
    throw new RangeError("too big: " + o.n);
  }
  return o.n;
}
`
	main := `import { check, type Opts } from "./lib/util";

type Req = { n: number };

export default {
  async fetch(req: Req): Promise<number> {
    const o: Opts = { n: req.n };
    return check(o);
  },
};
`
	for _, lowerFields := range []bool{false, true} {
		res, err := bundle("main.ts", []Module{esm("main.ts", main), esm("lib/util.ts", util)}, options{lowerFields: lowerFields})
		if err != nil {
			t.Fatal(err)
		}
		vm, ns, err := runScript(res.Script)
		if err != nil {
			t.Fatal(err)
		}
		fetch, _ := goja.AssertFunction(ns.Get("default").ToObject(vm).Get("fetch"))
		v, err := fetch(goja.Undefined(), vm.ToValue(map[string]any{"n": 5}))
		if err != nil {
			t.Fatal(err)
		}
		p := v.Export().(*goja.Promise)
		if p.State() != goja.PromiseStateRejected {
			t.Fatalf("promise state %v", p.State())
		}
		stack := p.Result().ToObject(vm).Get("stack").String()
		frames := stackFrame.FindAllStringSubmatch(stack, -1)
		want := [][]string{{"check", "lib/util.ts", "7", "11"}, {"fetch", "main.ts", "8", "12"}}
		if len(frames) < len(want) {
			t.Fatalf("stack:\n%s", stack)
		}
		for i, w := range want {
			if got := frames[i][1:]; strings.Join(got, " ") != strings.Join(w, " ") {
				t.Errorf("frame %d = %v, want %v; stack:\n%s", i, got, w, stack)
			}
		}
	}
}

// Throws at the very start of a module are mapped (go-sourcemap drops
// mappings to line 1, column 0 unless the columns are shifted).
func TestSourceMappedEdges(t *testing.T) {
	res, err := Bundle("main.js", []Module{esm("main.js", `import "./a.js"; export default 1`), esm("a.js", `throw new Error("boom")`)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runScript(res.Script)
	var ex *goja.Exception
	if !errors.As(err, &ex) || !strings.Contains(ex.String(), "at a.js:1:7(") {
		t.Fatalf("err = %v", err)
	}
	res, err = Bundle("main.js", []Module{esm("main.js", `import "./a.js"; export default 1`), esm("a.js", `throw "boom"`)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runScript(res.Script)
	if !errors.As(err, &ex) || !strings.Contains(ex.String(), "at a.js:1:1(") {
		t.Fatalf("err = %v", err)
	}
}

func TestSourceMapSources(t *testing.T) {
	res, err := Bundle("main.ts", []Module{
		esm("main.ts", `import { f } from "./lib/util.ts"; import "cloudflare:workers"; import d from "./d.bin"; export default f() + d.byteLength`),
		esm("lib/util.ts", `export function f(): number { return 1 }`),
		{Name: "d.bin", Kind: Data, Data: []byte{1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "\n//# sourceMappingURL=data:application/json;base64,"
	i := strings.LastIndex(res.Script, prefix)
	if i < 0 || !strings.HasSuffix(res.Script, "\n") {
		t.Fatal("no inline source map at the end")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(res.Script[i+len(prefix):]))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["sourcesContent"]; ok {
		t.Error("sourcesContent present")
	}
	for _, s := range m["sources"].([]any) {
		switch s {
		case "main.ts", "lib/util.ts", "d.bin", "cloudflare:workers":
		default:
			t.Errorf("unexpected source %q", s)
		}
	}
	if !strings.Contains(string(raw), `"lib/util.ts"`) {
		t.Errorf("sources %v lack lib/util.ts", m["sources"])
	}
}

func TestStrictUnlessCommonJS(t *testing.T) {
	res, err := Bundle("main.js", []Module{esm("main.js", `export default 1`)})
	if err != nil || !res.Strict || !strings.HasPrefix(res.Script, `"use strict";`) {
		t.Fatalf("ESM only: strict=%v err=%v", res != nil && res.Strict, err)
	}
	res, err = Bundle("main.js", []Module{esm("main.js", `import c from "./c.js"; export default c`),
		{Name: "c.js", Kind: CommonJS, Source: `undeclared = 5; module.exports = undeclared`}})
	if err != nil || res.Strict {
		t.Fatalf("with CommonJS: strict=%v err=%v", res != nil && res.Strict, err)
	}
	_, v, err := bundleRun(t, "main.js", []Module{esm("main.js", `import c from "./c.js"; export default c`),
		{Name: "c.js", Kind: CommonJS, Source: `undeclared = 5; module.exports = undeclared`}}, "default")
	if err != nil || v.String() != "5" {
		t.Fatalf("sloppy CommonJS: %v %v", v, err)
	}
}

func TestDeterministic(t *testing.T) {
	mods := []Module{esm("main.ts", `import { a } from "./a"; import { b } from "./b"; export default a + b`),
		esm("a.ts", `export const a: number = 1`), esm("b.ts", `export const b: number = 2`)}
	first, err := Bundle("main.ts", mods)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		again, err := Bundle("main.ts", mods)
		if err != nil || again.Script != first.Script {
			t.Fatalf("run %d differs (err %v)", i, err)
		}
	}
}

func TestWarnings(t *testing.T) {
	res, err := Bundle("main.js", []Module{esm("main.js", "\nexport default typeof import.meta")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 || !strings.HasPrefix(res.Warnings[0], "main.js:2:") {
		t.Fatalf("warnings = %q", res.Warnings)
	}
}

func TestHasSuperProperty(t *testing.T) {
	for src, want := range map[string]bool{
		"super.x":           true,
		"a = super [k]":     true,
		"super\n\t.m()":     true,
		"super(a)":          false,
		"superb.x":          false,
		"is_super.x":        false,
		"$super.x":          false,
		"class A { x = 1 }": false,
		"":                  false,
		"super":             false,
		"x.super.y; super":  false,
		"éSuper.x; super ;": false,
		"a; super.x":        true,
	} {
		if got := hasSuperProperty(src); got != want {
			t.Errorf("hasSuperProperty(%q) = %v, want %v", src, got, want)
		}
	}
}

// TestWasmImport: importing a Wasm module hands its bytes, in base64, to
// the runtime's WasmModuleGlobal, whose result is the default export.
func TestWasmImport(t *testing.T) {
	data := []byte("\x00asm\x01\x00\x00\x00\xff\xfe")
	res, err := Bundle("main.js", []Module{
		esm("main.js", `import m from "./m.wasm"; import again from "./m.wasm"; export default [m, m === again]`),
		{Name: "m.wasm", Kind: Wasm, Data: data},
	})
	if err != nil {
		t.Fatal(err)
	}
	prg, err := goja.Compile(ScriptName, res.Script, false)
	if err != nil {
		t.Fatal(err)
	}
	vm := goja.New()
	calls := 0
	_ = vm.Set(WasmModuleGlobal, func(b64 string) string {
		calls++
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Errorf("not base64: %v", err)
		}
		return "module of " + fmt.Sprintf("%x", b)
	})
	if _, err := vm.RunProgram(prg); err != nil {
		t.Fatal(err)
	}
	got, err := vm.RunString(GlobalName + ".default.join()")
	if err != nil {
		t.Fatal(err)
	}
	if want := "module of " + fmt.Sprintf("%x", data) + ",true"; got.String() != want || calls != 1 {
		t.Fatalf("default export %q after %d calls, want %q after 1", got, calls, want)
	}
}
