package webapi

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestNoGoPanics calls every method of every class and namespace with odd
// receivers and arguments. Any Go panic (as opposed to a JS exception)
// crashes the test binary.
func TestNoGoPanics(t *testing.T) {
	e := newEnv(t)
	var targets []string
	content := map[string][]string{} // classes whose instances only handlers get
	for id, def := range classDefs {
		if id >= int(clsElement) && id <= int(clsEndTag) {
			content[def.name] = def.methods.names
			continue
		}
		if id == int(clsAttributesIterator) { // only an Element's attributes make one
			continue
		}
		name := strings.ReplaceAll(def.name, " ", "") // "Headers Iterator"
		for _, m := range def.methods.names {
			targets = append(targets, name+".prototype."+m)
		}
		if def.statics != nil {
			for _, m := range def.statics.names {
				targets = append(targets, name+"."+m)
			}
		}
	}
	for _, ns := range []struct {
		name string
		m    *members
	}{{"console", consoleMembers}, {"crypto", cryptoMembers}, {"crypto.subtle", subtleMembers}, {"performance", performanceMembers}} {
		for _, m := range ns.m.names {
			targets = append(targets, ns.name+"."+m)
		}
	}
	targets = append(targets, "atob", "btoa", "structuredClone", "Request", "Response", "Headers", "URL", "URLSearchParams", "Blob", "TextEncoder", "TextDecoder", "CryptoKey", "FormData", "File")
	_ = e.vm.Set("targets", targets)
	_ = e.vm.Set("contentMethods", content)
	out := e.eval(`
		globalThis.HeadersIterator = Object.getPrototypeOf(new Headers().keys()).constructor;
		globalThis.URLSearchParamsIterator = Object.getPrototypeOf(new URLSearchParams().keys()).constructor;
		globalThis.FormDataIterator = Object.getPrototypeOf(new FormData().keys()).constructor;
		const dv = new DataView(new ArrayBuffer(8), 2, 4);
		const fakeView = Object.create(DataView.prototype, {buffer: {value: new ArrayBuffer(4)}, byteOffset: {value: 2}, byteLength: {value: 2 ** 40}});
		const trap = new Proxy({}, {get() { throw new Error("trap") }, ownKeys() { throw new Error("trap") }, has() { throw new Error("trap") }});
		const weird = [undefined, null, 0, -1, 2 ** 53, NaN, -0, 1e300, "", "x".repeat(3000), "\uD800", Symbol("s"), {}, [], [[]], [["a"]], [[1, 2, 3]],
			trap, {toString() { throw new Error("ts") }}, {[Symbol.iterator]() { throw new Error("it") }}, {length: 2 ** 32},
			new Uint8Array(3), new Float32Array(2), new ArrayBuffer(5), dv, fakeView, () => 1, 10n, new Date(NaN), /x/,
			new Headers({a: "1"}), new URLSearchParams("a=1"), new URL("https://e.com/"), new Response("r"), new Request("https://e.com/"),
			new Blob(["b"]), new TextDecoder(), new AbortController().signal, new Response("w").body, new FormData(), {name: "HMAC", hash: "SHA-256"}, {name: "HMAC", hash: trap}, "sha-256", "raw"];
		const key = await crypto.subtle.importKey("raw", new Uint8Array(8), {name: "HMAC", hash: "SHA-256"}, true, ["sign", "verify"]);
		weird.push(key);
		const instances = {Request: () => new Request("https://e.com/", {method: "POST", body: "x"}), Response: () => new Response("x"),
			Headers: () => new Headers({a: "1"}), URL: () => new URL("https://e.com/?a=1"), URLSearchParams: () => new URLSearchParams("a=1"),
			Blob: () => new Blob(["x"]), File: () => new File(["x"], "f"), TextEncoder: () => new TextEncoder(), TextDecoder: () => new TextDecoder(), CryptoKey: () => key,
			HeadersIterator: () => new Headers({a: "1"}).keys(), URLSearchParamsIterator: () => new URLSearchParams("a=1").keys(),
			FormDataIterator: () => new FormData().keys(), ReadableStream: () => new Response("s").body,
			ReadableStreamDefaultReader: () => new Response("s").body.getReader(),
			FormData: () => { const f = new FormData(); f.append("a", "1"); f.append("f", new Blob(["x"]), "x.txt"); return f }};
		let calls = 0;
		const resolve = (path) => path.split(".").reduce((o, k) => o[k], globalThis);
		const swallow = (v) => { if (v && typeof v.then === "function") v.then(() => {}, () => {}); };
		for (const target of targets) {
			const fn = resolve(target);
			const cls = target.split(".")[0];
			const isCtor = !target.includes(".");
			const thisValues = [undefined, {}, instances[cls] ? instances[cls]() : globalThis];
			for (const self of thisValues) {
				for (const a of weird) {
					for (const b of [undefined, a, weird[20], weird[24], weird[36]]) {
						calls++;
						try {
							if (isCtor) swallow(new fn(a, b)); else swallow(fn.call(self, a, b, a, b, a));
						} catch (err) {}
					}
				}
			}
		}
		for (const make of Object.values(instances)) {
			const o = make();
			for (const k of ["status", "headers", "url", "href", "searchParams", "size", "type", "method", "bodyUsed", "body", "locked", "closed", "origin", "encoding", "algorithm", "usages", "signal"]) {
				try { o[k]; o[k] = weird[12]; o[k] = "x"; } catch (err) {}
			}
			try { console.log(o); structuredClone(o); JSON.stringify(o); String(o); Object.keys(o); } catch (err) {}
		}
		// The HTMLRewriter's content objects, while their handlers run.
		const hammer = (cls) => function (o) {
			for (const m of contentMethods[cls]) {
				for (const a of weird) {
					for (const b of [undefined, a, {html: true}, {get html() { throw new Error("h") }}]) {
						calls++;
						try { swallow(o[m](a, b)); } catch (err) {}
					}
				}
			}
			for (const k of ["tagName", "text", "name", "attributes", "removed", "namespaceURI", "lastInTextNode", "publicId"]) {
				try { o[k]; o[k] = weird[12]; o[k] = "x"; } catch (err) {}
			}
		};
		for (const sel of ["*", "p", "br"]) {
			try {
				await new HTMLRewriter().on(sel, {element: hammer("Element"), text: hammer("Text"), comments: hammer("Comment")})
					.onDocument({doctype: hammer("Doctype"), end: hammer("DocumentEnd")})
					.transform(new Response("<!doctype html><p>x<!--c--><br></p>")).text();
			} catch (err) {}
		}
		return calls;
	`)
	if strings.HasPrefix(out, "rejected") {
		t.Fatal(out)
	}
	t.Logf("%s calls, no Go panic", out)
}

// TestExportHostile feeds guest values to the Go-side API outside any JS
// call, where a throwing getter would otherwise escape as a Go panic.
func TestExportHostile(t *testing.T) {
	e := newEnv(t)
	for _, src := range []string{
		`new Proxy({}, {get() { throw new Error("trap") }, getPrototypeOf() { throw new Error("trap") }})`,
		`({get constructor() { throw new Error("x") }})`,
		`Object.create(null)`,
		`(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy })()`,
		`(() => { const r = Proxy.revocable(function () {}, {}); r.revoke(); return r.proxy })()`,
		`Object.create(Response.prototype)`,
		`Symbol("s")`,
		`({then() {}})`,
	} {
		v, err := e.vm.RunString("(" + src + ")")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.api.ExportResponse(v); err == nil {
			t.Errorf("ExportResponse(%s) succeeded", src)
		}
		if _, err := e.api.ExportRequest(v, goja.Undefined()); err == nil {
			t.Errorf("ExportRequest(%s) succeeded", src)
		}
		_, err = e.api.ExportRequest(e.vm.ToValue("https://e.com/"), v)
		if wantErr := strings.Contains(src, "Proxy") || strings.Contains(src, "Symbol") || strings.Contains(src, "revoke"); (err != nil) != wantErr {
			t.Errorf("ExportRequest(url, %s): error %v", src, err)
		}
	}
}

// TestHugeInputs checks the places that allocate from guest sizes.
func TestHugeInputs(t *testing.T) {
	runCases(t, []jsCase{
		{"many headers sort fast", `const h = new Headers(); for (let i = 0; i < 20000; i++) h.append("h" + i, "v"); return [...h].length`, "20000"},
		{"many same-name headers", `const h = new Headers(); for (let i = 0; i < 20000; i++) h.append("x", "v"); return h.get("x").length`, "59998"},
		{"fake huge view", `const f = Object.create(DataView.prototype, {buffer: {value: new ArrayBuffer(4)}, byteOffset: {value: 0}, byteLength: {value: 2 ** 40}});
			try { return await new Response(f).text() } catch (e) { return e.name }`, "[object DataView]"},
		{"array-like with huge length", `return await new Response({length: 2 ** 32}).text()`, "[object Object]"},
		{"Blob of many parts", `return new Blob(new Array(10000).fill("ab")).size`, "20000"},
		// An invalid input is quoted in the error only as far as its
		// first 256 bytes.
		{"huge invalid inputs", `const s = "\x00".repeat(1 << 22); const out = [];
			for (const f of [() => new URL(s), () => new Request(s), () => Response.redirect(s), () => { new URL("https://e.com/").href = s },
				() => new Headers([[s, "v"]]), () => new Headers([["n", s]]), () => crypto.subtle.digest(s, new Uint8Array(1))]) {
				try { await f() } catch (e) { out.push(e.message.length < 2000) }
			}
			return out.join()`, "true,true,true,true,true,true,true"},
	})
}
