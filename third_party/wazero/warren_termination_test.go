package wazero_test

// Tests of warren's patch of ensureTermination (third_party/wazero-patches):
// the loop headers of a module compiled with WithCloseOnContextDone count
// back-edges down inline and call the checkModuleExitCode trampoline only
// when the countdown runs out.

import (
	"context"
	"encoding/hex"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
)

// loopsWasm is, in the text format:
//
//	(module
//	  (func (export "spin") (loop $l (br $l)))
//	  (func (export "count") (param $n i32) (result i64)
//	    (local $i i32) (local $j i32) (local $s i64)
//	    (loop $outer
//	      (local.set $j (i32.const 0))
//	      (loop $inner
//	        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.add (local.get $i) (local.get $j)))))
//	        (local.set $j (i32.add (local.get $j) (i32.const 1)))
//	        (br_if $inner (i32.lt_u (local.get $j) (i32.const 7))))
//	      (local.set $i (i32.add (local.get $i) (i32.const 1)))
//	      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
//	    (local.get $s)))
const loopsWasm = "0061736d0100000001090260000060017f017e0303020001071002047370696e000005636f756e7400010a4402080003400c000b000b3902027f017e03404100210203402003200120026aad7c2103200241016a210220024107490d000b200141016a210120012000490d000b20030b"

func loopsModule(t *testing.T, ctx context.Context, ensureTermination bool) (wazero.Runtime, func(name string, args ...uint64) ([]uint64, error)) {
	t.Helper()
	bin, err := hex.DecodeString(loopsWasm)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(ensureTermination))
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	return rt, func(name string, args ...uint64) ([]uint64, error) {
		return mod.ExportedFunction(name).Call(ctx, args...)
	}
}

// TestWarrenTerminationCountdownResults: nested loops compute the same
// with the check as without it, across many refills of the countdown.
func TestWarrenTerminationCountdownResults(t *testing.T) {
	ctx := context.Background()
	for _, n := range []uint64{1, 2, 146, 147, 1000, 100_000} {
		want := 7*n*(n-1)/2 + 21*n
		for _, et := range []bool{false, true} {
			rt, call := loopsModule(t, ctx, et)
			r, err := call("count", n)
			rt.Close(ctx)
			if err != nil || r[0] != want {
				t.Fatalf("count(%d) with ensureTermination=%v = %v, %v; want %d", n, et, r, err, want)
			}
		}
	}
}

// TestWarrenTerminationStopsSpinOneProc: a spinning loop ends when its
// context does, with one P: the goroutine that closes the module runs
// only because the loop calls into Go every TerminationCheckInterval
// back-edges.
func TestWarrenTerminationStopsSpinOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rt, call := loopsModule(t, ctx, true)
	defer rt.Close(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := call("spin")
		done <- err
	}()
	select {
	case err := <-done:
		var exit *sys.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != sys.ExitCodeDeadlineExceeded {
			t.Fatalf("spin ended with %v, want the deadline's exit", err)
		}
		t.Logf("stopped after %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("spin was not stopped within 10 s of its 50 ms deadline")
	}
}
