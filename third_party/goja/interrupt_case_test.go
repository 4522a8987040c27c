package goja

import (
	"strings"
	"testing"
)

// toUpperCase and toLowerCase of a long string map it a piece at a time
// (changeCaseLong) and give what one pass gives (toUpper, toLower), with
// what the mapping depends on (a final sigma, toLower's workaround for
// U+0345 before a final sigma, pairs) cut across pieces anywhere.
func TestChangeCaseInPieces(t *testing.T) {
	r := New()
	specials := []string{"ΑΣ ", "ΑΣ", "Σ", "ß", "İ", "\u0345\u03c2", "α\u0345\u03c2", "x\u0345\u03c2", "𐐀", "ΐ", "Ǆ"}
	for _, sp := range specials {
		for _, off := range []int{-3, -2, -1, 0, 1} {
			var b strings.Builder
			b.WriteString(strings.Repeat("é", caseUnits+off))
			b.WriteString(sp)
			b.WriteString(strings.Repeat("Éa", 10))
			b.WriteString(sp)
			s := newStringValue(b.String())
			if got, want := r.changeCaseLong(s, true).String(), s.toUpper().String(); got != want {
				t.Errorf("upper of %q at %d: differs", sp, off)
			}
			if got, want := r.changeCaseLong(s, false).String(), s.toLower().String(); got != want {
				t.Errorf("lower of %q at %d: differs", sp, off)
			}
		}
	}
}

// toUpperCase and toLowerCase of 8 Mi characters stop at the interrupt,
// where they ran for seconds.
func TestChangeCaseSeesTheInterrupt(t *testing.T) {
	for _, src := range []string{`s.toUpperCase().length`, `s.toLowerCase().length`} {
		t.Run(src, func(t *testing.T) {
			checkInterruptible(t, set(strings.Repeat("é", 1<<23)), src)
		})
	}
}
