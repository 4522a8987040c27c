package pyrun

import (
	"errors"
	"fmt"
)

// mutableGlobals counts the mutable globals a wasm module defines (its
// global section; imported globals are not counted). The snapshot restores
// linear memory and __stack_pointer only, which is right only while that
// is the one mutable global: NewEngine refuses a python.wasm with others.
func mutableGlobals(wasm []byte) (int, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return 0, errors.New("not a wasm module")
	}
	b := wasm[8:]
	bad := errors.New("malformed global section")
	uleb := func() (uint64, bool) {
		var v uint64
		for shift := uint(0); shift < 64; shift += 7 {
			if len(b) == 0 {
				return 0, false
			}
			x := b[0]
			b = b[1:]
			v |= uint64(x&0x7f) << shift
			if x < 0x80 {
				return v, true
			}
		}
		return 0, false
	}
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		size, ok := uleb()
		if !ok || size > uint64(len(b)) {
			return 0, fmt.Errorf("malformed section %d", id)
		}
		if id != 6 {
			b = b[size:]
			continue
		}
		b = b[:size]
		n, ok := uleb()
		if !ok {
			return 0, bad
		}
		count := 0
		for range n {
			if len(b) < 3 {
				return 0, bad
			}
			mut := b[1]
			op := b[2]
			b = b[3:]
			switch op {
			case 0x41, 0x42, 0x23: // i32.const, i64.const, global.get: a LEB128
				if _, ok := uleb(); !ok {
					return 0, bad
				}
			case 0x43: // f32.const
				if len(b) < 4 {
					return 0, bad
				}
				b = b[4:]
			case 0x44: // f64.const
				if len(b) < 8 {
					return 0, bad
				}
				b = b[8:]
			default:
				return 0, fmt.Errorf("global initialiser 0x%x not supported", op)
			}
			if len(b) == 0 || b[0] != 0x0b {
				return 0, bad
			}
			b = b[1:]
			if mut == 1 {
				count++
			}
		}
		return count, nil
	}
	return 0, nil
}
