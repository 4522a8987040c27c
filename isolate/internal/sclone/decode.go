package sclone

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

type decoder struct {
	vm   *goja.Runtime
	b    []byte // what remains
	objs []goja.Value
	fns  map[string]*goja.Object // built-ins used, by name
	stop
}

// Decode decodes an encoding made by Encode into vm. Bytes that are not one
// fail with an error wrapping ErrMalformed (or, when a built-in constructor
// rejects what they describe, the *goja.Exception it threw).
func Decode(vm *goja.Runtime, b []byte) (goja.Value, error) {
	return DecodeInterruptible(vm, b, nil)
}

// DecodeInterruptible is Decode, asking interrupted (if not nil) every few
// thousand values whether to give up with ErrInterrupted (see
// EncodeInterruptible).
func DecodeInterruptible(vm *goja.Runtime, b []byte, interrupted func() bool) (goja.Value, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, b[0])
	}
	d := &decoder{vm: vm, b: b[1:], stop: stop{interrupted: interrupted}}
	var v goja.Value
	var err error
	if ex := vm.Try(func() { v, err = d.value(0) }); ex != nil {
		return nil, ex
	}
	if err != nil {
		return nil, err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(d.b))
	}
	return v, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

var errShort = fmt.Errorf("%w: truncated", ErrMalformed)

func (d *decoder) byte1() (byte, error) {
	if len(d.b) == 0 {
		return 0, errShort
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, malformed("bad varint")
	}
	d.b = d.b[n:]
	return x, nil
}

// length reads a count of items each taking at least unit bytes, checked
// against what remains.
func (d *decoder) length(unit int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)/unit) {
		return 0, errShort
	}
	return int(n), nil
}

func (d *decoder) take(n int) []byte {
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) float() (float64, error) {
	if len(d.b) < 8 {
		return 0, errShort
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(d.take(8))), nil
}

// builtin returns the global constructor name.
func (d *decoder) builtin(name string) (*goja.Object, error) {
	if c := d.fns[name]; c != nil {
		return c, nil
	}
	c := lookup(d.vm, name)
	if c == nil {
		return nil, fmt.Errorf("sclone: %s is not available", name)
	}
	if d.fns == nil {
		d.fns = make(map[string]*goja.Object)
	}
	d.fns[name] = c
	return c, nil
}

func (d *decoder) construct(name string, args ...goja.Value) (*goja.Object, error) {
	c, err := d.builtin(name)
	if err != nil {
		return nil, err
	}
	return d.vm.New(c, args...)
}

// method returns the built-in ctor.prototype[name].
func (d *decoder) method(ctor, name string) (goja.Callable, error) {
	key := ctor + ".prototype." + name
	if f := d.fns[key]; f != nil {
		fn, _ := goja.AssertFunction(f)
		return fn, nil
	}
	c, err := d.builtin(ctor)
	if err != nil {
		return nil, err
	}
	f, _ := c.Get("prototype").(*goja.Object)
	if f != nil {
		f, _ = f.Get(name).(*goja.Object)
	}
	fn, ok := goja.AssertFunction(f)
	if !ok {
		return nil, fmt.Errorf("sclone: %s is not available", key)
	}
	d.fns[key] = f
	return fn, nil
}

func (d *decoder) add(o goja.Value) {
	d.objs = append(d.objs, o)
}

// str reads a string value. goStr is its Go form when that is exact.
func (d *decoder) str() (v goja.Value, goStr string, exact bool, err error) {
	t, err := d.byte1()
	if err != nil {
		return nil, "", false, err
	}
	switch t {
	case tagUTF8:
		n, err := d.length(1)
		if err != nil {
			return nil, "", false, err
		}
		p := d.take(n)
		if !utf8.Valid(p) {
			return nil, "", false, malformed("invalid UTF-8")
		}
		s := string(p)
		return d.vm.ToValue(s), s, true, nil
	case tagUTF16:
		n, err := d.length(2)
		if err != nil {
			return nil, "", false, err
		}
		units := make([]uint16, n)
		for i := range units {
			units[i] = binary.LittleEndian.Uint16(d.b[2*i:])
		}
		d.b = d.b[2*n:]
		if !hasLoneSurrogate(units) {
			s := string(utf16.Decode(units))
			return d.vm.ToValue(s), s, true, nil
		}
		return goja.StringFromUTF16(units), "", false, nil
	}
	return nil, "", false, malformed("tag %q where a string belongs", t)
}

func (d *decoder) number() (goja.Value, error) {
	t, err := d.byte1()
	if err != nil {
		return nil, err
	}
	switch t {
	case tagInt:
		x, n := binary.Varint(d.b)
		if n <= 0 {
			return nil, malformed("bad varint")
		}
		d.b = d.b[n:]
		if x <= -maxSafe || x >= maxSafe {
			return nil, malformed("integer out of range")
		}
		return d.vm.ToValue(x), nil
	case tagFloat:
		f, err := d.float()
		if err != nil {
			return nil, err
		}
		return d.vm.ToValue(f), nil
	}
	return nil, malformed("tag %q where a number belongs", t)
}

func (d *decoder) bigint() (goja.Value, error) {
	t, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if t != tagBigInt {
		return nil, malformed("tag %q where a bigint belongs", t)
	}
	l, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	neg := l&1 == 1
	l >>= 1
	if l > uint64(len(d.b)) {
		return nil, errShort
	}
	mag := d.take(int(l))
	if (l > 0 && mag[0] == 0) || (l == 0 && neg) {
		return nil, malformed("non-canonical bigint")
	}
	n := new(big.Int).SetBytes(mag)
	if neg {
		n.Neg(n)
	}
	return d.vm.ToValue(n), nil
}

func (d *decoder) value(depth int) (goja.Value, error) {
	if d.stopped() {
		return nil, ErrInterrupted
	}
	if depth > maxDepth {
		return nil, malformed("nested more than %d levels deep", maxDepth)
	}
	if len(d.b) == 0 {
		return nil, errShort
	}
	vm := d.vm
	switch t := d.b[0]; t {
	case tagUndefined, tagNull, tagTrue, tagFalse:
		d.b = d.b[1:]
		switch t {
		case tagUndefined:
			return goja.Undefined(), nil
		case tagNull:
			return goja.Null(), nil
		case tagTrue:
			return vm.ToValue(true), nil
		}
		return vm.ToValue(false), nil
	case tagInt, tagFloat:
		return d.number()
	case tagBigInt:
		return d.bigint()
	case tagUTF8, tagUTF16:
		v, _, _, err := d.str()
		return v, err
	}
	t := d.b[0]
	d.b = d.b[1:]
	switch t {
	case tagRef:
		id, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		if id >= uint64(len(d.objs)) {
			return nil, malformed("reference to object %d of %d", id, len(d.objs))
		}
		return d.objs[id], nil
	case tagDate:
		f, err := d.float()
		if err != nil {
			return nil, err
		}
		o, err := d.construct("Date", vm.ToValue(f))
		if err != nil {
			return nil, err
		}
		d.add(o)
		return o, nil
	case tagRegExp:
		src, _, _, err := d.str()
		if err != nil {
			return nil, err
		}
		flags, _, _, err := d.str()
		if err != nil {
			return nil, err
		}
		o, err := d.construct("RegExp", src, flags)
		if err != nil {
			return nil, err
		}
		d.add(o)
		return o, nil
	case tagTrueObj, tagFalseObj:
		o := vm.ToValue(t == tagTrueObj).ToObject(vm)
		d.add(o)
		return o, nil
	case tagNumberObj, tagStringObj, tagBigIntObj:
		var p goja.Value
		var err error
		switch t {
		case tagNumberObj:
			p, err = d.number()
		case tagStringObj:
			p, _, _, err = d.str()
		default:
			p, err = d.bigint()
		}
		if err != nil {
			return nil, err
		}
		o := p.ToObject(vm)
		d.add(o)
		return o, nil
	case tagDenseArray:
		return d.denseArray(depth)
	case tagArray:
		return d.sparseArray(depth)
	case tagObject:
		o := vm.NewObject()
		d.add(o)
		return o, d.props(o, depth, false, false)
	case tagMap, tagSet:
		return d.collection(t == tagMap, depth)
	case tagBuffer:
		n, err := d.length(1)
		if err != nil {
			return nil, err
		}
		data := make([]byte, n)
		copy(data, d.take(n))
		o := vm.ToValue(vm.NewArrayBuffer(data))
		d.add(o)
		return o, nil
	case tagResizable:
		maxLen, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		n, err := d.length(1)
		if err != nil {
			return nil, err
		}
		// Nothing is allocated for maxByteLength: a resizable buffer
		// allocates as it grows.
		if maxLen < uint64(n) || maxLen > maxResizableByteLength {
			return nil, malformed("resizable ArrayBuffer of %d bytes with maxByteLength %d", n, maxLen)
		}
		data := make([]byte, n)
		copy(data, d.take(n))
		o := vm.ToValue(vm.NewResizableArrayBuffer(data, int(maxLen)))
		d.add(o)
		return o, nil
	case tagView, tagTracking:
		return d.view(depth, t == tagTracking)
	case tagError:
		return d.error(depth)
	}
	return nil, malformed("unknown tag %q", t)
}

// define defines o[key] = v as an own enumerable data property.
func (d *decoder) define(o *goja.Object, key goja.Value, goKey string, exact bool, v goja.Value) error {
	if exact {
		return o.DefineDataProperty(goKey, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
	}
	c, err := d.builtin("Object")
	if err != nil {
		return err
	}
	defineProperty, ok := goja.AssertFunction(c.Get("defineProperty"))
	if !ok {
		return fmt.Errorf("sclone: Object.defineProperty is not available")
	}
	desc := d.vm.NewObject()
	for _, f := range []string{"writable", "enumerable", "configurable"} {
		if err := desc.Set(f, true); err != nil {
			return err
		}
	}
	if err := desc.Set("value", v); err != nil {
		return err
	}
	_, err = defineProperty(goja.Undefined(), o, key, desc)
	return err
}

// props reads properties into o up to the end tag. For an array (isArray),
// "length" is refused, and so are indexes after dense elements (dense):
// Encode writes neither, and either could make goja give the array memory
// its input did not pay for.
func (d *decoder) props(o *goja.Object, depth int, isArray, dense bool) error {
	for {
		if len(d.b) == 0 {
			return errShort
		}
		if d.b[0] == tagEnd {
			d.b = d.b[1:]
			return nil
		}
		k, gk, exact, err := d.str()
		if err != nil {
			return err
		}
		if isArray && exact {
			if _, isIndex := arrayIndex(gk); gk == "length" || dense && isIndex {
				return malformed("array property %q", gk)
			}
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		if err := d.define(o, k, gk, exact, v); err != nil {
			return err
		}
	}
}

func (d *decoder) denseArray(depth int) (goja.Value, error) {
	a := d.vm.NewArray()
	d.add(a)
	n, err := d.length(1)
	if err != nil {
		return nil, err
	}
	if n >= math.MaxUint32 {
		return nil, malformed("array too long")
	}
	for i := 0; i < n; i++ {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := a.DefineDataProperty(strconv.Itoa(i), v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
			return nil, err
		}
	}
	return a, d.props(a, depth, true, true)
}

// farIndex is the last array index. Defined first, it makes goja keep the
// array sparse, so that its memory follows its elements, not its length.
const farIndex = "4294967294"

func (d *decoder) sparseArray(depth int) (goja.Value, error) {
	a := d.vm.NewArray()
	d.add(a)
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > math.MaxUint32 {
		return nil, malformed("array too long")
	}
	// At the greatest length the index is a real one: a sentinel then
	// tells whether the encoding defined it.
	var far goja.Value = goja.Undefined()
	if n == math.MaxUint32 {
		far = d.vm.NewObject()
	}
	if err := a.DefineDataProperty(farIndex, far, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
		return nil, err
	}
	if err := d.props(a, depth, true, false); err != nil {
		return nil, err
	}
	if n < math.MaxUint32 {
		return a, a.Set("length", n)
	}
	if a.Get(farIndex) == far {
		return a, a.Delete(farIndex)
	}
	return a, nil
}

func (d *decoder) collection(isMap bool, depth int) (goja.Value, error) {
	name, method := "Set", "add"
	if isMap {
		name, method = "Map", "set"
	}
	o, err := d.construct(name)
	if err != nil {
		return nil, err
	}
	d.add(o)
	add, err := d.method(name, method)
	if err != nil {
		return nil, err
	}
	args := make([]goja.Value, 1, 2)
	for {
		if len(d.b) == 0 {
			return nil, errShort
		}
		if d.b[0] == tagEnd {
			d.b = d.b[1:]
			return o, nil
		}
		args = args[:1]
		if args[0], err = d.value(depth + 1); err != nil {
			return nil, err
		}
		if isMap {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		if _, err := add(o, args...); err != nil {
			return nil, err
		}
	}
}

// view decodes a 'V' view, or a 'v' one (tracking) that follows the length
// of its resizable buffer.
func (d *decoder) view(depth int, tracking bool) (goja.Value, error) {
	kind, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if int(kind) >= len(viewKinds) {
		return nil, malformed("unknown view kind %d", kind)
	}
	vk := viewKinds[kind]
	bv, err := d.value(depth + 1)
	if err != nil {
		return nil, err
	}
	bo, ok := bv.(*goja.Object)
	if !ok {
		return nil, malformed("a view of no ArrayBuffer")
	}
	ab, ok := asArrayBuffer(bo)
	if !ok {
		return nil, malformed("a view of no ArrayBuffer")
	}
	off, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	size := uint64(len(ab.Bytes()))
	if tracking {
		if !ab.Resizable() || off > size || off%uint64(vk.size) != 0 {
			return nil, malformed("length-tracking %s out of its buffer", vk.name)
		}
		o, err := d.construct(vk.name, bo, d.vm.ToValue(off))
		if err != nil {
			return nil, err
		}
		d.add(o)
		return o, nil
	}
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if off > size || n > (size-off)/uint64(vk.size) || off%uint64(vk.size) != 0 {
		return nil, malformed("%s out of its buffer", vk.name)
	}
	o, err := d.construct(vk.name, bo, d.vm.ToValue(off), d.vm.ToValue(n))
	if err != nil {
		return nil, err
	}
	d.add(o)
	return o, nil
}

func (d *decoder) error(depth int) (goja.Value, error) {
	if len(d.b) < 2 {
		return nil, errShort
	}
	kind, flags := d.b[0], d.b[1]
	d.b = d.b[2:]
	if int(kind) >= len(errorNames) || flags&^errFlags != 0 {
		return nil, malformed("bad error kind or flags")
	}
	var args []goja.Value
	if flags&errHasMessage != 0 {
		m, _, _, err := d.str()
		if err != nil {
			return nil, err
		}
		args = append(args, m)
	}
	var stack goja.Value
	if flags&errHasStack != 0 {
		s, _, _, err := d.str()
		if err != nil {
			return nil, err
		}
		stack = s
	}
	o, err := d.construct(errorNames[kind], args...)
	if err != nil {
		return nil, err
	}
	d.add(o)
	if stack != nil {
		if err := o.DefineDataProperty("stack", stack, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			return nil, err
		}
	}
	if flags&errHasCause != 0 {
		c, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := o.DefineDataProperty("cause", c, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			return nil, err
		}
	}
	return o, nil
}
