package goja

import (
	"errors"
	"testing"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// A regexp2 match that times out ends the script, uncatchably, with a
// *RegexpTimeoutError; it used to be taken as no match, and the script
// went on with a wrong answer.
func TestRegexpTimeoutInterrupts(t *testing.T) {
	old := regexp2.DefaultMatchTimeout
	regexp2.DefaultMatchTimeout = 20 * time.Millisecond
	defer func() { regexp2.DefaultMatchTimeout = old }()

	for _, src := range []string{
		// A lookahead makes goja use regexp2; the nested quantifier backtracks for ever.
		`/^(a+)+(?!x)$/.test("a".repeat(40) + "b")`,
		`"a".repeat(40).concat("b").replace(/^(a+)+(?!x)$/g, "y")`,
		`"a".repeat(40).concat("b").match(/^(a+)+(?!x)$/u)`,
		`let caught = false; try { /^(a+)+(?!x)$/.exec("a".repeat(40) + "b") } catch (e) { caught = true } caught`,
	} {
		vm := New()
		v, err := vm.RunString(src)
		var ie *InterruptedError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: %v, %v; want an *InterruptedError", src, v, err)
		}
		var te *RegexpTimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("%s: interrupted with %#v, want a *RegexpTimeoutError", src, ie.Value())
		}
	}
	// A match within the timeout is unchanged.
	v, err := New().RunString(`/^(a+)+(?!x)$/.test("aaaa")`)
	if err != nil || !v.ToBoolean() {
		t.Fatalf("a quick match: %v, %v", v, err)
	}
}
