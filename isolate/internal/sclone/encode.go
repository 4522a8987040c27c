package sclone

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

type encoder struct {
	vm  *goja.Runtime
	buf []byte
	max int
	ids map[*goja.Object]uint64
	fns map[string]goja.Callable // built-in functions used, by path
	stop
}

// Encode encodes v. max bounds the output in bytes (0 or less: no bound);
// beyond it Encode fails with a *DataCloneError matching ErrTooLarge. A
// value that cannot be cloned fails with a *DataCloneError; an exception
// thrown by a getter or a built-in it calls is returned as *goja.Exception.
func Encode(vm *goja.Runtime, v goja.Value, max int) ([]byte, error) {
	return EncodeInterruptible(vm, v, max, nil)
}

// EncodeInterruptible is Encode, asking interrupted (if not nil) every
// few thousand values whether to give up with ErrInterrupted: 32 MiB of
// small values take seconds to encode, in one call the runtime's
// interrupt does not reach.
func EncodeInterruptible(vm *goja.Runtime, v goja.Value, max int, interrupted func() bool) ([]byte, error) {
	e := &encoder{vm: vm, max: max, buf: make([]byte, 1, 64), stop: stop{interrupted: interrupted}}
	e.buf[0] = version
	var err error
	if ex := vm.Try(func() { err = e.value(v, 0) }); ex != nil {
		return nil, ex
	}
	if err != nil {
		return nil, err
	}
	return e.buf, nil
}

func cloneError(what string) error {
	return &DataCloneError{Msg: what + " could not be cloned."}
}

// room fails when n more bytes would exceed the bound.
func (e *encoder) room(n int) error {
	if e.max > 0 && n > e.max-len(e.buf) {
		return &DataCloneError{
			Msg: fmt.Sprintf("The value is larger than %d bytes once serialized.", e.max),
			err: ErrTooLarge,
		}
	}
	return nil
}

func (e *encoder) byte1(b byte) error {
	if err := e.room(1); err != nil {
		return err
	}
	e.buf = append(e.buf, b)
	return nil
}

func (e *encoder) uvarint(tag byte, x uint64) error {
	if err := e.room(1 + uvarintLen(x)); err != nil {
		return err
	}
	e.buf = append(e.buf, tag)
	e.buf = binary.AppendUvarint(e.buf, x)
	return nil
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// bytes writes tag, len(b) and b.
func (e *encoder) bytes(tag byte, b []byte) error {
	if err := e.room(1 + uvarintLen(uint64(len(b))) + len(b)); err != nil {
		return err
	}
	e.buf = append(e.buf, tag)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
	return nil
}

func (e *encoder) float(tag byte, f float64) error {
	if err := e.room(9); err != nil {
		return err
	}
	bits := math.Float64bits(f)
	if f != f {
		bits = canonicalNaN
	}
	e.buf = append(e.buf, tag)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, bits)
	return nil
}

func (e *encoder) number(f float64) error {
	if f == math.Trunc(f) && math.Abs(f) < maxSafe && !(f == 0 && math.Signbit(f)) {
		i := int64(f)
		if err := e.room(1 + uvarintLen(uint64(i<<1^i>>63))); err != nil {
			return err
		}
		e.buf = append(e.buf, tagInt)
		e.buf = binary.AppendVarint(e.buf, i)
		return nil
	}
	return e.float(tagFloat, f)
}

func (e *encoder) bigint(tag byte, x any) error {
	n, ok := x.(*big.Int)
	if !ok {
		return cloneError("BigInt")
	}
	mag := n.Bytes()
	l := uint64(len(mag)) << 1
	if n.Sign() < 0 {
		l |= 1
	}
	n0 := 1 + uvarintLen(l) + len(mag)
	if tag != tagBigInt {
		n0++
	}
	if err := e.room(n0); err != nil {
		return err
	}
	if tag != tagBigInt {
		e.buf = append(e.buf, tag)
	}
	e.buf = append(e.buf, tagBigInt)
	e.buf = binary.AppendUvarint(e.buf, l)
	e.buf = append(e.buf, mag...)
	return nil
}

// goString writes a Go string known to be what JS sees.
func (e *encoder) goString(s string) error {
	if err := e.room(1 + uvarintLen(uint64(len(s))) + len(s)); err != nil {
		return err
	}
	e.buf = append(e.buf, tagUTF8)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
	return nil
}

// str writes a JS string: in UTF-8 unless it holds a lone surrogate.
func (e *encoder) str(s goja.String) error {
	gs := s.String()
	if utf8.ValidString(gs) && !strings.ContainsRune(gs, utf8.RuneError) {
		return e.goString(gs)
	}
	// U+FFFD stands for itself or for a lone surrogate: look at the code units.
	n := s.Length()
	if err := e.room(n); err != nil { // the least it takes
		return err
	}
	units := make([]uint16, n)
	for i := range units {
		units[i] = s.CharAt(i)
	}
	if !hasLoneSurrogate(units) {
		return e.goString(string(utf16.Decode(units)))
	}
	if err := e.room(1 + uvarintLen(uint64(n)) + 2*n); err != nil {
		return err
	}
	e.buf = append(e.buf, tagUTF16)
	e.buf = binary.AppendUvarint(e.buf, uint64(n))
	for _, c := range units {
		e.buf = binary.LittleEndian.AppendUint16(e.buf, c)
	}
	return nil
}

// hasLoneSurrogate reports whether s is not valid UTF-16.
func hasLoneSurrogate(s []uint16) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 0xD800 <= c && c < 0xDC00 && i+1 < len(s) && 0xDC00 <= s[i+1] && s[i+1] < 0xE000:
			i++
		case 0xD800 <= c && c < 0xE000:
			return true
		}
	}
	return false
}

func (e *encoder) value(v goja.Value, depth int) error {
	if e.stopped() {
		return ErrInterrupted
	}
	switch x := v.(type) {
	case nil:
		return e.byte1(tagUndefined)
	case *goja.Object:
		return e.object(x, depth)
	case *goja.Symbol:
		return cloneError("Symbol(" + x.String() + ")")
	case goja.String:
		return e.str(x)
	}
	switch {
	case goja.IsUndefined(v):
		return e.byte1(tagUndefined)
	case goja.IsNull(v):
		return e.byte1(tagNull)
	case goja.IsNumber(v):
		return e.number(v.ToFloat())
	case goja.IsBigInt(v):
		return e.bigint(tagBigInt, v.Export())
	}
	if b, ok := v.Export().(bool); ok {
		if b {
			return e.byte1(tagTrue)
		}
		return e.byte1(tagFalse)
	}
	return cloneError(v.String())
}

// register gives o the next id.
func (e *encoder) register(o *goja.Object) {
	if e.ids == nil {
		e.ids = make(map[*goja.Object]uint64)
	}
	e.ids[o] = uint64(len(e.ids))
}

// fn returns the built-in function at path.
func (e *encoder) fn(path ...string) (goja.Callable, error) {
	key := strings.Join(path, ".")
	if f, ok := e.fns[key]; ok {
		return f, nil
	}
	f, ok := goja.AssertFunction(lookup(e.vm, path...))
	if !ok {
		return nil, fmt.Errorf("sclone: %s is not available", key)
	}
	if e.fns == nil {
		e.fns = make(map[string]goja.Callable)
	}
	e.fns[key] = f
	return f, nil
}

func (e *encoder) call(path string, this goja.Value, args ...goja.Value) (goja.Value, error) {
	f, err := e.fn(strings.Split(path, ".")...)
	if err != nil {
		return nil, err
	}
	return f(this, args...)
}

func (e *encoder) object(o *goja.Object, depth int) error {
	if id, ok := e.ids[o]; ok {
		return e.uvarint(tagRef, id)
	}
	if depth > maxDepth {
		return &DataCloneError{Msg: fmt.Sprintf("The object is nested more than %d levels deep.", maxDepth)}
	}
	if _, ok := goja.AssertFunction(o); ok {
		return cloneError("function")
	}
	switch o.ClassName() {
	case "Object", "Arguments":
		return e.ordinary(o, depth)
	case "Array":
		e.register(o)
		return e.array(o, depth)
	case "Date":
		e.register(o)
		t := math.NaN()
		if tv, ok := o.Export().(interface{ UnixMilli() int64 }); ok {
			t = float64(tv.UnixMilli())
		}
		return e.float(tagDate, t)
	case "RegExp":
		e.register(o)
		src, flags := o.Get("source"), o.Get("flags")
		ss, ok1 := src.(goja.String)
		fs, ok2 := flags.(goja.String)
		if !ok1 || !ok2 {
			return cloneError("#<RegExp>")
		}
		if err := e.byte1(tagRegExp); err != nil {
			return err
		}
		if err := e.str(ss); err != nil {
			return err
		}
		return e.str(fs)
	case "Boolean":
		b, ok := o.Export().(bool)
		if !ok {
			return cloneError("#<Boolean>")
		}
		e.register(o)
		if b {
			return e.byte1(tagTrueObj)
		}
		return e.byte1(tagFalseObj)
	case "Number":
		var f float64
		switch x := o.Export().(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		default:
			return cloneError("#<Number>")
		}
		e.register(o)
		if err := e.byte1(tagNumberObj); err != nil {
			return err
		}
		return e.number(f)
	case "String":
		s, err := e.call("String.prototype.valueOf", o)
		if err != nil {
			return err
		}
		ss, ok := s.(goja.String)
		if !ok {
			return cloneError("#<String>")
		}
		e.register(o)
		if err := e.byte1(tagStringObj); err != nil {
			return err
		}
		return e.str(ss)
	case "Error":
		return e.error(o, depth)
	}
	return cloneError("#<" + o.ClassName() + ">")
}

// tag returns o's Symbol.toStringTag, or "".
func tag(o *goja.Object) string {
	if t, ok := o.GetSymbol(goja.SymToStringTag).(goja.String); ok {
		return t.String()
	}
	return ""
}

func (e *encoder) instanceOf(o *goja.Object, ctor string) bool {
	c := lookup(e.vm, ctor)
	return c != nil && e.vm.InstanceOf(o, c)
}

// ordinary encodes the objects goja gives class "Object": plain objects and
// class instances, Map, Set, ArrayBuffer, typed arrays, DataView, BigInt
// objects, and the ones that cannot be cloned.
func (e *encoder) ordinary(o *goja.Object, depth int) error {
	switch t := o.ExportType(); t {
	case plainType:
		// A plain object, or a built-in with no export type of its own:
		// those are told by their tag (checked against their constructor
		// where guest code could use the tag on a plain object).
		if p := o.Prototype(); p != nil && p.Prototype() != nil {
			switch tg := tag(o); tg {
			case "DataView":
				if e.instanceOf(o, "DataView") {
					return e.view(o, kindDataView, depth)
				}
			case "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry":
				if e.instanceOf(o, tg) {
					return cloneError("#<" + tg + ">")
				}
			case "Generator", "AsyncGenerator", "Array Iterator", "Map Iterator", "Set Iterator",
				"String Iterator", "RegExp String Iterator", "Iterator":
				return cloneError("#<" + tg + ">")
			}
		}
		e.register(o)
		if err := e.byte1(tagObject); err != nil {
			return err
		}
		return e.props(o, nil, depth)
	case mapType, setType:
		return e.collection(o, t == mapType, depth)
	case arrayBufferType:
		ab, _ := o.Export().(goja.ArrayBuffer)
		if ab.Shared() {
			return cloneError("A SharedArrayBuffer")
		}
		if ab.Detached() {
			return cloneError("A detached ArrayBuffer")
		}
		e.register(o)
		if ab.Resizable() {
			b := ab.Bytes()
			if err := e.room(1 + 2*binary.MaxVarintLen64 + len(b)); err != nil {
				return err
			}
			e.buf = append(e.buf, tagResizable)
			e.buf = binary.AppendUvarint(e.buf, uint64(ab.MaxByteLength()))
			e.buf = binary.AppendUvarint(e.buf, uint64(len(b)))
			e.buf = append(e.buf, b...)
			return nil
		}
		return e.bytes(tagBuffer, ab.Bytes())
	case bigIntType:
		e.register(o)
		return e.bigint(tagBigIntObj, o.Export())
	case proxyType:
		return cloneError("#<Object>")
	case promiseType:
		return cloneError("#<Promise>")
	default:
		if typedArrayTypes[t] {
			name := tag(o)
			for k, vk := range viewKinds {
				if vk.name == name && vk.typ == t {
					return e.view(o, k, depth)
				}
			}
		}
		name := tag(o)
		if name == "" {
			name = "Object"
		}
		return cloneError("#<" + name + ">")
	}
}

// props writes o's own enumerable string-keyed properties (those in keys
// when not nil) and the end tag.
func (e *encoder) props(o *goja.Object, keys []string, depth int) error {
	if keys == nil {
		keys = o.Keys()
	}
	for _, k := range keys {
		if strings.ContainsRune(k, utf8.RuneError) {
			// Keys() gives Go strings, lossy for lone surrogates: ask
			// Object.keys for the real ones.
			return e.propsExact(o, keys, depth)
		}
	}
	for _, k := range keys {
		if err := e.goString(k); err != nil {
			return err
		}
		if err := e.value(o.Get(k), depth+1); err != nil {
			return err
		}
	}
	return e.byte1(tagEnd)
}

// propsExact is props reading the keys as JS strings. Only the keys also
// in want are written (want holds Go forms of the keys, lossy or not).
func (e *encoder) propsExact(o *goja.Object, want []string, depth int) error {
	set := make(map[string]bool, len(want))
	for _, k := range want {
		set[k] = true
	}
	ks, err := e.call("Object.keys", goja.Undefined(), o)
	if err != nil {
		return err
	}
	ko, ok := ks.(*goja.Object)
	if !ok {
		return cloneError("#<Object>")
	}
	get, err := e.fn("Reflect", "get")
	if err != nil {
		return err
	}
	n := ko.Get("length").ToInteger()
	for i := int64(0); i < n; i++ {
		k, ok := ko.Get(strconv.FormatInt(i, 10)).(goja.String)
		if !ok || !set[k.String()] {
			continue
		}
		if err := e.str(k); err != nil {
			return err
		}
		v, err := get(goja.Undefined(), o, k)
		if err != nil {
			return err
		}
		if err := e.value(v, depth+1); err != nil {
			return err
		}
	}
	return e.byte1(tagEnd)
}

// arrayIndex parses a canonical array index.
func arrayIndex(k string) (uint32, bool) {
	if k == "" || len(k) > 10 || (k[0] == '0' && len(k) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

func (e *encoder) array(o *goja.Object, depth int) error {
	length := o.Get("length").ToInteger()
	if length < 0 || length > math.MaxUint32 {
		return cloneError("#<Array>")
	}
	keys := o.Keys()
	dense := int64(len(keys)) >= length
	for i := int64(0); dense && i < length; i++ {
		n, ok := arrayIndex(keys[i])
		dense = ok && int64(n) == i
	}
	if !dense {
		if err := e.uvarint(tagArray, uint64(length)); err != nil {
			return err
		}
		return e.props(o, keys, depth)
	}
	if err := e.uvarint(tagDenseArray, uint64(length)); err != nil {
		return err
	}
	for _, k := range keys[:length] {
		if err := e.value(o.Get(k), depth+1); err != nil {
			return err
		}
	}
	return e.props(o, keys[length:len(keys):len(keys)], depth)
}

func (e *encoder) collection(o *goja.Object, isMap bool, depth int) error {
	name, t := "Set", byte(tagSet)
	if isMap {
		name, t = "Map", tagMap
	}
	e.register(o)
	if err := e.byte1(t); err != nil {
		return err
	}
	// The entries are read before any is encoded: encoding runs getters,
	// which may change the collection.
	var items []goja.Value
	cb := e.vm.ToValue(func(c goja.FunctionCall) goja.Value {
		if isMap {
			items = append(items, c.Argument(1))
		}
		items = append(items, c.Argument(0))
		return goja.Undefined()
	})
	if _, err := e.call(name+".prototype.forEach", o, cb); err != nil {
		return err
	}
	for _, v := range items {
		if err := e.value(v, depth+1); err != nil {
			return err
		}
	}
	return e.byte1(tagEnd)
}

func (e *encoder) view(o *goja.Object, kind int, depth int) error {
	vk := viewKinds[kind]
	bo, ok := o.Get("buffer").(*goja.Object)
	if !ok {
		return cloneError("#<" + vk.name + ">")
	}
	ab, ok := asArrayBuffer(bo)
	if !ok || ab.Shared() {
		return cloneError("#<" + vk.name + ">")
	}
	oob, tracking, _ := goja.ViewBounds(o)
	if oob {
		return cloneError("An ArrayBuffer view out of the bounds of its buffer")
	}
	lengthProp := "length"
	if kind == kindDataView {
		lengthProp = "byteLength"
	}
	off, n := o.Get("byteOffset").ToInteger(), o.Get(lengthProp).ToInteger()
	size := int64(len(ab.Bytes()))
	if off < 0 || n < 0 || off > size || n > (size-off)/int64(vk.size) {
		return cloneError("#<" + vk.name + ">")
	}
	tag := byte(tagView)
	if tracking {
		tag = tagTracking
	}
	if err := e.byte1(tag); err != nil {
		return err
	}
	if err := e.byte1(byte(kind)); err != nil {
		return err
	}
	if err := e.object(bo, depth+1); err != nil {
		return err
	}
	if err := e.room(2 * binary.MaxVarintLen64); err != nil {
		return err
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(off))
	if !tracking {
		e.buf = binary.AppendUvarint(e.buf, uint64(n))
	}
	e.register(o)
	return nil
}

func (e *encoder) error(o *goja.Object, depth int) error {
	kind := 0
	if n, ok := o.Get("name").(goja.String); ok {
		for k, name := range errorNames {
			if n.String() == name {
				kind = k
			}
		}
	}
	e.register(o)
	var flags byte
	var msg, stack goja.String
	hasMessage, err := e.call("Object.prototype.hasOwnProperty", o, e.vm.ToValue("message"))
	if err != nil {
		return err
	}
	if m := o.Get("message"); hasMessage.ToBoolean() && m != nil && !goja.IsUndefined(m) {
		ms, ok := m.ToString().(goja.String)
		if !ok {
			return cloneError("#<Error>")
		}
		msg = ms
		flags |= errHasMessage
	}
	if s, ok := o.Get("stack").(goja.String); ok {
		stack = s
		flags |= errHasStack
	}
	cause := o.Get("cause")
	if cause != nil && !goja.IsUndefined(cause) {
		flags |= errHasCause
	}
	if err := e.room(3); err != nil {
		return err
	}
	e.buf = append(e.buf, tagError, byte(kind), flags)
	if msg != nil {
		if err := e.str(msg); err != nil {
			return err
		}
	}
	if stack != nil {
		if err := e.str(stack); err != nil {
			return err
		}
	}
	if flags&errHasCause != 0 {
		return e.value(cause, depth+1)
	}
	return nil
}
