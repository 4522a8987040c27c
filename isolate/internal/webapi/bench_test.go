package webapi

import (
	"testing"

	"github.com/dop251/goja"
)

func BenchmarkGojaNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = goja.New()
	}
}

func BenchmarkInstall(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		vm := goja.New()
		Install(vm, Options{})
	}
}

var helloProgram = goja.MustCompile("hello.js", `new Response("hi")`, true)

func BenchmarkHelloResponse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		vm := goja.New()
		a := Install(vm, Options{})
		v, err := vm.RunProgram(helloProgram)
		if err != nil {
			b.Fatal(err)
		}
		r, err := a.ExportResponse(v)
		if err != nil || string(r.Body) != "hi" {
			b.Fatal(r, err)
		}
	}
}

var echoProgram = goja.MustCompile("echo.js", `(function (req) {
  const u = new URL(req.url);
  return new Response(JSON.stringify({ path: u.pathname, q: u.searchParams.get("q"), ua: req.headers.get("user-agent") }), {
    headers: { "content-type": "application/json" },
  });
})`, true)

// BenchmarkEchoRequest is a more typical handler: a Request in, URL and
// Headers used, a JSON Response out.
func BenchmarkEchoRequest(b *testing.B) {
	b.ReportAllocs()
	req := &HTTPRequest{Method: "GET", URL: "https://example.com/a/b?q=1", Headers: []Header{{"User-Agent", "bench"}}}
	for b.Loop() {
		vm := goja.New()
		a := Install(vm, Options{})
		fn, err := vm.RunProgram(echoProgram)
		if err != nil {
			b.Fatal(err)
		}
		call, _ := goja.AssertFunction(fn)
		jr, err := a.NewRequest(req)
		if err != nil {
			b.Fatal(err)
		}
		v, err := call(goja.Undefined(), jr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.ExportResponse(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstUse measures a fresh runtime plus the first use of one
// global (which builds it); subtract BenchmarkInstall for the global alone.
func BenchmarkFirstUse(b *testing.B) {
	for _, c := range []struct{ name, src string }{
		{"URL", `new URL("https://example.com/a?b=1").searchParams.get("b")`},
		{"Headers", `new Headers({a: "1"}).get("a")`},
		{"Request", `new Request("https://example.com/", {method: "POST", body: "x"})`},
		{"TextEncoder", `new TextEncoder().encode("x")`},
		{"console.log", `console.log("x", {a: 1})`},
		{"crypto.randomUUID", `crypto.randomUUID()`},
		{"structuredClone", `structuredClone({a: [1]})`},
		{"btoa", `btoa("x")`},
		{"AbortController", `new AbortController().abort()`},
		{"DOMException", `new DOMException("x", "AbortError")`},
		{"ReadableStream", `new ReadableStream({ start(c) { c.enqueue(1); c.close() } }).getReader().read()`},
		{"Response.body", `new Response("x").body.getReader().read()`},
		{"Response(x, r)", `const r = new Response("x", {headers: {a: "1"}}); new Response("x", r).text()`},
		{"Response(r.body)", `const r = new Response("x"); new Response(r.body)`},
		{"Response(r.body, r)", `const r = new Response("x", {headers: {a: "1"}}); new Response(r.body, r).text()`},
		{"CompressionStream", `new Blob(["x"]).stream().pipeThrough(new CompressionStream("gzip")).getReader().read()`},
	} {
		p := goja.MustCompile(c.name, c.src, true)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				vm := goja.New()
				Install(vm, Options{Log: func(string, string) {}})
				if _, err := vm.RunProgram(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var rewriteProgram = goja.MustCompile("rewrite.js", `(async function () {
  const page = "<html><body>" + '<div class="item"><a href="/p/1">link</a><p>Some text &amp; more, with <b>bold</b> words.</p></div>'.repeat(8000) + "</body></html>";
  const res = new HTMLRewriter()
    .on("a[href]", { element(e) { e.setAttribute("href", "https://cdn.example" + e.getAttribute("href")) } })
    .transform(new Response(page));
  return (await res.text()).length;
})()`, true)

// BenchmarkHTMLRewriterJS rewrites about 900 KiB with a JS element handler
// called 8,000 times.
func BenchmarkHTMLRewriterJS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		vm := goja.New()
		Install(vm, Options{})
		v, err := vm.RunProgram(rewriteProgram)
		if err != nil {
			b.Fatal(err)
		}
		if p, ok := v.Export().(*goja.Promise); !ok || p.State() != goja.PromiseStateFulfilled {
			b.Fatal("not fulfilled")
		}
	}
}
