package webapi

import (
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// maxCloneDepth bounds the nesting structuredClone follows: the walk is
// recursive in Go, and a Go stack overflow would kill the process.
const maxCloneDepth = 2000

var (
	proxyType  = reflect.TypeOf(goja.Proxy{})
	bigIntType = reflect.TypeOf((*big.Int)(nil))
)

type cloner struct {
	a     *API
	memo  map[*goja.Object]*goja.Object
	steps int // values cloned, for checkpoint
}

func (a *API) structuredClone(call goja.FunctionCall) goja.Value {
	if len(call.Arguments) == 0 {
		a.typeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.")
	}
	c := &cloner{a: a, memo: map[*goja.Object]*goja.Object{}}
	var transfer []goja.ArrayBuffer
	if opts := a.dict(call.Argument(1), "Failed to execute 'structuredClone': options"); opts != nil {
		if t := field(opts, "transfer"); t != nil {
			transfer = c.transferList(t)
		}
	}
	// A transferred ArrayBuffer is cloned as a new one over the same
	// memory; the originals are detached once the whole value is cloned.
	for _, ab := range transfer {
		var nb goja.ArrayBuffer
		if ab.Resizable() {
			nb = a.vm.NewResizableArrayBuffer(ab.Bytes(), ab.MaxByteLength())
		} else {
			nb = a.vm.NewArrayBuffer(ab.Bytes())
		}
		r := a.vm.ToValue(nb).(*goja.Object)
		c.memo[a.vm.ToValue(ab).(*goja.Object)] = r
	}
	v := c.clone(call.Argument(0), 0)
	for _, ab := range transfer {
		ab.Detach()
	}
	return v
}

// transferList converts the transfer option (a sequence<object>): only
// ArrayBuffers can be transferred, each once, and not when detached.
func (c *cloner) transferList(t goja.Value) []goja.ArrayBuffer {
	a := c.a
	o, ok := t.(*goja.Object)
	if !ok || !isIterable(o) {
		a.typeError("Failed to execute 'structuredClone': The provided value cannot be converted to a sequence.")
	}
	var list []goja.ArrayBuffer
	seen := map[*goja.Object]bool{}
	a.forOf(o, func(v goja.Value) bool {
		e, ok := v.(*goja.Object)
		if !ok {
			a.typeError("Failed to execute 'structuredClone': The provided value is not of type 'object'.")
		}
		ab, ok := asArrayBuffer(e)
		if !ok {
			panic(a.domException("Value not transferable: only ArrayBuffers can be transferred.", "DataCloneError"))
		}
		if seen[e] {
			panic(a.domException("ArrayBuffer at index "+fmt.Sprint(len(list))+" is a duplicate of an earlier ArrayBuffer.", "DataCloneError"))
		}
		if ab.Shared() {
			panic(a.domException("Value not transferable: a SharedArrayBuffer cannot be transferred.", "DataCloneError"))
		}
		if ab.Detached() {
			panic(a.domException("An ArrayBuffer is detached and could not be transferred.", "DataCloneError"))
		}
		seen[e] = true
		list = append(list, ab)
		return true
	})
	return list
}

func (c *cloner) fail(what string) {
	panic(c.a.domException(what+" could not be cloned.", "DataCloneError"))
}

func (c *cloner) clone(v goja.Value, depth int) goja.Value {
	a := c.a
	a.checkpoint(c.steps)
	c.steps++
	if _, ok := v.(*goja.Symbol); ok {
		c.fail("Symbol()")
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return v
	}
	if r, ok := c.memo[o]; ok {
		return r
	}
	if depth > maxCloneDepth {
		panic(a.domException(fmt.Sprintf("The object is nested more than %d levels deep.", maxCloneDepth), "DataCloneError"))
	}
	if _, ok := goja.AssertFunction(o); ok {
		c.fail("function")
	}
	switch o.ExportType() {
	case proxyType:
		c.fail("#<Object>")
	case promiseType:
		c.fail("#<Promise>")
	}
	if isMap(o) || isSet(o) {
		return c.collection(o, isMap(o), depth)
	}
	if h, ok := asHost(o); ok {
		if b, ok := h.st.(*blobState); ok {
			id, cp := clsBlob, *b
			if b.file {
				id = clsFile
			}
			r := a.wrap(id, &cp)
			c.memo[o] = r
			return r
		}
		c.fail(o.ClassName() + " object")
	}
	if ab, ok := asArrayBuffer(o); ok {
		if ab.Shared() {
			// HTML clones a SharedArrayBuffer only where the agent cluster is
			// cross-origin isolated; a Worker is not (as in workerd).
			panic(a.domException("A SharedArrayBuffer could not be cloned: the Worker is not cross-origin isolated.", "DataCloneError"))
		}
		if ab.Detached() {
			panic(a.domException("An ArrayBuffer is detached and could not be cloned.", "DataCloneError"))
		}
		data := slices.Clone(ab.Bytes())
		a.allocated(data)
		var r goja.ArrayBuffer
		if ab.Resizable() {
			r = a.vm.NewResizableArrayBuffer(data, ab.MaxByteLength())
		} else {
			r = a.vm.NewArrayBuffer(data)
		}
		ro := a.vm.ToValue(r).(*goja.Object)
		c.memo[o] = ro
		return ro
	}
	if isTypedArray(o) || a.isDataView(o) {
		return c.view(o, depth)
	}
	switch o.ClassName() {
	case "Date":
		r := a.construct("Date", a.callIntrinsic(o, nil, "Date", "prototype", "getTime"))
		c.memo[o] = r
		return r
	case "RegExp":
		r := a.construct("RegExp", o.Get("source"), o.Get("flags"))
		c.memo[o] = r
		return r
	case "Boolean", "Number":
		r := a.vm.ToValue(o.Export()).ToObject(a.vm)
		c.memo[o] = r
		return r
	case "String":
		// valueOf keeps lone surrogates, which String() replaces.
		r := a.callIntrinsic(o, nil, o.ClassName(), "prototype", "valueOf").ToObject(a.vm)
		c.memo[o] = r
		return r
	case "Error":
		return c.error(o, depth)
	case "Array":
		r := a.vm.NewArray()
		c.memo[o] = r
		_ = r.Set("length", o.Get("length"))
		c.props(o, r, depth)
		return r
	case "Object", "Arguments":
		if o.ExportType() == bigIntType { // goja gives BigInt wrappers no class
			r := a.callIntrinsic(o, nil, "BigInt", "prototype", "valueOf").ToObject(a.vm)
			c.memo[o] = r
			return r
		}
		for _, weak := range []string{"WeakMap", "WeakSet"} {
			if hasTag(o, weak) {
				if w := a.intrinsic(weak); w != nil && a.vm.InstanceOf(o, w) {
					c.fail("#<" + weak + ">")
				}
			}
		}
		r := a.vm.NewObject()
		c.memo[o] = r
		c.props(o, r, depth)
		return r
	}
	c.fail("#<" + o.ClassName() + ">")
	return nil
}

func (c *cloner) props(src, dst *goja.Object, depth int) {
	keys := src.Keys()
	for _, k := range keys {
		if strings.ContainsRune(k, utf8.RuneError) {
			// Keys() replaced lone surrogates: take the slow way, with
			// the keys as JS strings.
			c.propsExact(src, dst, depth)
			return
		}
	}
	for _, k := range keys {
		v := c.clone(src.Get(k), depth+1)
		if err := dst.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
			c.a.rethrow(err)
		}
	}
}

// propsExact is props for objects whose keys hold lone surrogates.
func (c *cloner) propsExact(src, dst *goja.Object, depth int) {
	a := c.a
	keys, _ := a.callIntrinsic(nil, []goja.Value{src}, "Object", "keys").(*goja.Object)
	if keys == nil {
		return
	}
	n := keys.Get("length").ToInteger()
	for i := int64(0); i < n; i++ {
		k := keys.Get(strconv.FormatInt(i, 10))
		v := c.clone(a.callIntrinsic(nil, []goja.Value{src, k}, "Reflect", "get"), depth+1)
		desc := a.vm.NewObject()
		_ = desc.Set("value", v)
		_ = desc.Set("writable", true)
		_ = desc.Set("enumerable", true)
		_ = desc.Set("configurable", true)
		a.callIntrinsic(nil, []goja.Value{dst, k, desc}, "Object", "defineProperty")
	}
}

func (c *cloner) view(o *goja.Object, depth int) goja.Value {
	a := c.a
	name := o.GetSymbol(goja.SymToStringTag)
	ctorName := "DataView"
	if name != nil && goja.IsString(name) {
		ctorName = name.String()
	}
	switch ctorName {
	case "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
		"Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "DataView":
	default:
		c.fail("#<" + ctorName + ">")
	}
	oob, tracking, _ := goja.ViewBounds(o)
	if oob {
		panic(a.domException("An ArrayBuffer view is out of the bounds of its buffer and could not be cloned.", "DataCloneError"))
	}
	buf := c.clone(o.Get("buffer"), depth+1)
	var r *goja.Object
	if tracking {
		// A length-tracking view stays one over the (resizable) copy.
		r = a.construct(ctorName, buf, o.Get("byteOffset"))
	} else {
		length := o.Get("length")
		if ctorName == "DataView" {
			length = o.Get("byteLength")
		}
		r = a.construct(ctorName, buf, o.Get("byteOffset"), length)
	}
	c.memo[o] = r
	return r
}

func (c *cloner) error(o *goja.Object, depth int) goja.Value {
	a := c.a
	// A DOMException is serializable too: its name and message. (None
	// exists before the class is built.)
	if a.domExc != nil && a.vm.InstanceOf(o, a.domExc) {
		r := a.domException(a.str(o.Get("message")), a.str(o.Get("name")))
		c.memo[o] = r
		return r
	}
	name := "Error"
	if n := o.Get("name"); n != nil && goja.IsString(n) {
		switch n.String() {
		case "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError":
			name = n.String()
		}
	}
	// The message is cloned only when it is an own property.
	var msg goja.Value = goja.Undefined()
	if a.callIntrinsic(o, []goja.Value{a.vm.ToValue("message")}, "Object", "prototype", "hasOwnProperty").ToBoolean() {
		if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
			msg = a.vm.ToValue(a.str(m))
		}
	}
	r := a.construct(name, msg)
	c.memo[o] = r
	if s := o.Get("stack"); s != nil && goja.IsString(s) {
		_ = r.DefineDataProperty("stack", s, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	if cause := o.Get("cause"); cause != nil && !goja.IsUndefined(cause) {
		_ = r.DefineDataProperty("cause", c.clone(cause, depth+1), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	return r
}

func (c *cloner) collection(o *goja.Object, isMap bool, depth int) goja.Value {
	a := c.a
	name, add := "Set", "add"
	if isMap {
		name, add = "Map", "set"
	}
	r := a.construct(name)
	c.memo[o] = r
	// Entries are read before any is cloned: cloning runs getters, which
	// may modify the collection.
	var entries []goja.Value
	a.forOf(a.callIntrinsic(o, nil, name, "prototype", "entries"), func(e goja.Value) bool {
		entries = append(entries, e)
		return true
	})
	for _, e := range entries {
		eo, ok := e.(*goja.Object)
		if !ok {
			continue
		}
		k := c.clone(eo.Get("0"), depth+1)
		args := []goja.Value{k}
		if isMap {
			args = append(args, c.clone(eo.Get("1"), depth+1))
		}
		a.callIntrinsic(r, args, name, "prototype", add)
	}
	return r
}
