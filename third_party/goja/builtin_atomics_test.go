package goja

import (
	"testing"
)

func TestAtomics(t *testing.T) {
	const SCRIPT = `
	assert.sameValue(Object.prototype.toString.call(Atomics), "[object Atomics]");
	const sab = new SharedArrayBuffer(16);
	const i32 = new Int32Array(sab);
	assert.sameValue(Atomics.store(i32, 0, 5.7), 5, "store returns the integer");
	assert.sameValue(Atomics.add(i32, 0, 3), 5, "add returns the old value");
	assert.sameValue(Atomics.load(i32, 0), 8);
	assert.sameValue(Atomics.sub(i32, 0, 10), 8);
	assert.sameValue(Atomics.load(i32, 0), -2);
	assert.sameValue(Atomics.and(i32, 0, 0xff), -2);
	assert.sameValue(Atomics.load(i32, 0), 0xfe);
	assert.sameValue(Atomics.or(i32, 0, 1), 0xfe);
	assert.sameValue(Atomics.xor(i32, 0, 0xf0), 0xff);
	assert.sameValue(Atomics.load(i32, 0), 0x0f);
	assert.sameValue(Atomics.exchange(i32, 0, 42), 0x0f);
	assert.sameValue(Atomics.compareExchange(i32, 0, 41, 1), 42, "no exchange");
	assert.sameValue(Atomics.load(i32, 0), 42);
	assert.sameValue(Atomics.compareExchange(i32, 0, 42, 1), 42, "exchange");
	assert.sameValue(Atomics.load(i32, 0), 1);

	const u8 = new Uint8Array(new ArrayBuffer(4));
	assert.sameValue(Atomics.add(u8, 1, 300), 0, "works on a non-shared buffer too");
	assert.sameValue(u8[1], 44, "wraps to the element type");
	const i8 = new Int8Array(4);
	Atomics.store(i8, 0, -1);
	assert.sameValue(Atomics.compareExchange(i8, 0, 255, 3), -1, "compares as the element type");
	assert.sameValue(i8[0], 3);
	const u16 = new Uint16Array(2);
	assert.sameValue(Atomics.sub(u16, 0, 1), 0);
	assert.sameValue(u16[0], 65535);

	const b64 = new BigInt64Array(sab);
	assert.sameValue(Atomics.store(b64, 1, -5n), -5n);
	assert.sameValue(Atomics.add(b64, 1, 2n), -5n);
	assert.sameValue(Atomics.load(b64, 1), -3n);
	assert.sameValue(Atomics.compareExchange(b64, 1, -3n, 7n), -3n);
	assert.sameValue(b64[1], 7n);
	const bu64 = new BigUint64Array(2);
	Atomics.sub(bu64, 0, 1n);
	assert.sameValue(bu64[0], 2n ** 64n - 1n);
	assert.throws(TypeError, () => Atomics.add(b64, 0, 1), "a Number for a BigInt array");

	assert.throws(TypeError, () => Atomics.add(new Float64Array(1), 0, 1), "float array");
	assert.throws(TypeError, () => Atomics.add(new Uint8ClampedArray(1), 0, 1), "clamped array");
	assert.throws(TypeError, () => Atomics.load([1], 0), "not a typed array");
	assert.throws(RangeError, () => Atomics.load(i32, 4), "index past the end");
	assert.throws(RangeError, () => Atomics.load(i32, -1), "negative index");

	assert.sameValue(Atomics.isLockFree(4), true);
	assert.sameValue(Atomics.isLockFree(3), false);
	assert.sameValue(Atomics.isLockFree(4.5), true, "the size is truncated");
	assert.throws(TypeError, () => Atomics.wait(new Int32Array(4), 9, 0, 0), "wait: a non-shared buffer before the index");
	assert.sameValue(Atomics.notify(i32, 0, 1), 0, "no waiters");
	assert.sameValue(Atomics.notify(new Int32Array(4), 0), 0, "non-shared notify");
	assert.throws(TypeError, () => Atomics.notify(new Uint8Array(sab), 0), "notify needs Int32Array or BigInt64Array");
	assert.throws(TypeError, () => Atomics.wait(i32, 0, 1, 0), "wait cannot suspend this agent");
	assert.throws(TypeError, () => Atomics.wait(new Int32Array(4), 0, 0, 0), "wait on a non-shared buffer");
	assert.throws(RangeError, () => Atomics.wait(i32, 9, 0, 0), "wait validates the index first");
	assert.sameValue(Atomics.pause(), undefined);
	assert.throws(TypeError, () => Atomics.pause(1.5));

	const rab = new ArrayBuffer(8, { maxByteLength: 16 });
	const r32 = new Int32Array(rab);
	assert.throws(RangeError, () => Atomics.store(r32, 1, { valueOf() { rab.resize(4); return 1; } }), "revalidated after conversion");
	`
	testScriptWithTestLib(SCRIPT, _undefined, t)
}
