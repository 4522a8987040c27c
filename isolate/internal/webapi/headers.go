package webapi

import (
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// headerList is the Go side of a Headers object: lower-cased names in
// insertion order. Values are byte strings (Latin-1 code units as bytes).
type headerList struct {
	noAttrs
	list      []Header
	immutable bool
	sorted    []Header // cache of sortAndCombine, nil when stale
}

func (h *headerList) clone() *headerList {
	return &headerList{list: slices.Clone(h.list), immutable: h.immutable}
}

func (h *headerList) changed() { h.sorted = nil }

// lookup returns the values of name joined with ", ". The guest may have
// appended one long value many times: the joined string is asked of a's
// allocation guard before it is built (a nil a asks nothing).
func (h *headerList) lookup(a *API, name string) (string, bool) {
	n, count := int64(0), 0
	for _, e := range h.list {
		if e.Name == name {
			n += int64(len(e.Value)) + 2
			count++
		}
	}
	if count > 1 && a != nil {
		a.reserve(n, goja.AllocString)
	}
	var b strings.Builder
	found := false
	for _, e := range h.list {
		if e.Name == name {
			if found {
				b.WriteString(", ")
			}
			b.WriteString(e.Value)
			found = true
		}
	}
	return b.String(), found
}

func (h *headerList) has(name string) bool {
	for _, e := range h.list {
		if e.Name == name {
			return true
		}
	}
	return false
}

func (h *headerList) append(name, value string) {
	h.list = append(h.list, Header{name, value})
	h.changed()
}

func (h *headerList) delete(name string) {
	h.list = slices.DeleteFunc(h.list, func(e Header) bool { return e.Name == name })
	h.changed()
}

func (h *headerList) put(name, value string) {
	for i, e := range h.list {
		if e.Name == name {
			h.list[i].Value = value
			rest := h.list[i+1:]
			n := i + 1
			for _, e := range rest {
				if e.Name != name {
					h.list[n] = e
					n++
				}
			}
			h.list = h.list[:n]
			h.changed()
			return
		}
	}
	h.append(name, value)
}

// sortAndCombine is the Fetch standard's iteration order: names sorted,
// values of one name joined with ", ", except set-cookie kept separate.
// The joined values are asked of a's allocation guard first, as in lookup.
func (h *headerList) sortAndCombine(a *API) []Header {
	if h.sorted != nil || len(h.list) == 0 {
		return h.sorted
	}
	if a != nil {
		n := int64(0)
		for _, e := range h.list {
			n += int64(len(e.Value)) + 2
		}
		a.reserve(n, goja.AllocString)
	}
	byName := slices.Clone(h.list)
	// A million names sort for most of a second, with no instruction of
	// the runtime's: the comparisons look at the interrupt.
	steps := 0
	slices.SortStableFunc(byName, func(x, y Header) int {
		if a != nil {
			a.checkpoint(steps)
			steps++
		}
		return strings.Compare(x.Name, y.Name)
	})
	out := byName[:0]
	for i := 0; i < len(byName); {
		e := byName[i]
		j := i + 1
		if e.Name == "set-cookie" {
			out = append(out, e)
			i = j
			continue
		}
		if j < len(byName) && byName[j].Name == e.Name {
			var b strings.Builder
			b.WriteString(e.Value)
			for ; j < len(byName) && byName[j].Name == e.Name; j++ {
				b.WriteString(", ")
				b.WriteString(byName[j].Value)
			}
			e.Value = b.String()
		}
		out = append(out, e)
		i = j
	}
	h.sorted = out
	return out
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isHTTPWhitespace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// normalizeHeaderValue strips leading and trailing HTTP whitespace and
// reports whether the result is a valid field value.
func normalizeHeaderValue(v string) (string, bool) {
	i, j := 0, len(v)
	for i < j && isHTTPWhitespace(v[i]) {
		i++
	}
	for j > i && isHTTPWhitespace(v[j-1]) {
		j--
	}
	v = v[i:j]
	return v, !strings.ContainsAny(v, "\x00\r\n")
}

func (a *API) headerName(v goja.Value) string {
	n := a.byteString(v, "Header name")
	if !isToken(n) {
		a.typeError("Invalid header name: %q", n)
	}
	return strings.ToLower(n)
}

func (a *API) headerValue(v goja.Value) string {
	s, ok := normalizeHeaderValue(a.byteString(v, "Header value"))
	if !ok {
		a.typeError("Invalid header value: %q", s)
	}
	return s
}

func (a *API) checkMutable(h *headerList) {
	if h.immutable {
		a.typeError("Can't modify immutable headers.")
	}
}

// fillHeaders appends init (a HeadersInit) to h.
func (a *API) fillHeaders(h *headerList, init goja.Value) {
	if isNullish(init) {
		return
	}
	o, ok := init.(*goja.Object)
	if !ok {
		a.typeError("Failed to construct 'Headers': the init argument must be an object")
	}
	iter, asBuilt := a.iterMethod(o, clsHeaders)
	if src, ok := stateOf[*headerList](o); ok && asBuilt {
		h.list = append(h.list, src.list...)
		h.changed()
		return
	}
	if iter != nil {
		a.forOfMethod(o, iter, func(item goja.Value) bool {
			n, v := a.pair(item, "Failed to construct 'Headers'")
			h.append(a.headerName(n), a.headerValue(v))
			return true
		})
		return
	}
	a.record(o, func(k string, v goja.Value) {
		h.append(a.headerName(a.vm.ToValue(k)), a.headerValue(v))
	})
}

// headersObject returns the Headers instance over h, creating it once.
func (a *API) headersObject(h *headerList, cache **goja.Object) *goja.Object {
	if *cache == nil {
		*cache = a.wrap(clsHeaders, h)
	}
	return *cache
}

func (a *API) headersIterator(h *headerList, kind int) goja.Value {
	i := 0
	return a.newIterator(clsIterator, func() goja.Value {
		list := h.sortAndCombine(a)
		if i >= len(list) {
			return nil
		}
		e := list[i]
		i++
		switch kind {
		case iterKeys:
			return a.vm.ToValue(e.Name)
		case iterValues:
			return a.latin1Value(e.Value)
		}
		return a.vm.NewArray(a.vm.ToValue(e.Name), a.latin1Value(e.Value))
	})
}

const (
	iterEntries = iota
	iterKeys
	iterValues
)

var headersClass = &classDef{
	name:   "Headers",
	length: 0,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		h := &headerList{}
		if goja.IsNull(call.Argument(0)) {
			a.typeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.")
		}
		a.fillHeaders(h, call.Argument(0))
		return a.wrapProto(proto, h)
	},
	iterable: "entries",
	methods: newMembers(
		method("append", 2, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			n, v := a.headerName(call.Argument(0)), a.headerValue(call.Argument(1))
			a.checkMutable(h)
			h.append(n, v)
			return goja.Undefined()
		}),
		method("delete", 1, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			n := a.headerName(call.Argument(0))
			a.checkMutable(h)
			h.delete(n)
			return goja.Undefined()
		}),
		method("get", 1, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			v, ok := h.lookup(a, a.headerName(call.Argument(0)))
			if !ok {
				return goja.Null()
			}
			return a.latin1Value(v)
		}),
		method("getAll", 1, func(a *API, call goja.FunctionCall) goja.Value {
			// Workers keeps getAll for set-cookie only.
			h := this[*headerList](a, call)
			n := a.headerName(call.Argument(0))
			if n != "set-cookie" {
				a.typeError("getAll() can only be used with the header name \"Set-Cookie\".")
			}
			return a.setCookies(h)
		}),
		method("getSetCookie", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.setCookies(this[*headerList](a, call))
		}),
		method("has", 1, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			return a.vm.ToValue(h.has(a.headerName(call.Argument(0))))
		}),
		method("set", 2, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			n, v := a.headerName(call.Argument(0)), a.headerValue(call.Argument(1))
			a.checkMutable(h)
			h.put(n, v)
			return goja.Undefined()
		}),
		method("forEach", 1, func(a *API, call goja.FunctionCall) goja.Value {
			h := this[*headerList](a, call)
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				a.typeError("Headers.forEach: callback is not a function")
			}
			for i := 0; i < len(h.sortAndCombine(a)); i++ {
				e := h.sortAndCombine(a)[i]
				if _, err := fn(call.Argument(1), a.latin1Value(e.Value), a.vm.ToValue(e.Name), call.This); err != nil {
					a.rethrow(err)
				}
			}
			return goja.Undefined()
		}),
		method("entries", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.headersIterator(this[*headerList](a, call), iterEntries)
		}),
		method("keys", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.headersIterator(this[*headerList](a, call), iterKeys)
		}),
		method("values", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.headersIterator(this[*headerList](a, call), iterValues)
		}),
	),
}

func (a *API) setCookies(h *headerList) goja.Value {
	var vals []any
	for _, e := range h.list {
		if e.Name == "set-cookie" {
			vals = append(vals, a.latin1Value(e.Value))
		}
	}
	return a.vm.NewArray(vals...)
}

// exportHeaders returns h in iteration order, names lower-case, values as
// Go strings of the header bytes. It may throw (sortAndCombine).
func (a *API) exportHeaders(h *headerList) []Header {
	return slices.Clone(h.sortAndCombine(a))
}
