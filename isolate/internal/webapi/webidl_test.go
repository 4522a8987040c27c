package webapi

import "testing"

// TestWebIDL checks the WebIDL behaviour of the Go-backed classes that WPT
// tests in passing: constructors refuse calls without new, argument counts
// are checked, iterators have their own prototypes.
func TestWebIDL(t *testing.T) {
	ctors := []string{"Request", "Response", "Headers", "Blob", "File", "URL", "URLSearchParams", "TextEncoder", "TextDecoder", "FormData"}
	var cases []jsCase
	for _, c := range ctors {
		cases = append(cases, jsCase{c + " without new", `try { ` + c + `("https://x/"); return "constructed" } catch (e) { return e.name + ": " + (e instanceof TypeError) }`, "TypeError: true"})
		cases = append(cases, jsCase{c + " function", `return typeof ` + c + ` + " " + ` + c + `.name + " " + (` + c + `.prototype.constructor === ` + c + `)`, "function " + c + " true"})
	}
	cases = append(cases, []jsCase{
		{"call and apply refused", `const r = []; for (const f of [() => Headers.call({}), () => Reflect.apply(URL, null, ["https://x/"])]) { try { f(); r.push("ok") } catch (e) { r.push(e.name) } } return r.join()`, "TypeError,TypeError"},
		{"instanceof", `return [new Headers() instanceof Headers, {} instanceof Headers, new Response() instanceof Headers, Object.create(URL.prototype) instanceof URL, 1 instanceof URL].join()`, "true,false,false,true,false"},
		{"subclass", `class H extends Headers { get n() { return [...this].length } } const h = new H([["a", "1"]]); return [h instanceof H, h instanceof Headers, h.n, Object.getPrototypeOf(h) === H.prototype].join()`, "true,true,1,true"},
		{"Reflect.construct newTarget", `function F() {} F.prototype = Object.create(URL.prototype); const u = Reflect.construct(URL, ["https://a/"], F); return [Object.getPrototypeOf(u) === F.prototype, u.href].join()`, "true,https://a/"},
		{"custom hasInstance", `Object.defineProperty(Headers, Symbol.hasInstance, {value: () => true}); return 1 instanceof Headers`, "true"},
		{"illegal constructor", `try { new CryptoKey() } catch (e) { return e.name }`, "TypeError"},
		{"URL needs an argument", `try { new URL() } catch (e) { return e.name + ": " + e.message }`, "TypeError: Failed to construct 'URL': 1 argument required, but only 0 present."},
		{"Request needs an argument", `try { new Request() } catch (e) { return e.name }`, "TypeError"},
		{"method argument count", `const r = []; for (const f of [() => new Headers().get(), () => new Headers().append("a"), () => new URLSearchParams().has(), () => new FormData().set("a"), () => new TextEncoder().encodeInto("a")]) { try { f(); r.push("ok") } catch (e) { r.push(e.name) } } return r.join()`,
			"TypeError,TypeError,TypeError,TypeError,TypeError"},
		{"undefined counts as present", `return new Headers().has(undefined)`, "false"},
		{"Headers(null)", `try { new Headers(null); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"Headers(undefined)", `return [...new Headers(undefined)].length`, "0"},
		{"record conversion order (WPT headers-record)", `const log = []; const handler = {}; for (const t of ["ownKeys", "getOwnPropertyDescriptor", "get"]) handler[t] = (...args) => { log.push(t + (args[1] === undefined || typeof args[1] === "symbol" ? "" : ":" + args[1])); return Reflect[t](...args) };
			const h = new Headers(new Proxy({a: "1", b: "2"}, handler)); return log.join() + " " + JSON.stringify([...h])`,
			`get,ownKeys,getOwnPropertyDescriptor:a,get:a,getOwnPropertyDescriptor:b,get:b [["a","1"],["b","2"]]`},
		{"record skips non-enumerable and absent keys", `const p = new Proxy({}, {ownKeys: () => ["a", "b", "c"], getOwnPropertyDescriptor: (t, k) => k === "a" ? {value: "1", enumerable: true, configurable: true} : k === "b" ? {value: "2", enumerable: false, configurable: true} : undefined, get: (t, k) => k === "a" ? "1" : "2"});
			return JSON.stringify([...new Headers(p)])`, `[["a","1"]]`},
		{"record with an enumerable symbol key", `try { new Headers({a: "1", [Symbol("s")]: "2"}); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"record with a non-enumerable symbol key", `const o = {a: "1"}; Object.defineProperty(o, Symbol("s"), {value: "2"}); return JSON.stringify([...new Headers(o)])`, `[["a","1"]]`},
		{"URLSearchParams record with a symbol key", `try { new URLSearchParams({[Symbol()]: "x"}); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"encodeInto Uint8ClampedArray", `try { new TextEncoder().encodeInto("a", new Uint8ClampedArray(4)); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"encodeInto Int8Array", `try { new TextEncoder().encodeInto("a", new Int8Array(4)); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"iterator next is branded", `const next = Object.getPrototypeOf(new Headers().keys()).next; try { next.call(new URLSearchParams("a=1").keys()); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"DOMException constants", `return [DOMException.INDEX_SIZE_ERR, DOMException.prototype.DATA_CLONE_ERR, new DOMException("m", "AbortError").ABORT_ERR, Object.keys(DOMException).length, new URLSearchParams(DOMException).toString().slice(0, 37)].join()`, "1,25,20,25,INDEX_SIZE_ERR=1&DOMSTRING_SIZE_ERR=2"},
		{"DOMException attributes are enumerable and branded", `try { new URLSearchParams(DOMException.prototype); return "ok" } catch (e) { return e.name + " " + Object.keys(DOMException.prototype).slice(0, 2) }`, "TypeError name,code"},
		{"encodeInto Uint8Array", `const d = new Uint8Array(4); return new TextEncoder().encodeInto("ab", d).written + " " + d[1]`, "2 98"},
	}...)
	for _, c := range []struct{ make, tag string }{
		{`new Headers([["a", "1"]])`, "Headers Iterator"},
		{`new URLSearchParams("a=1")`, "URLSearchParams Iterator"},
		{`(() => { const f = new FormData(); f.append("a", "1"); return f })()`, "FormData Iterator"},
	} {
		cases = append(cases, jsCase{c.tag, `const it = ` + c.make + `.entries();
			const ip = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
			const p = Object.getPrototypeOf(it);
			const d = Object.getOwnPropertyDescriptor(p, "next");
			return [Object.prototype.toString.call(it), Object.getPrototypeOf(p) === ip, it[Symbol.iterator]() === it, typeof p.next, d.writable && d.enumerable && d.configurable, p === Object.getPrototypeOf(` + c.make + `.keys()), JSON.stringify(it.next())].join("|")`,
			"[object " + c.tag + "]|true|true|function|true|true|" + `{"value":["a","1"],"done":false}`})
	}
	runCases(t, cases)
}
