package webapi

import "testing"

// TestBlobFile follows the File API: the Blob and File constructors,
// slice, and FormData's File entries.
func TestBlobFile(t *testing.T) {
	runCases(t, []jsCase{
		{"parts", `const b = new Blob(["ab", new Uint8Array([99, 100]).subarray(1), new Uint16Array([0x6665]).buffer, new DataView(new Uint8Array([103]).buffer), new Blob(["h"])]);
			return b.size + " " + await b.text()`, "7 abdefgh"},
		{"no parts", `return new Blob().size + " " + new Blob([]).size + " " + JSON.stringify(new Blob().type)`, `0 0 ""`},
		{"parts not a sequence", `const r = []; for (const p of [null, 1, "abc", {}, {length: 1, 0: "a"}]) { try { new Blob(p); r.push("ok") } catch (e) { r.push(e.name) } } return r.join()`,
			"TypeError,TypeError,TypeError,TypeError,TypeError"},
		{"iterable parts", `return await new Blob({*[Symbol.iterator]() { yield "a"; yield "b" }}).text()`, "ab"},
		{"iterator read once", `let n = 0; const parts = { get [Symbol.iterator]() { n++; return Array.prototype[Symbol.iterator]; }, length: 2, 0: "a", 1: "b" }; const b = new Blob(parts); return n + " " + await b.text()`, "1 ab"},
		{"other objects stringified", `return await new Blob([{toString() { return "x" }}, 1, null, undefined, [2, 3]]).text()`, "x1nullundefined2,3"},
		{"lone surrogates become U+FFFD", `const b = new Blob(["a\uD800b\uDC00"]); return b.size + " " + JSON.stringify(await b.text())`, "8 \"a\uFFFDb\uFFFD\""},
		{"parts are copied", `const u = new Uint8Array([97]); const b = new Blob([u]); u[0] = 98; return await b.text()`, "a"},
		{"type normalised", `return [new Blob([], {type: "Text/HTML"}).type, new Blob([], {type: "a\u00E9"}).type, new Blob([], {type: "a\u0019"}).type, new Blob([], {type: "a b/c"}).type].map((s) => JSON.stringify(s)).join()`,
			`"text/html","","","a b/c"`},
		{"endings transparent", `return JSON.stringify(await new Blob(["a\r\nb\rc\n"], {endings: "transparent"}).text())`, `"a\r\nb\rc\n"`},
		{"endings native", `return JSON.stringify(await new Blob(["a\r\nb\rc\nd\r", "\n"], {endings: "native"}).text())`, `"a\nb\nc\nd\n\n"`},
		{"endings only for strings", `return (await new Blob([new Uint8Array([13, 10])], {endings: "native"}).arrayBuffer()).byteLength`, "2"},
		{"endings invalid", `try { new Blob([], {endings: "Native"}); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"options not an object", `try { new Blob([], 1); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"options read after parts, in order", `const log = []; new Blob([{toString() { log.push("part"); return "" }}], {get type() { log.push("type"); return "" }, get endings() { log.push("endings"); return "native" }}); return log.join()`,
			"part,endings,type"},
		{"slice", `const b = new Blob(["abcdef"], {type: "text/plain"});
			const s = (...a) => b.slice(...a);
			return await Promise.all([s(), s(2), s(-2), s(1, -1), s(-100, 2), s(4, 2), s(2, 100), s(1, 3).slice(1)].map((x) => x.text())).then((t) => t.join("|")) + " " + JSON.stringify(s().type)`,
			`abcdef|cdef|ef|bcde|ab||cdef|c ""`},
		{"slice content type", `const b = new Blob(["x"]); return [b.slice(0, 1, "A/B").type, b.slice(0, 1, "\u00FF").type].map((s) => JSON.stringify(s)).join()`, `"a/b",""`},
		{"slice of slice", `const b = new Blob(["0123456789"]).slice(2, 8).slice(-3, -1); return b.size + await b.text()`, "256"},
		{"bytes", `const u = await new Blob(["ab"]).bytes(); return u instanceof Uint8Array && u.join()`, "97,98"},
		{"tag", `return Object.prototype.toString.call(new Blob()) + Object.prototype.toString.call(new File([], "f"))`, "[object Blob][object File]"},

		{"File", `const f = new File(["ab", "c"], "n\u00E9.txt", {type: "Text/Plain", lastModified: 42});
			return [f instanceof File, f instanceof Blob, f.name, f.size, f.type, f.lastModified, await f.text()].join("|")`, "true|true|né.txt|3|text/plain|42|abc"},
		{"File needs two arguments", `try { new File([]); return "ok" } catch (e) { return e.name + ": " + e.message }`, "TypeError: Failed to construct 'File': 2 arguments required, but only 1 present."},
		{"File name is a USVString", `return JSON.stringify(new File([], "a\uD800").name) + new File([], null).name + new File([], 1).name`, "\"a\uFFFD\"null1"},
		{"File lastModified default is Date.now", `const t0 = Date.now(); const f = new File([], "f"); return f.lastModified >= t0 && f.lastModified <= Date.now()`, "true"},
		{"File lastModified conversions", `return [1.9, -1.9, NaN, Infinity, "7", 2 ** 53].map((v) => new File([], "f", {lastModified: v}).lastModified).join()`, "1,-1,0,0,7,9007199254740992"},
		{"File arguments converted in order", `const log = []; new File([{toString() { log.push("part"); return "" }}], {toString() { log.push("name"); return "n" }}, {get type() { log.push("type"); return "" }, get lastModified() { log.push("lastModified"); return 1 }, get endings() { log.push("endings") }}); return log.join()`,
			"part,name,endings,lastModified,type"},
		{"File endings", `return JSON.stringify(await new File(["a\r\n"], "f", {endings: "native"}).text())`, `"a\n"`},
		{"File slice is a Blob", `const s = new File(["abc"], "f").slice(1); return [s instanceof File, s instanceof Blob, s.name, await s.text()].join()`, "false,true,,bc"},
		{"File prototype chain", `return [Object.getPrototypeOf(File) === Blob, Object.getPrototypeOf(File.prototype) !== Blob.prototype, Blob.prototype.isPrototypeOf(File.prototype), File.length, "name" in Blob.prototype].join()`,
			"true,true,true,2,false"},
		{"File attributes read only", `"use strict"; const f = new File([], "a"); try { f.name = "b" } catch (e) { return e.name + f.name }`, "TypeErrora"},
		{"File subclass", `class F extends File { get ext() { return this.name.split(".").pop() } } const f = new F(["x"], "a.txt"); return [f.ext, f instanceof File, f.size].join()`, "txt,true,1"},
		{"structuredClone of a File", `const c = structuredClone(new File(["hi"], "h.txt", {type: "text/plain", lastModified: 5}));
			return [c instanceof File, c.name, c.type, c.lastModified, await c.text()].join()`, "true,h.txt,text/plain,5,hi"},

		{"FormData Blob becomes File", `const f = new FormData(); f.append("a", new Blob(["x"], {type: "text/x"})); f.append("b", new Blob(["y"]), "y.txt");
			const a = f.get("a"), b = f.get("b"); return [a instanceof File, a.name, a.type, typeof a.lastModified, b.name].join()`, "true,blob,text/x,number,y.txt"},
		{"FormData keeps a File's name and lastModified", `const f = new FormData(); f.set("a", new File(["x"], "orig.txt", {lastModified: 7})); f.append("b", new File([], "orig"), "renamed");
			return [f.get("a").name, f.get("a").lastModified, f.get("b").name].join()`, "orig.txt,7,renamed"},
		{"FormData three arguments need a Blob", `const r = []; for (const f of [() => new FormData().append("a", "b", "c"), () => new FormData().set("a", "b", undefined), () => new FormData().append("a", "b")]) { try { f(); r.push("ok") } catch (e) { r.push(e.name) } } return r.join()`,
			"TypeError,TypeError,ok"},
		{"FormData from multipart has Files", `const f = new FormData(); f.append("doc", new File(["body"], "d.txt", {type: "text/plain"}));
			const g = await new Response(f).formData(); const d = g.get("doc"); return [d instanceof File, d.name, d.type, await d.text()].join()`, "true,d.txt,text/plain,body"},
	})
}
