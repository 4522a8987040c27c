package webapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dop251/goja"
)

func TestStructuredClone(t *testing.T) {
	runCases(t, []jsCase{
		{"primitives", `return [structuredClone(1), structuredClone("s"), structuredClone(null), structuredClone(undefined), structuredClone(10n), structuredClone(true)].map(String).join()`,
			"1,s,null,undefined,10,true"},
		{"deep copy", `const o = {a: {b: [1, {c: 2}]}}; const c = structuredClone(o); c.a.b[1].c = 3; return o.a.b[1].c + " " + JSON.stringify(c)`,
			`2 {"a":{"b":[1,{"c":3}]}}`},
		{"cycles", `const o = {name: "o"}; o.self = o; o.list = [o]; const c = structuredClone(o);
			return [c !== o, c.self === c, c.list[0] === c, c.name].join()`, "true,true,true,o"},
		{"shared references kept", `const x = {}; const c = structuredClone([x, x]); return c[0] === c[1]`, "true"},
		{"Date RegExp", `const c = structuredClone({d: new Date(86400000), r: /a+/gi});
			return [c.d instanceof Date, c.d.getTime(), c.r instanceof RegExp, c.r.source, c.r.flags].join()`, "true,86400000,true,a+,gi"},
		{"Map Set", `const k = {}; const m = new Map([[k, new Set([1, k])]]); const c = structuredClone(m);
			const [ck, cs] = [...c][0]; return [c instanceof Map, cs instanceof Set, cs.has(1), cs.has(ck), ck !== k].join()`, "true,true,true,true,true"},
		{"ArrayBuffer and views share buffer", `const b = new ArrayBuffer(8); const v = new Uint8Array(b, 2, 3); v[0] = 7;
			const c = structuredClone({b, v, d: new DataView(b, 4)}); c.v[1] = 9;
			return [c.b !== b, c.v.buffer === c.b, c.v.byteOffset, c.v.length, c.v[0], new Uint8Array(c.b)[3], new Uint8Array(b)[3], c.d instanceof DataView, c.d.byteOffset].join()`,
			"true,true,2,3,7,9,0,true,4"},
		{"typed arrays kinds", `return [new Float64Array([1.5]), new BigInt64Array([-1n]), new Uint8ClampedArray([300])].map((a) => { const c = structuredClone(a); return c.constructor.name + ":" + c[0] }).join()`,
			"Float64Array:1.5,BigInt64Array:-1,Uint8ClampedArray:255"},
		{"class instance becomes plain", `class P { constructor() { this.x = 1 } m() {} }; const c = structuredClone(new P()); return (c instanceof P) + " " + c.x + " " + (Object.getPrototypeOf(c) === Object.prototype)`,
			"false 1 true"},
		{"error", `const e = new RangeError("bad"); e.cause = {x: 1}; const c = structuredClone(e);
			return [c instanceof RangeError, c.message, c.cause.x, c !== e].join()`, "true,bad,1,true"},
		{"wrappers", `const c = structuredClone(new String("s")); return typeof c + c`, "objects"},
		{"function", `try { structuredClone({f() {}}); } catch (e) { return e.name + " " + (e instanceof DOMException) + " " + e.code }`, "DataCloneError true 25"},
		{"symbol", `try { structuredClone(Symbol("x")); } catch (e) { return e.name }`, "DataCloneError"},
		{"symbol keys skipped", `const c = structuredClone({[Symbol("x")]: 1, a: 2}); return Object.getOwnPropertySymbols(c).length + " " + c.a`, "0 2"},
		{"platform object", `try { structuredClone(new Headers()); } catch (e) { return e.name }`, "DataCloneError"},
		{"blob", `const c = structuredClone(new Blob(["hi"], {type: "text/plain"})); return c.type + (await c.text())`, "text/plainhi"},
		{"weakmap", `try { structuredClone(new WeakMap()); } catch (e) { return e.name }`, "DataCloneError"},
		{"number wrapper", `const c = structuredClone(new Number(4)); return typeof c + (c + 1)`, "object5"},
		{"promise", `try { structuredClone(Promise.resolve()); } catch (e) { return e.name }`, "DataCloneError"},
		{"proxy", `try { structuredClone(new Proxy({}, {})); } catch (e) { return e.name }`, "DataCloneError"},
		{"__proto__ key", `const o = JSON.parse('{"__proto__": {"polluted": 1}}'); const c = structuredClone(o); return ({}).polluted + " " + Object.keys(c) + " " + c.polluted`,
			"undefined __proto__ undefined"},
		{"getter runs", `let n = 0; structuredClone({get x() { n++; return 1 }}); return n`, "1"},
		{"sparse array", `const a = [1, , 3]; a.length = 5; const c = structuredClone(a); return c.length + " " + (1 in c) + " " + c[2]`, "5 false 3"},
		{"deep nesting", `let o = {}; for (let i = 0; i < 100000; i++) o = {o}; try { structuredClone(o); return "cloned" } catch (e) { return e.name }`, "DataCloneError"},
		{"transfer", `const b = new ArrayBuffer(1); const c = structuredClone(b, {transfer: [b]}); return b.byteLength + " " + c.byteLength`, "0 1"},
		{"no args", `try { structuredClone(); } catch (e) { return e.name }`, "TypeError"},
	})
}

func TestAbortAndEvents(t *testing.T) {
	runCases(t, []jsCase{
		{"abort with reason", `const c = new AbortController(); const s = c.signal; const before = s.aborted; c.abort("why");
			return [before, s.aborted, s.reason, c.signal === s].join()`, "false,true,why,true"},
		{"default reason", `const c = new AbortController(); c.abort(); const r = c.signal.reason;
			return [r instanceof DOMException, r.name, r.code, r.message].join()`, "true,AbortError,20,This operation was aborted"},
		{"listeners and onabort", `const c = new AbortController(); const log = [];
			c.signal.onabort = (e) => log.push("on:" + e.type + ":" + (e.target === c.signal) + ":" + e.isTrusted);
			c.signal.addEventListener("abort", function (e) { log.push("l:" + (this === c.signal)) }, {once: true});
			c.signal.addEventListener("abort", {handleEvent(e) { log.push("h:" + e.eventPhase) }});
			c.abort(); c.abort(); return log.join(" ")`, "on:abort:true:true l:true h:2"},
		{"abort once", `const c = new AbortController(); let n = 0; c.signal.addEventListener("abort", () => n++); c.abort(1); c.abort(2); return n + " " + c.signal.reason`, "1 1"},
		{"throwIfAborted", `const c = new AbortController(); c.signal.throwIfAborted(); c.abort(new Error("stop")); try { c.signal.throwIfAborted(); } catch (e) { return e.message }`, "stop"},
		{"AbortSignal.abort", `const s = AbortSignal.abort(); return s.aborted + " " + s.reason.name`, "true AbortError"},
		{"AbortSignal ctor illegal", `try { new AbortSignal(); } catch (e) { return e.name }`, "TypeError"},
		{"AbortSignal.any", `const a = new AbortController(), b = new AbortController(); const s = AbortSignal.any([a.signal, b.signal]);
			const before = s.aborted; b.abort("b"); return before + " " + s.aborted + " " + s.reason`, "false true b"},
		{"AbortSignal.timeout needs setTimeout", `try { AbortSignal.timeout(10); } catch (e) { return e.name }`, "TypeError"},
		{"listener removed by signal", `const t = new EventTarget(); const c = new AbortController(); let n = 0;
			t.addEventListener("x", () => n++, {signal: c.signal}); t.dispatchEvent(new Event("x")); c.abort(); t.dispatchEvent(new Event("x")); return n`, "1"},
		{"instanceof chain", `const s = new AbortController().signal; return (s instanceof AbortSignal) + " " + (s instanceof EventTarget) + " " + Object.prototype.toString.call(s)`,
			"true true [object AbortSignal]"},
		{"dispatch", `const t = new EventTarget(); const log = [];
			t.addEventListener("x", (e) => { log.push(1); e.preventDefault(); });
			t.addEventListener("x", (e) => { log.push(2); e.stopImmediatePropagation(); });
			t.addEventListener("x", () => log.push(3));
			const notCancelled = t.dispatchEvent(new Event("x", {cancelable: true}));
			return log.join("") + " " + notCancelled`, "12 false"},
		{"not cancelable", `const t = new EventTarget(); t.addEventListener("x", (e) => e.preventDefault()); return t.dispatchEvent(new Event("x"))`, "true"},
		{"duplicate listener ignored", `const t = new EventTarget(); let n = 0; const f = () => n++; t.addEventListener("x", f); t.addEventListener("x", f);
			t.dispatchEvent(new Event("x")); t.removeEventListener("x", f); t.dispatchEvent(new Event("x")); return n`, "1"},
		{"listener error reported", `const t = new EventTarget(); let after = false; t.addEventListener("x", () => { throw new Error("boom") }); t.addEventListener("x", () => { after = true });
			t.dispatchEvent(new Event("x")); return after`, "true"},
		{"event fields", `const e = new Event("t", {bubbles: true, cancelable: true}); return [e.type, e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.eventPhase, e.target, typeof e.timeStamp].join()`,
			"t,true,true,false,false,0,,number"},
		{"Event needs type", `try { new Event(); } catch (e) { return e.name }`, "TypeError"},
		{"subclass with private field", `class Bus extends EventTarget { #n = 0; ping() { this.#n++; this.dispatchEvent(new Event("ping")); return this.#n } }
			const b = new Bus(); let got = 0; b.addEventListener("ping", () => got++); return b.ping() + got`, "2"},
		{"custom event subclass", `class My extends Event { constructor(d) { super("my"); this.detail = d } }
			const t = new EventTarget(); let d; t.addEventListener("my", (e) => d = e.detail); t.dispatchEvent(new My(5)); return d`, "5"},
		{"DOMException", `const e = new DOMException("msg", "NotFoundError"); return [e.name, e.message, e.code, e instanceof Error, String(e), Object.prototype.toString.call(e)].join()`,
			"NotFoundError,msg,8,true,NotFoundError: msg,[object DOMException]"},
		{"request signal", `const c = new AbortController(); const r = new Request("https://e.com/", {signal: c.signal}); return r.signal === c.signal`, "true"},
	})
	e := newEnv(t)
	e.eval(`const t = new EventTarget(); t.addEventListener("x", () => { throw new TypeError("boom") }); t.dispatchEvent(new Event("x"))`)
	if len(e.logs) != 1 || e.logs[0].level != "error" || !strings.Contains(e.logs[0].msg, "TypeError: boom") {
		t.Fatalf("listener error not reported: %+v", e.logs)
	}
}

func TestConsole(t *testing.T) {
	e := newEnv(t)
	e.eval(`
		console.log("plain", 1, -0, true, null, undefined, 10n, Symbol("s"));
		console.info("%s is %d years and %i%%", "Bob", 42.5, 42.9, "extra");
		console.warn({a: 1, "b-c": "x", nested: {deep: {deeper: {deepest: 1}}}, arr: [1, "two", [3]]});
		console.error(new TypeError("bad thing"));
		console.debug([], {}, [1, 2, 3].map(String), new Map([["k", 1]]), new Set([1]));
		const cyc = {name: "c"}; cyc.self = cyc; console.log(cyc);
		console.log(function named() {}, () => 1, class K {});
		console.log(new Headers({a: "1"}), new URL("https://e.com/x"), new Response("x"));
		console.log(new Uint8Array([1, 2]), new ArrayBuffer(2), new Date(0), /x/g);
		console.log(new Array(150).fill(0));
		console.log("%j", {j: 1});
		console.assert(1 === 1, "not logged");
		console.assert(false, "asserted %s", "this");
		console.group("G"); console.log("inner"); console.groupEnd(); console.log("outer");
		console.count(); console.count(); console.count("x");
		console.time("t"); console.timeEnd("t");
		console.log({get boom() { throw new Error("getter") }});
	`)
	want := []logLine{
		{"log", "plain 1 -0 true null undefined 10n Symbol(s)"},
		{"info", "Bob is 42.5 years and 42% extra"},
		{"warn", "{ a: 1, 'b-c': 'x', nested: { deep: { deeper: [Object] } }, arr: [ 1, 'two', [ 3 ] ] }"},
		{"error", "TypeError: bad thing\n    at *"},
		{"debug", "[] {} [ '1', '2', '3' ] Map(1) { 'k' => 1 } Set(1) { 1 }"},
		{"log", "{ name: 'c', self: [Circular] }"},
		{"log", "[Function: named] [Function (anonymous)] [Function: K]"},
		{"log", "Headers(1) { 'a' => '1' } URL { href: 'https://e.com/x' } Response { status: 200, statusText: '', ok: true, headers: Headers(1) { 'content-type' => 'text/plain;charset=UTF-8' }, redirected: false, type: 'default', url: '', bodyUsed: false }"},
		{"log", "Uint8Array(2) [ 1, 2 ] ArrayBuffer { [Uint8Contents]: <00 00>, byteLength: 2 } 1970-01-01T00:00:00.000Z /x/g"},
		{"log", "[ 0, *, ... 50 more items ]"},
		{"log", `{"j":1}`},
		{"error", "Assertion failed: asserted this"},
		{"log", "G"},
		{"log", "  inner"},
		{"log", "outer"},
		{"info", "default: 1"},
		{"info", "default: 2"},
		{"info", "x: 1"},
		{"info", "t: 1ms"},
		{"log", "{ boom: [Thrown: Error: getter] }"},
	}
	if len(e.logs) != len(want) {
		for _, l := range e.logs {
			t.Logf("%s: %q", l.level, l.msg)
		}
		t.Fatalf("%d lines, want %d", len(e.logs), len(want))
	}
	for i, w := range want {
		g := e.logs[i]
		ok := g.level == w.level
		if i := strings.IndexByte(w.msg, '*'); i >= 0 {
			ok = ok && strings.HasPrefix(g.msg, w.msg[:i]) && strings.HasSuffix(g.msg, w.msg[i+1:])
		} else {
			ok = ok && g.msg == w.msg
		}
		if !ok {
			t.Errorf("line %d: got %s %q, want %s %q", i, g.level, g.msg, w.level, w.msg)
		}
	}
}

func TestConsoleNilLog(t *testing.T) {
	vm := goja.New()
	Install(vm, Options{})
	if _, err := vm.RunString(`console.log("x", {a: 1}); console.error(new Error("e")); console.count(); console.time(); console.timeEnd()`); err != nil {
		t.Fatal(err)
	}
}

func TestPerformanceAndNavigator(t *testing.T) {
	runCases(t, []jsCase{
		// The fake clock advances 1 ms per reading; Install read it once.
		{"now", `const a = performance.now(); const b = performance.now(); return a + " " + b`, "1 2"},
		{"timeOrigin", `return performance.timeOrigin`, "1767225600000"},
		{"userAgent", `return navigator.userAgent`, "warren"},
		{"self", `return self === globalThis`, "true"},
	})
}

func TestGlobals(t *testing.T) {
	runCases(t, []jsCase{
		{"typeof before use", `return [typeof URL, typeof atob, typeof crypto, "Headers" in globalThis, typeof FormData, typeof ReadableStream].join()`,
			"function,function,object,true,function,function"},
		{"defined on first use", `const before = Object.getOwnPropertyDescriptor(globalThis, "URL"); const U = URL; const d = Object.getOwnPropertyDescriptor(globalThis, "URL");
			return [before === undefined, d.value === U, d.writable, d.enumerable, d.configurable].join()`, "true,true,true,false,true"},
		{"assign before use", `"use strict"; globalThis.Response = 5; return Response`, "5"},
		{"assign via identifier", `URL = "mine"; return URL`, "mine"},
		// A known difference: a global never used has no own property for
		// delete to remove.
		{"delete before use", `delete globalThis.Headers; return typeof Headers`, "function"},
		{"delete after use", `const H = Headers; delete globalThis.Headers; return typeof Headers`, "undefined"},
		{"not enumerable", `return Object.keys(globalThis).filter((k) => k === "URL" || k === "console").length`, "0"},
		{"console members enumerable", `return Object.keys(console).includes("log")`, "true"},
		{"override console method", `console.log = () => "mine"; return console.log()`, "mine"},
		{"delete console method", `delete console.log; return typeof console.log`, "undefined"},
		{"Object builtins unaffected", `return [typeof Object, typeof JSON.parse, ({}).toString(), typeof globalThis.toString].join()`, "function,function,[object Object],function"},
		{"missing global still throws", `try { nope; } catch (e) { return e.name }`, "ReferenceError"},
	})
}

// TestInstallSharesNoState installs into two runtimes and checks that what
// one does is invisible to the other.
func TestInstallSharesNoState(t *testing.T) {
	e1, e2 := newEnv(t), newEnv(t)
	e1.eval(`
		Response.prototype.text = () => "hijacked";
		Headers.prototype.get = () => "hijacked";
		URL.canParse = () => "hijacked";
		console.log = () => {};
		crypto.subtle.digest = () => "hijacked";
		delete globalThis.TextEncoder;
		globalThis.atob = () => "hijacked";
		new Response("x").headers.append("a", "b");
	`)
	got := e2.eval(`return [await new Response("x").text(), new Headers({a: "1"}).get("a"), URL.canParse("nope"), typeof TextEncoder,
		atob("YQ=="), typeof (await crypto.subtle.digest("SHA-1", new Uint8Array()))].join()`)
	if got != "x,1,false,function,a,object" {
		t.Fatalf("second runtime saw the first one's changes: %s", got)
	}
	if e1.api.classCtor(clsResponse) == e2.api.classCtor(clsResponse) {
		t.Fatal("Response constructor shared between runtimes")
	}
	e2.eval(`console.log("mine")`)
	if len(e1.logs) != 0 || len(e2.logs) != 1 {
		t.Fatalf("logs crossed: %v %v", e1.logs, e2.logs)
	}
}

// TestConcurrentRuntimes runs many runtimes at once; with -race it catches
// any package-level state written at run time.
func TestConcurrentRuntimes(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vm := goja.New()
			a := Install(vm, Options{})
			v, err := vm.RunString(fmt.Sprintf(`(async () => {
				const u = new URL("https://e.com/%d?q=%d"); u.searchParams.sort();
				const h = new Headers({x: "%d"}); [...h];
				new TextDecoder().decode(new TextEncoder().encode("é"));
				structuredClone({a: [1, new Map()]}); new AbortController().abort();
				await crypto.subtle.digest("SHA-256", new Uint8Array(3));
				return Response.json({n: %d, p: u.pathname, x: h.get("x")});
			})()`, i, i, i, i))
			if err != nil {
				errs <- err
				return
			}
			r, err := a.ExportResponse(v.Export().(*goja.Promise).Result())
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf(`{"n":%d,"p":"/%d","x":"%d"}`, i, i, i); string(r.Body) != want {
				errs <- fmt.Errorf("runtime %d: %s", i, r.Body)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConsoleMessageCap: a message over Options.MaxMessage is cut on a
// character boundary with a marker of the bytes cut, wherever its bytes
// come from (a string, a format directive, an inspected value, the
// indentation of console.group).
func TestConsoleMessageCap(t *testing.T) {
	var logs []string
	vm := goja.New()
	Install(vm, Options{MaxMessage: 100, Log: func(_, msg string) { logs = append(logs, msg) }})
	_, err := vm.RunString(`
		console.log("x".repeat(1000));
		console.log("é".repeat(100));
		console.log("%s|%s", "a".repeat(60), "b".repeat(60));
		console.log("short", "x".repeat(60), "y".repeat(60));
		console.log({ list: new Array(100).fill("z".repeat(50)) });
		for (let i = 0; i < 100000; i++) console.group();
		console.log("l1\nl2");
		console.log("\n".repeat(1000));
		console.log("fits");
	`)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("  ", maxIndent)
	// cut is s cut to 100 bytes with the marker, sized for len(s), included.
	cut := func(s string) string {
		n := 100 - len(fmt.Sprintf("… [%d more bytes cut]", len(s)))
		for !utf8.RuneStart(s[n]) {
			n--
		}
		return s[:n] + fmt.Sprintf("… [%d more bytes cut]", len(s)-n)
	}
	want := []string{
		cut(strings.Repeat("x", 1000)),
		cut(strings.Repeat("é", 100)),
		cut(strings.Repeat("a", 60) + "|" + strings.Repeat("b", 60)),
		cut("short " + strings.Repeat("x", 60) + " " + strings.Repeat("y", 60)),
		"", // inspected: checked below
		cut(pad + "l1\n" + pad + "l2"),
		cut(pad + strings.Repeat("\n"+pad, 1000)),
		pad + "fits",
	}
	for i, l := range logs {
		if len(l) > 100 {
			t.Errorf("message %d is %d bytes", i, len(l))
		}
	}
	if len(logs) != len(want) {
		t.Fatalf("%d messages, want %d: %q", len(logs), len(want), logs)
	}
	for i, w := range want {
		if w != "" && logs[i] != w {
			t.Errorf("message %d:\n got %q\nwant %q", i, logs[i], w)
		}
	}
	if m := logs[4]; !strings.HasPrefix(m, "{ list: [ 'zzz") || !strings.Contains(m, "… [at least ") {
		t.Errorf("inspected message = %q, want a cut marked as a lower bound", m)
	}
}
