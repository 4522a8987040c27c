package webapi

import "testing"

// TestStructuredCloneWPT covers what the WPT structured-clone battery checks
// beyond the basics in TestMisc.
func TestStructuredCloneWPT(t *testing.T) {
	runCases(t, []jsCase{
		{"lone surrogates kept", `const s = "a\uD800b\uDC00"; const c = structuredClone({s, [s]: 1, w: new String(s)});
			return [c.s === s, Object.keys(c)[1] === s, c[s], c.w.valueOf() === s].join()`, "true,true,1,true"},
		{"lone surrogate string", `return structuredClone("\uDBFF") === "\uDBFF"`, "true"},
		{"RegExp source", `return [/\//, new RegExp("a/b", "g"), /[/]/y, /\\\//u, new RegExp("")].map((r) => { const c = structuredClone(r); return c.source === r.source && c.flags === r.flags && c instanceof RegExp && c !== r }).join()`,
			"true,true,true,true,true"},
		{"RegExp lastIndex reset", `const r = /a/g; r.lastIndex = 3; return structuredClone(r).lastIndex`, "0"},
		{"wrappers", `const vs = [new Boolean(false), new Number(-0), new Number(NaN), new String("x"), Object(5n)];
			return vs.map((v) => { const c = structuredClone(v); return typeof c + ":" + Object.prototype.toString.call(c) + ":" + String(Object.is(c.valueOf(), v.valueOf())) }).join()`,
			"object:[object Boolean]:true,object:[object Number]:true,object:[object Number]:true,object:[object String]:true,object:[object BigInt]:true"},
		{"errors", `return [new Error("e"), new EvalError("e"), new RangeError("e"), new ReferenceError("e"), new SyntaxError("e"), new TypeError("e"), new URIError("e")].map((e) => {
				const c = structuredClone(e); return c.name + ":" + (Object.getPrototypeOf(c) === Object.getPrototypeOf(e)) + ":" + c.message }).join()`,
			"Error:true:e,EvalError:true:e,RangeError:true:e,ReferenceError:true:e,SyntaxError:true:e,TypeError:true:e,URIError:true:e"},
		{"error subclass becomes its base", `class MyError extends TypeError {} const c = structuredClone(new MyError("m")); return c.constructor.name + c.message`, "TypeErrorm"},
		{"error with odd name", `const e = new Error("m"); e.name = "Custom"; const c = structuredClone(e); return c.name + ":" + c.message`, "Error:m"},
		{"error without message", `const c = structuredClone(new Error()); return c.hasOwnProperty("message")`, "false"},
		{"DOMException", `const e = new DOMException("gone", "AbortError"); const c = structuredClone(e);
			return [c instanceof DOMException, c !== e, c.name, c.message, c.code].join()`, "true,true,AbortError,gone,20"},
		{"DataCloneError", `const r = []; for (const v of [() => 1, Symbol("s"), new WeakMap(), new WeakSet(), {f: function () {}}, [Symbol()], new Map([[1, () => 1]])]) {
				try { structuredClone(v); r.push("cloned") } catch (e) { r.push(e instanceof DOMException && e.name === "DataCloneError") } } return r.join()`,
			"true,true,true,true,true,true,true"},
		{"sparse array", `const a = []; a[5] = 1; a.x = 2; const c = structuredClone(a); return [c.length, Object.keys(c).join(":"), 0 in c].join()`, "6,5:x,false"},
		{"property order", `const o = {b: 1, a: 2, 2: 3, 1: 4}; o.c = 5; return Object.keys(structuredClone(o)).join()`, "1,2,b,a,c"},
		{"non-enumerable skipped", `const o = {}; Object.defineProperty(o, "h", {value: 1}); return Object.keys(structuredClone(o)).length + String("h" in structuredClone(o))`, "0false"},
		{"transfer", `const b = new Uint8Array([1, 2, 3]).buffer; const c = structuredClone({b}, {transfer: [b]});
			return [b.byteLength, c.b.byteLength, new Uint8Array(c.b).join(":"), c.b !== b].join()`, "0,3,1:2:3,true"},
		{"transfer view's buffer", `const u = new Uint8Array([7, 8]); const c = structuredClone(u, {transfer: [u.buffer]}); return [u.length, u.byteLength, c.join(":")].join()`, "0,0,7:8"},
		{"transfer not in value", `const b = new ArrayBuffer(4); structuredClone(1, {transfer: [b]}); return b.byteLength`, "0"},
		{"transfer errors", `const b = new ArrayBuffer(1); const r = []; for (const t of [[b, b], [{}], [new Uint8Array(1)], "x", [1]]) {
				try { structuredClone(b, {transfer: t}); r.push("ok") } catch (e) { r.push(e.name) } } return r.join() + " " + b.byteLength`,
			"DataCloneError,DataCloneError,DataCloneError,TypeError,TypeError 1"},
		{"transfer detached", `const b = new ArrayBuffer(1); structuredClone(b, {transfer: [b]}); try { structuredClone(b, {transfer: [b]}); return "ok" } catch (e) { return e.name }`, "DataCloneError"},
		{"clone of detached", `const b = new ArrayBuffer(1); structuredClone(b, {transfer: [b]}); try { structuredClone(b); return "ok" } catch (e) { return e.name }`, "DataCloneError"},
		{"failed clone does not detach", `const b = new ArrayBuffer(2); try { structuredClone({b, f() {}}, {transfer: [b]}) } catch (e) {} return b.byteLength`, "2"},
		{"transfer empty", `return structuredClone(5, {transfer: []})`, "5"},
	})
}

// TestSharedAndResizableBuffers: structuredClone keeps a resizable buffer
// resizable and a length-tracking view tracking, refuses out-of-bounds views
// and SharedArrayBuffers (a Worker is not cross-origin isolated); the
// encoding APIs that WebIDL marks [AllowShared] read a SharedArrayBuffer and
// the others refuse it.
func TestSharedAndResizableBuffers(t *testing.T) {
	runCases(t, []jsCase{
		{"resizable clone", `const b = new ArrayBuffer(4, {maxByteLength: 16}); new Uint8Array(b).set([1, 2, 3, 4]); const c = structuredClone(b);
			c.resize(6); return [c.resizable, c.maxByteLength, new Uint8Array(c).join(":"), b.byteLength].join()`, "true,16,1:2:3:4:0:0,4"},
		{"length-tracking views", `const b = new ArrayBuffer(4, {maxByteLength: 16}); const c = structuredClone({u: new Uint16Array(b, 2), d: new DataView(b), f: new Uint8Array(b, 0, 2)});
			c.u.buffer.resize(10); return [c.u.length, c.d.byteLength, c.f.length, c.u.buffer === c.d.buffer].join()`, "4,10,2,true"},
		{"out-of-bounds views", `const b = new ArrayBuffer(16, {maxByteLength: 32}); const u = new Uint8Array(b, 8); const d = new DataView(b, 8, 4); b.resize(4);
			return [u, d].map((v) => { try { structuredClone(v); return "cloned" } catch (e) { return e.name } }).join()`, "DataCloneError,DataCloneError"},
		{"transfer resizable", `const b = new ArrayBuffer(2, {maxByteLength: 8}); const c = structuredClone(b, {transfer: [b]}); return [b.detached, c.resizable, c.maxByteLength].join()`, "true,true,8"},
		{"SharedArrayBuffer refused", `const s = new SharedArrayBuffer(4); const r = [];
			for (const f of [() => structuredClone(s), () => structuredClone(new Uint8Array(s)), () => structuredClone(1, {transfer: [s]})]) {
				try { f(); r.push("ok") } catch (e) { r.push(e.name) } } return r.join()`, "DataCloneError,DataCloneError,DataCloneError"},
		{"decode reads shared", `const u = new Uint8Array(new SharedArrayBuffer(3)); u.set([0x68, 0x69, 0x21]); return new TextDecoder().decode(u) + new TextDecoder().decode(u.buffer)`, "hi!hi!"},
		{"encodeInto writes shared", `const u = new Uint8Array(new SharedArrayBuffer(4)); const r = new TextEncoder().encodeInto("ok", u); return r.written + ":" + u.join(":")`, "2:111:107:0:0"},
		{"digest refuses shared", `return crypto.subtle.digest("SHA-256", new Uint8Array(new SharedArrayBuffer(4))).then(() => "ok", (e) => e.name)`, "TypeError"},
		{"decode of a shrunk view", `const b = new ArrayBuffer(4, {maxByteLength: 8}); const u = new Uint8Array(b); u.set([0x61, 0x62, 0x63, 0x64]); b.resize(2); return new TextDecoder().decode(u)`, "ab"},
	})
}
