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
		{"encodeURIComponent", strings.Repeat("é", 1<<22), `encodeURIComponent(s).length`},
		{"encodeURI", strings.Repeat("é", 1<<22), `encodeURI(s).length`},
		{"decodeURIComponent", strings.Repeat("%C3%A9", 1<<22), `decodeURIComponent(s).length`},
		{"decodeURI", strings.Repeat("%C3%A9", 1<<22), `decodeURI(s).length`},
		{"escape", strings.Repeat("é", 1<<22), `escape(s).length`},
		{"unescape", strings.Repeat("%u00e9", 1<<22), `unescape(s).length`},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkInterruptible(t, set(c.s), c.expr)
		})
	}
}
