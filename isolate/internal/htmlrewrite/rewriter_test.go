package htmlrewrite

import (
	"errors"
	"strings"
	"testing"
)

// rewrite runs the rewriter built by setup over in, fed in chunks of the
// given sizes (0: one chunk), and returns the output.
func rewrite(t *testing.T, in string, chunk int, setup func(r *Rewriter)) (string, error) {
	t.Helper()
	r := New(Options{MaxTextChunk: 8})
	setup(r)
	var out strings.Builder
	feed := func() error {
		for {
			b, st, err := r.Run()
			out.Write(b)
			if err != nil || st != Suspended {
				return err
			}
		}
	}
	if chunk <= 0 {
		chunk = len(in) + 1
	}
	for i := 0; i < len(in); i += chunk {
		r.Write([]byte(in[i:min(i+chunk, len(in))]))
		if err := feed(); err != nil {
			return out.String(), err
		}
	}
	r.Close()
	err := feed()
	return out.String(), err
}

func on(sel string, h ElementHandlers) func(*Rewriter) {
	return func(r *Rewriter) {
		s, err := Compile(sel)
		if err != nil {
			panic(err)
		}
		r.On(s, h)
	}
}

func elem(sel string, f func(e *Element)) func(*Rewriter) {
	return on(sel, ElementHandlers{Element: func(e *Element) (bool, error) { f(e); return false, nil }})
}

func TestRewrite(t *testing.T) {
	txt := func(s string) Content { return Content{Text: s} }
	htm := func(s string) Content { return Content{Text: s, HTML: true} }
	cases := []struct {
		name, in, want string
		setup          func(*Rewriter)
	}{
		{"untouched", `<!DOCTYPE html><html><head><title>T &amp; t</title></head><body class=x><p>a<br>b</p><!-- c --><script>if (a<b) x="</p>"</script></body></html>`,
			`<!DOCTYPE html><html><head><title>T &amp; t</title></head><body class=x><p>a<br>b</p><!-- c --><script>if (a<b) x="</p>"</script></body></html>`,
			func(*Rewriter) {}},
		{"setAttribute", `<a href="/x" id=k>l</a><a>m</a>`, `<a href="https://e.com/x" id="k">l</a><a>m</a>`,
			elem("a[href]", func(e *Element) { v, _ := e.Attribute("href"); e.SetAttribute("href", "https://e.com"+v) })},
		{"attribute escaping", `<p>x</p>`, `<p title="a&quot;b&amp;c">x</p>`,
			elem("p", func(e *Element) { e.SetAttribute("title", `a"b&c`) })},
		{"removeAttribute", `<img src=a alt=b>`, `<img alt="b">`, elem("img", func(e *Element) { e.RemoveAttribute("SRC") })},
		{"tagName", `<b>x<i>y</i></b>`, `<strong>x<i>y</i></strong>`, elem("b", func(e *Element) { e.SetTagName("strong") })},
		{"before after prepend append", `<div>x</div>`, `[b1][b2]<div>&lt;p2&gt;<p1>x<a1><a2></div>[f2][f1]`,
			elem("div", func(e *Element) {
				e.Before(txt("[b1]"))
				e.Before(txt("[b2]"))
				e.After(txt("[f1]"))
				e.After(txt("[f2]"))
				e.Prepend(htm("<p1>"))
				e.Prepend(txt("<p2>"))
				e.Append(htm("<a1>"))
				e.Append(htm("<a2>"))
			})},
		{"setInnerContent", `<div>old <b>bold</b></div>!`, `<div><i>new</i></div>!`,
			elem("div", func(e *Element) { e.SetInnerContent(htm("<i>new</i>")) })},
		{"replace", `a<div>old <b>bold</b></div>z`, `a&lt;new&gt;z`, elem("div", func(e *Element) { e.Replace(txt("<new>")) })},
		{"remove", `a<div>old <div>inner</div></div>z`, `az`, elem("div", func(e *Element) { e.Remove() })},
		{"removeAndKeepContent", `a<div>old <b>x</b></div>z`, `aold <b>x</b>z`, elem("div", func(e *Element) { e.RemoveAndKeepContent() })},
		{"void after", `<p><br>x</p>`, `<p><br>[after]x</p>`, elem("br", func(e *Element) { e.After(txt("[after]")) })},
		{"class and id", `<p class="a b">1</p><p id=z>2</p><p class=b>3</p>`, `<p class="a b" m="">1</p><p id="z" m="">2</p><p class=b>3</p>`,
			elem("p.a, #z", func(e *Element) { e.SetAttribute("m", "") })},
		{"descendant and child", `<div><p><span>1</span></p><span>2</span></div><span>3</span>`, `<div><p><span>1</span></p><x>2</x></div><span>3</span>`,
			elem("div > span", func(e *Element) { e.SetTagName("x") })},
		{"descendant", `<div><p><span>1</span></p><span>2</span></div><span>3</span>`, `<div><p><x>1</x></p><x>2</x></div><span>3</span>`,
			elem("div span", func(e *Element) { e.SetTagName("x") })},
		{"nth-child", `<ul><li>1</li><li>2</li><li>3</li><li>4</li><li>5</li></ul>`, `<ul><li>1</li><x>2</x><li>3</li><x>4</x><li>5</li></ul>`,
			elem("li:nth-child(2n)", func(e *Element) { e.SetTagName("x") })},
		{"nth-child odd", `<ul><li>1</li><li>2</li><li>3</li></ul>`, `<ul><x>1</x><li>2</li><x>3</x></ul>`,
			elem("li:nth-child(odd)", func(e *Element) { e.SetTagName("x") })},
		{"nth-child -n+2", `<ul><li>1</li><li>2</li><li>3</li></ul>`, `<ul><x>1</x><x>2</x><li>3</li></ul>`,
			elem("li:nth-child(-n+2)", func(e *Element) { e.SetTagName("x") })},
		{"first-child", `<div><p>1</p><p>2</p></div><div><b></b><p>3</p></div>`, `<div><x>1</x><p>2</p></div><div><b></b><p>3</p></div>`,
			elem("p:first-child", func(e *Element) { e.SetTagName("x") })},
		{"first-of-type", `<div><b></b><p>1</p><p>2</p></div>`, `<div><b></b><x>1</x><p>2</p></div>`,
			elem("p:first-of-type", func(e *Element) { e.SetTagName("x") })},
		{"nth-of-type", `<div><p>1</p><b></b><p>2</p><p>3</p></div>`, `<div><p>1</p><b></b><x>2</x><p>3</p></div>`,
			elem("p:nth-of-type(2)", func(e *Element) { e.SetTagName("x") })},
		{"nth-of-type among many names", `<div><p>1</p><a></a><b></b><i></i><s></s><u></u><q></q><em></em><dl></dl><dd></dd><p>2</p><p>3</p></div>`,
			`<div><p>1</p><a></a><b></b><i></i><s></s><u></u><q></q><em></em><dl></dl><dd></dd><x>2</x><p>3</p></div>`,
			elem("p:nth-of-type(2)", func(e *Element) { e.SetTagName("x") })},
		{"not", `<p class=a>1</p><p>2</p><p>3</p>`, `<p class=a>1</p><p>2</p><x>3</x>`,
			elem("p:not(.a):not(:nth-child(2))", func(e *Element) { e.SetTagName("x") })},
		{"attribute operators", `<a href="https://x.org/a.pdf" lang="en-US" rel="a b" data-k="VAL">1</a>`,
			`<a href="https://x.org/a.pdf" lang="en-US" rel="a b" data-k="VAL" ok="">1</a>`,
			elem(`a[href^="https:"][href$=".pdf"][href*="x.org"][lang|=en][rel~=b][data-k=val i]`, func(e *Element) { e.SetAttribute("ok", "") })},
		{"universal", `<a></a><b></b>`, `<a n="1"></a><b n="1"></b>`, elem("*", func(e *Element) { e.SetAttribute("n", "1") })},
		{"svg namespace", `<svg><path/><style>a<b</style></svg>`, `<svg><path d="1" /><style>a<b</style></svg>`,
			elem("path", func(e *Element) {
				if e.NamespaceURI() != NamespaceSVG || e.CanHaveContent() {
					panic("namespace")
				}
				e.SetAttribute("d", "1")
			})},
		{"implicit close", `<div><p>a</div>b`, `<div><p>a[p]</div>[div]b`, func(r *Rewriter) {
			elem("p", func(e *Element) { e.Append(txt("[p]")) })(r)
			elem("div", func(e *Element) { e.After(txt("[div]")) })(r)
		}},
		{"unclosed at end", `<div>a`, `<div>a[end]`, elem("div", func(e *Element) { e.Append(txt("[end]")) })},
		{"stray end tag", `</p>a`, `</p>a`, elem("p", func(e *Element) { e.SetTagName("x") })},
		{"end tag handler", `<div>a</div>`, `<section>a[before]</section >[after]`, elem("div", func(e *Element) {
			e.SetTagName("section")
			e.OnEndTag(func(et *EndTag) (bool, error) {
				if et.Name() != "section" {
					return false, errors.New("bad name " + et.Name())
				}
				et.SetName("section ")
				et.Before(txt("[before]"))
				et.After(txt("[after]"))
				return false, nil
			})
		})},
		{"end tag remove", `<div>a</div>`, `<div>a`, elem("div", func(e *Element) {
			e.OnEndTag(func(et *EndTag) (bool, error) { et.Remove(); return false, nil })
		})},
		{"malformed", `<div <p>x</p <b>y</b>< z &amp`, `<div <p>x</p <b>y</b>< z &amp`, elem("b", func(e *Element) {})},
		{"text in removed", `<div>a<b>b</b></div>c`, `c`, func(r *Rewriter) {
			elem("div", func(e *Element) { e.Remove() })(r)
			on("b", ElementHandlers{Text: func(t *TextChunk) (bool, error) { t.Replace(Content{Text: "X"}); return false, nil }})(r)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 2, 3, 7} {
				got, err := rewrite(t, c.in, chunk, c.setup)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if got != c.want {
					t.Fatalf("chunk %d:\n got %s\nwant %s", chunk, got, c.want)
				}
			}
		})
	}
}

func TestText(t *testing.T) {
	in := `<p>héllo wörld, long text</p><div>a<b>b</b>c</div><script>x<y</script>`
	for _, chunk := range []int{0, 1, 3, 5} {
		var chunks []string
		var nodes []string
		var cur strings.Builder
		out, err := rewrite(t, in, chunk, on("p, div, script", ElementHandlers{Text: func(tc *TextChunk) (bool, error) {
			if len(tc.Text) > 8 {
				t.Errorf("chunk of %d bytes", len(tc.Text))
			}
			chunks = append(chunks, tc.Text)
			cur.WriteString(tc.Text)
			if tc.LastInTextNode {
				nodes = append(nodes, cur.String())
				cur.Reset()
			}
			if tc.Text == "c" {
				tc.Replace(Content{Text: "<C>"})
			}
			return false, nil
		}}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"héllo wörld, long text", "a", "b", "c", "x<y"}
		if strings.Join(nodes, "|") != strings.Join(want, "|") {
			t.Errorf("chunk %d: text nodes %q, want %q (chunks %q)", chunk, nodes, want, chunks)
		}
		if wantOut := strings.Replace(in, ">c<", ">&lt;C&gt;<", 1); out != wantOut && chunk == 0 {
			t.Errorf("out %s", out)
		}
	}
}

func TestCommentsDoctypeEnd(t *testing.T) {
	in := `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p><!--a--></p><!--b-->`
	var dt *Doctype
	out, err := rewrite(t, in, 4, func(r *Rewriter) {
		on("p", ElementHandlers{Comments: func(c *Comment) (bool, error) { c.SetText("A"); c.After(Content{Text: "!"}); return false, nil }})(r)
		r.OnDocument(DocumentHandlers{
			Doctype: func(d *Doctype) (bool, error) { dt = d; return false, nil },
			Comments: func(c *Comment) (bool, error) {
				if c.Text() == "b" {
					c.Remove()
				}
				return false, nil
			},
			End: func(e *DocumentEnd) (bool, error) { e.Append(Content{Text: "<end>", HTML: true}); return false, nil },
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p><!--A-->!</p><end>`; out != want {
		t.Errorf("got %s\nwant %s", out, want)
	}
	if dt == nil || dt.Name != "html" || dt.PublicID != "-//W3C//DTD HTML 4.01//EN" || dt.SystemID != "http://www.w3.org/TR/html4/strict.dtd" {
		t.Errorf("doctype %+v", dt)
	}
}

func TestSuspend(t *testing.T) {
	r := New(Options{})
	s, _ := Compile("p")
	var pending *Element
	r.On(s, ElementHandlers{Element: func(e *Element) (bool, error) { pending = e; return true, nil }})
	r.Write([]byte("<a>x</a><p>y</p><p>z</p>"))
	r.Close()
	out, st, err := r.Run()
	if err != nil || st != Suspended || string(out) != "<a>x</a>" {
		t.Fatalf("%q %v %v", out, st, err)
	}
	pending.SetAttribute("n", "1")
	out, st, err = r.Run()
	if err != nil || st != Suspended || string(out) != `<p n="1">y</p>` {
		t.Fatalf("%q %v %v", out, st, err)
	}
	pending.SetAttribute("n", "2")
	out, st, err = r.Run()
	if err != nil || st != Done || string(out) != `<p n="2">z</p>` {
		t.Fatalf("%q %v %v", out, st, err)
	}
}

func TestBounds(t *testing.T) {
	deep := strings.Repeat("<div>", DefaultMaxDepth+1)
	r := New(Options{})
	r.Write([]byte(deep))
	r.Close()
	if _, _, err := r.Run(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep: %v", err)
	}
	// Closed elements do not count.
	r = New(Options{})
	r.Write([]byte(strings.Repeat("<div></div>", 10*DefaultMaxDepth)))
	r.Close()
	if _, _, err := r.Run(); err != nil {
		t.Errorf("flat: %v", err)
	}
	r = New(Options{MaxOutput: 100})
	s, _ := Compile("p")
	r.On(s, ElementHandlers{Element: func(e *Element) (bool, error) { e.Append(Content{Text: strings.Repeat("x", 60)}); return false, nil }})
	r.Write([]byte("<p></p><p></p>"))
	r.Close()
	if _, _, err := r.Run(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("output: %v", err)
	}
}

func TestHandlerError(t *testing.T) {
	boom := errors.New("boom")
	_, err := rewrite(t, "<p>x</p>", 0, on("p", ElementHandlers{Element: func(*Element) (bool, error) { return false, boom }}))
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestCompile(t *testing.T) {
	ok := []string{"p", "*", "div > p", "div p", ".a.b", "#x", "[a]", `[a="x y"]`, "[a~=b]", "[a^=b]", "[a$=b]", "[a*=b]", "[a|=b]",
		"li:nth-child(2n+1)", "li:nth-child( -n + 3 )", "p:first-child", "p:first-of-type", "p:nth-of-type(3)", "p:not(.x)", "a, b", `[a="+~:x"]`}
	for _, s := range ok {
		if _, err := Compile(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"", "a + b", "a ~ b", "p:last-child", "p::before", "p:has(a)", "p:nth-last-child(1)", "p:nth-child(x)", "p:hover", "p[", "p:not(a", "p)"}
	for _, s := range bad {
		_, err := Compile(s)
		var se *SelectorError
		if !errors.As(err, &se) {
			t.Errorf("%q: %v", s, err)
		}
	}
}
