package webapi

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

func TestHTMLRewriter(t *testing.T) {
	const page = `const page = new Response('<!DOCTYPE html><html><head><title>T</title></head><body><!--c--><div id="a" class="x y">Hello <b>world</b></div><img src="/i.png"><p>1</p><p>2</p></body></html>', {headers: {"content-type": "text/html", "content-length": "999"}});`
	runCases(t, []jsCase{
		{"attributes", page + `
			const r = new HTMLRewriter().on("img[src^='/']", {element(e) {
				e.setAttribute("src", "https://cdn.example" + e.getAttribute("src"));
				e.setAttribute("alt", 'a"b');
			}}).transform(page);
			const s = await r.text();
			return s.slice(s.indexOf("<img"), s.indexOf("<p>"));`,
			`<img src="https://cdn.example/i.png" alt="a&quot;b">`},
		{"element members", page + `
			let out = [];
			await new HTMLRewriter().on("div.x", {element(e) {
				out.push(e.tagName, e.namespaceURI, e.hasAttribute("id"), e.hasAttribute("nope"), e.getAttribute("nope"), e.removed, e.canHaveContent);
				for (const [k, v] of e.attributes) out.push(k + "=" + v);
				e.removeAttribute("class");
				e.tagName = "section";
				out.push(e.tagName);
			}}).transform(page).text();
			return out.join(",");`,
			`div,http://www.w3.org/1999/xhtml,true,false,,false,true,id=a,class=x y,section`},
		{"mutations", page + `
			const s = await new HTMLRewriter()
				.on("div", {element(e) {
					e.before("<hr>", {html: true}); e.after("<after>");
					e.prepend("[p]"); e.append("<i>a</i>", {html: true});
				}})
				.on("p", {element(e) { if (e.getAttribute("x") === null) e.setInnerContent("<x>", {html: false}) }})
				.on("title", {element(e) { e.replace("<title>New</title>", {html: true}) }})
				.on("b", {element(e) { e.removeAndKeepContent() }})
				.transform(page).text();
			return s;`,
			`<!DOCTYPE html><html><head><title>New</title></head><body><!--c--><hr><div id="a" class="x y">[p]Hello world<i>a</i></div>&lt;after&gt;<img src="/i.png"><p>&lt;x&gt;</p><p>&lt;x&gt;</p></body></html>`},
		{"remove and nth-child", page + `
			return new HTMLRewriter().on("body > p:nth-child(4)", {element(e) { e.remove() }}).on("head", {element(e) { e.remove() }})
				.transform(page).text();`,
			`<!DOCTYPE html><html><body><!--c--><div id="a" class="x y">Hello <b>world</b></div><img src="/i.png"><p>1</p></body></html>`},
		{"text and comments", page + `
			const seen = [];
			const s = await new HTMLRewriter()
				.on("div", {text(t) { seen.push(JSON.stringify([t.text, t.lastInTextNode])); if (t.text === "world") t.replace("<b>there</b>", {html: true}) }})
				.onDocument({comments(c) { seen.push(c.text); c.text = "C"; c.after("!") },
					doctype(d) { seen.push(d.name, String(d.publicId), String(d.systemId)) },
					end(end) { end.append("<!--end-->", {html: true}) }})
				.transform(page).text();
			return seen.join(" ") + " " + s.slice(s.indexOf("<body>"));`,
			`html null null c ["Hello ",true] ["world",true] <body><!--C-->!<div id="a" class="x y">Hello <b><b>there</b></b></div><img src="/i.png"><p>1</p><p>2</p></body></html><!--end-->`},
		{"async handler", page + `
			const s = await new HTMLRewriter().on("p", {async element(e) {
				const v = await new Promise(r => Promise.resolve().then(() => r(e.tagName + "!")));
				e.setInnerContent(v);
			}}).transform(page).text();
			return s.slice(s.indexOf("<p>"));`,
			`<p>p!</p><p>p!</p></body></html>`},
		{"token invalid after handler", page + `
			let saved;
			await new HTMLRewriter().on("p", {element(e) { saved = e }}).transform(page).text();
			saved.setAttribute("a", "b");`,
			`rejected: TypeError: This content token is no longer valid*`},
		{"handler throws", page + `
			return new HTMLRewriter().on("p", {element(e) { throw new RangeError("boom") }}).transform(page).text();`,
			`rejected: RangeError: boom`},
		{"async handler rejects", page + `
			return new HTMLRewriter().on("p", {async element(e) { await null; throw new Error("late") }}).transform(page).text();`,
			`rejected: Error: late`},
		{"unsupported selector", `new HTMLRewriter().on("p + p", {})`, `rejected: TypeError: HTMLRewriter: Unsupported combinator*`},
		{"unsupported pseudo", `new HTMLRewriter().on("p:last-child", {})`, `rejected: TypeError: HTMLRewriter: Unsupported pseudo-class :last-child*`},
		{"bad handler", `new HTMLRewriter().on("p", {element: 1})`, `rejected: TypeError: HTMLRewriter: the element handler must be a function`},
		{"not a response", `new HTMLRewriter().transform("x")`, `rejected: TypeError: HTMLRewriter.transform: the argument must be a Response`},
		{"headers and input used", page + `
			const r = new HTMLRewriter().transform(page);
			return [page.bodyUsed, r.headers.get("content-type"), r.headers.get("content-length"), r.status, r.bodyUsed, await r.text(), r.bodyUsed].join("|");`,
			`true|text/html||200|false|<!DOCTYPE html>*`},
		{"onEndTag", `
			const s = await new HTMLRewriter().on("a", {element(e) {
				e.onEndTag(end => { end.before("!"); end.name = "A" });
			}}).on("br", {element(e) { try { e.onEndTag(() => {}) } catch (err) { e.after(err.name) } }})
				.transform(new Response("<a href=x>link</a><br>")).text();
			return s;`,
			`<a href=x>link!</A><br>TypeError`},
		{"nested transform", `
			const inner = new HTMLRewriter().on("b", {async element(e) { await null; e.tagName = "strong" }}).transform(new Response("<b>x</b>"));
			return new HTMLRewriter().on("strong", {element(e) { e.setAttribute("k", "1") }}).transform(inner).text();`,
			`<strong k="1">x</strong>`},
		{"reader of a transformed body", `
			const r = new HTMLRewriter().on("b", {async element(e) { await null; e.remove() }}).transform(new Response("a<b>x</b>c"));
			const { value } = await r.body.getReader().read();
			return new TextDecoder().decode(value);`,
			`ac`},
		{"clone with async handlers", `
			const r = new HTMLRewriter().on("b", {async element(e) { await null; e.setAttribute("id", "1") }}).transform(new Response("<b>x</b>"));
			const c = r.clone();
			return (await r.text()) + (await c.text());`,
			`<b id="1">x</b><b id="1">x</b>`},
		{"output streams as the input comes", `
			const { readable, writable } = new TransformStream();
			const w = writable.getWriter(), enc = new TextEncoder();
			const out = new HTMLRewriter().on("i", {element(e) { e.tagName = "em" }}).transform(new Response(readable)).body.getReader();
			w.write(enc.encode("<p><i>one</i>"));
			const first = new TextDecoder().decode((await out.read()).value);
			w.write(enc.encode("<i>two</i></p>")); w.close();
			let rest = "";
			for (;;) { const r = await out.read(); if (r.done) break; rest += new TextDecoder().decode(r.value); }
			return first + "|" + rest;`,
			`<p><em>one</em>|<em>two</em></p>`},
		{"clone with sync handlers", `
			const r = new HTMLRewriter().on("b", {element(e) { e.remove() }}).transform(new Response("a<b>x</b>"));
			const c = r.clone();
			return (await r.text()) + (await c.text());`,
			`aa`},
		{"content from a Response and a stream", `
			return new HTMLRewriter().on("p", {element(e) {
				e.append(new Response("<b>r</b>"), {html: true});
				e.prepend(new Response("<s>").body);
			}}).transform(new Response("<p>x</p>")).text();`,
			`<p>&lt;s&gt;x<b>r</b></p>`},
		{"one rewriter, several transforms", `
			const rw = new HTMLRewriter().on("b", {element(e) { e.tagName = "i" }});
			const a = rw.transform(new Response("<b>1</b>"));
			rw.on("i", {element(e) { e.remove() }});
			const b = rw.transform(new Response("<b>2</b><i>x</i>"));
			return (await a.text()) + (await b.text());`,
			`<i>1</i><i>2</i>`},
		{"inserted content is bounded", `
			const big = "x".repeat(1 << 20);
			return new HTMLRewriter().on("p", {element(e) { for (let i = 0; i < 40; i++) e.append(big) }}).transform(new Response("<p></p>")).text();`,
			`rejected: RangeError: HTMLRewriter: handlers inserted more than 33554432 bytes`},
		{"re-wrapped body", `
			const r = new HTMLRewriter().on("b", {element(e) { e.remove() }}).transform(new Response("a<b>x</b>", {status: 201}));
			const w = new Response(r.body, r);
			return w.status + " " + (await w.text()) + " " + r.bodyUsed;`,
			`201 a true`},
		{"names that would make markup", `
			const out = [];
			await new HTMLRewriter().on("p", {element(e) {
				for (const f of [() => e.setAttribute('a"><script>', "x"), () => { e.tagName = "p><script" }, () => e.setAttribute("", "x"),
					() => e.onEndTag(end => { try { end.name = "p>" } catch (err) { out.push(err.name) } })]) {
					try { f() } catch (err) { out.push(err.name) }
				}
			}}).transform(new Response("<p>x</p>")).text();
			return out.join(",");`,
			`TypeError,TypeError,TypeError,TypeError`},
		{"comment text cannot close the comment", `
			let name = "";
			const s = await new HTMLRewriter().onDocument({comments(c) { try { c.text = "x--><script>" } catch (err) { name = err.name } }})
				.transform(new Response("<!--a-->")).text();
			return name + " " + s;`,
			`TypeError <!--a-->`},
		{"json of rewritten", `
			return (await new HTMLRewriter().transform(new Response('{"a":1}')).json()).a;`, `1`},
		{"null body", `
			const r = new HTMLRewriter().transform(new Response(null, {status: 204}));
			return r.body === null;`, `true`},
	})
}

// TestRewriteRunChunks drives a rewriting as a stream would: chunk by
// chunk, with an async handler whose element is cut across chunks.
func TestRewriteRunChunks(t *testing.T) {
	e := newEnv(t)
	v, err := e.vm.RunString(`new HTMLRewriter().on("b", {async element(el) { await null; el.tagName = "i" }})`)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := stateOf[*rewriterState](v)
	if !ok {
		t.Fatal("not an HTMLRewriter")
	}
	run := e.api.newRewriteRun(st)
	var out strings.Builder
	step := func() {
		t.Helper()
		called := false
		run.start(func(b []byte) { out.Write(b); called = true }, func(v goja.Value) { t.Fatalf("failed: %v", v) })
		for i := 0; !called; i++ {
			if i > 100 {
				t.Fatal("start never called back")
			}
			if _, err := e.vm.RunString("0"); err != nil { // runs the promise jobs
				t.Fatal(err)
			}
		}
	}
	for _, chunk := range []string{"a<", "b cla", "ss=x>1</b", "><b>2</b>z"} {
		run.rw.Write([]byte(chunk))
		step()
	}
	run.rw.Close()
	step()
	if got, want := out.String(), `a<i class="x">1</i><i>2</i>z`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
