package bundle

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// featureCase probes one language feature. src is the main module (its
// default export, possibly a promise, is compared with want); raw is the same
// thing as a classic script (its completion value), run in goja directly.
type featureCase struct {
	name  string
	key   string // esbuild "supported" key, "" if esbuild has none
	src   string
	extra []Module // more modules for src
	raw   string   // "" if a classic script cannot express it
	want  string
	// runtimeOnly: esbuild can only move this feature's failure to run time
	// (e.g. a regexp flag goja lacks becomes `new RegExp(..)`): the bundle must
	// compile, and src must fail when run, not the whole script at compile time.
	runtimeOnly bool
	// gojaBroken: goja gets this wrong silently and esbuild cannot help; the
	// test fails once goja gets it right, so that the caveat can go.
	gojaBroken bool
	// wantErr: Bundle must fail with an *Error whose text contains this.
	wantErr string
	// rawFails: goja rejects raw; Bundle must work around it by itself (e.g.
	// `super.x` in a class field initializer: class fields get lowered).
	rawFails bool
}

var featureCases = []featureCase{
	{name: "async generator", key: "async-generator",
		src: `async function* g() { yield 1; yield await Promise.resolve(2) }
export default (async () => { let s = 0; const it = g(); for (let r = await it.next(); !r.done; r = await it.next()) s += r.value; return s })()`,
		raw: `async function* g() { yield 1; yield await Promise.resolve(2) }
(async () => { let s = 0; const it = g(); for (let r = await it.next(); !r.done; r = await it.next()) s += r.value; return s })()`,
		want: "3"},
	{name: "for await", key: "for-await",
		src:  `export default (async () => { let s = 0; for await (const x of [1, Promise.resolve(2)]) s += x; return s })()`,
		raw:  `(async () => { let s = 0; for await (const x of [1, Promise.resolve(2)]) s += x; return s })()`,
		want: "3"},
	{name: "async generator with for await", key: "async-generator",
		src: `async function* g() { for (let i = 1; i <= 3; i++) { await null; yield i } }
export default (async () => { let s = ""; for await (const x of g()) s += x; return s })()`,
		want: "123"},
	{name: "custom async iterable", key: "for-await",
		src: `const it = { [Symbol.asyncIterator]() { let i = 0; return { next: async () => ({ done: i >= 2, value: ++i }) } } }
export default (async () => { let s = 0; for await (const x of it) s += x; return s })()`,
		want: "3"},
	{name: "top-level await", key: "top-level-await",
		src: `const x = await Promise.resolve(1); export default x`, wantErr: "Top-level await"},
	{name: "dynamic import", key: "dynamic-import",
		src:   `export default import("./other.js").then(m => m.x + m.default)`,
		extra: []Module{esm("other.js", `export const x = 40; export default 2`)},
		raw:   `import("./other.js")`,
		want:  "42"},
	{name: "decorators", key: "decorators",
		src:  `function tag(c, ctx) { c.kind = ctx.kind } @tag class A {} export default A.kind`,
		raw:  `function tag(c, ctx) { c.kind = ctx.kind } @tag class A {} A.kind`,
		want: "class"},
	{name: "auto accessor", key: "decorators",
		src:  `class A { accessor x = 1 } const a = new A(); a.x++; export default a.x`,
		raw:  `class A { accessor x = 1 } const a = new A(); a.x++; a.x`,
		want: "2"},
	{name: "Uint8Array.fromBase64", key: "from-base64",
		src:   `import b from "bin"; export default new Uint8Array(b).join()`,
		extra: []Module{{Name: "bin", Kind: Data, Data: []byte{1, 2, 255}}},
		raw:   `Uint8Array.fromBase64("AQL/").join()`,
		want:  "1,2,255"},
	{name: "using", key: "using",
		src:  `export default (() => { const log = []; { using r = { [Symbol.dispose]() { log.push("d") } }; log.push("b") } return log.join() })()`,
		raw:  `(() => { const log = []; { using r = { [Symbol.dispose]() { log.push("d") } }; log.push("b") } return log.join() })()`,
		want: "b,d"},
	{name: "await using", key: "using",
		src:  `export default (async () => { const log = []; { await using r = { async [Symbol.asyncDispose]() { log.push("d") } }; log.push("b") } return log.join() })()`,
		raw:  `(async () => { const log = []; { await using r = { async [Symbol.asyncDispose]() { log.push("d") } }; log.push("b") } return log.join() })()`,
		want: "b,d"},
	{name: "class static block", key: "class-static-blocks",
		src:  `class A { static x = 0; static { A.x = 5 } } export default A.x`,
		raw:  `class A { static x = 0; static { A.x = 5 } } A.x`,
		want: "5"},
	{name: "class field", key: "class-field",
		src:  `class A { x = 1; ["y"] = 2 } export default new A().x + new A().y`,
		raw:  `class A { x = 1; ["y"] = 2 } new A().x + new A().y`,
		want: "3"},
	{name: "class static field", key: "class-static-field",
		src: `class A { static x = 4 } export default A.x`, raw: `class A { static x = 4 } A.x`, want: "4"},
	{name: "private field", key: "class-private-field",
		src: `class A { #x = 5; get() { return this.#x } } export default new A().get()`,
		raw: `class A { #x = 5; get() { return this.#x } } new A().get()`, want: "5"},
	{name: "private method", key: "class-private-method",
		src: `class A { #m() { return 6 } get() { return this.#m() } } export default new A().get()`,
		raw: `class A { #m() { return 6 } get() { return this.#m() } } new A().get()`, want: "6"},
	{name: "private accessor", key: "class-private-accessor",
		src: `class A { get #a() { return 7 } get() { return this.#a } } export default new A().get()`,
		raw: `class A { get #a() { return 7 } get() { return this.#a } } new A().get()`, want: "7"},
	{name: "private static field", key: "class-private-static-field",
		src: `class A { static #x = 8; static get() { return A.#x } } export default A.get()`,
		raw: `class A { static #x = 8; static get() { return A.#x } } A.get()`, want: "8"},
	{name: "private static method", key: "class-private-static-method",
		src: `class A { static #m() { return 9 } static get() { return A.#m() } } export default A.get()`,
		raw: `class A { static #m() { return 9 } static get() { return A.#m() } } A.get()`, want: "9"},
	{name: "private static accessor", key: "class-private-static-accessor",
		src: `class A { static get #a() { return 10 } static get() { return A.#a } } export default A.get()`,
		raw: `class A { static get #a() { return 10 } static get() { return A.#a } } A.get()`, want: "10"},
	{name: "private brand check", key: "class-private-brand-check",
		src: `class A { #x; static is(o) { return #x in o } } export default A.is(new A()) && !A.is({})`,
		raw: `class A { #x; static is(o) { return #x in o } } A.is(new A()) && !A.is({})`, want: "true"},
	{name: "extends Error", key: "class",
		src:  `class E extends Error { constructor(m) { super(m); this.name = "E" } } const e = new E("x"); export default (e instanceof E) + ":" + (e instanceof Error) + ":" + e.message`,
		raw:  `class E extends Error { constructor(m) { super(m); this.name = "E" } } const e = new E("x"); (e instanceof E) + ":" + (e instanceof Error) + ":" + e.message`,
		want: "true:true:x"},
	{name: "bigint", key: "bigint",
		src: `export default (2n ** 64n).toString()`, raw: `(2n ** 64n).toString()`, want: "18446744073709551616"},
	{name: "object rest spread", key: "object-rest-spread",
		src:  `const { a, ...r } = { a: 1, b: 2, c: 3 }; export default JSON.stringify({ ...r, d: 4 })`,
		raw:  `const { a, ...r } = { a: 1, b: 2, c: 3 }; JSON.stringify({ ...r, d: 4 })`,
		want: `{"b":2,"c":3,"d":4}`},
	{name: "exponent operator", key: "exponent-operator",
		src: `let x = 2; x **= 10; export default x`, raw: `let x = 2; x **= 10; x`, want: "1024"},
	{name: "logical assignment", key: "logical-assignment",
		src:  `let a = null, b = 1, c = 0; a ??= 2; b &&= 3; c ||= 4; export default [a, b, c].join()`,
		raw:  `let a = null, b = 1, c = 0; a ??= 2; b &&= 3; c ||= 4; [a, b, c].join()`,
		want: "2,3,4"},
	{name: "nullish coalescing", key: "nullish-coalescing",
		src: `const n = null; export default n ?? 5`, raw: `const n = null; n ?? 5`, want: "5"},
	{name: "optional chain", key: "optional-chain",
		src:  `const o = { a: null, f() { return 1 } }; export default [o.a?.b, o.f?.(), o.g?.()].join()`,
		raw:  `const o = { a: null, f() { return 1 } }; [o.a?.b, o.f?.(), o.g?.()].join()`,
		want: ",1,"},
	{name: "optional catch binding", key: "optional-catch-binding",
		src: `let r; try { throw 1 } catch { r = "ok" } export default r`,
		raw: `let r; try { throw 1 } catch { r = "ok" } r`, want: "ok"},
	{name: "numeric separators", key: "",
		src: `export default 1_000_000`, raw: `1_000_000`, want: "1000000"},
	{name: "async await", key: "async-await",
		src: `export default (async () => { await null; return 1 })()`, raw: `(async () => { await null; return 1 })()`, want: "1"},
	{name: "generator", key: "generator",
		src: `function* g() { yield 1; yield 2 } export default [...g()].join()`, raw: `function* g() { yield 1; yield 2 } [...g()].join()`, want: "1,2"},
	{name: "new.target", key: "new-target",
		src: `let t; function F() { t = new.target === F } new F(); export default t`,
		raw: `let t; function F() { t = new.target === F } new F(); t`, want: "true"},
	{name: "nested rest binding", key: "nested-rest-binding",
		src: `const [a, ...[b, c]] = [1, 2, 3]; export default a + b + c`, raw: `const [a, ...[b, c]] = [1, 2, 3]; a + b + c`, want: "6"},
	{name: "unicode escapes", key: "unicode-escapes",
		src: `export default "\u{1F600}".length`, raw: `"\u{1F600}".length`, want: "2"},
	{name: "tagged template raw", key: "template-literal",
		src: "export default ((s, ...v) => s.raw[0] + v[0])`a\\n${1}`", raw: "((s, ...v) => s.raw[0] + v[0])`a\\n${1}`", want: `a\n1`},
	{name: "function name configurable", key: "function-name-configurable",
		src: `export default Object.getOwnPropertyDescriptor(function f() {}, "name").configurable`,
		raw: `Object.getOwnPropertyDescriptor(function f() {}, "name").configurable`, want: "true"},
	{name: "destructuring defaults rest spread", key: "destructuring",
		src: `const f = ({ a = 1, b: [c, ...d] } = {}, ...rest) => a + c + d.length + rest.length; export default f({ b: [2, 3, 4] }, 5, ...[6])`,
		raw: `const f = ({ a = 1, b: [c, ...d] } = {}, ...rest) => a + c + d.length + rest.length; f({ b: [2, 3, 4] }, 5, ...[6])`, want: "7"},
	{name: "super in object literal", key: "object-extensions",
		src: `const o = { __proto__: { x() { return 1 } }, x() { return super.x() + 1 } }; export default o.x()`,
		raw: `const o = { __proto__: { x() { return 1 } }, x() { return super.x() + 1 } }; o.x()`, want: "2"},
	{name: "template literal revision", key: "template-literal",
		src: "export default String.raw`\\unicode`", raw: "String.raw`\\unicode`", want: `\unicode`},
	{name: "optional chain private", key: "optional-chain",
		src: `class A { #x = 1; static f(o) { return o?.#x } } export default A.f(new A()) + ":" + A.f(null)`,
		raw: `class A { #x = 1; static f(o) { return o?.#x } } A.f(new A()) + ":" + A.f(null)`, want: "1:undefined"},
	{name: "super in static field", rawFails: true,
		src: `class B { static y = 1 } class A extends B { static z = super.y + 1 } export default A.z`,
		raw: `class B { static y = 1 } class A extends B { static z = super.y + 1 } A.z`, want: "2"},
	{name: "super in static block", key: "class-static-blocks",
		src: `class B { static y = 1 } class A extends B { static { A.z = super.y + 1 } } export default A.z`,
		raw: `class B { static y = 1 } class A extends B { static { A.z = super.y + 1 } } A.z`, want: "2"},
	{name: "super in instance field", rawFails: true,
		src: `class B { m() { return 1 } } class A extends B { z = super.m() + 1 } export default new A().z`,
		raw: `class B { m() { return 1 } } class A extends B { z = super.m() + 1 } new A().z`, want: "2"},
	{name: "super in arrow in static method", key: "class",
		src: `class B { static m() { return 1 } } class A extends B { static f() { return (() => super.m() + 1)() } } export default A.f()`,
		raw: `class B { static m() { return 1 } } class A extends B { static f() { return (() => super.m() + 1)() } } A.f()`, want: "2"},
	{name: "arrow in class field", key: "class-field",
		src: `class A { v = 3; f = () => this.v } export default new A().f.call(null)`,
		raw: `class A { v = 3; f = () => this.v } new A().f.call(null)`, want: "3"},
	{name: "hashbang", key: "hashbang",
		src: "#!/usr/bin/env node\nexport default 1", raw: "#!/usr/bin/env node\n1", want: "1"},
	{name: "import.meta", key: "import-meta",
		src: `export default typeof import.meta`, want: "object"},
	{name: "export star as", key: "export-star-as",
		src:   `import { ns } from "./a.js"; export default ns.x`,
		extra: []Module{esm("a.js", `export * as ns from "./b.js"`), esm("b.js", `export const x = 3`)},
		want:  "3"},
	{name: "arbitrary namespace names", key: "arbitrary-module-namespace-names",
		src:   `import { "a b" as ab } from "./a.js"; export default ab`,
		extra: []Module{esm("a.js", `const x = 4; export { x as "a b" }`)},
		want:  "4"},
	{name: "import attributes", key: "import-attributes",
		src:   `import d from "./d.json" with { type: "json" }; export default d.a`,
		extra: []Module{{Name: "d.json", Kind: JSON, JSON: []byte(`{"a":5}`)}},
		want:  "5"},
	// Regular expressions: esbuild cannot lower these; it rewrites the literal
	// to `new RegExp(...)` so that only the code using it fails.
	{name: "regexp dotAll", key: "regexp-dot-all-flag",
		src: `export default /a.b/s.test("a\nb")`, raw: `/a.b/s.test("a\nb")`, want: "true"},
	{name: "regexp sticky unicode", key: "regexp-sticky-and-unicode-flags",
		src: `export default /a/y.sticky && /^.$/u.test("\u{1F600}")`, raw: `/a/y.sticky && /^.$/u.test("\u{1F600}")`, want: "true"},
	{name: "regexp named groups", key: "regexp-named-capture-groups",
		src: `export default /(?<y>\d+)/.exec("x12").groups.y`, raw: `/(?<y>\d+)/.exec("x12").groups.y`, want: "12"},
	{name: "regexp lookbehind", key: "regexp-lookbehind-assertions",
		src: `export default /(?<=\$)\d+/.exec("$42")[0]`, raw: `/(?<=\$)\d+/.exec("$42")[0]`, want: "42"},
	{name: "regexp unicode property escapes", key: "regexp-unicode-property-escapes",
		src: `export default /^\p{Lu}$/u.test("É")`, raw: `/^\p{Lu}$/u.test("É")`, want: "true", gojaBroken: true},
	{name: "regexp match indices", key: "regexp-match-indices",
		src: `export default /b/d.exec("ab").indices[0][0]`, raw: `/b/d.exec("ab").indices[0][0]`, want: "1", runtimeOnly: true},
	{name: "regexp set notation", key: "regexp-set-notation",
		src: `export default /[\p{L}--[a-z]]/v.test("A")`, raw: `/[\p{L}--[a-z]]/v.test("A")`, want: "true", runtimeOnly: true},
}

func runRaw(raw string) (string, error) {
	vm := goja.New()
	v, err := vm.RunString(raw)
	if err != nil {
		return "", err
	}
	v, err = settle(v)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

func TestGojaFeatureProbe(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range featureCases {
		covered[c.key] = true
		t.Run(c.name, func(t *testing.T) {
			supported, listed := gojaUnsupported[c.key]
			lowered := listed && !supported
			if c.raw != "" {
				got, err := runRaw(c.raw)
				rawOK := err == nil && got == c.want
				switch {
				case (c.gojaBroken || c.runtimeOnly || c.rawFails) && rawOK:
					t.Errorf("goja now runs %s raw (%q): update the case and the workaround", c.name, got)
				case c.gojaBroken || c.runtimeOnly || c.rawFails:
				case lowered && rawOK:
					t.Errorf("goja now supports %s (%q) natively: drop it from gojaUnsupported", c.name, c.key)
				case !lowered && !rawOK:
					t.Errorf("goja lacks %s (got %q, %v): add %q to gojaUnsupported", c.name, got, err, c.key)
				}
			}
			for _, lowerFields := range []bool{false, true} {
				t.Run(fmt.Sprintf("lowerFields=%v", lowerFields), func(t *testing.T) {
					mods := append([]Module{esm("main.js", c.src)}, c.extra...)
					if c.wantErr != "" {
						_, err := bundle("main.js", mods, options{lowerFields: lowerFields})
						var be *Error
						if !errors.As(err, &be) || !strings.Contains(be.Text, c.wantErr) || be.File != "main.js" {
							t.Fatalf("Bundle error = %#v, want *Error in main.js containing %q", err, c.wantErr)
						}
						return
					}
					if c.runtimeOnly {
						res, err := bundle("main.js", mods, options{lowerFields: lowerFields})
						if err != nil {
							t.Fatal(err)
						}
						if _, err := goja.Compile(ScriptName, res.Script, false); err != nil {
							t.Fatalf("the bundle must compile, only the feature may fail at run time: %v", err)
						}
						_, _, err = runScript(res.Script)
						var ex *goja.Exception
						if !errors.As(err, &ex) {
							t.Fatalf("run error = %v, want a JS exception (fix the case if goja gained it)", err)
						}
						return
					}
					_, v, err := runMain(t, "main.js", mods, lowerFields)
					if err != nil {
						t.Fatal(err)
					}
					got := v.String()
					switch {
					case c.gojaBroken && got == c.want:
						t.Errorf("goja now gets %s right: drop gojaBroken and the caveat", c.name)
					case c.gojaBroken:
						t.Logf("known goja bug: got %q, want %q", got, c.want)
					case got != c.want:
						t.Errorf("bundled %s = %q, want %q", c.name, got, c.want)
					}
				})
			}
		})
	}
	for k := range gojaUnsupported {
		if !covered[k] {
			t.Errorf("gojaUnsupported[%q] has no probe case", k)
		}
	}
}

func runMain(t testing.TB, main string, mods []Module, lowerFields bool) (*goja.Runtime, goja.Value, error) {
	t.Helper()
	res, err := bundle(main, mods, options{lowerFields: lowerFields})
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: %w", err)
	}
	vm, ns, err := runScript(res.Script)
	if err != nil {
		return vm, nil, err
	}
	v, err := settle(ns.Get("default"))
	return vm, v, err
}
