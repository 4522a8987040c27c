package goja

import (
	"errors"
	"testing"
	"time"
)

// A regular-expression match that backtracks catastrophically (regexp2's
// engine: a lookahead) stops at the runtime's Interrupt, with the
// interrupt's value, where it used to run until regexp2's MatchTimeout
// (for ever by default) since its engine never sees the VM's loop.
func TestRegexpMatchSeesTheInterrupt(t *testing.T) {
	for _, src := range []string{
		`/^(a+)+(?!x)$/.test(s)`,
		`/^(a+)+(?!x)$/u.exec(s)`,
		`s.match(/(a+)+(?!x)$/g)`,
		`s.replace(/(a+)+(?!x)$/, "")`,
		`s.split(/(a+)+(?!x)$/)`,
		`[...s.matchAll(/(a+)+(?!x)$/g)]`,
	} {
		t.Run(src, func(t *testing.T) {
			r := New()
			if err := r.Set("s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"); err != nil { // 2^42 ways to fail
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := r.RunString(src)
				done <- err
			}()
			// The match is under way once the script has been compiled and
			// started: what the interrupt must stop cannot be observed.
			time.Sleep(50 * time.Millisecond)
			r.Interrupt("stop")
			select {
			case err := <-done:
				var ie *InterruptedError
				if !errors.As(err, &ie) || ie.Value() != "stop" {
					t.Fatalf("%v, want the interrupt", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the match did not stop at the interrupt in 10 s")
			}
		})
	}
}

// An interrupt that reaches no match leaves the runtime's later matches
// alone once cleared.
func TestRegexpAfterInterrupt(t *testing.T) {
	r := New()
	r.Interrupt("stop")
	r.ClearInterrupt()
	v, err := r.RunString(`/^(a+)+(?!x)$/.test("aaa") && "aab".replace(/a(?=b)/, "c")`)
	if err != nil || v.String() != "acb" {
		t.Fatalf("%v, %v", v, err)
	}
}
