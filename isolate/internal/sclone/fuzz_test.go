package sclone

import (
	"bytes"
	"testing"

	"github.com/dop251/goja"
)

var fuzzSeeds = []string{
	`undefined`, `null`, `true`, `-0`, `NaN`, `1.5`, `12345678`, `-(2n**70n)`, `"a\uD800é"`,
	`new Date(1)`, `/x+/g`, `[new Boolean(false), new Number(2), new String("s"), Object(1n)]`,
	`[1, , 3]`, `(() => { const a = [1, 2]; a.x = 1; return a })()`,
	`({a: {b: [1, "x", null]}, "\uDC00": 2})`,
	`new Map([[1, new Set([2])]])`,
	`(() => { const b = new ArrayBuffer(8); return [new Uint16Array(b, 2, 1), new DataView(b, 1), b] })()`,
	`(() => { const b = new ArrayBuffer(8, {maxByteLength: 32}); return [new Uint16Array(b, 2), new DataView(b, 1, 2), b] })()`,
	`new Error("e", {cause: new TypeError("t")})`,
	`(() => { const o = {}; o.o = o; return [o, o] })()`,
}

func FuzzDecode(f *testing.F) {
	vm := goja.New()
	for _, src := range fuzzSeeds {
		v, err := vm.RunString(src)
		if err != nil {
			f.Fatal(err)
		}
		b, err := Encode(vm, v, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x01a\x05\"\x013T}"))
	f.Add([]byte("\x01V\x01^\x00\x00\x00"))
	f.Add([]byte("\x01v\x01B\x02\x00\x00\x00"))             // a tracking view of a fixed buffer
	f.Add([]byte("\x01b\x80\x80\x80\x80\x80\x80\x01\x00"))  // maxByteLength past 2^40
	f.Add([]byte("\x01v\x05b\x08\x04\x00\x00\x00\x00\x03")) // a tracking view at an odd offset
	f.Fuzz(func(t *testing.T, b []byte) {
		vm := goja.New()
		v, err := Decode(vm, b)
		if err != nil {
			return
		}
		// What decodes encodes, and from then on it is a fixed point.
		b1, err := Encode(vm, v, 0)
		if err != nil {
			t.Fatalf("Decode(%q) gave a value that does not encode: %v", b, err)
		}
		vm2 := goja.New()
		v2, err := Decode(vm2, b1)
		if err != nil {
			t.Fatalf("Decode(%q) = %v", b1, err)
		}
		b2, err := Encode(vm2, v2, 0)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("re-encoding %q gave %q (%v)", b1, b2, err)
		}
	})
}
