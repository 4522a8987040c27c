package jswasm

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Instruction bytes.
var (
	get0, get1 = []byte{0x20, 0}, []byte{0x20, 1}
	i32Add     = []byte{0x6a}
	i64Add     = []byte{0x7c}
	f64Mul     = []byte{0xa2}
	i32DivS    = []byte{0x6d}
	spin       = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b}
)

func call(idx byte) []byte      { return []byte{0x10, idx} }
func i32Const(v byte) []byte    { return []byte{0x41, v & 0x3f} } // 0..63
func globalGet(idx byte) []byte { return []byte{0x23, idx} }
func globalSet(idx byte) []byte { return []byte{0x24, idx} }

// arith exports add (i32), add64 (i64), mul (f64), f32 identity, div (i32, traps on 0).
func arith() []byte {
	return tModule{funcs: []tFunc{
		{params: cat(i32, i32), results: i32, body: cat(get0, get1, i32Add), export: "add"},
		{params: cat(i64, i64), results: i64, body: cat(get0, get1, i64Add), export: "add64"},
		{params: cat(f64, f64), results: f64, body: cat(get0, get1, f64Mul), export: "mul"},
		{params: f32, results: f32, body: get0, export: "id32"},
		{params: cat(i32, i32), results: i32, body: cat(get0, get1, i32DivS), export: "div"},
		{body: []byte{0x00}, export: "boom"},
	}, custom: []customSection{{"meta", []byte("hello")}, {"meta", []byte("again")}}}.bytes()
}

func TestInstantiateBothForms(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", arith())
	got := e.str(t, `(async () => {
		const { module, instance } = await WebAssembly.instantiate(bin);
		const again = await WebAssembly.instantiate(module);
		const sync = new WebAssembly.Instance(new WebAssembly.Module(bin.buffer), {});
		return [
			module instanceof WebAssembly.Module, again instanceof WebAssembly.Instance,
			instance.exports.add(2, 40), again.exports.add(0x7fffffff, 1), sync.exports.add(-5, 2),
			instance.exports.add("3", 4.9), instance.exports.add(2**32 + 5, 0),
		].join();
	})()`)
	if want := "true,true,42,-2147483648,-3,7,5"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := e.str(t, `WebAssembly.validate(bin) + "," + WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 9, 9]))`); got != "true,false" {
		t.Fatalf("validate: %s", got)
	}
}

func TestValueConversions(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", arith())
	got := e.str(t, `const x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports;
	[x.add64(2n**63n - 1n, 1n), x.add64(-1n, 0n), typeof x.add64(1n, 1n), x.mul(1.5, 4), x.id32(0.1),
	 (() => { try { x.add64(1, 2) } catch (e) { return e.name } })(),
	 (() => { try { x.add(1n, 2) } catch (e) { return e.name } })()].join()`)
	want := "-9223372036854775808,-1,bigint,6,0.10000000149011612,TypeError,TypeError"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestModuleReflection(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", tModule{
		imports: []tImport{{mod: "env", name: "f", kind: kindFunc, params: i32}, {mod: "env", name: "g", kind: kindGlobal, valType: valI32}},
		funcs:   []tFunc{{body: nil, export: "run"}},
		memory:  true, memMin: 1, memExport: "mem",
		custom: []customSection{{"meta", []byte("hi")}, {"other", []byte("x")}, {"meta", []byte("yo")}},
	}.bytes())
	got := e.str(t, `const m = new WebAssembly.Module(bin);
	JSON.stringify([WebAssembly.Module.imports(m), WebAssembly.Module.exports(m),
		WebAssembly.Module.customSections(m, "meta").map(b => new TextDecoder().decode(b))])`)
	want := `[[{"module":"env","name":"f","kind":"function"},{"module":"env","name":"g","kind":"global"}],` +
		`[{"name":"run","kind":"function"},{"name":"mem","kind":"memory"}],["hi","yo"]]`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestImportsAndReentrancy(t *testing.T) {
	e := newEnv(t)
	// run(n) = env.twice(n) + 1; inner(n) = n + 50; and a start function
	// that calls env.started().
	e.bytes("bin", tModule{
		imports: []tImport{
			{mod: "env", name: "twice", kind: kindFunc, params: i32, results: i32},
			{mod: "env", name: "started", kind: kindFunc},
			{mod: "env", name: "big", kind: kindFunc, params: i64, results: i64},
		},
		funcs: []tFunc{
			{params: i32, results: i32, body: cat(get0, call(0), i32Const(1), i32Add), export: "run"},
			{params: i32, results: i32, body: cat(get0, i32Const(50), i32Add), export: "inner"},
			{params: i64, results: i64, body: cat(get0, call(2)), export: "callBig"},
		},
		startFunc: 2, // index+1: env.started is function 1
	}.bytes())
	got := e.str(t, `let starts = 0, inst;
	const imports = { env: {
		// re-entrancy: wasm -> JS -> wasm
		twice: (n) => inst.exports.inner(n) * 2,
		started: () => { starts++ },
		big: (v) => v * 3n,
	} };
	inst = new WebAssembly.Instance(new WebAssembly.Module(bin), imports);
	[inst.exports.run(1), starts, inst.exports.callBig(5n), typeof inst.exports.callBig(1n)].join()`)
	if want := "103,1,15,bigint"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// A JS exception thrown in an import reaches the caller unchanged.
	got = e.str(t, `const thrown = new Error("from JS");
	const i2 = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: {
		twice: () => { throw thrown }, started() {}, big: () => 1,
	} });
	[(() => { try { i2.exports.run(1) } catch (e) { return e === thrown } })(),
	 (() => { try { i2.exports.callBig(1n) } catch (e) { return e.name } })()].join()`)
	if got != "true,TypeError" {
		t.Fatalf("exceptions from imports: %s", got)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", arith())
	e.bytes("needs", tModule{
		imports: []tImport{{mod: "env", name: "f", kind: kindFunc, params: i32}},
		funcs:   []tFunc{{export: "x"}},
	}.bytes())
	e.bytes("junk", []byte("\x00asm\x01\x00\x00\x00\x01\xff"))
	e.bytes("notwasm", []byte("hello world"))
	got := e.str(t, `const name = (f) => { try { f(); return "none" } catch (e) { return e.constructor.name + "/" + e.name + (e instanceof Error ? "" : "!") + ": " + e.message } };
	const x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports;
	[name(() => x.boom()), name(() => x.div(1, 0)),
	 name(() => new WebAssembly.Module(junk)), name(() => new WebAssembly.Module(notwasm)),
	 name(() => new WebAssembly.Instance(new WebAssembly.Module(needs), {env: {}})),
	 name(() => new WebAssembly.Instance(new WebAssembly.Module(needs), {env: {f: 1}})),
	 name(() => new WebAssembly.Instance(new WebAssembly.Module(needs))),
	 name(() => new WebAssembly.Module(42)),
	 name(() => WebAssembly.Module(bin)),
	].join("\n")`)
	lines := strings.Split(got, "\n")
	wants := []string{
		"RuntimeError/RuntimeError: unreachable",
		"RuntimeError/RuntimeError: integer divide by zero",
		"CompileError/CompileError: WebAssembly.Module(): ",
		"CompileError/CompileError: WebAssembly.Module(): not a WebAssembly module: invalid magic number",
		`LinkError/LinkError: WebAssembly.Instance(): Import #0 "env" "f": function import requires a callable`,
		`LinkError/LinkError: WebAssembly.Instance(): Import #0 "env" "f": function import requires a callable`,
		"TypeError/TypeError: WebAssembly.Instance(): Imports argument must be present",
		"TypeError/TypeError: WebAssembly.Module(): Argument 0 must be a buffer source",
		"TypeError/TypeError: WebAssembly.Module must be invoked with 'new'",
	}
	if len(lines) != len(wants) {
		t.Fatalf("got %q", got)
	}
	for i, w := range wants {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("case %d: got %q, want prefix %q", i, lines[i], w)
		}
	}
	// instantiate rejects rather than throws.
	got = e.str(t, `WebAssembly.instantiate(junk).then(() => "resolved", e => e.name)`)
	if got != "CompileError" {
		t.Fatalf("instantiate of junk: %s", got)
	}
}

func TestDeepRecursionIsRuntimeError(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", tModule{funcs: []tFunc{{body: call(0), export: "f"}}}.bytes())
	got := e.str(t, `try { new WebAssembly.Instance(new WebAssembly.Module(bin)).exports.f(); "returned" } catch (e) { e.name + ": " + e.message }`)
	if got != "RuntimeError: stack overflow" {
		t.Fatalf("got %s", got)
	}
}

// memoryModule exports mem (1 page, at most 4), load(addr), store(addr, v),
// grow(n) -> old size or -1.
func memModule(max uint32) []byte {
	return tModule{
		memory: true, memMin: 1, memMax: max, memHasMax: max > 0, memExport: "mem",
		funcs: []tFunc{
			{params: i32, results: i32, body: cat(get0, []byte{0x28, 2, 0}), export: "load"},
			{params: cat(i32, i32), body: cat(get0, get1, []byte{0x36, 2, 0}), export: "store"},
			{params: i32, results: i32, body: cat(get0, []byte{0x40, 0}), export: "grow"},
		},
	}.bytes()
}

func TestMemoryAliasingAndGrow(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", memModule(4))
	got := e.str(t, `const x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports;
	const buf = x.mem.buffer;
	const u32 = new Uint32Array(buf);
	x.store(8, 0x01020304);
	const seen = u32[2];                 // wasm's write, seen in JS without a copy
	u32[3] = 77;                         // JS's write, seen by wasm
	const loaded = x.load(12);
	const same = x.mem.buffer === buf;   // unchanged while the memory is
	const old = x.grow(1);               // grown by wasm
	const detached = buf.byteLength;     // the old buffer is detached at once
	const viewLength = u32.length;       // and so views of it are empty
	const after = x.mem.buffer;
	const afterPages = after.byteLength / 65536;
	const prev = x.mem.grow(2);          // grown by JS: 2 -> 4 pages
	const full = (() => { try { x.mem.grow(1); return "grew" } catch (e) { return e.name } })();
	[seen, loaded, same, old, afterPages, detached, viewLength, prev, x.mem.buffer.byteLength / 65536,
	 after.byteLength, full, x.grow(1), x.load(12), x.mem instanceof WebAssembly.Memory].join()`)
	if want := "16909060,77,true,1,2,0,0,2,4,0,RangeError,-1,77,true"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestImportedMemoryAndGlobals(t *testing.T) {
	e := newEnv(t)
	// Imports env.mem, env.base (immutable i32), env.counter (mutable i32),
	// env.log; load(addr) = mem[addr + base]; bump() = ++counter.
	e.bytes("bin", tModule{
		imports: []tImport{
			{mod: "env", name: "mem", kind: kindMemory, min: 1},
			{mod: "env", name: "base", kind: kindGlobal, valType: valI32},
			{mod: "env", name: "counter", kind: kindGlobal, valType: valI32, mutable: true},
			{mod: "env", name: "log", kind: kindFunc, params: i32},
		},
		funcs: []tFunc{
			{params: i32, results: i32, body: cat(get0, globalGet(0), i32Add, []byte{0x28, 2, 0}), export: "load"},
			{results: i32, body: cat(globalGet(1), i32Const(1), i32Add, globalSet(1), globalGet(1), call(0), globalGet(1)), export: "bump"},
		},
		globals: []tGlobal{{t: valF64, mutable: true, init: 0, export: "g"}},
	}.bytes())
	got := e.str(t, `const mem = new WebAssembly.Memory({ initial: 1, maximum: 3 });
	new DataView(mem.buffer).setUint32(20, 4242, true);
	const counter = new WebAssembly.Global({ value: "i32", mutable: true }, 10);
	const logged = [];
	const x = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { mem, base: 4, counter, log: v => logged.push(v) } }).exports;
	const a = x.load(16);
	const b = x.bump();
	counter.value = 100;
	const c = x.bump();
	x.g.value = 2.5;
	const ro = new WebAssembly.Global({ value: "i64" }, 7n);
	const roSet = (() => { try { ro.value = 1n; return "set" } catch (e) { return e.name } })();
	[a, b, c, counter.value, logged, x.g.value, ro.value, roSet, mem.grow(1), x.load(16)].join()`)
	if want := "4242,11,101,101,11,101,2.5,7,TypeError,1,4242"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// Wrong kinds are LinkErrors.
	got = e.str(t, `const m = new WebAssembly.Module(bin);
	const mem2 = new WebAssembly.Memory({ initial: 1 });
	[(() => { try { new WebAssembly.Instance(m, { env: { mem: {}, base: 1, counter: 1, log() {} } }) } catch (e) { return e.name } })(),
	 (() => { try { new WebAssembly.Instance(m, { env: { mem: mem2, base: 1, counter: 1, log() {} } }) } catch (e) { return e.name } })()].join()`)
	if got != "LinkError,LinkError" {
		t.Fatalf("wrong imports: %s", got)
	}
}

func TestInfiniteLoopStopsWithContext(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", tModule{funcs: []tFunc{{body: spin, export: "spin"}}}.bytes())
	e.ctx = within(t, 50*time.Millisecond)
	start := time.Now()
	got := e.str(t, `try { new WebAssembly.Instance(new WebAssembly.Module(bin)).exports.spin(); "returned" } catch (e) { e.name }`)
	if got != "RuntimeError" {
		t.Fatalf("got %s", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to stop", d)
	}
}

func TestMemoryLimit(t *testing.T) {
	e := newEnv(t)
	e.limit = 4 << 20 // 64 pages for all memories together
	e.bytes("bin", memModule(0))
	got := e.str(t, `const x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports;
	let pages = 1;
	while (x.grow(1) !== -1) pages++;
	const big = (() => { try { new WebAssembly.Memory({ initial: 60 }); return "made" } catch (e) { return e.name } })();
	const y = (() => { try { new WebAssembly.Instance(new WebAssembly.Module(bin)); return "made" } catch (e) { return e.name } })();
	[pages, big, x.mem.buffer.byteLength / 65536, y].join()`)
	if got != "64,RangeError,64,RangeError" {
		t.Fatalf("got %s", got)
	}
}

// TestSharedExportedMemory: a memory one instance exports, imported by
// another, is the same memory for both.
func TestSharedExportedMemory(t *testing.T) {
	e := newEnv(t)
	e.bytes("owner", memModule(0))
	e.bytes("user", tModule{
		imports: []tImport{{mod: "m", name: "mem", kind: kindMemory, min: 1}},
		funcs:   []tFunc{{params: i32, results: i32, body: cat(get0, []byte{0x28, 2, 0}), export: "load"}},
	}.bytes())
	got := e.str(t, `const a = new WebAssembly.Instance(new WebAssembly.Module(owner)).exports;
	const b = new WebAssembly.Instance(new WebAssembly.Module(user), { m: { mem: a.mem } }).exports;
	a.store(40, 1234);
	const before = b.load(40);
	a.grow(2);
	a.store(65536 * 2, 99);
	[before, b.load(65536 * 2)].join()`)
	if got != "1234,99" {
		t.Fatalf("got %s", got)
	}
}

// TestTooManyImports: a module cannot make instantiation build an
// unbounded number of host functions.
func TestTooManyImports(t *testing.T) {
	e := newEnv(t)
	imps := make([]tImport, maxImports+1)
	for i := range imps {
		imps[i] = tImport{mod: "m", name: "f" + strconv.Itoa(i), kind: kindFunc}
	}
	e.bytes("bin", tModule{imports: imps}.bytes())
	got := e.str(t, `try { new WebAssembly.Module(bin); "compiled" } catch (e) { e.name + ": " + e.message }`)
	if !strings.HasPrefix(got, "CompileError: ") || !strings.Contains(got, "at most 100000") {
		t.Fatalf("got %s", got)
	}
}

// TestCompiledOncePerProcess: a fresh isolate instantiating a module the
// process has compiled does not compile it again; a module evicted from
// the cache while an isolate holds it keeps working there.
func TestCompiledOncePerProcess(t *testing.T) {
	bin := tModule{funcs: []tFunc{{params: cat(i32, i32), results: i32, body: cat(get0, get1, i32Add), export: "add"}},
		custom: []customSection{{"test", []byte(t.Name())}}}.bytes()
	use := func(e *env) string {
		return e.str(t, `globalThis.x = new WebAssembly.Instance(new WebAssembly.Module(bin)).exports; String(x.add(20, 22))`)
	}
	first := newEnv(t)
	first.bytes("bin", bin)
	before := Compiles()
	if got := use(first); got != "42" {
		t.Fatalf("got %s", got)
	}
	if n := Compiles() - before; n != 1 {
		t.Fatalf("%d compiles for a new module, want 1", n)
	}
	second := newEnv(t)
	second.bytes("bin", bin)
	if got := use(second); got != "42" || Compiles()-before != 1 {
		t.Fatalf("a fresh isolate: %s after %d compiles, want 42 after 1", got, Compiles()-before)
	}
	// Evict it: fill the cache with other modules.
	other := newEnv(t)
	for i := range maxCompiled + 8 {
		other.bytes("o", tModule{funcs: []tFunc{{export: "f"}}, custom: []customSection{{"n", []byte(strconv.Itoa(i) + t.Name())}}}.bytes())
		other.str(t, `new WebAssembly.Module(o); ""`)
	}
	if got := first.str(t, `String(x.add(1, 2))`); got != "3" {
		t.Fatalf("after eviction: %s", got)
	}
	third := newEnv(t)
	third.bytes("bin", bin)
	if got := use(third); got != "42" {
		t.Fatalf("recompiled: %s", got)
	}
}

func TestStreaming(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", arith())
	got := e.str(t, `(async () => {
		const { instance } = await WebAssembly.instantiateStreaming(new Response(bin), {});
		const m = await WebAssembly.compileStreaming(Promise.resolve(new Response(bin)));
		const bad = await WebAssembly.compileStreaming(new Response("x", { status: 404 })).then(() => "resolved", e => e.name);
		const notResponse = await WebAssembly.instantiateStreaming(42).then(() => "resolved", e => e.name);
		return [instance.exports.add(1, 2), m instanceof WebAssembly.Module, bad, notResponse].join();
	})()`)
	if got != "3,true,TypeError,TypeError" {
		t.Fatalf("got %s", got)
	}
}

// TestSharedMemory: a memory made with {shared: true} hands out
// SharedArrayBuffers that are never detached and keep aliasing its bytes
// after it grows (its maximum is allocated up front and counted against the
// memory limit); a module cannot import it (wasm threads are off).
func TestSharedMemory(t *testing.T) {
	e := newEnv(t)
	e.limit = 4 << 20 // 64 pages
	e.bytes("bin", tModule{imports: []tImport{{mod: "env", name: "mem", kind: kindMemory, min: 1}}}.bytes())
	got := e.str(t, `const mem = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
	const b1 = mem.buffer;
	const kind = Object.prototype.toString.call(b1) + " " + (b1.constructor === SharedArrayBuffer);
	new Uint8Array(b1)[10] = 7;
	const prev = mem.grow(2);
	const b2 = mem.buffer;
	new Uint8Array(b2)[11] = 9;
	const err = f => { try { f(); return "ok" } catch (e) { return e.name } };
	[kind, prev, b1.byteLength / 65536, b2.byteLength / 65536, b1 === b2, new Uint8Array(b2)[10], new Uint8Array(b1)[11],
	 err(() => new WebAssembly.Memory({ initial: 1, shared: true })),
	 err(() => new WebAssembly.Memory({ initial: 0, maximum: 65, shared: true })),
	 err(() => new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { mem } })),
	 new WebAssembly.Memory({ shared: true, initial: 0, maximum: 0 }).buffer.constructor.name].join()`)
	if want := "[object SharedArrayBuffer] true,1,1,3,false,7,9,TypeError,RangeError,LinkError,SharedArrayBuffer"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
