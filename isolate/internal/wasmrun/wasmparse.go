package wasmrun

import "errors"

const pageSize = 65536

var errShortWasm = errors.New("truncated")

// minMemoryPages returns the largest initial size, in pages, of the memories
// a module defines in its memory section (imported memories are not counted:
// wasmrun provides none, so such modules fail to instantiate anyway). It is
// called only on bytes wazero has already compiled, so a parse error simply
// yields 0.
func minMemoryPages(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	p := 8 // magic + version
	for p < len(b) {
		id := b[p]
		p++
		size, n, err := uleb(b[p:])
		if err != nil {
			return 0
		}
		p += n
		if uint64(len(b)-p) < size {
			return 0
		}
		sec := b[p : p+int(size)]
		p += int(size)
		if id != 5 { // memory section
			continue
		}
		count, n, err := uleb(sec)
		if err != nil {
			return 0
		}
		sec = sec[n:]
		var most uint64
		for i := uint64(0); i < count; i++ {
			if len(sec) == 0 {
				return most
			}
			flags := sec[0]
			sec = sec[1:]
			minPages, n, err := uleb(sec)
			if err != nil {
				return most
			}
			sec = sec[n:]
			most = max(most, minPages)
			if flags&1 != 0 { // has max
				_, n, err = uleb(sec)
				if err != nil {
					return most
				}
				sec = sec[n:]
			}
		}
		return most
	}
	return 0
}

func uleb(b []byte) (v uint64, n int, err error) {
	var shift uint
	for i, c := range b {
		if i == 10 {
			break
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errShortWasm
}
