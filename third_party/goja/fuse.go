package goja

import "github.com/dop251/goja/unistring"

// Fused instructions.
//
// After a program is compiled (and every binding's access points are
// resolved), fuseProgram replaces the first instruction of a few common
// short sequences with one instruction that does the work of the whole
// sequence, calling each original instruction's exec directly instead of
// through the run loop and an interface call. The code keeps its length
// and the instructions after the first stay where they were, so every
// jump, try offset and source map position is unchanged, and a jump into
// the middle of a sequence runs the original instructions from there.
//
// A fused instruction runs its parts one after the other and goes on to the
// next part only if the previous one left the VM where it would have gone
// on its own (the same program, the next pc); a part that throws, jumps or
// is caught elsewhere stops it, and the run loop carries on from wherever
// the VM is, as it would have after the unfused instruction.

type fusedOp uint8

const (
	fusedAdd fusedOp = iota
	fusedSub
	fusedMul
	fusedDiv
	fusedMod
	fusedLt
	fusedLte
	fusedGt
	fusedGte
	fusedStrictEq
	fusedStrictNeq
)

func fusedOpOf(ins instruction) (fusedOp, bool) {
	switch ins.(type) {
	case _add:
		return fusedAdd, true
	case _sub:
		return fusedSub, true
	case _mul:
		return fusedMul, true
	case _div:
		return fusedDiv, true
	case _mod:
		return fusedMod, true
	}
	return fusedCmpOf(ins)
}

func fusedCmpOf(ins instruction) (fusedOp, bool) {
	switch ins.(type) {
	case _op_lt:
		return fusedLt, true
	case _op_lte:
		return fusedLte, true
	case _op_gt:
		return fusedGt, true
	case _op_gte:
		return fusedGte, true
	case _op_strict_eq:
		return fusedStrictEq, true
	case _op_strict_neq:
		return fusedStrictNeq, true
	}
	return 0, false
}

func (op fusedOp) exec(vm *vm) {
	switch op {
	case fusedAdd:
		_add{}.exec(vm)
	case fusedSub:
		_sub{}.exec(vm)
	case fusedMul:
		_mul{}.exec(vm)
	case fusedDiv:
		_div{}.exec(vm)
	case fusedMod:
		_mod{}.exec(vm)
	case fusedLt:
		_op_lt{}.exec(vm)
	case fusedLte:
		_op_lte{}.exec(vm)
	case fusedGt:
		_op_gt{}.exec(vm)
	case fusedGte:
		_op_gte{}.exec(vm)
	case fusedStrictEq:
		_op_strict_eq{}.exec(vm)
	case fusedStrictNeq:
		_op_strict_neq{}.exec(vm)
	default:
		panic("unknown fused op")
	}
}

// branchInt does what the comparison op of the integers x and y followed
// by jneP(j) does, the jneP being at vm.pc+at; x and y are already off the
// stack.
func (op fusedOp) branchInt(vm *vm, x, y valueInt, at, j int) {
	var r bool
	switch op {
	case fusedLt:
		r = x < y
	case fusedLte:
		r = x <= y
	case fusedGt:
		r = x > y
	case fusedGte:
		r = x >= y
	case fusedStrictEq:
		r = x == y
	case fusedStrictNeq:
		r = x != y
	default:
		panic("not a comparison")
	}
	if r {
		vm.pc += at + 1
	} else {
		vm.pc += at + j
	}
}

// went reports whether the last part left the VM at pc of prg, so that the
// next part may run.
func (vm *vm) went(prg *Program, pc int) bool {
	return vm.pc == pc && vm.prg == prg
}

// loadStackLex; getProp
type fusedLoadStackLexGetProp struct {
	idx  loadStackLex
	name getProp
}

func (f *fusedLoadStackLexGetProp) exec(vm *vm) {
	pc, prg := vm.pc, vm.prg
	f.idx.exec(vm)
	if !vm.went(prg, pc+1) {
		return
	}
	// An own data property of an ordinary object is what getProp would
	// read through Object.baseObject and baseObject.getStr.
	if o, ok := vm.stack[vm.sp-1].(*Object); ok {
		if b, ok := o.self.(*baseObject); ok {
			if v := b.values[unistring.String(f.name)]; v != nil {
				if _, ok := v.(*valueProperty); !ok {
					vm.stack[vm.sp-1] = v
					vm.pc++
					return
				}
			}
		}
	}
	f.name.exec(vm)
}

// loadStackLex; loadStackLex
type fusedLoadStackLex2 struct {
	a, b loadStackLex
}

func (f fusedLoadStackLex2) exec(vm *vm) {
	pc, prg := vm.pc, vm.prg
	f.a.exec(vm)
	if vm.went(prg, pc+1) {
		f.b.exec(vm)
	}
}

// loadStackLex; _inc or _dec; storeStackLexP
type fusedIncStackLexP struct {
	load  loadStackLex
	store storeStackLexP
	dec   bool
}

func (f fusedIncStackLexP) exec(vm *vm) {
	pc, prg := vm.pc, vm.prg
	f.load.exec(vm)
	if !vm.went(prg, pc+1) {
		return
	}
	if f.dec {
		_dec{}.exec(vm)
	} else {
		_inc{}.exec(vm)
	}
	if vm.went(prg, pc+2) {
		f.store.exec(vm)
	}
}

// loadVal; a binary operator
type fusedLoadValOp struct {
	val loadVal
	op  fusedOp
}

func (f *fusedLoadValOp) exec(vm *vm) {
	// loadVal cannot throw or jump.
	f.val.exec(vm)
	f.op.exec(vm)
}

// a comparison; jneP
type fusedCmpJneP struct {
	op fusedOp
	j  jneP
}

func (f fusedCmpJneP) exec(vm *vm) {
	if x, ok := vm.stack[vm.sp-2].(valueInt); ok {
		if y, ok := vm.stack[vm.sp-1].(valueInt); ok {
			vm.sp -= 2
			f.op.branchInt(vm, x, y, 1, int(f.j))
			return
		}
	}
	pc, prg := vm.pc, vm.prg
	f.op.exec(vm)
	if vm.went(prg, pc+1) {
		f.j.exec(vm)
	}
}

// loadVal; a comparison; jneP
type fusedLoadValCmpJneP struct {
	val loadVal
	op  fusedOp
	j   jneP
}

func (f *fusedLoadValCmpJneP) exec(vm *vm) {
	if y, ok := f.val.v.(valueInt); ok {
		if x, ok := vm.stack[vm.sp-1].(valueInt); ok {
			vm.sp--
			f.op.branchInt(vm, x, y, 2, int(f.j))
			return
		}
	}
	pc, prg := vm.pc, vm.prg
	f.val.exec(vm)
	f.op.exec(vm)
	if vm.went(prg, pc+2) {
		f.j.exec(vm)
	}
}

// loadStackLex; loadVal; a comparison; jneP (a loop's test)
type fusedLoadStackLexValCmpJneP struct {
	idx loadStackLex
	val loadVal
	op  fusedOp
	j   jneP
}

func (f *fusedLoadStackLexValCmpJneP) exec(vm *vm) {
	pc, prg := vm.pc, vm.prg
	f.idx.exec(vm)
	if !vm.went(prg, pc+1) {
		return
	}
	if y, ok := f.val.v.(valueInt); ok {
		if x, ok := vm.stack[vm.sp-1].(valueInt); ok {
			vm.sp--
			f.op.branchInt(vm, x, y, 2, int(f.j))
			return
		}
	}
	f.val.exec(vm)
	f.op.exec(vm)
	if vm.went(prg, pc+3) {
		f.j.exec(vm)
	}
}

// loadVal; a binary operator; storeStackLexP
type fusedLoadValOpStoreStackLexP struct {
	val   loadVal
	op    fusedOp
	store storeStackLexP
}

func (f *fusedLoadValOpStoreStackLexP) exec(vm *vm) {
	pc, prg := vm.pc, vm.prg
	f.val.exec(vm)
	f.op.exec(vm)
	if vm.went(prg, pc+2) {
		f.store.exec(vm)
	}
}

// fuseProgram fuses the code of p and of every function and class body
// compiled into it. It must run only once all access points are resolved.
func fuseProgram(p *Program) {
	if p == nil {
		return
	}
	code := p.code
	for i := 0; i < len(code); i++ {
		switch f := code[i].(type) {
		case newFuncInstruction:
			fuseProgram(f.getPrg())
		case *newDerivedClass:
			fuseProgram(f.initFields)
			fuseProgram(f.ctor)
		case *newClass:
			fuseProgram(f.initFields)
			fuseProgram(f.ctor)
		case *newStaticFieldInit:
			fuseProgram(f.initFields)
		}
	}
	for i := 0; i < len(code); i++ {
		if n := fuseAt(code, i); n > 1 {
			// The instructions the fused one covers are left as they
			// were (they may be jump targets); the scan goes on after
			// them, so fused instructions never nest.
			i += n - 1
		}
	}
}

// fuseAt replaces code[i] by a fused instruction if a sequence starts there
// and returns how many instructions it covers (0 if none).
func fuseAt(code []instruction, i int) int {
	at := func(k int) instruction {
		if i+k < len(code) {
			return code[i+k]
		}
		return nil
	}
	switch ins := code[i].(type) {
	case loadStackLex:
		if val, ok := at(1).(loadVal); ok {
			if op, ok := fusedCmpOf(at(2)); ok {
				if j, ok := at(3).(jneP); ok {
					code[i] = &fusedLoadStackLexValCmpJneP{idx: ins, val: val, op: op, j: j}
					return 4
				}
			}
		}
		switch next := at(1).(type) {
		case getProp:
			code[i] = &fusedLoadStackLexGetProp{idx: ins, name: next}
			return 2
		case loadStackLex:
			code[i] = fusedLoadStackLex2{a: ins, b: next}
			return 2
		case _inc, _dec:
			if store, ok := at(2).(storeStackLexP); ok {
				_, dec := next.(_dec)
				code[i] = fusedIncStackLexP{load: ins, store: store, dec: dec}
				return 3
			}
		}
	case loadVal:
		if op, ok := fusedCmpOf(at(1)); ok {
			if j, ok := at(2).(jneP); ok {
				code[i] = &fusedLoadValCmpJneP{val: ins, op: op, j: j}
				return 3
			}
		}
		if op, ok := fusedOpOf(at(1)); ok {
			if store, ok := at(2).(storeStackLexP); ok {
				code[i] = &fusedLoadValOpStoreStackLexP{val: ins, op: op, store: store}
				return 3
			}
			code[i] = &fusedLoadValOp{val: ins, op: op}
			return 2
		}
	default:
		if op, ok := fusedCmpOf(ins); ok {
			if j, ok := at(1).(jneP); ok {
				code[i] = fusedCmpJneP{op: op, j: j}
				return 2
			}
		}
	}
	return 0
}
