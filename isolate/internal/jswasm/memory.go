package jswasm

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// WebAssembly.Memory and WebAssembly.Global objects, and the isolate's
// allocator of linear memory.

// memory is a WebAssembly.Memory: one memory of an instance.
type memory struct {
	mod   api.Module // the instance whose memory it is
	field string     // its export name there
	mem   api.Memory
	ab    goja.ArrayBuffer
	abv   goja.Value
	size  uint32
	// tracked says m is in State.live.
	tracked bool
	// shared: made with {shared: true}. Its buffer is a SharedArrayBuffer,
	// never detached; its bytes were allocated to the maximum up front, so
	// they never move and every buffer it handed out stays an alias.
	shared bool
}

func (s *State) wrapMemory(m *memory) *goja.Object {
	o := s.vm.CreateObject(s.memProto)
	s.memories[o] = m
	return o
}

func (s *State) memoryThis(v goja.Value, what string) *memory {
	if m, ok := s.memories[objectOf(v)]; ok {
		return m
	}
	panic(s.vm.NewTypeError("WebAssembly.Memory." + what + ": Receiver is not a WebAssembly.Memory"))
}

// grown detaches the buffers of memories that wasm grew: as the JS API
// says, and as glue code (wasm-bindgen's cached views) relies on.
func (s *State) grown() {
	live := s.live[:0]
	for _, m := range s.live {
		if m.mem.Size() != m.size {
			m.detach()
		}
		if m.abv == nil {
			m.tracked = false
			continue
		}
		live = append(live, m)
	}
	clear(s.live[len(live):])
	s.live = live
}

// buffer is the ArrayBuffer that aliases the memory. After the memory has
// grown (by wasm or by grow), the old one is detached and a new one made.
func (m *memory) buffer(s *State) goja.Value {
	size := m.mem.Size()
	if m.abv != nil && size == m.size {
		return m.abv
	}
	m.detach()
	b, _ := m.mem.Read(0, size)
	if b == nil {
		b = []byte{}
	}
	if m.shared {
		// A new SharedArrayBuffer for the new size; the old ones keep
		// their length and still alias the same bytes.
		m.ab = s.vm.NewSharedArrayBuffer(b)
		m.abv = s.vm.ToValue(m.ab)
		m.size = size
		return m.abv
	}
	m.ab = s.vm.NewArrayBuffer(b)
	m.abv = s.vm.ToValue(m.ab)
	m.size = size
	if !m.tracked {
		m.tracked = true
		s.live = append(s.live, m)
	}
	return m.abv
}

func (m *memory) detach() {
	if m.abv != nil && !m.shared {
		m.ab.Detach()
		m.abv = nil
	}
}

func (m *memory) grow(s *State, delta goja.Value) uint32 {
	d := delta.ToFloat()
	if math.IsNaN(d) || d < 0 || d > math.MaxUint32 {
		panic(s.vm.NewTypeError("WebAssembly.Memory.grow(): Argument 0 must be a non-negative integer"))
	}
	prev, ok := m.mem.Grow(uint32(d))
	if !ok {
		s.rangeError("WebAssembly.Memory.grow(): Maximum memory size exceeded")
	}
	m.detach()
	return prev
}

func (s *State) newMemory(this *goja.Object, desc goja.Value) {
	d, ok := desc.(*goja.Object)
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Memory(): Argument 0 must be a memory descriptor"))
	}
	initial, ok := s.pages(d, "initial")
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Memory(): Property 'initial' is required"))
	}
	max, hasMax := s.pages(d, "maximum")
	if hasMax && max < initial {
		s.rangeError("WebAssembly.Memory(): Property 'maximum': value %d is below the initial %d", max, initial)
	}
	shared := false
	if v := d.Get("shared"); v != nil && v.ToBoolean() {
		if !hasMax {
			panic(s.vm.NewTypeError("WebAssembly.Memory(): Property 'maximum' is required when 'shared' is true"))
		}
		shared = true
	}
	reserve := initial
	if shared {
		reserve = max // allocated up front: see memory.shared
	}
	if lim := s.limit(); lim > 0 && int64(reserve)*pageSize+s.memUsed.Load() > lim {
		s.rangeError("WebAssembly.Memory(): could not allocate memory: %d pages exceed the Worker's memory limit", reserve)
	}
	c, err := compileShared(memoryModule(initial, max, hasMax))
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	s.hold(c)
	ctx := s.instantiateCtx()
	s.reserveMax = shared
	mod, err := sharedRuntime().InstantiateModule(ctx, c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	s.reserveMax = false
	if err != nil {
		s.rangeError("WebAssembly.Memory(): could not allocate memory: %v", err)
	}
	s.instances = append(s.instances, mod)
	s.memories[this] = &memory{mod: mod, field: "m", mem: mod.ExportedMemory("m"), shared: shared}
}

func (s *State) pages(d *goja.Object, name string) (uint32, bool) {
	v := d.Get(name)
	if v == nil || goja.IsUndefined(v) {
		return 0, false
	}
	f := s.number(v)
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || math.Trunc(f) > maxPages {
		panic(s.vm.NewTypeError(fmt.Sprintf("WebAssembly.Memory(): Property '%s': value must be between 0 and %d pages", name, maxPages)))
	}
	return uint32(f), true
}

// global is a WebAssembly.Global: one global of an instance.
type global struct {
	mod   api.Module
	field string
	g     api.Global
	t     api.ValueType
	mut   bool
}

func (s *State) wrapGlobal(g *global) *goja.Object {
	o := s.vm.CreateObject(s.globProto)
	s.globals[o] = g
	return o
}

func (s *State) globalThis(v goja.Value, what string) *global {
	if g, ok := s.globals[objectOf(v)]; ok {
		return g
	}
	panic(s.vm.NewTypeError("WebAssembly.Global." + what + ": Receiver is not a WebAssembly.Global"))
}

func (g *global) set(s *State, v goja.Value) {
	mg, ok := g.g.(api.MutableGlobal)
	if !ok || !g.mut {
		panic(s.vm.NewTypeError("WebAssembly.Global.value: Can't set the value of an immutable global"))
	}
	mg.Set(s.toWasm(g.t, v))
}

var valTypes = map[string]api.ValueType{"i32": valI32, "i64": valI64, "f32": valF32, "f64": valF64}

func (s *State) newGlobal(this *goja.Object, desc, v goja.Value) {
	d, ok := desc.(*goja.Object)
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Global(): Argument 0 must be a global descriptor"))
	}
	mut := false
	if m := d.Get("mutable"); m != nil {
		mut = m.ToBoolean()
	}
	tv := d.Get("value")
	t, ok := valTypes[fmt.Sprint(tv)]
	if tv == nil || !ok {
		panic(s.vm.NewTypeError("WebAssembly.Global(): Descriptor property 'value' must be 'i32', 'i64', 'f32' or 'f64'"))
	}
	var bits uint64
	if v != nil && !goja.IsUndefined(v) {
		bits = s.toWasm(t, v)
	}
	g := s.makeGlobal(t, mut, bits)
	s.globals[this] = g
}

// makeGlobal instantiates a module holding one global.
func (s *State) makeGlobal(t api.ValueType, mut bool, bits uint64) *global {
	init := bits
	if mut {
		init = 0 // one module per type: the value is set after
	}
	c, err := compileShared(globalModule(t, mut, init))
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	s.hold(c)
	mod, err := sharedRuntime().InstantiateModule(s.ctx(), c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	s.instances = append(s.instances, mod)
	g := mod.ExportedGlobal("g")
	if mg, ok := g.(api.MutableGlobal); ok && mut {
		mg.Set(bits)
	}
	return &global{mod: mod, field: "g", g: g, t: t, mut: mut}
}

// Linear memory: the isolate's allocator (experimental.MemoryAllocator)
// backs every memory with an ordinary []byte and refuses to grow past the
// isolate's memory limit, counting all its memories together.

// instantiateCtx is the context to instantiate modules under: the
// isolate's, with its allocator for their memories and its limiter for
// their tables.
func (s *State) instantiateCtx() context.Context {
	return experimental.WithTableLimiter(experimental.WithMemoryAllocator(s.ctx(), s), s)
}

// tableEntryBytes is what one table entry costs the host (a machine word).
const tableEntryBytes = 8

// GrowTable implements experimental.TableLimiter: the entries of the
// isolate's tables count against its memory limit with its linear
// memories, and are never given back (tables live as long as the isolate).
func (s *State) GrowTable(n uint64) bool {
	if lim := s.limit(); lim > 0 && (n > uint64(lim)/tableEntryBytes || s.memUsed.Load()+int64(n*tableEntryBytes) > lim) {
		return false
	}
	s.memUsed.Add(int64(n * tableEntryBytes))
	return true
}

// Allocate implements experimental.MemoryAllocator.
func (s *State) Allocate(capHint, max uint64) experimental.LinearMemory {
	if s.reserveMax {
		capHint = max // a shared memory's bytes must never move
	}
	return &linearMemory{s: s, capHint: capHint, max: max}
}

type linearMemory struct {
	s       *State
	capHint uint64
	max     uint64
	buf     []byte
	freed   atomic.Bool
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	grow := int64(size) - int64(len(m.buf))
	if m.buf != nil || grow > 0 {
		if lim := m.s.limit(); lim > 0 && m.buf != nil && m.s.memUsed.Load()+grow > lim {
			return nil // memory.grow returns -1
		}
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		c := max(size, m.capHint)
		if old := uint64(cap(m.buf)); old >= 64<<20 {
			c = max(size, old+old/4) // the heap watchdog counts capacity
		} else if old > 0 {
			c = max(size, old*2)
		}
		c = min(c, max(m.max, size))
		if lim := m.s.limit(); lim > 0 && c > uint64(lim) {
			c = max(size, uint64(lim))
		}
		nb := make([]byte, size, c)
		copy(nb, m.buf)
		m.buf = nb
	}
	m.s.memUsed.Add(grow)
	return m.buf
}

// Free may run on another goroutine (wazero closing a module whose context
// ended): it only gives the bytes back to the isolate's count.
func (m *linearMemory) Free() {
	if m.freed.CompareAndSwap(false, true) {
		m.s.memUsed.Add(-int64(len(m.buf)))
	}
}
