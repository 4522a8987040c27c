package webapi

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

type nameValue struct{ name, value string }

// searchParams is the Go side of URLSearchParams. whatwg-url's own
// SearchParams is not used: it decodes %2B after turning "+" into a space
// and serializes with the query set instead of the urlencoded set.
type searchParams struct {
	list []nameValue
	url  *urlState // the URL this object is linked to, or nil
}

func (p *searchParams) get(a *API, key string) goja.Value {
	if key == "size" {
		return a.vm.ToValue(len(p.list))
	}
	return nil
}

func (p *searchParams) set(a *API, key string, v goja.Value) (known, ok bool) {
	return key == "size", false
}

// parse replaces the list with the application/x-www-form-urlencoded
// parsing of query. With a non-nil a it looks at the interrupt every few
// thousand pairs (checkpoint): a string of 64 MB is 16 million pairs,
// which took 6 s in one host call, and as much memory again in the list.
// A URL's query is bounded (maxURLLength) and parses with a nil a.
func (p *searchParams) parse(a *API, query string) {
	p.list = p.list[:0]
	for i := 0; len(query) > 0; i++ {
		if a != nil {
			a.checkpoint(i)
		}
		var seq string
		seq, query, _ = strings.Cut(query, "&")
		if seq == "" {
			continue
		}
		name, value, _ := strings.Cut(seq, "=")
		p.list = append(p.list, nameValue{formDecode(name), formDecode(value)})
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// formDecode replaces "+" by a space, then percent-decodes, then decodes
// UTF-8 without failing.
func formDecode(s string) string {
	if strings.IndexByte(s, '+') < 0 && strings.IndexByte(s, '%') < 0 {
		return toValidUTF8(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s):
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, h<<4|l)
				i += 2
			} else {
				b = append(b, c)
			}
		default:
			b = append(b, c)
		}
	}
	return decodeUTF8(b, true)
}

// toValidUTF8 is decodeUTF8 for strings, free when s is valid already.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return decodeUTF8([]byte(s), true)
}

// formEncode is the application/x-www-form-urlencoded byte serializer.
func formEncode(b *strings.Builder, s string) {
	const hexdigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('+')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdigits[c>>4])
			b.WriteByte(hexdigits[c&15])
		}
	}
}

// serialize is the application/x-www-form-urlencoded serializer of the
// list. One long name appended many times costs nothing: the serialization,
// at least as long as the entries, is asked of a's allocation guard first.
func (p *searchParams) serialize(a *API) string {
	n := int64(0)
	for _, nv := range p.list {
		n += int64(len(nv.name) + len(nv.value) + 2)
	}
	a.reserve(n, goja.AllocString)
	var b strings.Builder
	for i, nv := range p.list {
		if i > 0 {
			b.WriteByte('&')
		}
		formEncode(&b, nv.name)
		b.WriteByte('=')
		formEncode(&b, nv.value)
	}
	return b.String()
}

// update runs the URLSearchParams update steps on the linked URL.
//
// The URL's setters refuse a value past maxURLLength, and so does this:
// whatwg-url parses the new query at 0.1-0.4 µs a byte, out of the
// interrupt's reach (one append of a 20 MB value held a worker for 2 s).
// The list keeps the change; the URL keeps its query.
func (p *searchParams) update(a *API) {
	if p.url == nil {
		return
	}
	n := 0
	for _, nv := range p.list {
		n += len(nv.name) + len(nv.value) + 2
	}
	var q string
	if n <= maxURLLength+1 {
		q = p.serialize(a)
	}
	if n > maxURLLength+1 || len(q) > maxURLLength {
		a.typeError("URL too long")
	}
	p.url.queryChanged(q)
}

// compareUTF16 orders strings by UTF-16 code units, as sort() requires.
func compareUTF16(x, y string) int {
	if x == y { // the same string appended many times compares at once
		return 0
	}
	// The common prefix is skipped a block at a time (memequal), not a
	// rune at a time: names of a mebibyte that differ at their end would
	// cost each comparison a million decodes. The bytes before i are the
	// same in both, so the rune that i falls in starts at the same place.
	i, n := 0, min(len(x), len(y))
	for _, step := range [...]int{4096, 64, 1} {
		for i+step <= n && x[i:i+step] == y[i:i+step] {
			i += step
		}
	}
	for i > 0 && i < len(x) && !utf8.RuneStart(x[i]) {
		i--
	}
	x, y = x[i:], y[i:]
	for x != "" && y != "" {
		rx, nx := utf8.DecodeRuneInString(x)
		ry, ny := utf8.DecodeRuneInString(y)
		if rx != ry {
			return cmpUnit(rx) - cmpUnit(ry)
		}
		x, y = x[nx:], y[ny:]
	}
	return len(x) - len(y)
}

// cmpUnit maps a code point to its first UTF-16 code unit, scaled so that
// code points sharing a first unit still compare by code point.
func cmpUnit(r rune) int {
	if r > 0xFFFF {
		lead := 0xD800 + (int(r)-0x10000)>>10
		return lead<<21 | int(r)
	}
	return int(r) << 21
}

func (a *API) fillSearchParams(p *searchParams, init goja.Value) {
	if goja.IsUndefined(init) || init == nil {
		return
	}
	if o, ok := init.(*goja.Object); ok {
		iter, asBuilt := a.iterMethod(o, clsURLSearchParams)
		if src, ok := stateOf[*searchParams](o); ok && asBuilt {
			p.list = slices.Clone(src.list)
			return
		}
		if iter != nil {
			a.forOfMethod(o, iter, func(item goja.Value) bool {
				n, v := a.pair(item, "Failed to construct 'URLSearchParams'")
				p.list = append(p.list, nameValue{a.str(n), a.str(v)})
				return true
			})
			return
		}
		// A record<USVString, USVString>: keys that become equal once
		// lone surrogates are replaced make one entry, in the first one's
		// place, with the last one's value.
		at := map[string]int{}
		a.record(o, func(k string, v goja.Value) {
			if i, ok := at[k]; ok {
				p.list[i].value = a.str(v)
				return
			}
			at[k] = len(p.list)
			p.list = append(p.list, nameValue{k, a.str(v)})
		})
		return
	}
	s := a.str(init)
	p.parse(a, strings.TrimPrefix(s, "?"))
}

func (a *API) searchParamsIterator(p *searchParams, kind int) goja.Value {
	i := 0
	return a.newIterator(clsSearchParamsIterator, func() goja.Value {
		if i >= len(p.list) {
			return nil
		}
		nv := p.list[i]
		i++
		switch kind {
		case iterKeys:
			return a.vm.ToValue(nv.name)
		case iterValues:
			return a.vm.ToValue(nv.value)
		}
		return a.vm.NewArray(nv.name, nv.value)
	})
}

var searchParamsClass = &classDef{
	name:   "URLSearchParams",
	length: 0,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		p := &searchParams{}
		a.fillSearchParams(p, call.Argument(0))
		return a.wrapProto(proto, p)
	},
	iterable: "entries",
	methods: newMembers(
		method("append", 2, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			p.list = append(p.list, nameValue{a.str(call.Argument(0)), a.str(call.Argument(1))})
			p.update(a)
			return goja.Undefined()
		}),
		method("delete", 1, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			name := a.str(call.Argument(0))
			if v := call.Argument(1); !goja.IsUndefined(v) {
				val := a.str(v)
				p.list = slices.DeleteFunc(p.list, func(nv nameValue) bool { return nv.name == name && nv.value == val })
			} else {
				p.list = slices.DeleteFunc(p.list, func(nv nameValue) bool { return nv.name == name })
			}
			p.update(a)
			return goja.Undefined()
		}),
		method("get", 1, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			name := a.str(call.Argument(0))
			for _, nv := range p.list {
				if nv.name == name {
					return a.vm.ToValue(nv.value)
				}
			}
			return goja.Null()
		}),
		method("getAll", 1, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			name := a.str(call.Argument(0))
			var out []any
			for _, nv := range p.list {
				if nv.name == name {
					out = append(out, nv.value)
				}
			}
			return a.vm.NewArray(out...)
		}),
		method("has", 1, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			name := a.str(call.Argument(0))
			hasVal := !goja.IsUndefined(call.Argument(1))
			var val string
			if hasVal {
				val = a.str(call.Argument(1))
			}
			for _, nv := range p.list {
				if nv.name == name && (!hasVal || nv.value == val) {
					return a.vm.ToValue(true)
				}
			}
			return a.vm.ToValue(false)
		}),
		method("set", 2, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			name, val := a.str(call.Argument(0)), a.str(call.Argument(1))
			found := false
			p.list = slices.DeleteFunc(p.list, func(nv nameValue) bool {
				if nv.name != name {
					return false
				}
				if found {
					return true
				}
				found = true
				return false
			})
			if found {
				for i := range p.list {
					if p.list[i].name == name {
						p.list[i].value = val
						break
					}
				}
			} else {
				p.list = append(p.list, nameValue{name, val})
			}
			p.update(a)
			return goja.Undefined()
		}),
		method("sort", 0, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			// Sorting a million names runs without an instruction of
			// the runtime's: the comparisons look at the interrupt.
			steps := 0
			slices.SortStableFunc(p.list, func(x, y nameValue) int {
				a.checkpoint(steps)
				steps++
				return compareUTF16(x.name, y.name)
			})
			p.update(a)
			return goja.Undefined()
		}),
		method("toString", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.vm.ToValue(this[*searchParams](a, call).serialize(a))
		}),
		method("forEach", 1, func(a *API, call goja.FunctionCall) goja.Value {
			p := this[*searchParams](a, call)
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				a.typeError("URLSearchParams.forEach: callback is not a function")
			}
			for i := 0; i < len(p.list); i++ {
				nv := p.list[i]
				if _, err := fn(call.Argument(1), a.vm.ToValue(nv.value), a.vm.ToValue(nv.name), call.This); err != nil {
					a.rethrow(err)
				}
			}
			return goja.Undefined()
		}),
		method("entries", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.searchParamsIterator(this[*searchParams](a, call), iterEntries)
		}),
		method("keys", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.searchParamsIterator(this[*searchParams](a, call), iterKeys)
		}),
		method("values", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.searchParamsIterator(this[*searchParams](a, call), iterValues)
		}),
	),
}
