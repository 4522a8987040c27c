package webapi

import (
	"fmt"
	"reflect"

	"github.com/dop251/goja"
)

// Classes are built per runtime on first use, cheaply: a native constructor
// (behind a Proxy that tells `new C()` from `C()`, see classCtor),
// a prototype that creates each method's function object only when the
// method is first looked up (a lazyObject), statics likewise (a lazyObject
// placed between the constructor and Function.prototype), and instances that
// are goja dynamic objects over a Go state (a hostObject), which answer their
// attributes (status, url, href...) directly. A function object costs about
// a microsecond in goja; a hello-world invocation must cost a few tens of µs.

type classID int

const (
	clsRequest classID = iota
	clsResponse
	clsHeaders
	clsBlob
	clsURL
	clsURLSearchParams
	clsTextEncoder
	clsTextDecoder
	clsCryptoKey
	clsIterator // Headers Iterator
	clsSearchParamsIterator
	clsFormDataIterator
	clsFormData
	clsFile
	clsHTMLRewriter
	clsElement
	clsText
	clsComment
	clsDoctype
	clsDocumentEnd
	clsEndTag
	clsAttributesIterator
	numClasses
)

// memberFunc builds the value of one lazily created member.
type memberFunc func(a *API) goja.Value

// members is an immutable, package-level table of lazily built members.
type members struct {
	names []string
	build map[string]memberFunc
}

func newMembers(list ...member) *members {
	m := &members{build: make(map[string]memberFunc, len(list))}
	for _, e := range list {
		m.names = append(m.names, e.name)
		m.build[e.name] = e.build
	}
	return m
}

type member struct {
	name  string
	build memberFunc
}

// method declares a function member. Its length is the number of required
// arguments (WebIDL): a call with fewer throws TypeError.
func method(name string, length int, fn func(a *API, call goja.FunctionCall) goja.Value) member {
	return member{name, func(a *API) goja.Value {
		return a.newFunc(name, length, func(call goja.FunctionCall) goja.Value {
			if len(call.Arguments) < length {
				a.typeError("Failed to execute '%s': %d argument%s required, but only %d present.", name, length, plural(int64(length)), len(call.Arguments))
			}
			return fn(a, call)
		})
	}}
}

// promiseMethod declares a function member that returns a promise; it
// checks its arguments itself (and rejects rather than throws).
func promiseMethod(name string, length int, fn func(a *API, call goja.FunctionCall) goja.Value) member {
	return member{name, func(a *API) goja.Value {
		return a.newFunc(name, length, func(call goja.FunctionCall) goja.Value { return fn(a, call) })
	}}
}

// value declares a non-function member.
func value(name string, fn func(a *API) goja.Value) member { return member{name, fn} }

type classDef struct {
	name string
	// length is the constructor's length and its number of required
	// arguments: fewer throw TypeError.
	length int
	// construct builds an instance; proto is the prototype it must get
	// (new.target's). Nil means the constructor is illegal.
	construct func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object
	methods   *members
	statics   *members
	// iterable names the method that Symbol.iterator aliases.
	iterable string
	// tag gives the prototype chain a Symbol.toStringTag.
	tag bool
	// iterator puts %IteratorPrototype% in the prototype chain.
	iterator bool
	// parent, when hasParent, is the class this one extends (File: Blob).
	parent    classID
	hasParent bool
}

var classDefs [numClasses]*classDef

func init() {
	classDefs = [numClasses]*classDef{
		clsRequest:              requestClass,
		clsResponse:             responseClass,
		clsHeaders:              headersClass,
		clsBlob:                 blobClass,
		clsURL:                  urlClass,
		clsURLSearchParams:      searchParamsClass,
		clsTextEncoder:          textEncoderClass,
		clsTextDecoder:          textDecoderClass,
		clsCryptoKey:            cryptoKeyClass,
		clsIterator:             {name: "Headers Iterator", tag: true, iterator: true, methods: iteratorMembers(clsIterator)},
		clsSearchParamsIterator: {name: "URLSearchParams Iterator", tag: true, iterator: true, methods: iteratorMembers(clsSearchParamsIterator)},
		clsFormDataIterator:     {name: "FormData Iterator", tag: true, iterator: true, methods: iteratorMembers(clsFormDataIterator)},
		clsFormData:             formDataClass,
		clsFile:                 fileClass,
		clsHTMLRewriter:         htmlRewriterClass,
		clsElement:              elementClass,
		clsText:                 textClass,
		clsComment:              commentClass,
		clsDoctype:              doctypeClass,
		clsDocumentEnd:          documentEndClass,
		clsEndTag:               endTagClass,
		clsAttributesIterator:   {name: "Element Attributes Iterator", tag: true, iterator: true, methods: iteratorMembers(clsAttributesIterator)},
	}
}

type class struct {
	def   *classDef
	proto *goja.Object
	ctor  *goja.Object // nil until the global or proto.constructor is used
	// iter is the Symbol.iterator the class installed, if iterable.
	iter goja.Value
}

// class returns the prototype side of class id. Instances made from Go
// (a request's Headers, a URL's searchParams) need no constructor, so that
// is built separately, by classCtor.
func (a *API) class(id classID) *class {
	if c := a.classes[id]; c != nil {
		return c
	}
	def := classDefs[id]
	vm := a.vm
	c := &class{def: def}
	a.classes[id] = c

	lo := &lazyObject{a: a, m: def.methods, cls: id, hasCls: true}
	if def.iterator {
		// An iterator prototype (%HeadersIteratorPrototype%...) has only
		// next and its tag: an ordinary object, so that it sits right on
		// %IteratorPrototype% as WebIDL has it.
		c.proto = vm.NewObject()
		for _, name := range def.methods.names {
			_ = c.proto.DefineDataProperty(name, lo.Get(name), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		}
		_ = c.proto.DefineDataPropertySymbol(goja.SymToStringTag, vm.ToValue(def.name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		_ = c.proto.SetPrototype(a.iteratorPrototype())
		return c
	}
	c.proto = vm.NewDynamicObject(lo)
	// The class's own Symbols go one step further up the chain, on an
	// ordinary object (the methods stay lazy on the dynamic one). Each
	// costs an ordered map in goja, so only classes that need
	// Symbol.iterator or that libraries recognise by tag get one.
	if def.iterable != "" || def.tag {
		up := vm.NewObject()
		if def.iterator {
			_ = up.SetPrototype(a.iteratorPrototype())
		}
		_ = up.DefineDataPropertySymbol(goja.SymToStringTag, vm.ToValue(def.name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		if def.iterable != "" {
			c.iter = lo.Get(def.iterable)
			_ = up.DefineDataPropertySymbol(goja.SymIterator, c.iter, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
		if def.hasParent {
			_ = up.SetPrototype(a.class(def.parent).proto)
		}
		_ = c.proto.SetPrototype(up)
	} else if def.hasParent {
		_ = c.proto.SetPrototype(a.class(def.parent).proto)
	}
	return c
}

// classCtor returns the constructor of class id.
func (a *API) classCtor(id classID) *goja.Object {
	c := a.class(id)
	if c.ctor != nil {
		return c.ctor
	}
	def, vm := c.def, a.vm
	// A native constructor made by ToValue cannot tell `C()` from `new C()`
	// (goja passes no new.target to either), so the constructor is a Proxy
	// of one: the apply trap refuses calls, the construct trap gets the
	// real new.target, whose prototype the instance takes (subclasses).
	target := vm.ToValue(func(goja.ConstructorCall) *goja.Object {
		panic(vm.NewTypeError("Illegal constructor"))
	}).(*goja.Object)
	proxy := vm.NewProxy(target, &goja.ProxyTrapConfig{
		Apply: func(*goja.Object, goja.Value, []goja.Value) goja.Value {
			if def.construct == nil {
				panic(vm.NewTypeError("Illegal constructor"))
			}
			panic(vm.NewTypeError(fmt.Sprintf("Failed to construct '%s': Please use the 'new' operator, this DOM object constructor cannot be called as a function.", def.name)))
		},
		Construct: func(_ *goja.Object, args []goja.Value, newTarget *goja.Object) *goja.Object {
			if def.construct == nil {
				panic(vm.NewTypeError("Illegal constructor"))
			}
			if len(args) < def.length {
				panic(vm.NewTypeError(fmt.Sprintf("Failed to construct '%s': %d argument%s required, but only %d present.", def.name, def.length, plural(int64(def.length)), len(args))))
			}
			proto := c.proto
			if newTarget != nil && newTarget != c.ctor {
				if p, ok := newTarget.Get("prototype").(*goja.Object); ok {
					proto = p
				}
			}
			return def.construct(a, goja.ConstructorCall{Arguments: args, NewTarget: newTarget}, proto)
		},
		// goja's instanceof does not see through a Proxy, so the proxy
		// answers Symbol.hasInstance (unless guest code defined one).
		GetSym: func(t *goja.Object, sym *goja.Symbol, receiver goja.Value) goja.Value {
			v := t.GetSymbol(sym)
			if sym == goja.SymHasInstance && v != nil && v.SameAs(a.fnHasInstance()) {
				return a.hasInstance()
			}
			return v
		},
	})
	ctor := vm.ToValue(proxy).(*goja.Object)
	_ = target.DefineDataProperty("name", vm.ToValue(def.name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	if def.length != 0 {
		_ = target.DefineDataProperty("length", vm.ToValue(def.length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	_ = target.DefineDataProperty("prototype", c.proto, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	if def.hasParent {
		_ = target.SetPrototype(a.classCtor(def.parent))
	}
	if def.statics != nil {
		st := vm.NewDynamicObject(&lazyObject{a: a, m: def.statics})
		_ = st.SetPrototype(target.Prototype())
		_ = target.SetPrototype(st)
	}
	c.ctor = ctor
	return ctor
}

// hasInstance returns the Symbol.hasInstance method of our constructors:
// OrdinaryHasInstance of this.prototype.
func (a *API) hasInstance() goja.Value {
	if a.hasInst != nil {
		return a.hasInst
	}
	a.hasInst = a.newFunc("[Symbol.hasInstance]", 1, func(call goja.FunctionCall) goja.Value {
		c, ok := call.This.(*goja.Object)
		o, ok2 := call.Argument(0).(*goja.Object)
		if !ok || !ok2 {
			return a.vm.ToValue(false)
		}
		proto, ok := c.Get("prototype").(*goja.Object)
		if !ok {
			a.typeError("Function has non-object prototype in instanceof check")
		}
		for p := o.Prototype(); p != nil; p = p.Prototype() {
			if p == proto {
				return a.vm.ToValue(true)
			}
		}
		return a.vm.ToValue(false)
	})
	return a.hasInst
}

// fnHasInstance returns Function.prototype[Symbol.hasInstance] (looked up
// only when needed: it makes goja build Function.prototype's symbols).
func (a *API) fnHasInstance() goja.Value {
	if a.fnHasInst == nil {
		f := a.vm.ToValue(func(goja.FunctionCall) goja.Value { return nil }).(*goja.Object)
		a.fnHasInst = f.Prototype().GetSymbol(goja.SymHasInstance)
	}
	return a.fnHasInst
}

// wrap makes a JS instance of class id over state st.
func (a *API) wrap(id classID, st hostState) *goja.Object {
	return a.wrapProto(a.class(id).proto, st)
}

func (a *API) wrapProto(proto *goja.Object, st hostState) *goja.Object {
	o := a.vm.NewDynamicObject(&hostObject{a: a, st: st})
	_ = o.SetPrototype(proto)
	return o
}

// newFunc makes a native function with a proper name and length.
func (a *API) newFunc(name string, length int, fn func(goja.FunctionCall) goja.Value) *goja.Object {
	f := a.vm.ToValue(fn).(*goja.Object)
	_ = f.DefineDataProperty("name", a.vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	if length != 0 {
		_ = f.DefineDataProperty("length", a.vm.ToValue(length), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	return f
}

// lazyObject is a dynamic object whose members are built on first lookup.
// Guest code may overwrite or delete members as on an ordinary object; all
// its properties look like writable configurable data properties.
type lazyObject struct {
	a *API
	m *members
	// cls is the class whose prototype this is, when hasCls; it answers
	// "constructor".
	cls    classID
	hasCls bool
	// vals holds built or assigned members; a nil value marks a deletion.
	vals map[string]goja.Value
	// extra lists assigned names that are not members, in order.
	extra      []string
	enumerable bool
}

func (a *API) newLazyObject(m *members, enumerable bool, proto *goja.Object) *goja.Object {
	o := a.vm.NewDynamicObject(&lazyObject{a: a, m: m, enumerable: enumerable})
	if proto != nil {
		_ = o.SetPrototype(proto)
	}
	return o
}

func (l *lazyObject) Get(key string) goja.Value {
	if v, ok := l.vals[key]; ok {
		return v
	}
	if key == "constructor" && l.hasCls {
		v := l.a.classCtor(l.cls)
		l.put(key, v)
		return v
	}
	mk := l.m.build[key]
	if mk == nil {
		return nil
	}
	v := mk(l.a)
	l.put(key, v)
	return v
}

func (l *lazyObject) put(key string, v goja.Value) {
	if l.vals == nil {
		l.vals = make(map[string]goja.Value, 4)
	}
	l.vals[key] = v
}

func (l *lazyObject) Set(key string, val goja.Value) bool {
	_, known := l.vals[key]
	if !known && l.m.build[key] == nil && !(key == "constructor" && l.hasCls) {
		l.extra = append(l.extra, key)
	}
	if val == nil {
		val = goja.Undefined()
	}
	l.put(key, val)
	return true
}

func (l *lazyObject) Has(key string) bool {
	if v, ok := l.vals[key]; ok {
		return v != nil
	}
	return l.m.build[key] != nil || (key == "constructor" && l.hasCls)
}

func (l *lazyObject) Delete(key string) bool {
	if l.Has(key) {
		l.put(key, nil)
	}
	return true
}

func (l *lazyObject) Keys() []string {
	var keys []string
	if l.enumerable {
		for _, k := range l.m.names {
			if l.Has(k) {
				keys = append(keys, k)
			}
		}
	}
	for _, k := range l.extra {
		if l.vals[k] != nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// hostState is the Go side of an instance of one of our classes.
type hostState interface {
	// get returns the attribute key, or nil when key is not an attribute.
	get(a *API, key string) goja.Value
	// set assigns attribute key. known reports whether key is an attribute
	// at all; ok whether it could be assigned.
	set(a *API, key string, v goja.Value) (known, ok bool)
}

// hostObject is the dynamic object of an instance: attributes come from the
// state, anything else assigned by guest code is kept as an own property.
type hostObject struct {
	a     *API
	st    hostState
	vals  map[string]goja.Value
	order []string
}

func (h *hostObject) Get(key string) goja.Value {
	if v := h.st.get(h.a, key); v != nil {
		return v
	}
	return h.vals[key]
}

func (h *hostObject) Set(key string, val goja.Value) bool {
	if known, ok := h.st.set(h.a, key, val); known {
		return ok
	}
	if h.vals == nil {
		h.vals = make(map[string]goja.Value, 2)
	}
	if _, ok := h.vals[key]; !ok {
		h.order = append(h.order, key)
	}
	h.vals[key] = val
	return true
}

// attrChecker is implemented by states whose get is costly for some key.
type attrChecker interface{ hasAttr(key string) bool }

func (h *hostObject) isAttr(key string) bool {
	if c, ok := h.st.(attrChecker); ok {
		return c.hasAttr(key)
	}
	return h.st.get(h.a, key) != nil
}

func (h *hostObject) Has(key string) bool {
	if h.isAttr(key) {
		return true
	}
	_, ok := h.vals[key]
	return ok
}

func (h *hostObject) Delete(key string) bool {
	if h.isAttr(key) {
		return false
	}
	if _, ok := h.vals[key]; ok {
		delete(h.vals, key)
		for i, k := range h.order {
			if k == key {
				h.order = append(h.order[:i:i], h.order[i+1:]...)
				break
			}
		}
	}
	return true
}

func (h *hostObject) Keys() []string { return h.order }

// noAttrs is embedded by states without attributes.
type noAttrs struct{}

func (noAttrs) get(*API, string) goja.Value                   { return nil }
func (noAttrs) set(*API, string, goja.Value) (known, ok bool) { return false, false }

var hostObjectType = reflect.TypeOf((*hostObject)(nil))

// asHost returns the hostObject behind o, checking the type before Export
// (which on an ordinary object would copy the whole graph).
func asHost(o *goja.Object) (*hostObject, bool) {
	if o == nil || o.ExportType() != hostObjectType {
		return nil, false
	}
	h, ok := o.Export().(*hostObject)
	return h, ok
}

// stateOf returns the state of v when v is one of our instances of type T.
func stateOf[T hostState](v goja.Value) (T, bool) {
	var zero T
	o, ok := v.(*goja.Object)
	if !ok {
		return zero, false
	}
	h, ok := asHost(o)
	if !ok {
		return zero, false
	}
	s, ok := h.st.(T)
	return s, ok
}

// this returns the state of call.This or throws "Illegal invocation".
func this[T hostState](a *API, call goja.FunctionCall) T {
	s, ok := stateOf[T](call.This)
	if !ok {
		panic(a.vm.NewTypeError("Illegal invocation"))
	}
	return s
}

// iteratorPrototype returns %IteratorPrototype% of this runtime.
func (a *API) iteratorPrototype() *goja.Object {
	if a.iterBase != nil {
		return a.iterBase
	}
	base := a.vm.NewObject()
	if fn, ok := goja.AssertFunction(a.vm.NewArray().GetSymbol(goja.SymIterator)); ok {
		if it, err := fn(a.vm.NewArray()); err == nil {
			if o, ok := it.(*goja.Object); ok && o.Prototype() != nil && o.Prototype().Prototype() != nil {
				base = o.Prototype().Prototype()
			}
		}
	}
	a.iterBase = base
	return base
}

// iterState is an iterator over a Go-computed sequence (Headers,
// URLSearchParams). next returns nil when done.
type iterState struct {
	noAttrs
	cls  classID
	next func() goja.Value
}

// iteratorMembers are those of the iterator prototype of class id
// (%HeadersIteratorPrototype%...); its next advances only iterators of id.
func iteratorMembers(id classID) *members {
	return newMembers(
		method("next", 0, func(a *API, call goja.FunctionCall) goja.Value {
			it := this[*iterState](a, call)
			if it.cls != id {
				a.typeError("Illegal invocation")
			}
			res := a.vm.NewObject()
			var v goja.Value
			if it.next != nil {
				v = it.next()
			}
			if v == nil {
				it.next = nil
				_ = res.Set("value", goja.Undefined())
				_ = res.Set("done", true)
			} else {
				_ = res.Set("value", v)
				_ = res.Set("done", false)
			}
			return res
		}),
	)
}

// newIterator makes an iterator of class id (clsIterator,
// clsSearchParamsIterator or clsFormDataIterator).
func (a *API) newIterator(id classID, next func() goja.Value) goja.Value {
	return a.wrap(id, &iterState{cls: id, next: next})
}
