package goja

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja/unistring"
)

// jsonParser is JSON.parse's parser: it reads the text once and builds
// goja values directly, without going through encoding/json's tokens.
// It accepts exactly what the encoding/json based parser it replaces
// accepted (RFC 8259 JSON; a number out of float64's range is an error, an
// unpaired surrogate escape decodes to U+FFFD) and builds the same values.
// It keeps its own stack instead of recursing, so deep nesting costs heap,
// not Go stack. Each distinct key is allocated once per call, so the
// objects of a large array share their key strings.
type jsonParser struct {
	r   *Runtime
	s   string
	pos int

	// stack holds the containers being built; values and pairs hold
	// their elements so far.
	stack  []jsonFrame
	values []Value
	pairs  []jsonPair
	keys   map[string]unistring.String
	buf    []byte
	n      int // values read, for the interrupt
}

type jsonFrame struct {
	object bool
	start  int // index of the container's first element in values or pairs
	key    unistring.String
}

type jsonPair struct {
	key   unistring.String
	value Value
}

func (p *jsonParser) fail(msg string) {
	panic(p.r.newError(p.r.getSyntaxError(), msg))
}

func (p *jsonParser) failEOF() {
	panic(p.r.newError(p.r.getSyntaxError(), "Unexpected end of JSON input"))
}

func (p *jsonParser) failChar(context string) {
	if p.pos >= len(p.s) {
		p.failEOF()
	}
	c, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	p.fail("invalid character " + strconv.QuoteRune(c) + " " + context + " at position " + strconv.Itoa(p.pos))
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// parse parses the whole text as one value.
func (p *jsonParser) parse() Value {
	var v Value
	for {
		// A text of tens of megabytes holds tens of millions of values,
		// seconds of parsing in this one call: it looks at the interrupt
		// as the run loop would.
		if p.n++; p.n&interruptEvery == 0 {
			p.r.vm.checkInterrupt()
		}
		p.skipSpace()
		if p.pos >= len(p.s) {
			p.failEOF()
		}
		// Read a value, or open a container.
		switch c := p.s[p.pos]; c {
		case '{':
			p.pos++
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == '}' {
				p.pos++
				v = p.r.NewObject()
				break
			}
			p.stack = append(p.stack, jsonFrame{object: true, start: len(p.pairs)})
			p.stack[len(p.stack)-1].key = p.objectKey()
			continue
		case '[':
			p.pos++
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == ']' {
				p.pos++
				v = p.r.newArrayValues(nil)
				break
			}
			p.stack = append(p.stack, jsonFrame{start: len(p.values)})
			continue
		case '"':
			v = p.stringValue()
		case 't':
			p.literal("true")
			v = valueTrue
		case 'f':
			p.literal("false")
			v = valueFalse
		case 'n':
			p.literal("null")
			v = _null
		default:
			if c == '-' || c >= '0' && c <= '9' {
				v = p.number()
			} else {
				p.failChar("looking for beginning of value")
			}
		}
		// Store v in its container, closing every container that ends
		// here; stop at the next element's start.
		for {
			if len(p.stack) == 0 {
				p.skipSpace()
				if p.pos < len(p.s) {
					p.failChar("after top-level value")
				}
				return v
			}
			f := &p.stack[len(p.stack)-1]
			if f.object {
				p.pairs = append(p.pairs, jsonPair{key: f.key, value: v})
			} else {
				p.values = append(p.values, v)
			}
			p.skipSpace()
			if p.pos >= len(p.s) {
				p.failEOF()
			}
			c := p.s[p.pos]
			if c == ',' {
				p.pos++
				if f.object {
					p.skipSpace()
					f.key = p.objectKey()
				}
				break
			}
			if f.object {
				if c != '}' {
					p.failChar("after object key:value pair")
				}
				p.pos++
				v = p.closeObject(f.start)
			} else {
				if c != ']' {
					p.failChar("after array element")
				}
				p.pos++
				v = p.closeArray(f.start)
			}
			p.stack = p.stack[:len(p.stack)-1]
		}
	}
}

func (p *jsonParser) closeObject(start int) Value {
	pairs := p.pairs[start:]
	o := p.r.newSizedObject(len(pairs))
	for i := range pairs {
		o._putProp(pairs[i].key, pairs[i].value, true, true, true)
		pairs[i] = jsonPair{}
	}
	p.pairs = p.pairs[:start]
	return o.val
}

func (p *jsonParser) closeArray(start int) Value {
	values := make([]Value, len(p.values)-start)
	copy(values, p.values[start:])
	clear(p.values[start:])
	p.values = p.values[:start]
	return p.r.newArrayValues(values)
}

// objectKey reads `"key" :` and what space follows.
func (p *jsonParser) objectKey() unistring.String {
	if p.pos >= len(p.s) {
		p.failEOF()
	}
	if p.s[p.pos] != '"' {
		p.failChar("looking for beginning of object key string")
	}
	raw, _ := p.stringBody()
	key, ok := p.keys[raw]
	if !ok {
		if p.keys == nil {
			p.keys = make(map[string]unistring.String)
		}
		k := strings.Clone(raw)
		key = unistring.NewFromString(k)
		p.keys[k] = key
	}
	p.skipSpace()
	if p.pos >= len(p.s) {
		p.failEOF()
	}
	if p.s[p.pos] != ':' {
		p.failChar("after object key")
	}
	p.pos++
	return key
}

func (p *jsonParser) stringValue() Value {
	s, ascii := p.stringBody()
	s = strings.Clone(s)
	if ascii {
		return asciiString(s)
	}
	return newStringValue(s)
}

// stringBody reads a string literal and returns its decoded text, which
// may share memory with the input or with p.buf (the caller copies it),
// and whether it is all ASCII.
func (p *jsonParser) stringBody() (string, bool) {
	p.pos++ // the opening quote
	start := p.pos
	ascii := true
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return p.s[start : p.pos-1], ascii
		case c == '\\':
			return p.escapedStringBody(start)
		case c < ' ':
			p.failChar("in string literal")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.pos++
	}
	p.failEOF()
	return "", false
}

// escapedStringBody reads the rest of a string literal that has an escape
// at p.pos, decoding as encoding/json does.
func (p *jsonParser) escapedStringBody(start int) (string, bool) {
	b := append(p.buf[:0], p.s[start:p.pos]...)
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.buf = b
			return string(b), ascii
		case c < ' ':
			p.failChar("in string literal")
		case c != '\\':
			if c >= utf8.RuneSelf {
				ascii = false
			}
			b = append(b, c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.s) {
			p.failEOF()
		}
		switch e := p.s[p.pos]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			rr := p.hex4(p.pos + 1)
			p.pos += 4
			if utf16.IsSurrogate(rr) {
				// A pair only if another \u escape follows and the two
				// decode; otherwise U+FFFD, and what follows is read
				// on its own.
				if p.pos+2 < len(p.s) && p.s[p.pos+1] == '\\' && p.s[p.pos+2] == 'u' {
					if dec := utf16.DecodeRune(rr, p.hex4(p.pos+3)); dec != unicode.ReplacementChar {
						rr = dec
						p.pos += 6
					} else {
						rr = unicode.ReplacementChar
					}
				} else {
					rr = unicode.ReplacementChar
				}
			}
			if rr >= utf8.RuneSelf {
				ascii = false
			}
			b = utf8.AppendRune(b, rr)
		default:
			p.failChar("in string escape code")
		}
		p.pos++
	}
	p.failEOF()
	return "", false
}

// hex4 decodes the four hex digits at i.
func (p *jsonParser) hex4(i int) rune {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(p.s) {
			p.failEOF()
		}
		c := p.s[j]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			p.pos = j
			p.failChar("in \\u hexadecimal character escape")
		}
		r = r<<4 | rune(c)
	}
	return r
}

func (p *jsonParser) literal(word string) {
	for i := 0; i < len(word); i++ {
		if p.pos >= len(p.s) {
			p.failEOF()
		}
		if p.s[p.pos] != word[i] {
			p.failChar("in literal " + word)
		}
		p.pos++
	}
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() Value {
	start := p.pos
	neg := p.s[p.pos] == '-'
	if neg {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos >= len(p.s) {
		p.failEOF()
	}
	intStart := p.pos
	switch c := p.s[p.pos]; {
	case c == '0':
		p.pos++
	case c >= '1' && c <= '9':
		digits()
	default:
		p.failChar("in numeric literal")
	}
	intEnd := p.pos
	integer := true
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		integer = false
		p.pos++
		if p.pos >= len(p.s) {
			p.failEOF()
		}
		if digits() == 0 {
			p.failChar("after decimal point in numeric literal")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		integer = false
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(p.s) {
			p.failEOF()
		}
		if digits() == 0 {
			p.failChar("in exponent of numeric literal")
		}
	}
	// Up to 15 digits are exact as an int64 and as a float64; -0 is not
	// an integer.
	if integer && intEnd-intStart <= 15 {
		var n int64
		for i := intStart; i < intEnd; i++ {
			n = n*10 + int64(p.s[i]-'0')
		}
		if !neg {
			return intToValue(n)
		}
		if n != 0 {
			return intToValue(-n)
		}
	}
	lit := p.s[start:p.pos]
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		p.fail("cannot represent number " + lit + " as a float64")
	}
	return floatToValue(f)
}
