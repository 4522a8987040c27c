package jsengine

import (
	"context"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// addWasm exports add(a, b) = a + b (hand-assembled).
var addWasm = []byte("\x00asm\x01\x00\x00\x00\x01\x07\x01`\x02\x7f\x7f\x01\x7f\x03\x02\x01\x00\x07\x07\x01\x03add\x00\x00\n\t\x01\a\x00 \x00 \x01j\v")

// TestRetiredObjectReleasesWasm: a live object removed from the table
// closes its wasm instances (wazero's store would keep them otherwise).
func TestRetiredObjectReleasesWasm(t *testing.T) {
	o := &liveObject{key: "k", l: newLoop(false)}
	var tbl objectTable
	tbl.add(o)
	end := o.l.begin(context.Background(), &jsCall{limits: contract.Limits{CPUMs: 1000, WallMs: 5000}})
	defer end()
	vm := o.l.vm
	ab := vm.NewArrayBuffer(append([]byte(nil), addWasm...))
	_ = vm.Set("bin", ab)
	v, err := vm.RunString(`globalThis.x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports; x.add(2, 3)`)
	if err != nil || v.ToInteger() != 5 {
		t.Fatalf("add: %v %v", v, err)
	}
	call := func() error {
		o.mu.Lock()
		defer o.mu.Unlock()
		_, err := vm.RunString(`x.add(1, 1)`)
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("before eviction: %v", err)
	}
	tbl.evict("k")
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := call()
		if ex, ok := err.(*goja.Exception); ok {
			t.Logf("after eviction: %v", ex.Value())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance still runs after eviction (err %v)", err)
		}
		time.Sleep(time.Millisecond)
	}
}
