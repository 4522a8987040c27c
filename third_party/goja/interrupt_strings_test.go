package goja

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// String built-ins whose own loops make millions of pieces (split,
// replaceAll, a replace with many matches) stop at the interrupt, where
// they used to run to their end: each is timed whole, then interrupted
// 50 ms in, and must end well before its whole time.
func TestStringLoopsSeeTheInterrupt(t *testing.T) {
	for _, src := range []string{
		`s.split("")`,
		`u.split("")`,
		`u.split("é")`,
		`s.replaceAll("x", "yy")`,
		`s.replace(/x/g, "yy")`,
	} {
		t.Run(src, func(t *testing.T) {
			run := func(interrupt bool) (time.Duration, error) {
				r := New()
				_ = r.Set("s", strings.Repeat("x", 1<<22))
				_ = r.Set("u", strings.Repeat("é", 1<<21))
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

// splitASCII is strings.SplitN, on random ASCII strings and separators.
func TestSplitASCII(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	r := New()
	word := func(n int) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = "ab,"[rng.IntN(3)]
		}
		return string(b)
	}
	for range 5000 {
		s, sep, n := word(30), word(2), rng.IntN(12)-2
		var got []string
		for _, v := range r.splitASCII(s, sep, n) {
			got = append(got, v.String())
		}
		want := strings.SplitN(s, sep, n)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Fatalf("splitASCII(%q, %q, %d) = %q, want %q", s, sep, n, got, want)
		}
	}
}
