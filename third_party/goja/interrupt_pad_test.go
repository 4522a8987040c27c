package goja

import (
	"errors"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// padRef is padStart/padEnd as the spec writes them, on UTF-16 units.
func padRef(s, filler string, max int, start bool) string {
	su, fu := utf16.Encode([]rune(s)), utf16.Encode([]rune(filler))
	if max <= len(su) || len(fu) == 0 {
		return s
	}
	fill := slices.Repeat(fu, (max-len(su))/len(fu)+1)[:max-len(su)]
	var out []uint16
	if start {
		out = append(fill, su...)
	} else {
		out = append(su, fill...)
	}
	return string(utf16.Decode(out))
}

// padStart and padEnd give the spec's string for fillers and lengths
// around the copy step, ASCII and not, a surrogate pair cut at the end.
func TestPad(t *testing.T) {
	r := New()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	type pad struct {
		s, f string
		n    int
	}
	var cases []pad
	for _, f := range []string{" ", "xyz", "aé", "a😀b"} {
		for _, s := range []string{"", "ü", "long string"} {
			for _, n := range []int{0, 1, 2, 3, 7, 100, 1 + rnd.IntN(5000)} {
				cases = append(cases, pad{s, f, n})
			}
		}
	}
	// Lengths around the copy step, and a filler longer than it.
	for _, n := range []int{repeatCopy - 1, repeatCopy, repeatCopy + 1, 2*repeatCopy + 5, rnd.IntN(3 * repeatCopy)} {
		cases = append(cases, pad{"s", "xyz", n}, pad{"ü", "a😀b", n})
	}
	cases = append(cases, pad{"", strings.Repeat("ab", repeatCopy/2+3), repeatCopy + 7})
	for _, c := range cases {
		for _, start := range []bool{true, false} {
			_ = r.Set("s", c.s)
			_ = r.Set("f", c.f)
			_ = r.Set("n", c.n)
			src := `s.padEnd(n, f)`
			if start {
				src = `s.padStart(n, f)`
			}
			v, err := r.RunString(src)
			if err != nil {
				t.Fatalf("%s with %q, %q, %d: %v", src, c.s, c.f, c.n, err)
			}
			if got, want := v.String(), padRef(c.s, c.f, c.n, start); got != want {
				t.Fatalf("%s with %q, %q, %d: got %d bytes, want %d", src, c.s, c.f, c.n, len(got), len(want))
			}
		}
	}
	if v, err := r.RunString(`"x".padStart(3) + "|" + "x".padEnd(3) + "|" + "x".padStart(3, "")`); err != nil || v.String() != "  x|x  |x" {
		t.Errorf("default and empty fillers: %v, %v", v, err)
	}
}

// padStart and padEnd stop at the interrupt as they fill: a pad of 2**28
// units written a filler at a time took half a second and looked at it
// only when done. Timed whole, then interrupted a quarter of the way in,
// the call must end well before its whole time.
func TestPadSeesTheInterrupt(t *testing.T) {
	for _, src := range []string{`"".padStart(2 ** 28, "ab").length`, `"é".padEnd(2 ** 27, "xyz").length`} {
		t.Run(src, func(t *testing.T) {
			run := func(after time.Duration) (time.Duration, error) {
				debug.FreeOSMemory()
				r := New()
				prg := MustCompile("", src, false)
				done := make(chan error, 1)
				t0 := time.Now()
				go func() {
					_, err := r.RunProgram(prg)
					done <- err
				}()
				if after > 0 {
					time.Sleep(after)
					r.Interrupt("stop")
				}
				err := <-done
				return time.Since(t0), err
			}
			whole := time.Duration(1 << 62)
			for range 2 {
				took, err := run(0)
				if err != nil {
					t.Fatal(err)
				}
				whole = min(whole, took)
			}
			if whole < 80*time.Millisecond {
				t.Skipf("the whole call took %v: too quick here to tell an interrupt inside it", whole)
			}
			took, err := run(whole / 4)
			var ie *InterruptedError
			if !errors.As(err, &ie) || ie.Value() != "stop" {
				t.Fatalf("%v, want the interrupt (the whole call takes %v)", err, whole)
			}
			if took > whole*3/4 {
				t.Errorf("interrupted %v in, it ended after %v; the whole call takes %v", whole/4, took, whole)
			}
		})
	}
}
