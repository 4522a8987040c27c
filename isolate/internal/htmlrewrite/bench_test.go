package htmlrewrite

import (
	"strings"
	"testing"
)

// page is about 1 MiB of ordinary markup.
var page = "<!doctype html><html><head><title>t</title></head><body>" +
	strings.Repeat(`<div class="item"><a href="/p/1">link</a><p>Some text &amp; more text, with <b>bold</b> words.</p><!-- c --><img src="/i.png" alt=""></div>`, 8000) +
	"</body></html>"

func benchRewrite(b *testing.B, setup func(*Rewriter)) {
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		r := New(Options{})
		setup(r)
		r.Write([]byte(page))
		r.Close()
		if _, _, err := r.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPassThrough(b *testing.B) { benchRewrite(b, func(*Rewriter) {}) }

func BenchmarkRewriteLinks(b *testing.B) {
	benchRewrite(b, func(r *Rewriter) {
		s, _ := Compile(`div.item > a[href^="/"]`)
		r.On(s, ElementHandlers{Element: func(e *Element) (bool, error) {
			v, _ := e.Attribute("href")
			e.SetAttribute("href", "https://cdn.example"+v)
			return false, nil
		}})
		t, _ := Compile("p:nth-child(2)")
		r.On(t, ElementHandlers{Text: func(c *TextChunk) (bool, error) { return false, nil }})
	})
}
