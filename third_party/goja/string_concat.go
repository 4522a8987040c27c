package goja

import "unsafe"

// concatMinBuffered is the length from which + builds ASCII strings in a
// buffer with room to grow.
const concatMinBuffered = 256

// concatStrings is a + b for the + operator. A loop that appends to a
// string (s += x) copies the whole string at every step if each result
// is a new string: quadratic. So a long ASCII result is built in a byte
// buffer with spare capacity, and when the next left operand is exactly
// the last string built in it, the right operand is appended in place.
// That is safe because every string handed out from the buffer is a
// prefix no longer than the last one, so the bytes past it belong to no
// string; a left operand that is not the last one (an older prefix, or
// any other string) gets a new buffer. The buffer grows geometrically
// (see concatCap), so appending n bytes costs O(n) in all.
func (r *Runtime) concatStrings(a, b String) String {
	as, ok := a.(asciiString)
	if !ok {
		return a.Concat(b)
	}
	bs, ok := b.(asciiString)
	if !ok {
		return a.Concat(b)
	}
	n := len(as) + len(bs)
	if n < concatMinBuffered || len(bs) == 0 {
		return as + bs
	}
	buf := r.concatBuf
	last := len(buf) == len(as) && len(as) > 0 && unsafe.StringData(string(as)) == unsafe.SliceData(buf)
	if last && cap(buf)-len(buf) >= len(bs) {
		buf = append(buf, bs...)
	} else {
		buf = make([]byte, n, concatCap(n, last))
		copy(buf, as)
		copy(buf[len(as):], bs)
	}
	r.concatBuf = buf
	return asciiString(unsafe.String(unsafe.SliceData(buf), len(buf)))
}

// concatCap is the capacity of a new buffer for a string of n bytes:
// twice n up to 64 KiB, then n and a quarter when the string grows by
// appends (left is the last string built), so that a long string holds
// at most a quarter more than its length; exactly n for a long string
// that is not being appended to, which costs what it did before.
func concatCap(n int, appending bool) int {
	switch {
	case n <= 64<<10:
		return 2 * n
	case appending:
		return n + n/4
	default:
		return n
	}
}
