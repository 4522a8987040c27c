package sclone

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// roundTrip evaluates src in a fresh runtime, encodes the result, decodes it
// in another fresh runtime as v, and returns that runtime.
func roundTrip(t *testing.T, src string) (*goja.Runtime, []byte) {
	t.Helper()
	vm := goja.New()
	v, err := vm.RunString(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	b, err := Encode(vm, v, 0)
	if err != nil {
		t.Fatalf("Encode(%s): %v", src, err)
	}
	// Encoding is deterministic.
	b2, err := Encode(vm, v, 0)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("Encode(%s) twice: %x, %x, %v", src, b, b2, err)
	}
	vm2 := goja.New()
	d, err := Decode(vm2, b)
	if err != nil {
		t.Fatalf("Decode(Encode(%s)) = %v; bytes %q", src, err, b)
	}
	if err := vm2.Set("v", d); err != nil {
		t.Fatal(err)
	}
	// The decoded value encodes to the same bytes.
	b3, err := Encode(vm2, d, 0)
	if err != nil || !bytes.Equal(b, b3) {
		t.Fatalf("%s: re-encoding gave %q, want %q (%v)", src, b3, b, err)
	}
	return vm2, b
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		src   string // the value
		check string // JS over v, true when right
	}{
		{`undefined`, `v === undefined`},
		{`null`, `v === null`},
		{`true`, `v === true`},
		{`false`, `v === false`},
		{`0`, `Object.is(v, 0)`},
		{`-0`, `Object.is(v, -0)`},
		{`42`, `v === 42`},
		{`-42`, `v === -42`},
		{`2**53`, `v === 2**53`},
		{`-(2**53) + 1`, `v === -(2**53) + 1`},
		{`1.5`, `v === 1.5`},
		{`NaN`, `Number.isNaN(v)`},
		{`Infinity`, `v === Infinity`},
		{`-Infinity`, `v === -Infinity`},
		{`Number.MIN_VALUE`, `v === Number.MIN_VALUE`},
		{`0n`, `v === 0n`},
		{`-1n`, `v === -1n`},
		{`2n**200n`, `v === 2n**200n`},
		{`-(2n**64n)`, `v === -(2n**64n)`},
		{`""`, `v === ""`},
		{`"hello"`, `v === "hello"`},
		{`"héllo wörld ☃ 😀"`, `v === "héllo wörld ☃ 😀"`},
		{`"\uFFFD"`, `v === "\uFFFD"`},
		{`"a\uD800b"`, `v.length === 3 && v.charCodeAt(1) === 0xD800 && v === "a\uD800b"`},
		{`"\uDC00\uD800"`, `v === "\uDC00\uD800"`},
		{`"x\uD83D\uDE00\uFFFD\uDBFF"`, `v === "x\uD83D\uDE00\uFFFD\uDBFF"`},
		{`new Date(1700000000123)`, `v instanceof Date && v.getTime() === 1700000000123`},
		{`new Date(NaN)`, `v instanceof Date && isNaN(v.getTime())`},
		{`new Date(-1)`, `v.getTime() === -1`},
		{`new Date(-8.64e15)`, `v.getTime() === -8.64e15`},
		{`new Date(8.64e15)`, `v.getTime() === 8.64e15`},
		{`/a+b/gi`, `v instanceof RegExp && v.source === "a+b" && v.flags === "gi" && v.test("xAAB")`},
		{`new RegExp("\\u{1F600}", "u")`, `v instanceof RegExp && v.flags === "u" && v.test("😀")`},
		{`new Boolean(false)`, `typeof v === "object" && v instanceof Boolean && v.valueOf() === false`},
		{`new Boolean(true)`, `typeof v === "object" && v.valueOf() === true`},
		{`new Number(-0)`, `typeof v === "object" && Object.is(v.valueOf(), -0)`},
		{`new Number(3.25)`, `typeof v === "object" && v.valueOf() === 3.25`},
		{`new String("a\uD800")`, `typeof v === "object" && v instanceof String && v.valueOf() === "a\uD800"`},
		{`Object(5n)`, `typeof v === "object" && v.valueOf() === 5n`},
		{`[]`, `Array.isArray(v) && v.length === 0`},
		{`[1, "two", [3], {four: 4}]`, `v.length === 4 && v[0] === 1 && v[1] === "two" && v[2][0] === 3 && v[3].four === 4`},
		{`[1, , 3]`, `v.length === 3 && !(1 in v) && v[2] === 3 && Object.keys(v).join() === "0,2"`},
		{`[, , ,]`, `v.length === 3 && Object.keys(v).length === 0`},
		{`(() => { const a = []; a.length = 4294967295; a[5] = "x"; return a })()`,
			`v.length === 4294967295 && v[5] === "x" && Object.keys(v).join() === "5"`},
		{`(() => { const a = []; a[4294967294] = 1; return a })()`,
			`v.length === 4294967295 && v[4294967294] === 1 && Object.keys(v).join() === "4294967294"`},
		{`(() => { const a = []; a.length = 4294967295; return a })()`,
			`v.length === 4294967295 && Object.keys(v).length === 0`},
		{`(() => { const a = [1, 2]; a.extra = "e"; return a })()`, `v.length === 2 && v[1] === 2 && v.extra === "e"`},
		{`(() => { const a = [1, , 2]; a.extra = "e"; return a })()`, `v.length === 3 && !(1 in v) && v.extra === "e"`},
		{`({})`, `Object.getPrototypeOf(v) === Object.prototype && Object.keys(v).length === 0`},
		{`({b: 1, a: 2, c: {d: [null]}})`, `Object.keys(v).join() === "b,a,c" && v.c.d[0] === null`},
		{`({["__proto__"]: 1})`, `Object.getPrototypeOf(v) === Object.prototype && Object.keys(v).join() === "__proto__" && v.__proto__ === 1`},
		{`({"a\uD800": 1, "\uFFFD": 2, ok: 3})`, `v["a\uD800"] === 1 && v["\uFFFD"] === 2 && v.ok === 3 && Object.keys(v).length === 3`},
		{`({u: undefined})`, `"u" in v && v.u === undefined`},
		{`(() => { const o = {a: 1}; Object.defineProperty(o, "hidden", {value: 2}); o[Symbol("s")] = 3; return o })()`,
			`Object.getOwnPropertyNames(v).join() === "a" && Object.getOwnPropertySymbols(v).length === 0`},
		{`({get g() { return 7 }})`, `Object.getOwnPropertyDescriptor(v, "g").value === 7`},
		{`new (class Point { constructor() { this.x = 1; this.y = 2 } get sum() { return 3 } })`,
			`Object.getPrototypeOf(v) === Object.prototype && v.x === 1 && v.y === 2 && !("sum" in v)`},
		{`Object.assign(Object.create(null), {a: 1})`, `Object.getPrototypeOf(v) === Object.prototype && v.a === 1`},
		{`(function() { return arguments })(1, 2)`, `!Array.isArray(v) && v[0] === 1 && v[1] === 2`},
		{`new Map([[1, "a"], ["k", {x: 1}], [NaN, -0]])`,
			`v instanceof Map && v.size === 3 && v.get(1) === "a" && v.get("k").x === 1 && Object.is(v.get(NaN), -0) && [...v.keys()].join() === "1,k,NaN"`},
		{`new Set([3, "3", {}, 3])`, `v instanceof Set && v.size === 3 && [...v][0] === 3 && [...v][1] === "3"`},
		{`new Uint8Array([1, 2, 3]).buffer`, `v instanceof ArrayBuffer && v.byteLength === 3 && new Uint8Array(v)[2] === 3`},
		{`new ArrayBuffer(0)`, `v instanceof ArrayBuffer && v.byteLength === 0`},
		{`new Int8Array([-1, 2])`, `v instanceof Int8Array && v[0] === -1 && v.length === 2`},
		{`new Uint8Array([255])`, `v instanceof Uint8Array && v[0] === 255`},
		{`new Uint8ClampedArray([300])`, `v instanceof Uint8ClampedArray && v[0] === 255`},
		{`new Int16Array([-300])`, `v instanceof Int16Array && v[0] === -300`},
		{`new Uint16Array([65535])`, `v instanceof Uint16Array && v[0] === 65535`},
		{`new Int32Array([-70000])`, `v instanceof Int32Array && v[0] === -70000`},
		{`new Uint32Array([4000000000])`, `v instanceof Uint32Array && v[0] === 4000000000`},
		{`new Float32Array([1.5, NaN])`, `v instanceof Float32Array && v[0] === 1.5 && isNaN(v[1])`},
		{`new Float64Array([-0, 1e300])`, `v instanceof Float64Array && Object.is(v[0], -0) && v[1] === 1e300`},
		{`new BigInt64Array([-5n])`, `v instanceof BigInt64Array && v[0] === -5n`},
		{`new BigUint64Array([2n**64n-1n])`, `v instanceof BigUint64Array && v[0] === 2n**64n-1n`},
		{`new DataView(new ArrayBuffer(16), 4, 8)`, `v instanceof DataView && v.byteOffset === 4 && v.byteLength === 8 && v.buffer.byteLength === 16`},
		{`(() => { const b = new ArrayBuffer(16); new Uint8Array(b).fill(7); return [new Uint8Array(b, 2, 4), new Float64Array(b, 8, 1), new DataView(b), b] })()`,
			`v[0].buffer === v[1].buffer && v[1].buffer === v[2].buffer && v[3] === v[0].buffer &&
			 v[0].byteOffset === 2 && v[0].length === 4 && v[1].byteOffset === 8 && v[1].length === 1 &&
			 (v[0][0] = 9, new Uint8Array(v[3])[2] === 9)`},
		{`(() => { const u = new Uint8Array(4); return [u, u, u.buffer] })()`, `v[0] === v[1] && v[2] === v[0].buffer`},
		{`new Error("boom")`, `v instanceof Error && v.constructor === Error && v.message === "boom" && typeof v.stack === "string"`},
		{`new EvalError("e")`, `v instanceof EvalError && v.message === "e"`},
		{`new RangeError("r")`, `v instanceof RangeError && v.message === "r" && v.name === "RangeError"`},
		{`new ReferenceError("r")`, `v instanceof ReferenceError`},
		{`new SyntaxError("s")`, `v instanceof SyntaxError`},
		{`new TypeError("t")`, `v instanceof TypeError && v.message === "t"`},
		{`new URIError("u")`, `v instanceof URIError`},
		{`new Error()`, `v instanceof Error && !Object.prototype.hasOwnProperty.call(v, "message")`},
		{`(() => { const e = new Error("x"); e.stack = "custom stack"; return e })()`, `v.stack === "custom stack"`},
		{`(() => { class MyErr extends Error {}; return new MyErr("m") })()`, `v.constructor === Error && v.message === "m"`},
		{`(() => { const e = new TypeError("x"); e.name = "Custom"; return e })()`, `v.constructor === Error`},
		{`new Error("outer", {cause: new RangeError("inner")})`, `v.cause instanceof RangeError && v.cause.message === "inner"`},
		{`(() => { const e = new Error("self"); e.cause = e; return e })()`, `v.cause === v`},
		{`(() => { const o = {}; o.self = o; return o })()`, `v.self === v`},
		{`(() => { const a = []; a.push(a, a); return a })()`, `v[0] === v && v[1] === v`},
		{`(() => { const s = {n: 1}; return {a: s, b: [s], c: new Map([[s, s]]), d: new Set([s])} })()`,
			`v.a === v.b[0] && v.c.get(v.a) === v.a && v.d.has(v.a)`},
		{`(() => { const m = new Map(); m.set(m, m); return m })()`, `v.get(v) === v`},
		{`(() => { const b = new ArrayBuffer(3, {maxByteLength: 64}); new Uint8Array(b).set([1, 2, 3]); return b })()`,
			`v.resizable && v.maxByteLength === 64 && new Uint8Array(v).join() === "1,2,3"`},
		{`(() => { const b = new ArrayBuffer(8, {maxByteLength: 64}); return {t: new Uint16Array(b, 2), f: new Uint16Array(b, 2, 1), d: new DataView(b, 4)} })()`,
			`v.t.buffer === v.f.buffer && v.t.buffer === v.d.buffer && (v.t.buffer.resize(16), v.t.length === 7 && v.f.length === 1 && v.d.byteLength === 12)`},
		{`(() => { const d = new Date(5); const r = /x/; const b = new Boolean(true); return [d, r, b, d, r, b] })()`,
			`v[0] === v[3] && v[1] === v[4] && v[2] === v[5]`},
	}
	for _, tt := range tests {
		vm, b := roundTrip(t, tt.src)
		ok, err := vm.RunString(tt.check)
		if err != nil || !ok.ToBoolean() {
			t.Errorf("%s: check %s failed (%v); bytes %q", tt.src, tt.check, err, b)
		}
	}
}

func TestSmallEncodings(t *testing.T) {
	for src, want := range map[string]string{
		`1`:                       "\x01I\x02",
		`"x"`:                     "\x01\"\x01x",
		`({count: 1, name: "x"})`: "\x01o\"\x05countI\x02\"\x04name\"\x01x}",
		`[true, null]`:            "\x01A\x02T0}",
	} {
		_, b := roundTrip(t, src)
		if string(b) != want {
			t.Errorf("%s encodes as %q, want %q", src, b, want)
		}
	}
}

func TestNotCloneable(t *testing.T) {
	for src, want := range map[string]string{
		`(function f() {})`:                        "function could not be cloned.",
		`() => 1`:                                  "function could not be cloned.",
		`(class A {})`:                             "function could not be cloned.",
		`Symbol("s")`:                              "Symbol(s) could not be cloned.",
		`({a: [1, Symbol()]})`:                     "Symbol() could not be cloned.",
		`new Proxy({}, {})`:                        "#<Object> could not be cloned.",
		`new WeakMap()`:                            "#<WeakMap> could not be cloned.",
		`new WeakSet()`:                            "#<WeakSet> could not be cloned.",
		`Promise.resolve(1)`:                       "#<Promise> could not be cloned.",
		`[1, 2][Symbol.iterator]()`:                "#<Array Iterator> could not be cloned.",
		`new Map().entries()`:                      "#<Map Iterator> could not be cloned.",
		`(function*() {})()`:                       "#<Generator> could not be cloned.",
		`Object(Symbol("w"))`:                      "#<Symbol> could not be cloned.",
		`({m: Math.max})`:                          "function could not be cloned.",
		`new Map([[1, () => 2]])`:                  "function could not be cloned.",
		`new SharedArrayBuffer(2)`:                 "A SharedArrayBuffer could not be cloned.",
		`new Int32Array(new SharedArrayBuffer(4))`: "#<Int32Array> could not be cloned.",
		`const b = new ArrayBuffer(8, {maxByteLength: 8}); const u = new Uint8Array(b, 4); b.resize(2); u`: "An ArrayBuffer view out of the bounds of its buffer could not be cloned.",
	} {
		vm := goja.New()
		v, err := vm.RunString(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		_, err = Encode(vm, v, 0)
		var dce *DataCloneError
		if !errors.As(err, &dce) || dce.Msg != want || err.Error() != want {
			t.Errorf("Encode(%s) = %v, want DataCloneError %q", src, err, want)
		}
	}
}

func TestGetterThrows(t *testing.T) {
	vm := goja.New()
	v, err := vm.RunString(`({a: 1, get b() { throw new RangeError("nope") }})`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Encode(vm, v, 0)
	var ex *goja.Exception
	if !errors.As(err, &ex) || !strings.Contains(ex.Value().String(), "RangeError: nope") {
		t.Fatalf("Encode = %v, want the getter's RangeError", err)
	}
	// A getter that changes what is being encoded does no harm.
	v, err = vm.RunString(`const m = new Map([[1, 1]]); ({get a() { m.set(2, 2); delete this.b; return 1 }, b: m})`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encode(vm, v, 0); err != nil {
		t.Fatal(err)
	}
}

func TestDepth(t *testing.T) {
	vm := goja.New()
	for _, tt := range []struct {
		src string
		ok  bool
	}{
		{`let o = {}; for (let i = 0; i < 1999; i++) o = {o}; o`, true},
		{`let o = []; for (let i = 0; i < 1999; i++) o = [o]; o`, true},
		{`let o = {}; for (let i = 0; i < 2001; i++) o = {o}; o`, false},
		{`let o = []; for (let i = 0; i < 100000; i++) o = [o]; o`, false},
		{`let o = new Map(); for (let i = 0; i < 5000; i++) o = new Map([[o, 1]]); o`, false},
	} {
		v, err := vm.RunString("(() => { " + strings.Replace(tt.src, "; o", "; return o", 1) + " })()")
		if err != nil {
			t.Fatal(err)
		}
		b, err := Encode(vm, v, 0)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v", tt.src, err)
				continue
			}
			if _, err := Decode(goja.New(), b); err != nil {
				t.Errorf("%s: Decode: %v", tt.src, err)
			}
			continue
		}
		var dce *DataCloneError
		if !errors.As(err, &dce) || !strings.Contains(dce.Msg, "2000 levels") {
			t.Errorf("%s: Encode = %v, want the depth error", tt.src, err)
		}
	}
	// Hand-made deep nesting fails to decode, without blowing the stack.
	deep := append([]byte{version}, bytes.Repeat([]byte{tagDenseArray, 1}, 100000)...)
	deep = append(deep, tagNull)
	deep = append(deep, bytes.Repeat([]byte{tagEnd}, 100000)...)
	if _, err := Decode(goja.New(), deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode(deep) = %v", err)
	}
}

func TestSizeBound(t *testing.T) {
	vm := goja.New()
	for _, src := range []string{
		`"x".repeat(1000)`,
		`"\uD800".repeat(1000)`,
		`"é".repeat(1000)`,
		`new ArrayBuffer(1000)`,
		`new Array(1000).fill(1)`,
		`({a: "x".repeat(1000)})`,
		`new Map([[1, "x".repeat(1000)]])`,
		`2n ** 8000n`,
	} {
		v, err := vm.RunString(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Encode(vm, v, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Encode(vm, v, len(b)); err != nil {
			t.Errorf("%s: Encode with max = its size (%d): %v", src, len(b), err)
		}
		for _, max := range []int{1, 10, 500, len(b) - 1} {
			_, err = Encode(vm, v, max)
			var dce *DataCloneError
			if !errors.Is(err, ErrTooLarge) || !errors.As(err, &dce) {
				t.Errorf("%s: Encode with max %d = %v, want ErrTooLarge", src, max, err)
			}
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, b := range []string{
		"",
		"\x02_",
		"\x01",
		"\x01__",
		"\x01?",
		"\x01I",
		"\x01I\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
		"\x01I\x80\x80\x80\x80\x80\x80\x80\x20", // 2^53 zigzagged
		"\x01N\x00",
		"\x01\"\x05abc",
		"\x01\"\x02\xff\xfe",
		"\x01c\x02a",
		"\x01\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		"\x01Z\x03\x00",
		"\x01Z\x01",
		"\x01Z\xff\xff\xff\xff\x0f",
		"\x01^\x00",
		"\x01A\x00^\x01}",
		"\x01A\xff\xff\xff\xff\x0f_",
		"\x01A\x01_",
		"\x01a\x80\x80\x80\x80\x80\x01}",
		"\x01o\"\x01a",
		"\x01oI\x02_}",
		"\x01B\x10abc",
		"\x01V\x01B\x02ab\x02\x01",
		"\x01V\x05B\x04abcd\x01\x01",
		"\x01V\x0cB\x00\x00\x00",
		"\x01V\x01o}\x00\x00",
		"\x01V\x01^\x00\x00\x00",
		"\x01E\x07\x00",
		"\x01E\x00\x08",
		"\x01E\x00\x01I\x02",
		"\x01R\"\x01(\"\x00",
		"\x01R\"\x01a\"\x01Q",
		"\x01M_",
		"\x01A\x00\"\x014_}",
		"\x01A\x00c\x014\x00_}",
		"\x01a\x05\"\x06length_}",
		"\x01a\x05c\x06l\x00e\x00n\x00g\x00t\x00h\x00_}",
		"\x01S",
		"\x01D\x00\x00",
		"\x01n\"\x00",
		"\x01s\x5f",
		"\x01z\x5f",
	} {
		if v, err := Decode(goja.New(), []byte(b)); err == nil {
			t.Errorf("Decode(%q) = %v, want an error", b, v)
		}
	}
}

func TestEncodeWrappedGo(t *testing.T) {
	vm := goja.New()
	// Go values goja wraps: maps and slices clone as their JS faces; other
	// host objects do not clone.
	for _, tt := range []struct {
		v  any
		ok bool
	}{
		{map[string]any{"a": 1}, true},
		{[]any{1, "x"}, true},
		{struct{ A int }{1}, false},
		{func() {}, false},
	} {
		_, err := Encode(vm, vm.ToValue(tt.v), 0)
		if (err == nil) != tt.ok {
			t.Errorf("Encode(%T) = %v", tt.v, err)
		}
	}
}

func TestDecodeNoAmplification(t *testing.T) {
	// Many sparse arrays, each with one element below goja's dense
	// threshold, stay small.
	one := []byte{tagArray, 0x80, 0x40, tagUTF8, 4, '4', '0', '9', '5', tagNull, tagEnd}
	b := []byte{version, tagDenseArray}
	const n = 2000
	b = append(b, 0xd0, 0x0f) // 2000
	for range n {
		b = append(b, one...)
	}
	b = append(b, tagEnd)
	vm := goja.New()
	v, err := Decode(vm, b)
	if err != nil {
		t.Fatal(err)
	}
	_ = vm.Set("v", v)
	if ok, err := vm.RunString(`v.length === 2000 && v[1999].length === 8192 && v[1999][4095] === null && Object.keys(v[0]).join() === "4095"`); err != nil || !ok.ToBoolean() {
		t.Fatalf("check: %v %v", ok, err)
	}
}

func TestFromJS(t *testing.T) {
	// Encode and Decode called from a Go function JS calls, as the isolate
	// does: a throwing getter is an error, and JS may catch what the
	// function throws for it.
	vm := goja.New()
	_ = vm.Set("rt", func(c goja.FunctionCall) goja.Value {
		b, err := Encode(vm, c.Argument(0), 1000)
		if err != nil {
			var ex *goja.Exception
			if errors.As(err, &ex) {
				panic(ex.Value())
			}
			panic(vm.ToValue("DataCloneError: " + err.Error()))
		}
		v, err := Decode(vm, b)
		if err != nil {
			panic(vm.NewGoError(err))
		}
		return v
	})
	v, err := vm.RunString(`
		const out = [];
		const c = rt({a: [1, {b: 2}]});
		out.push(c.a[1].b === 2);
		try { rt({get x() { throw new TypeError("inner") }}) } catch (e) { out.push(e instanceof TypeError && e.message === "inner") }
		try { rt({f() {}}) } catch (e) { out.push(e === "DataCloneError: function could not be cloned.") }
		try { rt("x".repeat(2000)) } catch (e) { out.push(/larger than 1000 bytes/.test(e)) }
		out.push(rt(new Map([[1, 2]])).get(1) === 2);
		out.join()`)
	if err != nil || v.String() != "true,true,true,true,true" {
		t.Fatalf("got %v, %v", v, err)
	}
}

func TestDecodeMemory(t *testing.T) {
	// Hostile shapes: allocation stays a small multiple of the input.
	sparse := []byte{tagArray, 0x80, 0x40, tagUTF8, 4, '4', '0', '9', '5', tagNull, tagEnd}
	for name, b := range map[string][]byte{
		"sparse arrays": append(append([]byte{version, tagDenseArray, 0xd0, 0x0f}, bytes.Repeat(sparse, 2000)...), tagEnd),
		"long array":    append([]byte{version, tagArray, 0xff, 0xff, 0xff, 0xff, 0x0f}, tagEnd),
		"objects":       append(append([]byte{version, tagDenseArray, 0xd0, 0x0f}, bytes.Repeat([]byte{tagObject, tagEnd}, 2000)...), tagEnd),
		"maps":          append(append([]byte{version, tagDenseArray, 0xd0, 0x0f}, bytes.Repeat([]byte{tagMap, tagEnd}, 2000)...), tagEnd),
		"errors":        append(append([]byte{version, tagDenseArray, 0xd0, 0x0f}, bytes.Repeat([]byte{tagError, 0, 0}, 2000)...), tagEnd),
		"views":         append(append([]byte{version, tagDenseArray, 0xd0, 0x0f, tagView, 1, tagBuffer, 0, 0, 0}, bytes.Repeat([]byte{tagView, 1, tagRef, 1, 0, 0}, 1999)...), tagEnd),
		"refs":          append(append([]byte{version, tagDenseArray, 0xd0, 0x0f, tagObject, tagEnd}, bytes.Repeat([]byte{tagRef, 0}, 1999)...), tagEnd),
	} {
		vm := goja.New()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if _, err := Decode(vm, b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.ReadMemStats(&after)
		t.Logf("%s: %d bytes -> %d allocated", name, len(b), after.TotalAlloc-before.TotalAlloc)
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(512*len(b)+64<<10) {
			t.Errorf("%s: decoding %d bytes allocated %d", name, len(b), n)
		}
	}
}

// TestInterruptible: encoding and decoding give up with ErrInterrupted
// once their interrupted function says so, and never ask it for a value
// of a few thousand parts.
func TestInterruptible(t *testing.T) {
	vm := goja.New()
	big, err := vm.RunString("Array(100000).fill(0)")
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	never := func() bool { asked++; return false }
	always := func() bool { return true }
	b, err := EncodeInterruptible(vm, big, 0, never)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeInterruptible(vm, b, never); err != nil {
		t.Fatal(err)
	}
	if asked == 0 {
		t.Error("interrupted was never asked")
	}
	if _, err := EncodeInterruptible(vm, big, 0, always); !errors.Is(err, ErrInterrupted) {
		t.Errorf("encode: %v", err)
	}
	if _, err := DecodeInterruptible(vm, b, always); !errors.Is(err, ErrInterrupted) {
		t.Errorf("decode: %v", err)
	}
	small, _ := vm.RunString(`({ a: [1, 2, 3], b: "x" })`)
	sb, err := EncodeInterruptible(vm, small, 0, always)
	if err != nil {
		t.Errorf("a small value: %v", err)
	}
	if _, err := DecodeInterruptible(vm, sb, always); err != nil {
		t.Errorf("a small value: %v", err)
	}
}
