package webapi

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

func TestHeaders(t *testing.T) {
	runCases(t, []jsCase{
		{"case-insensitive", `const h = new Headers({"Content-Type": "text/plain"});
			return [h.get("content-type"), h.get("CONTENT-TYPE"), h.has("Content-type"), h.has("x")].join("|")`,
			"text/plain|text/plain|true|false"},
		{"append combines", `const h = new Headers(); h.append("X-A", "1"); h.append("x-a", "2"); return h.get("X-A")`, "1, 2"},
		{"set replaces all", `const h = new Headers([["a", "1"], ["A", "2"], ["b", "3"]]); h.set("a", "9"); return JSON.stringify([...h])`,
			`[["a","9"],["b","3"]]`},
		{"delete", `const h = new Headers({a: "1"}); h.delete("A"); return h.get("a") === null && !h.has("a")`, "true"},
		{"get missing is null", `return new Headers().get("x") === null`, "true"},
		{"iteration sorted lower-cased", `const h = new Headers([["B", "2"], ["a", "1"], ["C", "3"], ["b", "4"]]);
			return JSON.stringify([...h]) + JSON.stringify([...h.keys()]) + JSON.stringify([...h.values()])`,
			`[["a","1"],["b","2, 4"],["c","3"]]["a","b","c"]["1","2, 4","3"]`},
		{"set-cookie kept separate", `const h = new Headers(); h.append("Set-Cookie", "a=1"); h.append("set-cookie", "b=2"); h.append("x", "y");
			return JSON.stringify([h.getSetCookie(), h.get("set-cookie"), [...h]])`,
			`[["a=1","b=2"],"a=1, b=2",[["set-cookie","a=1"],["set-cookie","b=2"],["x","y"]]]`},
		{"forEach", `const h = new Headers({b: "2", a: "1"}); const out = []; h.forEach((v, k, o) => out.push(k + "=" + v + (o === h))); return out.join(",")`,
			"a=1true,b=2true"},
		{"entries is Symbol.iterator", `return Headers.prototype.entries === Headers.prototype[Symbol.iterator]`, "true"},
		{"from Headers", `const a = new Headers({x: "1"}); const b = new Headers(a); b.set("x", "2"); return a.get("x") + b.get("x")`, "12"},
		{"from iterable of iterables", `return new Headers(new Map([["k", "v"]])).get("k")`, "v"},
		{"a custom Symbol.iterator on the init is used", `const a = new Headers({x: "1"}); a[Symbol.iterator] = function* () { yield ["y", "2"] };
			const p = new URLSearchParams("a=1"); p[Symbol.iterator] = function* () { yield ["b", "2"] };
			return [...new Headers(a)].join() + " " + new URLSearchParams(p)`, "y,2 b=2"},
		{"Symbol-keyed properties on instances", `const s = Symbol("s"), t = Symbol.for("t"), r = new Request("https://a.test/"), h = new Headers();
			r[s] = 1; Object.defineProperty(r, t, {value: 2}); h[s] = 3; r[s]++;
			return [r[s], r[t], h[s], Object.getOwnPropertySymbols(r).length, Object.keys(r).length, delete r[s], s in r].join()`, "2,2,3,2,0,true,false"},
		{"bad pair", `try { new Headers([["a", "1", "2"]]); } catch (e) { return e.name }`, "TypeError"},
		{"bad name", `try { new Headers({"a b": "1"}); } catch (e) { return e.name }`, "TypeError"},
		{"bad value", `try { new Headers().set("a", "x\ny"); } catch (e) { return e.name }`, "TypeError"},
		{"value trimmed", `const h = new Headers({a: " \t x y \n"}); return "[" + h.get("a") + "]"`, "[x y]"},
		{"latin1 value", `const h = new Headers({a: "é"}); return h.get("a") === "é"`, "true"},
		{"non-latin1 value", `try { new Headers({a: "€"}); } catch (e) { return e.name }`, "TypeError"},
		{"not an object", `try { new Headers(5); } catch (e) { return e.name }`, "TypeError"},
		{"illegal invocation", `try { Headers.prototype.get.call({}, "a"); } catch (e) { return e.message }`, "Illegal invocation"},
		{"toStringTag", `return Object.prototype.toString.call(new Headers())`, "[object Headers]"},
		{"iterator protocol", `const it = new Headers({a: "1"}).entries(); const first = it.next(); const second = it.next();
			return JSON.stringify([first, second]) + (it[Symbol.iterator]() === it)`,
			`[{"value":["a","1"],"done":false},{"done":true}]true`},
		{"live iteration", `const h = new Headers({a: "1", c: "3"}); const out = []; for (const [k] of h) { out.push(k); if (k === "a") h.append("b", "2"); } return out.join("")`, "abc"},
	})
}

func TestResponse(t *testing.T) {
	runCases(t, []jsCase{
		{"basics", `const r = new Response("hi");
			return [r.status, r.ok, JSON.stringify(r.statusText), r.headers.get("content-type"), r.bodyUsed, r.type, JSON.stringify(r.url), r.redirected].join("|")`,
			`200|true|""|text/plain;charset=UTF-8|false|default|""|false`},
		{"text marks used", `const r = new Response("hi"); const t = await r.text(); return t + r.bodyUsed`, "hitrue"},
		{"second read rejects", `const r = new Response("hi"); await r.text(); try { await r.text(); } catch (e) { return e.name + ": " + e.message }`,
			"TypeError: " + bodyUsedMsg},
		{"second read of other kind rejects", `const r = new Response("{}"); await r.json(); return r.arrayBuffer().then(() => "resolved", (e) => e.name)`, "TypeError"},
		{"null body reads empty and stays unused", `const r = new Response(null); const t = await r.text(); return JSON.stringify(t) + r.bodyUsed + (await r.text())`, `""false`},
		{"json", `const r = new Response('{"a":[1,2]}'); const v = await r.json(); return v.a[1]`, "2"},
		{"json syntax error", `return new Response("{").json().then(() => "ok", (e) => e.name)`, "SyntaxError"},
		{"arrayBuffer", `const b = await new Response("abc").arrayBuffer(); return (b instanceof ArrayBuffer) + " " + new Uint8Array(b).join(",")`, "true 97,98,99"},
		{"bytes", `const b = await new Response("abc").bytes(); return (b instanceof Uint8Array) + " " + b.join(",")`, "true 97,98,99"},
		{"bytes are a copy", `const r = new Response("abc"); const c = r.clone(); const b = await r.bytes(); b[0] = 0; return await c.text()`, "abc"},
		{"utf-8 text and BOM", `return await new Response(new Uint8Array([0xEF, 0xBB, 0xBF, 0x68, 0xC3, 0xA9, 0xFF])).text()`, "hé\uFFFD"},
		{"init", `const r = new Response("x", {status: 201, statusText: "Made", headers: {"X-A": "1"}});
			return [r.status, r.statusText, r.headers.get("x-a"), r.ok].join("|")`, "201|Made|1|true"},
		{"status range", `try { new Response("", {status: 600}); } catch (e) { return e.name }`, "RangeError"},
		{"status 199", `try { new Response("", {status: 199}); } catch (e) { return e.name }`, "RangeError"},
		{"null body status", `try { new Response("x", {status: 204}); } catch (e) { return e.name }`, "TypeError"},
		{"null body status without body", `return new Response(null, {status: 204}).status`, "204"},
		{"content-type kept", `return new Response("x", {headers: {"content-type": "text/html"}}).headers.get("content-type")`, "text/html"},
		{"Response.json", `const r = Response.json({a: 1}, {status: 202, headers: {"x": "y"}});
			return [r.status, r.headers.get("content-type"), r.headers.get("x"), await r.text()].join("|")`,
			`202|application/json|y|{"a":1}`},
		{"Response.json not serializable", `try { Response.json(undefined); } catch (e) { return e.name }`, "TypeError"},
		{"Response.json cycle", `const o = {}; o.o = o; try { Response.json(o); } catch (e) { return e.name }`, "TypeError"},
		{"Response.redirect", `const r = Response.redirect("https://example.com/a b", 301);
			return [r.status, r.headers.get("location")].join("|")`, "301|https://example.com/a%20b"},
		{"Response.redirect default 302", `return Response.redirect("https://example.com/").status`, "302"},
		{"Response.redirect bad status", `try { Response.redirect("https://example.com/", 200); } catch (e) { return e.name }`, "RangeError"},
		{"Response.redirect bad url", `try { Response.redirect("/relative"); } catch (e) { return e.name }`, "TypeError"},
		{"Response.redirect immutable", `try { Response.redirect("https://e.com/").headers.set("a", "b"); } catch (e) { return e.message }`, "Can't modify immutable headers."},
		{"Response.error", `const r = Response.error(); return [r.type, r.status, r.ok].join("|")`, "error|0|false"},
		{"clone", `const r = new Response("abc", {status: 201}); const c = r.clone(); return (await r.text()) + (await c.text()) + c.status`, "abcabc201"},
		{"clone headers independent", `const r = new Response("", {headers: {a: "1"}}); const c = r.clone(); c.headers.set("a", "2"); return r.headers.get("a")`, "1"},
		{"clone after use", `const r = new Response("abc"); await r.text(); try { r.clone(); } catch (e) { return e.name }`, "TypeError"},
		{"same headers object", `const r = new Response(""); return r.headers === r.headers`, "true"},
		{"body ArrayBuffer", `const b = new Uint8Array([1, 2, 3]).buffer; const r = new Response(b); new Uint8Array(b)[0] = 9; return (await r.bytes()).join(",")`, "1,2,3"},
		{"body typed array view", `const a = new Uint8Array([1, 2, 3, 4]); return (await new Response(a.subarray(1, 3)).bytes()).join(",")`, "2,3"},
		{"body Uint16Array", `return (await new Response(new Uint16Array([0x0102])).bytes()).join(",")`, "2,1"},
		{"body DataView", `const b = new Uint8Array([1, 2, 3, 4]).buffer; return (await new Response(new DataView(b, 1, 2)).bytes()).join(",")`, "2,3"},
		{"body URLSearchParams", `const r = new Response(new URLSearchParams({a: "1 2", b: "é"}));
			return r.headers.get("content-type") + " " + await r.text()`, "application/x-www-form-urlencoded;charset=UTF-8 a=1+2&b=%C3%A9"},
		{"body Blob", `const r = new Response(new Blob(["ab", new Uint8Array([99])], {type: "Text/Plain"}));
			return r.headers.get("content-type") + " " + await r.text()`, "text/plain abc"},
		{"body object stringified", `return await new Response({}).text()`, "[object Object]"},
		{"blob()", `const b = await new Response("abc", {headers: {"content-type": "text/x"}}).blob(); return b.size + b.type + (await b.text())`, "3text/xabc"},
		{"stream body", `return await new Response(new ReadableStream({start(c) { c.enqueue(new Uint8Array([104, 105])); c.close() }})).text()`, "hi"},
		{"stream-like object stringified", `return await new Response({getReader() {}}).text()`, "[object Object]"},
		{"subclass", `class R extends Response { constructor() { super("sub"); this.extra = 1; } get kind() { return "mine"; } }
			const r = new R(); return [r instanceof R, r instanceof Response, r.kind, r.extra, await r.text()].join("|")`, "true|true|mine|1|sub"},
		{"attributes read-only", `"use strict"; const r = new Response(""); try { r.status = 5; } catch (e) { return e.name + r.status }`, "TypeError200"},
		{"expando properties", `const r = new Response(""); r.foo = 1; return JSON.stringify(Object.keys(r)) + r.foo + ("status" in r)`, `["foo"]1true`},
		{"prototype patchable", `Response.prototype.text = function () { return "patched" }; return new Response("x").text()`, "patched"},
		{"constructor property", `return new Response("").constructor === Response && Response.prototype.constructor === Response`, "true"},
		{"await a response is not thenable", `const r = await new Response("x"); return r.status`, "200"},
	})
}

func TestRequest(t *testing.T) {
	runCases(t, []jsCase{
		{"basics", `const r = new Request("https://example.com/a?b#c");
			return [r.method, r.url, r.redirect, r.bodyUsed, r.headers.get("x"), typeof r.signal, r.signal.aborted].join("|")`,
			"GET|https://example.com/a?b#c|follow|false||object|false"},
		{"normalizes URL", `return new Request("HTTPS://EXAMPLE.com:443/./a/../b").url`, "https://example.com/b"},
		{"init", `const r = new Request("https://e.com/", {method: "post", body: "x=1", headers: {"X-A": "1"}, redirect: "manual"});
			return [r.method, r.headers.get("x-a"), r.headers.get("content-type"), r.redirect, await r.text()].join("|")`,
			"POST|1|text/plain;charset=UTF-8|manual|x=1"},
		{"method patch upper-cased", `return new Request("https://e.com/", {method: "patch"}).method`, "PATCH"},
		{"custom method kept", `return new Request("https://e.com/", {method: "Purge"}).method`, "Purge"},
		{"forbidden method", `try { new Request("https://e.com/", {method: "CONNECT"}); } catch (e) { return e.name }`, "TypeError"},
		{"invalid method", `try { new Request("https://e.com/", {method: "a b"}); } catch (e) { return e.name }`, "TypeError"},
		{"relative URL", `try { new Request("/a"); } catch (e) { return e.name }`, "TypeError"},
		{"credentials in URL", `try { new Request("https://u:p@e.com/"); } catch (e) { return e.name }`, "TypeError"},
		{"GET with body", `try { new Request("https://e.com/", {body: "x"}); } catch (e) { return e.name }`, "TypeError"},
		{"HEAD with body", `try { new Request("https://e.com/", {method: "HEAD", body: "x"}); } catch (e) { return e.name }`, "TypeError"},
		{"bad redirect", `try { new Request("https://e.com/", {redirect: "x"}); } catch (e) { return e.name }`, "TypeError"},
		{"bad signal", `try { new Request("https://e.com/", {signal: {}}); } catch (e) { return e.name }`, "TypeError"},
		{"signal passed", `const c = new AbortController(); const r = new Request("https://e.com/", {signal: c.signal}); c.abort(); return r.signal.aborted`, "true"},
		{"URL object input", `return new Request(new URL("https://e.com/x")).url`, "https://e.com/x"},
		{"from Request moves body", `const a = new Request("https://e.com/", {method: "POST", body: "abc", headers: {x: "1"}});
			const b = new Request(a); return [b.method, b.headers.get("x"), a.bodyUsed, await b.text()].join("|")`, "POST|1|true|abc"},
		{"from used Request", `const a = new Request("https://e.com/", {method: "POST", body: "abc"}); await a.text();
			try { new Request(a); } catch (e) { return e.name }`, "TypeError"},
		{"from Request with init", `const a = new Request("https://e.com/", {method: "POST", body: "abc", headers: {x: "1"}});
			const b = new Request(a, {method: "PUT", headers: {y: "2"}}); return [b.method, b.headers.get("x"), b.headers.get("y"), await b.text()].join("|")`,
			"PUT||2|abc"},
		{"from POST Request to GET", `const a = new Request("https://e.com/", {method: "POST", body: "abc"});
			try { new Request(a, {method: "GET"}); } catch (e) { return e.name }`, "TypeError"},
		{"json", `return (await new Request("https://e.com/", {method: "POST", body: '{"a":1}'}).json()).a`, "1"},
		{"arrayBuffer", `return new Uint8Array(await new Request("https://e.com/", {method: "POST", body: "ab"}).arrayBuffer()).join(",")`, "97,98"},
		{"clone", `const a = new Request("https://e.com/", {method: "POST", body: "ab"}); const b = a.clone();
			return (await a.text()) + (await b.text()) + b.method`, "ababPOST"},
		{"clone used", `const a = new Request("https://e.com/", {method: "POST", body: "ab"}); await a.text(); try { a.clone(); } catch (e) { return e.name }`, "TypeError"},
		{"headers mutable", `const r = new Request("https://e.com/"); r.headers.set("a", "1"); return r.headers.get("a")`, "1"},
	})
}

func TestNewRequestAndExportResponse(t *testing.T) {
	e := newEnv(t)
	req, err := e.api.NewRequest(&HTTPRequest{
		Method:  "POST",
		URL:     "https://example.com/p?q=1",
		Headers: []Header{{"Content-Type", "application/json"}, {"X-B", "2"}, {"x-b", "3"}},
		Body:    []byte(`{"n":41}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.vm.Set("req", req)
	v, err := e.vm.RunString(`(async () => {
		let immutable = "";
		try { req.headers.set("a", "b"); } catch (e) { immutable = e.message; }
		const body = await req.json();
		return new Response(JSON.stringify({n: body.n + 1, m: req.method, u: req.url, b: req.headers.get("x-b"), immutable}), {
			status: 201, statusText: "Created", headers: {"Set-Cookie": "a=1", "set-cookie": "b=2", "X-Z": "z", "x-a": "é"},
		});
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	p := v.Export().(*goja.Promise)
	if p.State() != goja.PromiseStateFulfilled {
		t.Fatalf("handler: %v", p.Result())
	}
	res, err := e.api.ExportResponse(p.Result())
	if err != nil {
		t.Fatal(err)
	}
	want := &HTTPResponse{
		Status:     201,
		StatusText: "Created",
		Headers: []Header{
			{"content-type", "text/plain;charset=UTF-8"},
			{"set-cookie", "a=1"}, {"set-cookie", "b=2"},
			{"x-a", "\xe9"}, {"x-z", "z"},
		},
		Body: []byte(`{"n":42,"m":"POST","u":"https://example.com/p?q=1","b":"2, 3","immutable":"Can't modify immutable headers."}`),
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got  %+v\nwant %+v", res, want)
	}
	// Exporting consumes the body.
	if _, err := e.api.ExportResponse(p.Result()); err == nil {
		t.Fatal("second export of the same response succeeded")
	}
}

func TestNewRequestErrors(t *testing.T) {
	e := newEnv(t)
	for _, r := range []*HTTPRequest{
		{Method: "GET", URL: "/relative"},
		{Method: "G ET", URL: "https://e.com/"},
		{Method: "GET", URL: "https://e.com/", Headers: []Header{{"a b", "1"}}},
		{Method: "GET", URL: "https://e.com/", Headers: []Header{{"a", "1\r\n2"}}},
	} {
		if _, err := e.api.NewRequest(r); err == nil {
			t.Errorf("NewRequest(%+v) succeeded", r)
		}
	}
	// No body stays null; an empty body is an empty body.
	r1, _ := e.api.NewRequest(&HTTPRequest{Method: "GET", URL: "https://e.com/"})
	r2, _ := e.api.NewRequest(&HTTPRequest{Method: "POST", URL: "https://e.com/", Body: []byte{}})
	_ = e.vm.Set("r1", r1)
	_ = e.vm.Set("r2", r2)
	if got := e.eval(`await r1.text(); await r2.text(); return r1.bodyUsed + " " + r2.bodyUsed`); got != "false true" {
		t.Fatalf("bodyUsed: %s", got)
	}
}

func TestExportResponseNotAResponse(t *testing.T) {
	e := newEnv(t)
	for src, want := range map[string]string{
		`undefined`:                    "fetch handler returned undefined, not a Response",
		`null`:                         "fetch handler returned null, not a Response",
		`"hi"`:                         "fetch handler returned a string, not a Response",
		`42`:                           "fetch handler returned a number, not a Response",
		`({})`:                         "fetch handler returned an object (Object), not a Response",
		`[]`:                           "fetch handler returned an array, not a Response",
		`new Request("https://e.com")`: "fetch handler returned an object (Request), not a Response",
		`Promise.resolve(1)`:           "fetch handler returned a Promise (did you forget to await it?), not a Response",
		`(() => 1)`:                    "fetch handler returned a function, not a Response",
		`({get constructor() { throw new Error("x") }})`: "fetch handler returned an object (Object), not a Response",
		`Response.error()`: "fetch handler returned a network error (Response.error()), not a Response",
	} {
		v, err := e.vm.RunString(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.api.ExportResponse(v)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
		if !errors.Is(err, ErrNotResponse) {
			t.Errorf("%s: error does not wrap ErrNotResponse", src)
		}
	}
}

func TestExportRequest(t *testing.T) {
	e := newEnv(t)
	run := func(args string) (*HTTPRequest, error) {
		v, err := e.vm.RunString("[" + args + "]")
		if err != nil {
			t.Fatal(err)
		}
		o := v.(*goja.Object)
		return e.api.ExportRequest(o.Get("0"), o.Get("1"))
	}
	r, err := run(`"https://e.com/a", {method: "put", body: new Uint8Array([1, 2]), headers: [["B", "2"], ["a", "1"]]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &HTTPRequest{Method: "PUT", URL: "https://e.com/a", Headers: []Header{{"a", "1"}, {"b", "2"}}, Body: []byte{1, 2}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	r, err = run(`"https://e.com/"`)
	if err != nil || r.Body != nil || r.Method != "GET" {
		t.Fatalf("plain GET: %+v %v", r, err)
	}
	// A Request input is consumed, like fetch(request) does.
	if _, err := e.vm.RunString(`var used = new Request("https://e.com/", {method: "POST", body: "x"})`); err != nil {
		t.Fatal(err)
	}
	r, err = e.api.ExportRequest(e.vm.Get("used"), goja.Undefined())
	if err != nil || string(r.Body) != "x" || r.Method != "POST" {
		t.Fatalf("request input: %+v %v", r, err)
	}
	if e.eval(`return used.bodyUsed`) != "true" {
		t.Fatal("input request body not marked used")
	}
	// Errors come back as Go errors carrying the JS TypeError.
	for _, args := range []string{`"/relative"`, `"https://e.com/", {body: "x"}`, `"https://e.com/", 5`, `{toString() { throw new RangeError("boom") }}`} {
		_, err := run(args)
		var ex *goja.Exception
		if !errors.As(err, &ex) {
			t.Errorf("%s: got %v, want a *goja.Exception", args, err)
			continue
		}
		name := ex.Value().(*goja.Object).Get("name").String()
		if name != "TypeError" && !strings.Contains(args, "RangeError") {
			t.Errorf("%s: threw %s", args, name)
		}
	}
}

// TestBodyStream: a body as a ReadableStream, read with a reader or handed
// on to a new Response or Request, the Workers way of re-wrapping one.
func TestBodyStream(t *testing.T) {
	runCases(t, []jsCase{
		{"null body", `return String(new Response(null).body) + "|" + String(new Request("http://x/").body)`, "null|null"},
		{"same stream", `const r = new Response("hi"); return (r.body === r.body) + " " + (r.body instanceof ReadableStream) + " " + Object.prototype.toString.call(r.body)`,
			"true true [object ReadableStream]"},
		{"re-wrap keeps the bytes and headers", `const r = new Response("hello body", {status: 201, headers: {"x-a": "1", "content-type": "text/x"}});
			const r2 = new Response(r.body, r);
			return [await r2.text(), r2.status, r2.headers.get("x-a"), r2.headers.get("content-type"), r.bodyUsed].join("|")`,
			"hello body|201|1|text/x|true"},
		{"request body to a new request", `const q = new Request("http://x/", {method: "POST", body: "abc"});
			const q2 = new Request("http://y/", {method: "PUT", body: q.body}); return (await q2.text()) + q.bodyUsed`, "abctrue"},
		{"reader", `const r = new Response("abc"); const rd = r.body.getReader();
			const a = await rd.read(); const b = await rd.read();
			return [a.done, a.value instanceof Uint8Array, a.value.join(","), b.done, b.value, r.bodyUsed, r.body.locked].join("|")`,
			"false|true|97,98,99|true||true|true"},
		{"locked stream", `const r = new Response("abc"); r.body.getReader(); try { r.body.getReader() } catch (e) { return e.name }`, "TypeError"},
		{"read stream cannot be a body", `const r = new Response("abc"); await r.text(); try { new Response(r.body) } catch (e) { return e.name }`, "TypeError"},
		{"released reader", `const r = new Response("abc"); const rd = r.body.getReader(); rd.releaseLock(); return r.body.locked + " " + (await r.text())`, "false abc"},
		{"clone has its own stream", `const r = new Response("abc"); const s = r.body; const c = r.clone(); return (c.body !== s) + " " + (await new Response(c.body).text()) + " " + (await r.text())`, "true abc abc"},
		{"streams made by Workers", `const r = new Response(new ReadableStream({start(c) { c.enqueue(new Uint8Array([120])); c.close() }})); return (await r.text()) + r.bodyUsed`, "xtrue"},
	})
}

// TestFormData: the class, and bodies read as and made from it.
func TestFormData(t *testing.T) {
	runCases(t, []jsCase{
		{"entries", `const f = new FormData(); f.append("a", "1"); f.append("b", "2"); f.append("a", "3");
			return [f.get("a"), f.getAll("a").join("+"), f.has("b"), String(f.get("z")), [...f.keys()].join(""), [...f].map(([k, v]) => k + "=" + v).join("&")].join("|")`,
			"1|1+3|true|null|aba|a=1&b=2&a=3"},
		{"set and delete", `const f = new FormData(); f.append("a", "1"); f.append("b", "2"); f.append("a", "3"); f.set("a", "x"); f.delete("b");
			return [...f.entries()].map(e => e.join("=")).join("&")`, "a=x"},
		{"urlencoded body", `const r = new Request("http://x/", {method: "POST", body: "name=Ada+L&lang=%F0%9F%A6%80", headers: {"content-type": "application/x-www-form-urlencoded"}});
			const f = await r.formData(); return f.get("name") + "|" + f.get("lang") + "|" + r.bodyUsed`, "Ada L|🦀|true"},
		{"round trip through multipart", `const f = new FormData(); f.append("title", "héllo"); f.append("doc", new Blob(["file body"], {type: "text/plain"}), "a.txt");
			const r = new Response(f); const ct = r.headers.get("content-type");
			const g = await r.formData(); const doc = g.get("doc");
			return [ct.startsWith("multipart/form-data; boundary="), g.get("title"), doc instanceof Blob, doc.name, doc.type, await doc.text()].join("|")`,
			"true|héllo|true|a.txt|text/plain|file body"},
		{"not a form", `return new Response("x", {headers: {"content-type": "text/plain"}}).formData().then(() => "ok", e => e.name)`, "TypeError"},
		{"bad multipart", `return new Response("garbage", {headers: {"content-type": "multipart/form-data; boundary=zz"}}).formData().then(() => "ok", e => e.name)`, "TypeError"},
		{"no form element", `try { new FormData({}) } catch (e) { return e.name }`, "TypeError"},
	})
}

// The request URL a process parsed last is remembered; another URL, or the
// same one after an invalid one, still gets its own serialization.
func TestNewRequestURLRemembered(t *testing.T) {
	e := newEnv(t)
	urlOf := func(raw string) string {
		t.Helper()
		r, err := e.api.NewRequest(&HTTPRequest{Method: "GET", URL: raw})
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		_ = e.vm.Set("r", r)
		return e.eval(`return r.url`)
	}
	for _, tc := range []struct{ raw, want string }{
		{"HTTPS://E.com:443/a/../b", "https://e.com/b"},
		{"HTTPS://E.com:443/a/../b", "https://e.com/b"},
		{"http://x.test/?q=a b", "http://x.test/?q=a%20b"},
		{"HTTPS://E.com:443/a/../b", "https://e.com/b"},
	} {
		if got := urlOf(tc.raw); got != tc.want {
			t.Errorf("url of %q: %q, want %q", tc.raw, got, tc.want)
		}
	}
	if _, err := e.api.NewRequest(&HTTPRequest{Method: "GET", URL: "/relative"}); err == nil {
		t.Fatal("a relative URL was accepted")
	}
	if got := urlOf("http://x.test/?q=a b"); got != "http://x.test/?q=a%20b" {
		t.Errorf("after an invalid URL: %q", got)
	}
}
