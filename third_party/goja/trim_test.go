package goja

import (
	"strings"
	"testing"

	"github.com/dop251/goja/parser"
)

// isWhitespaceUnit is parser.WhitespaceChars, every one a single code unit.
func TestWhitespaceUnits(t *testing.T) {
	for c := 0; c <= 0xFFFF; c++ {
		if got, want := isWhitespaceUnit(uint16(c)), strings.ContainsRune(parser.WhitespaceChars, rune(c)); got != want {
			t.Errorf("U+%04X: %v, want %v", c, got, want)
		}
	}
	for _, r := range parser.WhitespaceChars {
		if r > 0xFFFF {
			t.Errorf("U+%04X is not in the BMP", r)
		}
	}
}

// trim, trimStart and trimEnd take off white space by code units and keep
// the rest as it is (a lone surrogate too); a long string of other than
// ASCII characters is trimmed without converting it.
func TestTrim(t *testing.T) {
	r := New()
	v, err := r.RunString(`
		const ws = " \f\n\r\t\v\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
		const out = [];
		for (const s of ["", "x", ws, ws + "é\ud800x" + ws, "\ud83d\ude00 a \ud83d\ude00", ws + "a"]) {
			out.push(JSON.stringify([s.trim(), s.trimStart(), s.trimEnd()]));
		}
		const long = " " + "é".repeat(1 << 22) + "\ud800 ";
		out.push(long.trim().length, long.trimStart().length, long.trimEnd().length, long.trim().charCodeAt((1 << 22)));
		out.join("\n");
	`)
	if err != nil {
		t.Fatal(err)
	}
	want := `["","",""]
["x","x","x"]
["","",""]
["é\ud800x","é\ud800x` + "\u0020\\f\\n\\r\\t\\u000b\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff" + `","` + "\u0020\\f\\n\\r\\t\\u000b\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff" + `é\ud800x"]
["😀 a 😀","😀 a 😀","😀 a 😀"]
["a","a","` + "\u0020\\f\\n\\r\\t\\u000b\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff" + `a"]
4194305
4194306
4194306
55296`
	if got := v.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
