package jswasm

import "testing"

// tableTestModule has a funcref table of 4 (at most 10) exported as "tbl":
// entry 0 answers 42, entry 1 adds its two arguments, entry 2 is null, and
// entry 3 takes an i32 and makes a call_indirect of the wrong type itself.
func tableTestModule() []byte {
	w := newModuleWriter()
	w.section(1, func(s *writer) {
		s.u32(3)
		s.b = append(s.b, 0x60, 0, 1, valI32)                 // 0: () -> i32
		s.b = append(s.b, 0x60, 2, valI32, valI32, 1, valI32) // 1: (i32, i32) -> i32
		s.b = append(s.b, 0x60, 1, valI32, 1, valI32)         // 2: (i32) -> i32
	})
	w.section(3, func(s *writer) { s.u32(3); s.u32(0); s.u32(1); s.u32(2) })
	w.section(4, func(s *writer) { s.u32(1); s.b = append(s.b, valFuncref); s.limits(4, 10, true) })
	w.section(7, func(s *writer) { s.u32(1); s.name("tbl"); s.b = append(s.b, kindTable); s.u32(0) })
	w.section(9, func(s *writer) {
		s.u32(2)
		s.b = append(s.b, 0, 0x41, 0, 0x0B, 2, 0, 1) // offset 0: f0, f1
		s.b = append(s.b, 0, 0x41, 3, 0x0B, 1, 2)    // offset 3: f2
	})
	w.section(10, func(s *writer) {
		body := func(code ...byte) {
			s.u32(uint32(1 + len(code) + 1))
			s.b = append(s.b, 0)
			s.b = append(s.b, code...)
			s.b = append(s.b, 0x0B)
		}
		s.u32(3)
		body(0x41, 42)
		body(0x20, 0, 0x20, 1, 0x6A)
		body(0x20, 0, 0x20, 0, 0x41, 0, 0x11, 1, 0)
	})
	return w.b
}

func TestTable(t *testing.T) {
	e := newEnv(t)
	e.bytes("bin", tableTestModule())
	e.bytes("imp", importerModule())
	got := e.str(t, `(() => {
		const { exports: x } = new WebAssembly.Instance(new WebAssembly.Module(bin));
		const t = x.tbl, r = [];
		r.push(t instanceof WebAssembly.Table, Object.prototype.toString.call(t), t.length);
		r.push(t.get(0)(), t.get(1)(2, 40), t.get(1)(-1, 1), t.get(2));
		try { t.get(3)(1) } catch (e) { r.push(e.name) }
		try { t.get(4) } catch (e) { r.push(e.name) }
		try { t.get(-1) } catch (e) { r.push(e.name) }
		r.push(t.grow(2), t.length, t.get(5));
		t.set(0, null); r.push(t.get(0));
		try { t.set(1, () => 1) } catch (e) { r.push(e.name) }
		const { exports: y } = new WebAssembly.Instance(new WebAssembly.Module(imp), { env: { tbl: new WebAssembly.Table({ element: "anyfunc", initial: 2 }) } });
		t.set(0, y.callslot); t.grow(1, y.callslot);
		r.push(t.get(0)(1), t.get(6)(1), t.length);
		t.length = 0; r.push(t.length);
		try { t.grow(100) } catch (e) { r.push(e.name) }
		const j = new WebAssembly.Table({ element: "anyfunc", initial: 2, maximum: 3 });
		r.push(j.length, j.get(1), j.grow(1), j.length);
		try { j.grow(1) } catch (e) { r.push(e.name) }
		try { WebAssembly.Table.prototype.get.call({}, 0) } catch (e) { r.push(e.name) }
		try { WebAssembly.Table({ element: "anyfunc", initial: 1 }) } catch (e) { r.push(e.name) }
		try { new WebAssembly.Table({ element: "i32", initial: 1 }) } catch (e) { r.push(e.name) }
		return r.join();
	})()`)
	want := "true,[object WebAssembly.Table],4,42,42,0,,RuntimeError,RangeError,TypeError,4,6,,,TypeError,7,7,7,7,RangeError,2,,2,3,RangeError,TypeError,TypeError,TypeError"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// importerModule imports a funcref table "env" "tbl" (at least 2 entries),
// puts in entry 1 a function answering 7, and exports callslot(i), which
// calls entry i as () -> i32.
func importerModule() []byte {
	w := newModuleWriter()
	w.section(1, func(s *writer) {
		s.u32(2)
		s.b = append(s.b, 0x60, 0, 1, valI32)         // 0: () -> i32
		s.b = append(s.b, 0x60, 1, valI32, 1, valI32) // 1: (i32) -> i32
	})
	w.section(2, func(s *writer) {
		s.u32(1)
		s.name("env")
		s.name("tbl")
		s.b = append(s.b, kindTable, valFuncref)
		s.limits(2, 0, false)
	})
	w.section(3, func(s *writer) { s.u32(2); s.u32(0); s.u32(1) })
	w.section(7, func(s *writer) { s.u32(1); s.name("callslot"); s.b = append(s.b, kindFunc); s.u32(1) })
	w.section(9, func(s *writer) { s.u32(1); s.b = append(s.b, 0, 0x41, 1, 0x0B, 1, 0) })
	w.section(10, func(s *writer) {
		s.u32(2)
		s.u32(4)
		s.b = append(s.b, 0, 0x41, 7, 0x0B)
		s.u32(7)
		s.b = append(s.b, 0, 0x20, 0, 0x11, 0, 0, 0x0B)
	})
	return w.b
}

func TestTableImport(t *testing.T) {
	e := newEnv(t)
	e.bytes("imp", importerModule())
	got := e.str(t, `(() => {
		const tbl = new WebAssembly.Table({ element: "anyfunc", initial: 2 });
		const before = tbl.get(1);
		const { exports: x } = new WebAssembly.Instance(new WebAssembly.Module(imp), { env: { tbl } });
		const r = [before, tbl.get(0), tbl.get(1)(), x.callslot(1)];
		try { x.callslot(0) } catch (e) { r.push(e.name) }
		try { new WebAssembly.Instance(new WebAssembly.Module(imp), { env: { tbl: {} } }) } catch (e) { r.push(e.name) }
		tbl.set(1, null);
		try { x.callslot(1) } catch (e) { r.push(e.name) }
		return r.join();
	})()`)
	if want := ",,7,7,RuntimeError,LinkError,RuntimeError"; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
