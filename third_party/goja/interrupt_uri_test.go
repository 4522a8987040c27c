package goja

import (
	"strings"
	"testing"
)

// encodeURI(Component), decodeURI(Component), escape and unescape of a
// string of tens of millions of characters stop at the interrupt, where
// they ran for a second or more in one call.
func TestURIFunctionsSeeTheInterrupt(t *testing.T) {
	for _, c := range []struct{ name, s, expr string }{
		{"encodeURIComponent", strings.Repeat("é", 1<<24), `encodeURIComponent(s).length`},
		{"encodeURI", strings.Repeat("é", 1<<24), `encodeURI(s).length`},
		{"decodeURIComponent", strings.Repeat("%C3%A9", 1<<24), `decodeURIComponent(s).length`},
		{"decodeURI", strings.Repeat("%C3%A9", 1<<24), `decodeURI(s).length`},
		{"escape", strings.Repeat("é", 1<<24), `escape(s).length`},
		{"unescape", strings.Repeat("%u00e9", 1<<24), `unescape(s).length`},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkInterruptible(t, set(c.s), c.expr)
		})
	}
}
