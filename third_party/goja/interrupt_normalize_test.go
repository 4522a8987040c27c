package goja

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// normalize of a long string gives what the norm package gives for the
// whole, whatever falls on the edge of a piece (but for where the norm
// package puts the U+034F it inserts into a run of more than 30 marks);
// it stops at the interrupt, and a result the guard refuses is V8's
// RangeError.
func TestNormalizeLong(t *testing.T) {
	r := New()
	for _, c := range []struct{ form, s string }{
		{"NFD", strings.Repeat("é", 3*normalizeUnits+7)},
		{"NFC", strings.Repeat("e\u0301", 2*normalizeUnits+3)},
		{"NFKD", strings.Repeat("ﬁ😀é", normalizeUnits)},
		{"NFKC", strings.Repeat("a😀", normalizeUnits) + strings.Repeat("\uFDFA", 10)},
	} {
		_ = r.Set("s", c.s)
		v, err := r.RunString(`s.normalize("` + c.form + `")`)
		if err != nil {
			t.Fatal(err)
		}
		f := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}[c.form]
		if got, want := v.String(), f.String(c.s); got != want {
			t.Errorf("%s of %d bytes: got %d bytes, not the norm package's %d", c.form, len(c.s), len(got), len(want))
		}
	}
	// Called from Go, with no instruction between the interrupt and the
	// call to see it.
	normalize, _ := AssertFunction(r.Get("String").ToObject(r).Get("prototype").ToObject(r).Get("normalize"))
	r.Interrupt("stop")
	var ie *InterruptedError
	if _, err := normalize(r.ToValue(strings.Repeat("é", 4*normalizeUnits)), r.ToValue("NFD")); !errors.As(err, &ie) {
		t.Errorf("interrupted: %v", err)
	}
	r.ClearInterrupt()
	// NFKD makes 18 characters of U+FDFA: the guard is asked as the
	// result grows, not only for the string it was given.
	r.SetAllocGuard(func(size int, kind AllocKind) bool { return size <= 16<<20 })
	_, err := r.RunString(`"\uFDFA".repeat(2 ** 19).normalize("NFKD")`)
	if ex, ok := err.(*Exception); !ok || !strings.Contains(ex.Error(), "Invalid string length") {
		t.Errorf("past the guard: %v", err)
	}
}
