package goja

import (
	"testing"
	"unsafe"
)

func TestResizableArrayBuffer(t *testing.T) {
	const SCRIPT = `
	const ab = new ArrayBuffer(4, { maxByteLength: 16 });
	assert.sameValue(ab.resizable, true, "resizable");
	assert.sameValue(ab.maxByteLength, 16, "maxByteLength");
	assert.sameValue(ab.byteLength, 4, "byteLength");
	assert.sameValue(new ArrayBuffer(4).resizable, false, "fixed");
	assert.sameValue(new ArrayBuffer(4).maxByteLength, 4, "fixed maxByteLength");
	assert.sameValue(new ArrayBuffer(4, {}).resizable, false, "no maxByteLength option");
	assert.throws(RangeError, () => new ArrayBuffer(8, { maxByteLength: 4 }), "length > max");
	assert.throws(RangeError, () => new ArrayBuffer(0, { maxByteLength: 2 ** 41 }), "max too large");
	assert.throws(TypeError, () => new ArrayBuffer(4).resize(2), "fixed-length resize");

	const tracking = new Uint16Array(ab);
	const fixed = new Uint8Array(ab, 2, 2);
	const fromOne = new Uint8Array(ab, 1);
	const dv = new DataView(ab);
	const dvFixed = new DataView(ab, 2, 2);
	tracking[0] = 0x0201;
	tracking[1] = 0x0403;
	assert.sameValue(tracking.length, 2, "tracking length");

	ab.resize(10);
	assert.sameValue(ab.byteLength, 10);
	assert.sameValue(tracking.length, 5, "tracking follows growth");
	assert.sameValue(tracking.byteLength, 10);
	assert.sameValue(fromOne.length, 9);
	assert.sameValue(fixed.length, 2, "fixed keeps its length");
	assert.sameValue(dv.byteLength, 10, "DataView follows");
	assert.sameValue(dvFixed.byteLength, 2);
	assert.sameValue(tracking[4], 0, "new bytes are zero");
	tracking[4] = 7;

	ab.resize(3);
	assert.sameValue(tracking.length, 1, "tracking follows shrink (whole elements)");
	assert.sameValue(tracking[1], undefined, "past the end");
	assert.sameValue(fixed.length, 0, "fixed view out of bounds has length 0");
	assert.sameValue(fixed.byteOffset, 0, "and byteOffset 0");
	assert.sameValue(fixed[0], undefined);
	assert.throws(TypeError, () => fixed.fill(1), "methods refuse an out-of-bounds view");
	assert.throws(TypeError, () => dvFixed.byteLength, "out-of-bounds DataView byteLength");
	assert.throws(TypeError, () => dvFixed.getUint8(0), "out-of-bounds DataView get");
	assert.sameValue(dv.byteLength, 3);
	assert.throws(RangeError, () => dv.getUint32(0), "past a tracking DataView's end");

	ab.resize(10);
	assert.sameValue(tracking[4], 0, "bytes past a shrink read as zero when grown again");
	assert.sameValue(fixed.length, 2, "back in bounds");
	assert(compareArray(Array.from(new Uint8Array(ab, 0, 4)), [1, 2, 3, 0]), "contents kept up to the shrink");

	ab.resize(0);
	const atEnd = new Uint8Array(ab);
	assert.sameValue(atEnd.length, 0);
	ab.resize(2);
	assert.sameValue(atEnd.length, 2, "a view made on an empty buffer tracks");
	assert.throws(RangeError, () => ab.resize(17), "resize past max");

	const sub = tracking.subarray(1);
	ab.resize(8);
	assert.sameValue(sub.length, 3, "subarray to the end of a tracking view tracks");
	assert.sameValue(tracking.subarray(1, 2).length, 1);

	const t = ab.transfer();
	assert.sameValue(t.resizable, true, "transfer keeps resizability");
	assert.sameValue(t.maxByteLength, 16);
	assert.sameValue(ab.detached, true);
	assert.sameValue(tracking.length, 0, "view of a detached buffer");
	assert.sameValue(ab.maxByteLength, 0, "detached maxByteLength");
	assert.throws(TypeError, () => ab.resize(1), "resize a detached buffer");
	assert.throws(RangeError, () => t.transfer(17), "transfer past max");
	const f = t.transferToFixedLength();
	assert.sameValue(f.resizable, false, "transferToFixedLength");
	assert.sameValue(f.byteLength, 8);
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}

// A callback that shrinks the buffer under a method iterating it must not
// read or write past what is allocated.
func TestResizableArrayBufferShrinkInCallback(t *testing.T) {
	const SCRIPT = `
	const ab = new ArrayBuffer(64, { maxByteLength: 1024 });
	const ta = new Float64Array(ab);
	ta.fill(1.5);
	let seen = [];
	ta.forEach((v, i) => { if (i === 0) ab.resize(16); seen.push(v); });
	assert.sameValue(seen.length, 8, "forEach visits the length it started with");
	assert.sameValue(seen[1], 1.5);
	assert.sameValue(seen[2], undefined, "elements gone after the shrink");
	ab.resize(64);
	const m = ta.map((v, i) => { if (i === 0) ab.resize(8); return 2; });
	assert.sameValue(m.length, 8);
	ab.resize(1024);
	ta.fill(3);
	ta.sort((a, b) => { ab.resize(0); return a - b; });
	assert.sameValue(ta.length, 0);
	ab.resize(16);
	assert.sameValue(ta[0], 0, "bytes past a shrink are zero");
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}

func TestSharedArrayBuffer(t *testing.T) {
	const SCRIPT = `
	const sab = new SharedArrayBuffer(8);
	assert.sameValue(Object.prototype.toString.call(sab), "[object SharedArrayBuffer]");
	assert.sameValue(sab.byteLength, 8);
	assert.sameValue(sab.growable, false);
	assert.sameValue(sab.maxByteLength, 8);
	assert.throws(TypeError, () => SharedArrayBuffer(1), "needs new");
	const u8 = new Uint8Array(sab);
	u8.set([1, 2, 3, 4, 5, 6, 7, 8]);
	assert.sameValue(u8.buffer, sab);
	const dv = new DataView(sab);
	assert.sameValue(dv.getUint16(0), 0x0102, "DataView over a SharedArrayBuffer");
	const s = sab.slice(2, 5);
	assert(s instanceof SharedArrayBuffer, "slice is shared");
	assert(compareArray(Array.from(new Uint8Array(s)), [3, 4, 5]));

	const byteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
	assert.throws(TypeError, () => byteLength.call(sab), "ArrayBuffer byteLength refuses a SAB");
	assert.throws(TypeError, () => ArrayBuffer.prototype.slice.call(sab), "ArrayBuffer slice refuses a SAB");
	assert.throws(TypeError, () => ArrayBuffer.prototype.transfer.call(sab), "transfer refuses a SAB");
	assert.throws(TypeError, () => ArrayBuffer.prototype.resize.call(sab, 1), "resize refuses a SAB");
	const sabByteLength = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength").get;
	assert.throws(TypeError, () => sabByteLength.call(new ArrayBuffer(1)), "SAB byteLength refuses an ArrayBuffer");
	assert.throws(TypeError, () => SharedArrayBuffer.prototype.slice.call(new ArrayBuffer(1)), "SAB slice refuses an ArrayBuffer");

	const g = new SharedArrayBuffer(2, { maxByteLength: 8 });
	const tracking = new Uint8Array(g);
	assert.sameValue(g.growable, true);
	assert.sameValue(g.maxByteLength, 8);
	g.grow(6);
	assert.sameValue(g.byteLength, 6);
	assert.sameValue(tracking.length, 6, "a tracking view follows growth");
	assert.throws(RangeError, () => g.grow(4), "a SAB never shrinks");
	assert.throws(RangeError, () => g.grow(9), "past maxByteLength");
	assert.throws(TypeError, () => sab.grow(8), "not growable");
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}

func TestSharedArrayBufferGoAPI(t *testing.T) {
	vm := New()
	sab := vm.NewSharedArrayBuffer([]byte{1, 2})
	if !sab.Shared() || sab.Detach() {
		t.Fatal("a SharedArrayBuffer is shared and cannot be detached")
	}
	vm.Set("sab", sab)
	rab := vm.NewResizableArrayBuffer([]byte{3}, 4)
	vm.Set("rab", rab)
	v, err := vm.RunString(`sab instanceof SharedArrayBuffer && rab.resizable && rab.maxByteLength === 4 && new Uint8Array(sab)[1] === 2`)
	if err != nil {
		t.Fatal(err)
	}
	if !v.ToBoolean() {
		t.Fatal("the buffers made from Go are not what JS sees")
	}
	ab, ok := v.Export().(bool)
	_ = ab
	if !ok {
		t.Fatal("export")
	}
	if got := vm.Get("rab").Export().(ArrayBuffer); !got.Resizable() || got.MaxByteLength() != 4 {
		t.Fatal("Resizable/MaxByteLength")
	}
	// A view that a shrink left out of bounds exports as empty.
	v, err = vm.RunString(`const u = new Uint8Array(rab, 0, 1); rab.resize(0); u`)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	if err := vm.ExportTo(v, &b); err != nil || len(b) != 0 {
		t.Fatalf("ExportTo of an out-of-bounds view = %v, %v; want empty", b, err)
	}
}

func TestViewBounds(t *testing.T) {
	vm := New()
	for _, c := range []struct {
		src               string
		oob, tracking, ok bool
	}{
		{`new Uint8Array(4)`, false, false, true},
		{`new Uint16Array(new ArrayBuffer(4, { maxByteLength: 8 }))`, false, true, true},
		{`new DataView(new ArrayBuffer(4, { maxByteLength: 8 }), 1)`, false, true, true},
		{`const b = new ArrayBuffer(4, { maxByteLength: 8 }); const u = new Uint8Array(b, 2, 2); b.resize(3); u`, true, false, true},
		{`const d = new DataView(new ArrayBuffer(4)); d.buffer.transfer(); d`, true, false, true},
		{`({})`, false, false, false},
	} {
		v, err := vm.RunString("(() => {" + c.src[:len(c.src)-len(lastExpr(c.src))] + "return " + lastExpr(c.src) + "})()")
		if err != nil {
			t.Fatal(c.src, err)
		}
		oob, tracking, ok := ViewBounds(v)
		if oob != c.oob || tracking != c.tracking || ok != c.ok {
			t.Errorf("%s: ViewBounds = %v, %v, %v; want %v, %v, %v", c.src, oob, tracking, ok, c.oob, c.tracking, c.ok)
		}
	}
}

// lastExpr is the part of src after its last "; ".
func lastExpr(src string) string {
	for i := len(src) - 2; i >= 0; i-- {
		if src[i:i+2] == "; " {
			return src[i+2:]
		}
	}
	return src
}

// The methods that convert arguments after reading the length see a buffer
// that shrank meanwhile as the spec says (ES2024 re-validates and clamps).
func TestResizableArrayBufferShrinkInConversion(t *testing.T) {
	const SCRIPT = `
	function make() {
		const ab = new ArrayBuffer(8, { maxByteLength: 16 });
		const ta = new Uint8Array(ab);
		ta.set([1, 2, 3, 4, 5, 6, 7, 8]);
		return [ab, ta];
	}
	let [ab, ta] = make();
	ta.fill(9, { valueOf() { ab.resize(4); return 0; } });
	ab.resize(8);
	assert(compareArray(Array.from(ta), [9, 9, 9, 9, 0, 0, 0, 0]), "fill stops at the new length");

	[ab, ta] = make();
	ta.copyWithin(0, { valueOf() { ab.resize(6); return 2; } });
	assert(compareArray(Array.from(ta), [3, 4, 5, 6, 5, 6]), "copyWithin copies what is left: " + Array.from(ta));

	[ab, ta] = make();
	const sub = new Uint8Array(ab, 0, 4);
	sub.copyWithin(2, 0);
	assert(compareArray(Array.from(ta), [1, 2, 1, 2, 5, 6, 7, 8]), "copyWithin stays inside its view: " + Array.from(ta));

	[ab, ta] = make();
	assert.sameValue(ta.includes(undefined, { valueOf() { ab.resize(4); return 0; } }), true, "includes sees the lost elements as undefined");
	[ab, ta] = make();
	assert.sameValue(ta.includes(undefined), false);
	assert.sameValue(ta.join({ toString() { ab.resize(2); return "-"; } }), "1-2------", "join keeps the length it read first");

	[ab, ta] = make();
	class Shrinking extends Uint8Array {
		static get [Symbol.species]() { return function (n) { ab.resize(3); return new Uint8Array(n); }; }
	}
	const s = new Shrinking(ab);
	const sl = s.slice(1, 6);
	assert(compareArray(Array.from(sl), [2, 3, 0, 0, 0]), "slice copies what is left: " + Array.from(sl));
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}

func TestResizableArrayBufferWith(t *testing.T) {
	const SCRIPT = `
	const ab = new ArrayBuffer(4, { maxByteLength: 8 });
	const f = new Float32Array(ab);
	f[0] = 1;
	const w = f.with(0, { valueOf() { ab.resize(0); ab.resize(4); return 2; } });
	assert.sameValue(w[0], 2);
	const ab2 = new ArrayBuffer(8, { maxByteLength: 16 });
	const g = new Float32Array(ab2);
	g.fill(3);
	const w2 = g.with(0, { valueOf() { ab2.resize(4); return 5; } });
	assert.sameValue(w2.length, 2);
	assert.sameValue(w2[0], 5);
	assert(isNaN(w2[1]), "an element lost to the shrink reads as undefined, so NaN");
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}

// A buffer grown in small steps reallocates geometrically, not at every
// step, and never past its maxByteLength.
func TestResizableArrayBufferGrowthAmortized(t *testing.T) {
	vm := New()
	v, err := vm.RunString(`const b = new ArrayBuffer(0, { maxByteLength: 100000 }); const u = new Uint8Array(b);
	for (let n = 1; n <= 100000; n++) { b.resize(n); u[n - 1] = n & 0xff; } b`)
	if err != nil {
		t.Fatal(err)
	}
	b := v.Export().(ArrayBuffer).buf
	if len(b.data) != 100000 || cap(b.data) != 100000 {
		t.Fatalf("len %d cap %d, want 100000 both (capped at maxByteLength)", len(b.data), cap(b.data))
	}
	for i, c := range b.data {
		if c != byte((i+1)&0xff) {
			t.Fatalf("byte %d = %d", i, c)
		}
	}
	c := &arrayBufferObject{resizable: true, maxByteLength: 1 << 20}
	moves := 0
	for n := 1; n <= 1<<20; n += 64 {
		before := unsafe.SliceData(c.data)
		c.setByteLength(n)
		if unsafe.SliceData(c.data) != before {
			moves++
		}
	}
	t.Logf("reallocations for 16384 resizes: %d", moves)
	if moves > 20 {
		t.Fatalf("%d reallocations for 16384 resizes", moves)
	}
}
