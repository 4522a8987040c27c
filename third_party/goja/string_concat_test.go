package goja

import (
	"math/rand"
	"strings"
	"testing"
	"time"
)

func TestConcatStringsPrefixes(t *testing.T) {
	// Appending to a string that is not the last one built must not
	// change the strings built after it.
	const SCRIPT = `
	var a = "x".repeat(300);
	var b = a + "1";
	var c = a + "2";
	var d = b + "3";
	var e = b + "4";
	var s = "";
	for (var i = 0; i < 2000; i++) s += "ab" + i;
	var t = s + "!";
	var u = s + "?";
	[b.slice(-2), c.slice(-2), d.slice(-3), e.slice(-3), s.length, t.slice(-5), u.slice(-5), s.slice(-5)].join();
	`
	testScript(SCRIPT, asciiString("x1,x2,x13,x14,10890,1999!,1999?,b1999"), t)
}

// TestConcatStringsDifferential builds strings from a pool by random
// concatenations with concatStrings and with plain Go strings.
func TestConcatStringsDifferential(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	r := New()
	var got []String
	var want []string
	add := func(g String, w string) {
		got = append(got, g)
		want = append(want, w)
	}
	add(asciiString(""), "")
	add(asciiString(strings.Repeat("q", 250)), strings.Repeat("q", 250))
	add(newStringValue("é"), "é")
	for i := 0; i < 20000; i++ {
		var ai, bi int
		if rnd.Intn(3) > 0 {
			ai = len(got) - 1 - rnd.Intn(min(3, len(got))) // mostly the newest: appends
		} else {
			ai = rnd.Intn(len(got))
		}
		bi = rnd.Intn(len(got))
		g := got[bi]
		w := want[bi]
		if rnd.Intn(2) == 0 { // a short piece
			piece := string(rune('a' + rnd.Intn(26)))
			if rnd.Intn(20) == 0 {
				piece = "ü"
			}
			g, w = newStringValue(piece), piece
		}
		add(r.concatStrings(got[ai], g), want[ai]+w)
		if len(want[len(want)-1]) > 1<<19 { // start again from the seeds
			got, want = got[:3], want[:3]
		}
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Fatalf("string %d: %d bytes, differs from the Go concatenation (%d bytes)", i, len(got[i].String()), len(want[i]))
		}
	}
}

func BenchmarkStringAppendLoop(b *testing.B) {
	vm := New()
	prg := MustCompile("append.js", `var s = ""; for (var i = 0; i < 20000; i++) s += "ab" + i;`, false)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.RunProgram(prg); err != nil {
			b.Fatal(err)
		}
	}
}
