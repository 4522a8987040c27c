package goja

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TypedArray sort, join and toLocaleString over tens of millions of
// elements stop at the interrupt, where they used to run to their end:
// each is timed whole, then interrupted 50 ms in, and must end well before
// its whole time.
func TestTypedArrayLoopsSeeTheInterrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomDoubles := make([]byte, 8<<21)
	for i := 0; i < len(randomDoubles); i += 8 {
		binary.LittleEndian.PutUint64(randomDoubles[i:], math.Float64bits(rng.Float64()))
	}
	for _, src := range []string{
		`new Float64Array(buf).sort()`,
		`new Uint8Array(1 << 23).join()`,
		`new Uint8Array(1 << 23).toString()`,
		`new Uint8Array(1 << 22).toLocaleString()`,
	} {
		t.Run(src, func(t *testing.T) {
			run := func(interrupt bool) (time.Duration, error) {
				r := New()
				_ = r.Set("buf", r.NewArrayBuffer(slices.Clone(randomDoubles))) // sorted in place
				prg := MustCompile("", src, false)
				done := make(chan error, 1)
				t0 := time.Now()
				go func() {
					_, err := r.RunProgram(prg)
					done <- err
				}()
				if interrupt {
					// The call is under way: what the interrupt must stop
					// cannot be observed from here.
					time.Sleep(50 * time.Millisecond)
					r.Interrupt("stop")
				}
				err := <-done
				return time.Since(t0), err
			}
			whole, err := run(false)
			if err != nil {
				t.Fatal(err)
			}
			if whole < 200*time.Millisecond {
				t.Skipf("the whole call took %v: too quick here to tell an interrupt inside it", whole)
			}
			took, err := run(true)
			var ie *InterruptedError
			if !errors.As(err, &ie) || ie.Value() != "stop" {
				t.Fatalf("%v, want the interrupt", err)
			}
			if took > whole/2+50*time.Millisecond {
				t.Errorf("interrupted 50 ms in, it ended after %v; the whole call takes %v", took, whole)
			}
		})
	}
}
