package goja

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// JSON.parse of a text of millions of values stops at the interrupt,
// where it used to run to its end: it is timed whole, then interrupted
// 50 ms in, and must end well before its whole time.
func TestJSONParseSeesTheInterrupt(t *testing.T) {
	run := func(interrupt bool) (time.Duration, error) {
		r := New()
		_ = r.Set("s", "["+strings.Repeat("0,", 1<<22)+"0]")
		prg := MustCompile("", `JSON.parse(s).length`, false)
		done := make(chan error, 1)
		t0 := time.Now()
		go func() {
			_, err := r.RunProgram(prg)
			done <- err
		}()
		if interrupt {
			// The call is under way: what the interrupt must stop cannot
			// be observed from here.
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
}

// JSON.stringify of a string of millions of characters to escape stops
// at the interrupt.
func TestJSONQuoteSeesTheInterrupt(t *testing.T) {
	checkInterruptible(t, set(strings.Repeat("é\n", 1<<22)), `JSON.stringify(s).length`)
}
