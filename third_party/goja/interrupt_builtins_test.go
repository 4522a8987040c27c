package goja

import (
	"errors"
	"testing"
)

// touchyArray is a huge array whose element reads and writes are counted,
// and which interrupts its runtime at the 100th: from then on only the
// built-in's own look at the interrupt can stop the call, since no
// instruction of the run loop runs in between.
type touchyArray struct {
	r       *Runtime
	n       int
	touched int
}

func (a *touchyArray) touch() {
	a.touched++
	if a.touched == 100 {
		a.r.Interrupt("stop")
	}
}

func (a *touchyArray) Len() int                  { return a.n }
func (a *touchyArray) Get(idx int) Value         { a.touch(); return valueInt(idx & 7) }
func (a *touchyArray) Set(idx int, _ Value) bool { a.touch(); return true }
func (a *touchyArray) SetLen(int) bool           { return true }

// Built-ins whose own loops run long on one call stop at the interrupt
// within interruptEvery iterations of it, where they used to run to the
// end (2^30 iterations here) before the run loop could see it.
func TestBuiltinLoopsSeeTheInterrupt(t *testing.T) {
	for _, src := range []string{
		`Array.prototype.join.call(a, "-")`,
		`Array.prototype.fill.call(a, 0)`,
		`Array.from(a)`,
		`Array.from(a, x => x)`, // the map function runs VM code: the run loop sees it too
		`String.fromCharCode.apply(null, b)`,
	} {
		t.Run(src, func(t *testing.T) {
			r := New()
			a := &touchyArray{r: r, n: 1 << 30}
			if err := r.Set("a", r.NewDynamicArray(a)); err != nil {
				t.Fatal(err)
			}
			// fromCharCode reads its arguments' numbers: valueOf counts.
			args := make([]Value, 1<<16)
			for i := range args {
				o := r.NewObject()
				_ = o.Set("valueOf", func() int { a.touch(); return 65 })
				args[i] = o
			}
			if err := r.Set("b", r.newArrayValues(args)); err != nil {
				t.Fatal(err)
			}
			_, err := r.RunString(src)
			var ie *InterruptedError
			if !errors.As(err, &ie) || ie.Value() != "stop" {
				t.Fatalf("%v, want the interrupt", err)
			}
			if most := 100 + 2*(interruptEvery+1); a.touched > most {
				t.Fatalf("%d elements touched after the interrupt at the 100th, want at most %d", a.touched, most)
			}
		})
	}
}
