package goja

import (
	"testing"
)

// The guard is asked before each large allocation whose size is known in
// advance, with that size; what it refuses is a RangeError with V8's
// message, and nothing is allocated (the hook sees no store).
func TestAllocGuard(t *testing.T) {
	type ask struct {
		size int
		kind AllocKind
	}
	for _, c := range []struct {
		script string
		asks   []ask
		msg    string // the RangeError's message when the guard refuses
		huge   bool   // too large to allow: Go's allocator would end the process
	}{
		{"new ArrayBuffer(1 << 20)", []ask{{1 << 20, AllocArrayBuffer}}, "Array buffer allocation failed", false},
		{"new SharedArrayBuffer(1 << 20)", []ask{{1 << 20, AllocArrayBuffer}}, "Array buffer allocation failed", false},
		{"new Float64Array(1 << 17)", []ask{{1 << 20, AllocArrayBuffer}}, "Array buffer allocation failed", false},
		{"new ArrayBuffer(2 ** 40)", []ask{{1 << 40, AllocArrayBuffer}}, "Array buffer allocation failed", true},
		// A resizable buffer asks for the length it grows to; the
		// capacity it reserves past that does not count.
		{"const b = new ArrayBuffer(0, { maxByteLength: 2 ** 40 }); b.resize(3 << 20)", []ask{{3 << 20, AllocArrayBuffer}}, "Array buffer allocation failed", false},
		{"'ab'.repeat(1 << 16)", []ask{{1 << 17, AllocString}}, "Invalid string length", false},
		{"'é'.repeat(1 << 16)", []ask{{2 * ((1 << 16) + 1), AllocString}}, "Invalid string length", false},
		{"'x'.padStart(1 << 20)", []ask{{1 << 20, AllocString}}, "Invalid string length", false},
		{"'x'.padEnd(1 << 20, 'é')", []ask{{2 * ((1 << 20) + 1), AllocString}}, "Invalid string length", false},
		// Small ones do not ask.
		{"new ArrayBuffer(100); 'x'.repeat(100); 'x'.padStart(100)", nil, "", false},
	} {
		for _, allow := range []bool{true, false} {
			if allow && c.huge {
				continue
			}
			r := New()
			var asks []ask
			r.SetAllocGuard(func(size int, kind AllocKind) bool {
				asks = append(asks, ask{size, kind})
				return allow
			})
			stores := 0
			r.SetArrayBufferAllocHook(func([]byte) { stores++ })
			_, err := r.RunString(c.script)
			if len(asks) != len(c.asks) || (len(asks) > 0 && asks[0] != c.asks[0]) {
				t.Errorf("%s: asked %v, want %v", c.script, asks, c.asks)
			}
			switch {
			case allow || c.asks == nil:
				if err != nil {
					t.Errorf("%s, allowed: %v", c.script, err)
				}
			default:
				ex, ok := err.(*Exception)
				if !ok || !ex.Value().(*Object).Get("constructor").SameAs(r.Get("RangeError")) || ex.Value().(*Object).Get("message").String() != c.msg {
					t.Errorf("%s, refused: got %v, want a RangeError %q", c.script, err, c.msg)
				}
				if stores != 0 {
					t.Errorf("%s, refused: the hook saw %d stores", c.script, stores)
				}
			}
		}
	}
}

// repeat, padStart and padEnd refuse strings longer than V8's longest
// (2^29 - 24 characters), as V8 does, before allocating anything, with or
// without a guard; counts whose product overflows are refused too.
func TestMaxStringLength(t *testing.T) {
	r := New()
	for _, script := range []string{
		"'x'.repeat(2 ** 29 - 23)",
		"'x'.repeat(2 ** 30)",
		"'ab'.repeat(2 ** 62)",
		"'ab'.repeat(2 ** 53 - 1)",
		"'é'.repeat(2 ** 29)",
		"'x'.padStart(2 ** 30)",
		"'x'.padEnd(2 ** 53 - 1, 'é')",
	} {
		_, err := r.RunString(script)
		ex, ok := err.(*Exception)
		if !ok || !ex.Value().(*Object).Get("constructor").SameAs(r.Get("RangeError")) || ex.Value().(*Object).Get("message").String() != "Invalid string length" {
			t.Errorf("%s: got %v, want RangeError: Invalid string length", script, err)
		}
	}
	// Up to the limit, they still work (a small string here; the limit's
	// own arithmetic is exercised above).
	v, err := r.RunString("'ab'.repeat(3) + 'x'.padStart(3, '-') + 'y'.padEnd(2)")
	if err != nil || v.String() != "ababab--xy " {
		t.Fatalf("got %v, %v", v, err)
	}
}
