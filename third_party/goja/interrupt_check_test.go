package goja

import (
	"errors"
	"runtime/debug"
	"testing"
	"time"
)

// checkInterruptible runs src in a fresh runtime that setup prepared: twice
// to the end, then interrupted a quarter of the way in, when it must end
// with the interrupt before three quarters of the whole call's time (once
// in three tries). Timed
// against the call itself, as the repeat and pad tests are, it holds on a
// loaded host, where a bound in milliseconds did not: a call of a second
// here took 0.7 to 0.9 s to see an interrupt under make test.
func checkInterruptible(t *testing.T, setup func(*Runtime) error, src string) {
	t.Helper()
	prg := MustCompile("", src, false)
	run := func(after time.Duration) (time.Duration, error) {
		debug.FreeOSMemory() // each run takes its memory afresh
		r := New()
		if err := setup(r); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		t0 := time.Now()
		go func() {
			_, err := r.RunProgram(prg)
			done <- err
		}()
		if after > 0 {
			// The call is under way: what the interrupt must stop cannot
			// be observed from here.
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
	if whole < 200*time.Millisecond {
		t.Skipf("the whole call took %v: too quick here to tell an interrupt inside it", whole)
	}
	// A loop that does not look at the interrupt never ends in time; one
	// that does may still, on a loaded host, lose the CPU for a while:
	// one run in three in time is enough.
	var tooks []time.Duration
	for range 3 {
		took, err := run(whole / 4)
		var ie *InterruptedError
		if !errors.As(err, &ie) || ie.Value() != "stop" {
			t.Fatalf("%v, want the interrupt (the whole call takes %v)", err, whole)
		}
		if took <= whole*3/4 {
			return
		}
		tooks = append(tooks, took)
	}
	t.Errorf("interrupted %v in, it ended after %v; the whole call takes %v", whole/4, tooks, whole)
}

// set is a checkInterruptible setup that sets the global s to v.
func set(v string) func(*Runtime) error {
	return func(r *Runtime) error { return r.Set("s", v) }
}

// runSetup is a checkInterruptible setup that runs src.
func runSetup(src string) func(*Runtime) error {
	return func(r *Runtime) error { _, err := r.RunString(src); return err }
}
