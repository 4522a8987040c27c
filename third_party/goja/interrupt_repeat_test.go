package goja

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// repeat builds its result by doubling it, a step of about repeatCopy
// units at a time, and gives what strings.Repeat gives, with V8's
// RangeErrors.
func TestRepeat(t *testing.T) {
	r := New()
	long := strings.Repeat("ab", repeatCopy/2+3) // a piece longer than a step
	for _, c := range []struct {
		s string
		n int
	}{
		{"x", 0}, {"x", 1}, {"x", 2}, {"x", 3}, {"xyz", 1000}, {"x", repeatCopy + 1}, {"xyz", 3*repeatCopy + 5},
		{"é", 1}, {"é", 7}, {"é", repeatCopy + 3}, {"a😀", 2*repeatCopy/3 + 1}, {long, 3}, {long + "é", 5}, {"", 10},
	} {
		_ = r.Set("s", c.s)
		_ = r.Set("n", c.n)
		v, err := r.RunString(`s.repeat(n)`)
		if err != nil {
			t.Fatalf("%d bytes times %d: %v", len(c.s), c.n, err)
		}
		if got, want := v.String(), strings.Repeat(c.s, c.n); got != want {
			t.Errorf("%d bytes times %d: got %d bytes, want %d", len(c.s), c.n, len(got), len(want))
		}
	}
	for _, c := range []struct{ src, want string }{
		{`"x".repeat(-1)`, "RangeError: Invalid count value"},
		{`"x".repeat(Infinity)`, "RangeError: Invalid count value"},
		{`"xy".repeat(2 ** 29)`, "RangeError: Invalid string length"},
		{`"".repeat(-1)`, "RangeError: Invalid count value"},
	} {
		if _, err := r.RunString(c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.src, err, c.want)
		}
	}
	r.SetAllocGuard(func(size int, kind AllocKind) bool { return size <= 16<<20 })
	if _, err := r.RunString(`"é".repeat(8 << 20)`); err == nil || !strings.Contains(err.Error(), "Invalid string length") {
		t.Errorf("past the guard: %v", err)
	}
}

// repeat stops at the interrupt as it copies: 64 KiB repeated 4,096 times
// (256 MiB) looked at it once, before the first of its 4,096 copies, and
// ran to its end. Timed whole, then interrupted a quarter of the way in,
// it must end well before its whole time.
func TestRepeatSeesTheInterrupt(t *testing.T) {
	for _, src := range []string{`s.repeat(1 << 12).length`, `u.repeat(1 << 11).length`} {
		t.Run(src, func(t *testing.T) {
			run := func(after time.Duration) (time.Duration, error) {
				debug.FreeOSMemory() // each run takes its memory afresh
				r := New()
				_ = r.Set("s", strings.Repeat("x", 1<<16))
				_ = r.Set("u", strings.Repeat("é", 1<<16))
				prg := MustCompile("", src, false)
				done := make(chan error, 1)
				t0 := time.Now()
				go func() {
					_, err := r.RunProgram(prg)
					done <- err
				}()
				if after > 0 {
					// The call is under way: what the interrupt must stop
					// cannot be observed from here.
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
