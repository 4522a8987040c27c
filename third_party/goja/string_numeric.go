package goja

import (
	"strings"
)

// isStrWhiteSpaceChar reports whether the code unit c is white space or a
// line terminator (StrWhiteSpaceChar), the set of parser.WhitespaceChars.
func isStrWhiteSpaceChar(c uint16) bool {
	switch c {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return c >= 0x2000 && c <= 0x200a
}

// trimmedASCII returns s without its leading and trailing white space as a
// Go string, and false if what is left holds a code unit other than ASCII
// (which no numeric literal does). It goes by code units and copies only
// what is left, and only once it has found it all ASCII: a string of tens
// of millions of characters other than ASCII is not converted whole.
func (s unicodeString) trimmedASCII() (string, bool) {
	u := s[1:]
	start, end := 0, len(u)
	for start < end && isStrWhiteSpaceChar(u[start]) {
		start++
	}
	for end > start && isStrWhiteSpaceChar(u[end-1]) {
		end--
	}
	u = u[start:end]
	for _, c := range u {
		if c >= 0x80 {
			return "", false
		}
	}
	var b strings.Builder
	b.Grow(len(u))
	for _, c := range u {
		b.WriteByte(byte(c))
	}
	return b.String(), true
}

// skipStrWhiteSpace returns the index of the first code unit of s from i on
// that is not white space, looking at the interrupt as it goes.
func (r *Runtime) skipStrWhiteSpace(s String, i, l int) int {
	for n := 0; i < l && isStrWhiteSpaceChar(s.CharAt(i)); i, n = i+1, n+1 {
		if n&interruptEvery == 0 {
			r.vm.checkInterrupt()
		}
	}
	return i
}

// skipASCII returns the index of the first code unit of s from i on that
// is not an ASCII character accept takes, looking at the interrupt as it
// goes.
func (r *Runtime) skipASCII(s String, i, l int, accept func(c byte) bool) int {
	for n := 0; i < l; i, n = i+1, n+1 {
		if n&interruptEvery == 0 {
			r.vm.checkInterrupt()
		}
		if c := s.CharAt(i); c >= 0x80 || !accept(byte(c)) {
			break
		}
	}
	return i
}

// asciiRange returns the code units of s from start to end, all ASCII, as
// a Go string. A string other than an asciiString is copied a piece at a
// time, once the allocation guard has allowed the copy.
func (r *Runtime) asciiRange(s String, start, end int) string {
	if a, ok := s.(asciiString); ok {
		return string(a[start:end])
	}
	r.guardString(int64(end-start), true)
	var b strings.Builder
	b.Grow(end - start)
	for i := start; i < end; i++ {
		if (i-start)&interruptEvery == 0 {
			r.vm.checkInterrupt()
		}
		b.WriteByte(byte(s.CharAt(i)))
	}
	return b.String()
}

func isDecimalDigit(c byte) bool {
	return c >= '0' && c <= '9'
}

// hasASCIIAt reports whether s holds lit at i.
func hasASCIIAt(s String, i, l int, lit string) bool {
	if l-i < len(lit) {
		return false
	}
	for j := 0; j < len(lit); j++ {
		if s.CharAt(i+j) != uint16(lit[j]) {
			return false
		}
	}
	return true
}
