package goja

import (
	"errors"
	"testing"
	"time"
)

// Array built-ins called on array-likes ({length: 1e9} costs nothing to
// make) and TypedArray searches and copies over hundreds of millions of
// elements stop at the interrupt, where they used to run to their end: each
// is interrupted 20 ms in and must end within a second.
func TestArrayLikeLoopsSeeTheInterrupt(t *testing.T) {
	for _, src := range []string{
		`Array.prototype.indexOf.call({ length: 1e9 }, 1)`,
		`Array.prototype.lastIndexOf.call({ length: 1e9 }, 1)`,
		`Array.prototype.includes.call({ length: 1e9 }, 1)`,
		`Array.prototype.slice.call({ length: 1e9 }).length`,
		`Array.prototype.reverse.call({ length: 1e9 })`,
		`Array.prototype.copyWithin.call({ length: 1e9 }, 0, 1)`,
		`[].concat({ length: 1e9, [Symbol.isConcatSpreadable]: true }).length`,
		`Array.prototype.splice.call({ length: 1e9 }, 0, 1)`,
		`Array.prototype.shift.call({ length: 1e9 })`,
		`Array.prototype.unshift.call({ length: 1e9 }, 1)`,
		`Array.prototype.sort.call({ length: 1e9 })`,
		`Array.prototype.with.call({ length: 1e9 }, 0, 1)`,
		`Array.prototype.toReversed.call({ length: 1e9 })`,
		`Array.prototype.toSorted.call({ length: 1e9 })`,
		`Array.prototype.toSpliced.call({ length: 1e9 }, 0, 1)`,
		`Array.prototype.flat.call({ length: 1e9 })`,
		`Math.max.apply(null, { length: 1e9 })`,
		`Reflect.apply(Math.max, null, { length: 1e9 })`,
		`Reflect.construct(Array, { length: 1e9 }).length`,
		`Object.keys("x".repeat(1 << 26)).length`,
		`Object.entries("x".repeat(1 << 25)).length`,
		`Object.values("x".repeat(1 << 25)).length`,
		`Object.assign({}, "x".repeat(1 << 25))`,
		`Object.keys(new Uint8Array(1 << 27)).length`,
		`new Uint8Array(1 << 28).indexOf(1)`,
		`new Uint8Array(1 << 28).lastIndexOf(1)`,
		`new Uint8Array(1 << 28).includes(1)`,
		`new Uint8Array(1 << 26).set({ length: 1 << 26 })`,
		`Uint8Array.from({ length: 1 << 26 }).length`,
	} {
		t.Run(src, func(t *testing.T) {
			r := New()
			prg := MustCompile("", src, false)
			done := make(chan error, 1)
			t0 := time.Now()
			go func() {
				_, err := r.RunProgram(prg)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			r.Interrupt("stop")
			select {
			case err := <-done:
				var ie *InterruptedError
				if !errors.As(err, &ie) || ie.Value() != "stop" {
					t.Fatalf("%v, want the interrupt", err)
				}
				if took := time.Since(t0); took > time.Second {
					t.Errorf("interrupted 20 ms in, it ended after %v", took)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10 s after the interrupt")
			}
		})
	}
}
