package htmlrewrite

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// randomHTML makes a document of well-formed and broken pieces.
func randomHTML(r *rand.Rand, n int) string {
	pieces := []string{"<div>", "</div>", "<p class=\"a b\">", "</p>", "<br>", "<img src=x alt='y'>", "text ", "héllo ✓ ",
		"<!-- c -->", "<!--", "-->", "<script>if (a<b) x='</div>'</script>", "<style>p{}</style>", "<textarea><b></textarea>",
		"<svg><path d='1'/></svg>", "&amp;", "&", "<", ">", "</", "<!DOCTYPE html>", "<![CDATA[x]]>", "<a href=\"/x\">", "</a>",
		"<ul><li>1<li>2</ul>", "\r\n", "<title>t</title>", "<x-y z>", "</unknown>", "<b", "=\"", "<?php ?>", "\x00"}
	var b strings.Builder
	for range n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// feedRandom runs a rewriter over in, cut at random points.
func feedRandom(t *testing.T, r *rand.Rand, in string, setup func(*Rewriter)) string {
	t.Helper()
	rw := New(Options{MaxTextChunk: 1 + r.IntN(32)})
	setup(rw)
	var out strings.Builder
	for len(in) > 0 {
		n := min(len(in), 1+r.IntN(16))
		rw.Write([]byte(in[:n]))
		in = in[n:]
		b, st, err := rw.Run()
		out.Write(b)
		if err != nil || st != NeedInput {
			t.Fatalf("%v %v", st, err)
		}
	}
	rw.Close()
	b, st, err := rw.Run()
	out.Write(b)
	if err != nil || st != Done {
		t.Fatalf("%v %v", st, err)
	}
	return out.String()
}

// TestRandomIdentity: a rewriter whose handlers change nothing gives back
// its input byte for byte, however the input is cut, and its text chunks
// put together are the text it passed over.
func TestRandomIdentity(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range 300 {
		in := randomHTML(r, 1+r.IntN(40))
		var text strings.Builder
		out := feedRandom(t, r, in, func(rw *Rewriter) {
			s, _ := Compile("*")
			rw.On(s, ElementHandlers{Element: func(e *Element) (bool, error) {
				e.Attributes()
				return false, nil
			}})
			rw.OnDocument(DocumentHandlers{Text: func(c *TextChunk) (bool, error) {
				text.WriteString(c.Text)
				return false, nil
			}})
		})
		if out != in {
			t.Fatalf("case %d: input\n%q\ncame back as\n%q", i, in, out)
		}
		if len(text.String()) > len(in) {
			t.Fatalf("case %d: more text than input", i)
		}
	}
}

// TestRandomSplits: a rewriter that changes things gives the same output
// however its input is cut.
func TestRandomSplits(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	setup := func(rw *Rewriter) {
		for sel, f := range map[string]func(*Element){
			"div":             func(e *Element) { e.SetAttribute("k", "v") },
			"p.a":             func(e *Element) { e.Prepend(Content{Text: "<pre>"}) },
			"a[href]":         func(e *Element) { e.Remove() },
			"li:nth-child(2)": func(e *Element) { e.SetInnerContent(Content{Text: "two"}) },
		} {
			s, _ := Compile(sel)
			rw.On(s, ElementHandlers{Element: func(e *Element) (bool, error) { f(e); return false, nil }})
		}
		rw.OnDocument(DocumentHandlers{
			Comments: func(c *Comment) (bool, error) { c.SetText("C"); return false, nil },
		})
	}
	for i := range 300 {
		in := randomHTML(r, 1+r.IntN(40))
		one := New(Options{})
		setup(one)
		one.Write([]byte(in))
		one.Close()
		want, _, err := one.Run()
		if err != nil {
			t.Fatal(err)
		}
		if got := feedRandom(t, r, in, setup); got != string(want) {
			t.Fatalf("case %d: input\n%q\nin one piece:\n%q\ncut:\n%q", i, in, want, got)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add("<div class=a><p>x</p><!--c--></div>", uint8(3))
	f.Add("<script>a<b</script><svg><path/></svg>", uint8(1))
	f.Fuzz(func(t *testing.T, in string, cut uint8) {
		setup := func(rw *Rewriter) {
			s, _ := Compile("div p, p:nth-child(odd), :not(a)")
			rw.On(s, ElementHandlers{
				Element: func(e *Element) (bool, error) { e.SetAttribute("x", "1"); return false, nil },
				Text:    func(c *TextChunk) (bool, error) { return false, nil },
			})
		}
		one := New(Options{})
		setup(one)
		one.Write([]byte(in))
		one.Close()
		want, _, err := one.Run()
		if err != nil {
			return // too deep
		}
		rw := New(Options{})
		setup(rw)
		var got []byte
		step := int(cut%16) + 1
		for i := 0; i < len(in); i += step {
			rw.Write([]byte(in[i:min(i+step, len(in))]))
			b, _, err := rw.Run()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
		}
		rw.Close()
		b, _, err := rw.Run()
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, b...); string(got) != string(want) {
			t.Fatalf("cut every %d:\n%q\nwant\n%q", step, got, want)
		}
	})
}
