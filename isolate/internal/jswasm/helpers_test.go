package jswasm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// A tiny assembler for test modules: functions get one type each, imports
// come first in the function index space.

type tImport struct {
	mod, name string
	kind      byte
	params    []byte // func
	results   []byte // func
	valType   byte   // global
	mutable   bool   // global
	min       uint32 // memory
}

type tFunc struct {
	params, results []byte
	locals          []byte // one local per entry, of that type
	body            []byte // without the final end
	export          string
}

type tGlobal struct {
	t       byte
	mutable bool
	init    uint64
	export  string
}

type tModule struct {
	imports   []tImport
	funcs     []tFunc
	memory    bool
	memMin    uint32
	memMax    uint32
	memHasMax bool
	memExport string
	globals   []tGlobal
	custom    []customSection
	startFunc int // index+1 of the start function, 0 for none
}

func (m tModule) bytes() []byte {
	w := newModuleWriter()
	var types [][2][]byte
	for _, im := range m.imports {
		if im.kind == kindFunc {
			types = append(types, [2][]byte{im.params, im.results})
		}
	}
	for _, f := range m.funcs {
		types = append(types, [2][]byte{f.params, f.results})
	}
	w.section(1, func(s *writer) {
		s.u32(uint32(len(types)))
		for _, t := range types {
			s.b = append(s.b, 0x60)
			s.u32(uint32(len(t[0])))
			s.b = append(s.b, t[0]...)
			s.u32(uint32(len(t[1])))
			s.b = append(s.b, t[1]...)
		}
	})
	nImportFuncs := 0
	if len(m.imports) > 0 {
		w.section(2, func(s *writer) {
			s.u32(uint32(len(m.imports)))
			for _, im := range m.imports {
				s.name(im.mod)
				s.name(im.name)
				s.b = append(s.b, im.kind)
				switch im.kind {
				case kindFunc:
					s.u32(uint32(nImportFuncs))
					nImportFuncs++
				case kindMemory:
					s.limits(im.min, 0, false)
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
	}
	w.section(3, func(s *writer) {
		s.u32(uint32(len(m.funcs)))
		for i := range m.funcs {
			s.u32(uint32(nImportFuncs + i))
		}
	})
	if m.memory {
		w.section(5, func(s *writer) { s.u32(1); s.limits(m.memMin, m.memMax, m.memHasMax) })
	}
	if len(m.globals) > 0 {
		w.section(6, func(s *writer) {
			s.u32(uint32(len(m.globals)))
			for _, g := range m.globals {
				one := globalModule(g.t, g.mutable, g.init)
				// The global section of globalModule: reuse its entry.
				sec := &reader{b: one[8:]}
				sec.byte()
				body := &reader{b: sec.bytes(sec.u32())}
				body.u32()
				s.b = append(s.b, body.b...)
			}
		})
	}
	w.section(7, func(s *writer) {
		type ex struct {
			name string
			kind byte
			idx  int
		}
		var exs []ex
		for i, f := range m.funcs {
			if f.export != "" {
				exs = append(exs, ex{f.export, kindFunc, nImportFuncs + i})
			}
		}
		if m.memory && m.memExport != "" {
			exs = append(exs, ex{m.memExport, kindMemory, 0})
		}
		nImportGlobals := 0
		for _, im := range m.imports {
			if im.kind == kindGlobal {
				nImportGlobals++
			}
		}
		for i, g := range m.globals {
			if g.export != "" {
				exs = append(exs, ex{g.export, kindGlobal, nImportGlobals + i})
			}
		}
		s.u32(uint32(len(exs)))
		for _, e := range exs {
			s.name(e.name)
			s.b = append(s.b, e.kind)
			s.u32(uint32(e.idx))
		}
	})
	if m.startFunc > 0 {
		w.section(8, func(s *writer) { s.u32(uint32(m.startFunc - 1)) })
	}
	w.section(10, func(s *writer) {
		s.u32(uint32(len(m.funcs)))
		for _, f := range m.funcs {
			var body writer
			body.u32(uint32(len(f.locals)))
			for _, l := range f.locals {
				body.u32(1)
				body.b = append(body.b, l)
			}
			body.b = append(body.b, f.body...)
			body.b = append(body.b, 0x0b)
			s.u32(uint32(len(body.b)))
			s.b = append(s.b, body.b...)
		}
	})
	for _, c := range m.custom {
		w.section(0, func(s *writer) { s.name(c.name); s.b = append(s.b, c.data...) })
	}
	return w.b
}

var (
	i32 = []byte{valI32}
	i64 = []byte{valI64}
	f32 = []byte{valF32}
	f64 = []byte{valF64}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// env is a goja runtime with the Web API and a WebAssembly State.
type env struct {
	vm    *goja.Runtime
	s     *State
	ctx   context.Context
	limit int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	vm := goja.New()
	vm.SetMaxCallStackSize(4096)
	api := webapi.Install(vm, webapi.Options{})
	e := &env{vm: vm, ctx: context.Background()}
	e.s = New(vm, Options{
		Context:      func() context.Context { return e.ctx },
		MemoryLimit:  func() int64 { return e.limit },
		BufferSource: api.BufferSource,
	})
	_ = vm.Set("WebAssembly", e.s.Namespace())
	t.Cleanup(e.s.Close)
	return e
}

// bytes makes a global Uint8Array name holding b.
func (e *env) bytes(name string, b []byte) {
	ab := e.vm.NewArrayBuffer(append([]byte(nil), b...))
	u8, err := e.vm.New(e.vm.Get("Uint8Array"), e.vm.ToValue(ab))
	if err != nil {
		panic(err)
	}
	_ = e.vm.Set(name, u8)
}

// eval runs src; a promise result is settled (goja runs promise jobs when
// the outermost call returns), and a rejection is returned as the error.
func (e *env) eval(t testing.TB, src string) (goja.Value, error) {
	t.Helper()
	v, err := e.vm.RunString(src)
	if err != nil {
		return nil, err
	}
	if p, ok := v.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			return p.Result(), nil
		case goja.PromiseStateRejected:
			return nil, fmt.Errorf("rejected: %v", p.Result())
		}
		t.Fatalf("promise still pending")
	}
	return v, nil
}

// str runs src and returns its string value, failing the test on an error.
func (e *env) str(t testing.TB, src string) string {
	t.Helper()
	v, err := e.eval(t, src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return v.String()
}

// within returns a context cancelled after d.
func within(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
