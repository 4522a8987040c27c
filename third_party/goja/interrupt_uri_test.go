package goja

import (
	"errors"
	"strings"
	"testing"
	"time"
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
			r := New()
			_ = r.Set("s", c.s)
			prg := MustCompile("", c.expr, false)
			done := make(chan error, 1)
			t0 := time.Now()
			go func() {
				_, err := r.RunProgram(prg)
				done <- err
			}()
			time.Sleep(30 * time.Millisecond)
			r.Interrupt("stop")
			err := <-done
			var ie *InterruptedError
			if !errors.As(err, &ie) {
				t.Skipf("it ended before the interrupt (%v, %v)", time.Since(t0), err)
			}
			if took := time.Since(t0); took > 200*time.Millisecond {
				t.Errorf("it stopped %v after it started, the interrupt 30 ms after", took)
			}
		})
	}
}
