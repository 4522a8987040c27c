package goja

import (
	"testing"
)

func TestArrayBufferAllocHook(t *testing.T) {
	r := New()
	var got []int
	var stores [][]byte
	r.SetArrayBufferAllocHook(func(data []byte) {
		got = append(got, len(data))
		stores = append(stores, data)
	})
	for _, c := range []struct {
		script string
		want   []int
	}{
		{"new ArrayBuffer(10)", []int{10}},
		{"new ArrayBuffer(0); new ArrayBuffer()", nil},
		{"new Uint8Array(3)", []int{3}},
		{"new Float64Array(4)", []int{32}},
		{"new Int16Array([1, 2, 3])", []int{6}},
		{"new Uint32Array(new Uint8Array(2))", []int{2, 8}},
		{"Float32Array.from([1, 2])", []int{8}},
		{"Uint16Array.of(1, 2, 3)", []int{6}},
		{"new Uint8Array(new ArrayBuffer(8), 2, 4)", []int{8}}, // a view of a buffer allocates nothing more
		{"new ArrayBuffer(8).slice(2, 6)", []int{8, 4}},
		{"new ArrayBuffer(8).transfer(16)", []int{8, 16}},
		{"new Uint8Array(5).slice(1)", []int{5, 4}},
		{"new Uint8Array(5).subarray(1)", []int{5}},
		{"new Uint8Array([1, 2, 3, 4]).map(x => x * 2)", []int{4, 4}},
		{"new Uint8Array([1, 2, 3, 4]).filter(x => x & 1)", []int{4, 2}},
		{"new Uint8Array([1, 2, 3, 4]).filter(x => false)", []int{4}},
		{"Uint8Array.fromHex('00ff10')", []int{3}},
		{"Uint8Array.fromBase64('AAEC')", []int{3}},
		{"new DataView(new ArrayBuffer(4))", []int{4}},
		{"new SharedArrayBuffer(6)", []int{6}},
		// A resizable buffer: its store as it grows past its capacity
		// (twice the old capacity, at least the new length); growing
		// within it, or shrinking, allocates nothing.
		{"const rb = new ArrayBuffer(4, { maxByteLength: 100 }); rb.resize(6); rb.resize(8); rb.resize(2); rb.resize(30); rb", []int{4, 8, 30}},
		{"new ArrayBuffer(0, { maxByteLength: 10 })", nil},
	} {
		got, stores = nil, nil
		v, err := r.RunString(c.script)
		if err != nil {
			t.Fatalf("%s: %v", c.script, err)
		}
		if !equalInts(got, c.want) {
			t.Errorf("%s: hook saw %v, want %v", c.script, got, c.want)
		}
		// The last store reported backs the result.
		if len(stores) > 0 {
			var data []byte
			switch x := v.Export().(type) {
			case ArrayBuffer:
				data = x.Bytes()
			default:
				switch o := v.(*Object).self.(type) {
				case *typedArrayObject:
					data = o.viewedArrayBuf.data
				case *dataViewObject:
					data = o.viewedArrayBuf.data
				}
			}
			if last := stores[len(stores)-1]; len(data) > 0 && &last[0] != &data[0] {
				t.Errorf("%s: the hook saw a different store from the one the result uses", c.script)
			}
		}
	}

	// Buffers the embedder makes are its own.
	got = nil
	_ = r.Set("ab", r.NewArrayBuffer(make([]byte, 100)))
	if _, err := r.RunString("new Uint8Array(ab)"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("NewArrayBuffer's data went to the hook: %v", got)
	}

	r.SetArrayBufferAllocHook(nil)
	if _, err := r.RunString("new ArrayBuffer(10)"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("a removed hook was called: %v", got)
	}
}

// A buffer too large to allocate is still a RangeError with a hook set,
// and the hook does not see it.
func TestArrayBufferAllocHookTooLarge(t *testing.T) {
	r := New()
	called := false
	r.SetArrayBufferAllocHook(func([]byte) { called = true })
	_, err := r.RunString("new ArrayBuffer(2 ** 53 - 1)")
	if ex, ok := err.(*Exception); !ok || !ex.Value().(*Object).Get("constructor").SameAs(r.Get("RangeError")) {
		t.Fatalf("got %v, want a RangeError", err)
	}
	if called {
		t.Error("the hook saw a buffer that was not allocated")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
