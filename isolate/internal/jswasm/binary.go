package jswasm

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// External kinds as the binary format numbers them.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
)

var kindNames = [...]string{"function", "table", "memory", "global"}

// Value types.
const (
	valI32       = 0x7f
	valI64       = 0x7e
	valF32       = 0x7d
	valF64       = 0x7c
	valV128      = 0x7b
	valFuncref   = 0x70
	valExternref = 0x6f
)

const pageSize = 65536

// importDesc is one entry of a module's import section.
type importDesc struct {
	module, name string
	kind         byte
	valType      byte // global; table: the element type
	mutable      bool // global
}

// exportDesc is one entry of a module's export section.
type exportDesc struct {
	name  string
	kind  byte
	index uint32
}

// funcType is a function signature of the type section.
type funcType struct{ params, results []byte }

// moduleInfo is what the JS API reads of a module beyond what wazero
// exposes: imports and exports in their order (with globals and tables),
// custom sections, and the initial size of the memory it defines.
type moduleInfo struct {
	imports  []importDesc
	exports  []exportDesc
	custom   []customSection
	minPages uint64 // initial pages of a memory the module defines (not imports)
	// types is the type section; tables the element type of each table in
	// the table index space (imported ones first).
	types  []funcType
	tables []byte
}

type customSection struct {
	name string
	data []byte
}

var errTruncated = errors.New("truncated section")

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return uint32(v)
		}
	}
	r.err = errTruncated
	return 0
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint64(len(r.b)) < uint64(n) {
		r.err = errTruncated
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

// limits reads a limits structure and returns its minimum.
func (r *reader) limits() uint64 {
	flags := r.byte()
	var min uint64
	if flags&4 != 0 { // memory64: u64 bounds
		min = uint64(r.u32()) // bounds beyond 32 bits are rejected by wazero anyway
	} else {
		min = uint64(r.u32())
	}
	if flags&1 != 0 {
		r.u32()
	}
	return min
}

// parseModule reads the sections the JS API needs. It runs on bytes wazero
// has already validated, so an error only means an unexpected encoding.
func parseModule(b []byte) (*moduleInfo, error) {
	if len(b) < 8 {
		return nil, errTruncated
	}
	info := &moduleInfo{}
	r := &reader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &reader{b: r.bytes(r.u32())}
		if r.err != nil {
			break
		}
		switch id {
		case 0:
			n := sec.name()
			if sec.err == nil {
				info.custom = append(info.custom, customSection{name: n, data: sec.b})
			}
		case 1:
			for i, n := uint32(0), sec.u32(); i < n && sec.err == nil; i++ {
				if sec.byte() != 0x60 {
					return nil, errors.New("unexpected type form")
				}
				var ft funcType
				ft.params = append([]byte(nil), sec.bytes(sec.u32())...)
				ft.results = append([]byte(nil), sec.bytes(sec.u32())...)
				info.types = append(info.types, ft)
			}
		case 2:
			for i, n := uint32(0), sec.u32(); i < n && sec.err == nil; i++ {
				d := importDesc{module: sec.name(), name: sec.name(), kind: sec.byte()}
				switch d.kind {
				case kindFunc:
					sec.u32()
				case kindTable:
					d.valType = sec.byte()
					info.tables = append(info.tables, d.valType)
					sec.limits()
				case kindMemory:
					sec.limits()
				case kindGlobal:
					d.valType = sec.byte()
					d.mutable = sec.byte() == 1
				}
				info.imports = append(info.imports, d)
			}
		case 4:
			for i, n := uint32(0), sec.u32(); i < n && sec.err == nil; i++ {
				info.tables = append(info.tables, sec.byte())
				sec.limits()
			}
		case 5:
			if n := sec.u32(); n > 0 {
				info.minPages = sec.limits()
			}
		case 7:
			for i, n := uint32(0), sec.u32(); i < n && sec.err == nil; i++ {
				d := exportDesc{name: sec.name(), kind: sec.byte()}
				d.index = sec.u32()
				info.exports = append(info.exports, d)
			}
		}
		if sec.err != nil {
			return nil, sec.err
		}
	}
	return info, r.err
}

// writer encodes wasm binaries: the small modules that back Memory and
// Global objects made from JS, and the shims that gather a module's imports.
type writer struct{ b []byte }

func (w *writer) u32(v uint32) { w.b = binary.AppendUvarint(w.b, uint64(v)) }
func (w *writer) name(s string) {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// section appends section id with the contents body wrote.
func (w *writer) section(id byte, body func(*writer)) {
	var s writer
	body(&s)
	w.b = append(w.b, id)
	w.u32(uint32(len(s.b)))
	w.b = append(w.b, s.b...)
}

func newModuleWriter() *writer {
	return &writer{b: []byte{0, 'a', 's', 'm', 1, 0, 0, 0}}
}

func (w *writer) limits(min uint32, max uint32, hasMax bool) {
	if hasMax {
		w.b = append(w.b, 1)
		w.u32(min)
		w.u32(max)
		return
	}
	w.b = append(w.b, 0)
	w.u32(min)
}

// memoryModule is (module (memory (export "m") min max?)).
func memoryModule(min, max uint32, hasMax bool) []byte {
	w := newModuleWriter()
	w.section(5, func(s *writer) { s.u32(1); s.limits(min, max, hasMax) })
	w.section(7, func(s *writer) { s.u32(1); s.name("m"); s.b = append(s.b, kindMemory); s.u32(0) })
	return w.b
}

// globalModule is (module (global (export "g") (mut? t) (t.const bits))).
func globalModule(t byte, mutable bool, bits uint64) []byte {
	w := newModuleWriter()
	w.section(6, func(s *writer) {
		s.u32(1)
		s.b = append(s.b, t)
		if mutable {
			s.b = append(s.b, 1)
		} else {
			s.b = append(s.b, 0)
		}
		switch t {
		case valI32:
			s.b = append(s.b, 0x41)
			s.b = appendSleb(s.b, int64(int32(uint32(bits))))
		case valI64:
			s.b = append(s.b, 0x42)
			s.b = appendSleb(s.b, int64(bits))
		case valF32:
			s.b = append(s.b, 0x43)
			s.b = binary.LittleEndian.AppendUint32(s.b, uint32(bits))
		case valF64:
			s.b = append(s.b, 0x44)
			s.b = binary.LittleEndian.AppendUint64(s.b, bits)
		}
		s.b = append(s.b, 0x0b)
	})
	w.section(7, func(s *writer) { s.u32(1); s.name("g"); s.b = append(s.b, kindGlobal); s.u32(0) })
	return w.b
}

// shimImport is one import of a shim module: what it takes from which
// source (a module the import resolver names) and re-exports as name.
type shimImport struct {
	name    string // the export name (the field the guest imports)
	source  string // the resolver's name of the module it comes from
	field   string // the export of that module
	kind    byte
	params  []byte // function
	results []byte // function
	valType byte   // global
	mutable bool   // global
}

// shimModule imports each entry from its source and re-exports it under the
// name the guest asks for, so that functions from JS and memories, globals
// and funcref tables of other instances can be imported under one module
// name.
func shimModule(imps []shimImport) []byte {
	w := newModuleWriter()
	w.section(1, func(s *writer) {
		n := 0
		for _, im := range imps {
			if im.kind == kindFunc {
				n++
			}
		}
		s.u32(uint32(n))
		for _, im := range imps {
			if im.kind != kindFunc {
				continue
			}
			s.b = append(s.b, 0x60)
			s.u32(uint32(len(im.params)))
			s.b = append(s.b, im.params...)
			s.u32(uint32(len(im.results)))
			s.b = append(s.b, im.results...)
		}
	})
	w.section(2, func(s *writer) {
		s.u32(uint32(len(imps)))
		fn := 0
		for _, im := range imps {
			s.name(im.source)
			s.name(im.field)
			s.b = append(s.b, im.kind)
			switch im.kind {
			case kindFunc:
				s.u32(uint32(fn))
				fn++
			case kindTable:
				s.b = append(s.b, valFuncref)
				s.limits(0, 0, false)
			case kindMemory:
				s.limits(0, 0, false)
			case kindGlobal:
				s.b = append(s.b, im.valType)
				if im.mutable {
					s.b = append(s.b, 1)
				} else {
					s.b = append(s.b, 0)
				}
			}
		}
	})
	w.section(7, func(s *writer) {
		s.u32(uint32(len(imps)))
		var idx [4]uint32
		for _, im := range imps {
			s.name(im.name)
			s.b = append(s.b, im.kind)
			s.u32(idx[im.kind])
			idx[im.kind]++
		}
	})
	return w.b
}

// tableModule is (module (table (export "t") min max? funcref)).
func tableModule(min, max uint32, hasMax bool) []byte {
	w := newModuleWriter()
	w.section(4, func(s *writer) { s.u32(1); s.b = append(s.b, valFuncref); s.limits(min, max, hasMax) })
	w.section(7, func(s *writer) { s.u32(1); s.name("t"); s.b = append(s.b, kindTable); s.u32(0) })
	return w.b
}

// tableHelper is the module that reaches a funcref table another instance
// exports as field (wazero has no API for tables): it imports the table
// from source "s0" and exports size() (table.size), grow(n) (table.grow
// with null entries, -1 on failure), isnull(i), setnull(i), and for each
// signature k of sigs a trampoline "c<k>"(i, params...) that calls entry i
// with call_indirect of that type (a trap when the entry's type differs).
func tableHelper(field string, sigs []funcType) []byte {
	w := newModuleWriter()
	fn := func(s *writer, params, results []byte) {
		s.b = append(s.b, 0x60)
		s.u32(uint32(len(params)))
		s.b = append(s.b, params...)
		s.u32(uint32(len(results)))
		s.b = append(s.b, results...)
	}
	i32 := []byte{valI32}
	w.section(1, func(s *writer) {
		s.u32(uint32(3 + 2*len(sigs)))
		fn(s, nil, i32) // 0: size
		fn(s, i32, i32) // 1: grow, isnull
		fn(s, i32, nil) // 2: setnull
		for _, t := range sigs {
			fn(s, t.params, t.results)                            // 3+2k: the entry's type
			fn(s, append([]byte{valI32}, t.params...), t.results) // 4+2k: its trampoline
		}
	})
	w.section(2, func(s *writer) {
		s.u32(1)
		s.name("s0")
		s.name(field)
		s.b = append(s.b, kindTable, valFuncref)
		s.limits(0, 0, false)
	})
	w.section(3, func(s *writer) {
		s.u32(uint32(4 + len(sigs)))
		s.u32(0)
		s.u32(1)
		s.u32(1)
		s.u32(2)
		for k := range sigs {
			s.u32(uint32(4 + 2*k))
		}
	})
	w.section(7, func(s *writer) {
		s.u32(uint32(4 + len(sigs)))
		for i, n := range []string{"size", "grow", "isnull", "setnull"} {
			s.name(n)
			s.b = append(s.b, kindFunc)
			s.u32(uint32(i))
		}
		for k := range sigs {
			s.name("c" + strconv.Itoa(k))
			s.b = append(s.b, kindFunc)
			s.u32(uint32(4 + k))
		}
	})
	w.section(10, func(s *writer) {
		body := func(code ...byte) {
			s.u32(uint32(1 + len(code)))
			s.b = append(s.b, 0) // no locals
			s.b = append(s.b, code...)
		}
		s.u32(uint32(4 + len(sigs)))
		body(0xFC, 16, 0, 0x0B)                            // table.size 0
		body(0xD0, valFuncref, 0x20, 0, 0xFC, 15, 0, 0x0B) // ref.null; local.get 0; table.grow 0
		body(0x20, 0, 0x25, 0, 0xD1, 0x0B)                 // table.get 0; ref.is_null
		body(0x20, 0, 0xD0, valFuncref, 0x26, 0, 0x0B)     // table.set 0 (null)
		for k, t := range sigs {
			var c writer
			for j := range t.params {
				c.b = append(c.b, 0x20)
				c.u32(uint32(j + 1))
			}
			c.b = append(c.b, 0x20, 0, 0x11)
			c.u32(uint32(3 + 2*k))
			c.b = append(c.b, 0, 0x0B)
			body(c.b...)
		}
	})
	return w.b
}

// tableSetter is the module that stores one function in a funcref table:
// it imports the table from "s0" as field, the function from "s1" as fn
// (of type sig), and exports set(i), which does table.set i (ref.func fn).
func tableSetter(field, fn string, sig funcType) []byte {
	w := newModuleWriter()
	w.section(1, func(s *writer) {
		s.u32(2)
		s.b = append(s.b, 0x60)
		s.u32(uint32(len(sig.params)))
		s.b = append(s.b, sig.params...)
		s.u32(uint32(len(sig.results)))
		s.b = append(s.b, sig.results...)
		s.b = append(s.b, 0x60, 1, valI32, 0) // (i32) -> ()
	})
	w.section(2, func(s *writer) {
		s.u32(2)
		s.name("s0")
		s.name(field)
		s.b = append(s.b, kindTable, valFuncref)
		s.limits(0, 0, false)
		s.name("s1")
		s.name(fn)
		s.b = append(s.b, kindFunc)
		s.u32(0)
	})
	w.section(3, func(s *writer) { s.u32(1); s.u32(1) })
	w.section(7, func(s *writer) { s.u32(1); s.name("set"); s.b = append(s.b, kindFunc); s.u32(1) })
	// ref.func needs the function declared: a declarative element segment.
	w.section(9, func(s *writer) { s.u32(1); s.b = append(s.b, 3, 0, 1, 0) })
	w.section(10, func(s *writer) {
		s.u32(1)
		code := []byte{0, 0x20, 0, 0xD2, 0, 0x26, 0, 0x0B} // local.get 0; ref.func 0; table.set 0
		s.u32(uint32(len(code)))
		s.b = append(s.b, code...)
	})
	return w.b
}
