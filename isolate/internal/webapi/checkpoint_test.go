package webapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// TestLoopsSeeTheInterrupt: a Web API call that loops over millions of
// the guest's values in one host call (the runtime sees its interrupt
// only between instructions) stops once the runtime was interrupted for a
// limit, instead of running on for seconds.
func TestLoopsSeeTheInterrupt(t *testing.T) {
	const wide = `const o = {}; for (let i = 0; i < 10000; i++) o["k" + i] = "v";`
	const pairs = `const p = []; for (let i = 0; i < 10000; i++) p.push(["k" + i, "v"]);`
	const many = `const m = new Map(); for (let i = 0; i < 10000; i++) m.set(i, i);`
	cases := []struct{ name, setup, expr string }{
		{"blob parts", `const a = Array(10000).fill("x");`, `new Blob(a).size`},
		{"headers pairs", pairs, `[...new Headers(p)].length`},
		{"headers record", wide, `[...new Headers(o)].length`},
		{"search params pairs", pairs, `new URLSearchParams(p).size`},
		{"search params record", wide, `new URLSearchParams(o).size`},
		{"clone object", wide, `Object.keys(structuredClone(o)).length`},
		{"clone array", `const a = Array(10000).fill(1);`, `structuredClone(a).length`},
		{"clone map", many, `structuredClone(m).size`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &env{t: t, vm: goja.New()}
			interrupted := false
			e.api = Install(e.vm, Options{
				Rand:        bytes.NewReader(bytes.Repeat([]byte{0xAB}, 1<<20)),
				Now:         fakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond),
				Interrupted: func() bool { return interrupted },
			})
			if got := e.eval(c.setup + "return " + c.expr); strings.HasPrefix(got, "rejected") {
				t.Fatalf("without an interrupt: %s", got)
			}
			// The guest builds its values; a limit falls; then the call.
			_ = e.vm.Set("interrupt", func() { interrupted = true })
			if got := e.eval(c.setup + "interrupt(); return " + c.expr); got != "rejected: Error: interrupted" {
				t.Fatalf("got %q after the interrupt", got)
			}
		})
	}
}
