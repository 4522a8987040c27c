package webapi

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// intrinsics caches built-ins looked up by name on first use. They are read
// from the global object, so guest code that replaced one before our first
// use gets what it asked for; every use checks the type, so that can only
// change results, never break the host.
type intrinsics struct {
	byName map[string]*goja.Object
}

func (a *API) intrinsic(path ...string) *goja.Object {
	key := path[len(path)-1]
	if len(path) > 1 {
		key = path[0] + "." + key
	}
	if o := a.intr.byName[key]; o != nil {
		return o
	}
	var v goja.Value = a.vm.GlobalObject()
	for _, p := range path {
		o, ok := v.(*goja.Object)
		if !ok {
			return nil
		}
		v = o.Get(p)
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return nil
	}
	if a.intr.byName == nil {
		a.intr.byName = make(map[string]*goja.Object)
	}
	a.intr.byName[key] = o
	return o
}

// construct calls new on the named built-in constructor.
func (a *API) construct(name string, args ...goja.Value) *goja.Object {
	ctor := a.intrinsic(name)
	if ctor == nil {
		panic(a.vm.NewTypeError("%s is not available", name))
	}
	o, err := a.vm.New(ctor, args...)
	if err != nil {
		a.rethrow(err)
	}
	return o
}

// callIntrinsic calls the built-in function at path with this and args.
func (a *API) callIntrinsic(this goja.Value, args []goja.Value, path ...string) goja.Value {
	fn, ok := goja.AssertFunction(a.intrinsic(path...))
	if !ok {
		panic(a.vm.NewTypeError("%s is not available", path[len(path)-1]))
	}
	v, err := fn(this, args...)
	if err != nil {
		a.rethrow(err)
	}
	return v
}

// rethrow turns an error from a goja call back into a JS throw.
func (a *API) rethrow(err error) {
	if ex, ok := err.(*goja.Exception); ok {
		panic(ex.Value())
	}
	panic(a.vm.NewGoError(err))
}

// typeError throws a TypeError made with the global TypeError, so that
// it has the stack an embedder's TypeError gives (jsengine's V8-style
// stacks); goja's own when that is not a constructor of errors.
func (a *API) typeError(format string, args ...any) {
	msg := errorf(format, args...)
	if ctor := a.intrinsic("TypeError"); ctor != nil {
		if o, err := a.vm.New(ctor, a.vm.ToValue(msg)); err == nil && o.ClassName() == "Error" {
			panic(o)
		}
	}
	panic(a.vm.NewTypeError("%s", msg))
}

func (a *API) rangeError(format string, args ...any) {
	msg := errorf(format, args...)
	ctor := a.intrinsic("RangeError")
	if ctor != nil {
		if o, err := a.vm.New(ctor, a.vm.ToValue(msg)); err == nil {
			panic(o)
		}
	}
	panic(a.vm.NewTypeError("%s", msg))
}

// errorf formats the message of an error the Web API throws. A string
// argument longer than 256 bytes, a guest's input (a URL, a header, the
// name of an algorithm), is formatted as its start and its length
// (clipped): formatted whole, an invalid URL of 64 MB of control
// characters made a message four times as long, in one call.
func errorf(format string, args ...any) string {
	for i, v := range args {
		if s, ok := v.(string); ok && len(s) > maxQuoted {
			args[i] = clipped(s)
		}
	}
	return fmt.Sprintf(format, args...)
}

// maxQuoted is how much of a string argument errorf formats.
const maxQuoted = 256

// clipped formats (%q, %s, %v) as the first maxQuoted bytes of itself,
// cut at a character's start, and how long it is.
type clipped string

func (c clipped) Format(f fmt.State, verb rune) {
	s := string(c)
	cut := min(len(s), maxQuoted)
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if verb == 'q' {
		fmt.Fprintf(f, "%q… (%d bytes)", s[:cut], len(s))
		return
	}
	fmt.Fprintf(f, "%s… (%d bytes)", s[:cut], len(s))
}

// str converts v like WebIDL's DOMString/USVString: lone surrogates become
// U+FFFD (goja's UTF-16 to Go conversion does that) and symbols throw.
//
// goja converts a string of other than ASCII characters (a slice of
// UTF-16 code units) whole, through a slice of runes four times its
// length: one of 128 Mi characters took 0.4 s and 512 MiB out of the
// interrupt's and the memory limit's reach, and a call past its limit
// ended its worker. A long one is converted with strChunks instead. An
// ASCII string is a Go string already.
func (a *API) str(v goja.Value) string {
	s := a.jsString(v)
	if s.Length() > chunkBytes/2 && reflect.ValueOf(s).Kind() == reflect.Slice {
		var b strings.Builder
		b.Grow(s.Length())
		a.strChunks(s, func(part string) bool {
			b.WriteString(part)
			return true
		})
		return b.String()
	}
	return s.String()
}

// byteString converts v like WebIDL's ByteString: every code unit must be
// below 256 and becomes one byte.
func (a *API) byteString(v goja.Value, what string) string {
	s := a.str(v)
	return a.latin1Bytes(s, what)
}

func (a *API) latin1Bytes(s string, what string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			a.typeError("%s contains a character outside the Latin-1 range", what)
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// latin1Value makes a JS string whose code units are the bytes of s.
func (a *API) latin1Value(s string) goja.Value { return latin1String(a, s) }

// chunkBytes is how much of a long string or buffer a Web API call
// converts in one step: it looks at the interrupt between steps (see
// checkpoint), where one conversion of hundreds of megabytes ran for
// seconds out of its reach, and the worker's watchdog ended the worker.
const chunkBytes = 1 << 20

// maxStringLength is the longest string V8 makes (String::kMaxLength on
// 64-bit platforms), in UTF-16 code units, as goja's repeat and padStart
// have it: a Web API call that would make a longer one throws V8's
// RangeError, "Invalid string length".
const maxStringLength = 1<<29 - 24

// jsString converts v to a JS string as str does (symbols throw), without
// converting it to Go.
func (a *API) jsString(v goja.Value) goja.String {
	if _, ok := v.(*goja.Symbol); ok {
		a.typeError("Cannot convert a Symbol value to a string")
	}
	if v == nil {
		v = goja.Undefined()
	}
	if s, ok := v.(goja.String); ok {
		return s
	}
	if s, ok := v.ToString().(goja.String); ok {
		return s
	}
	return a.vm.ToValue(v.String()).(goja.String)
}

// strChunks calls f with s converted to Go as str converts it (lone
// surrogates become U+FFFD), a piece of at most about chunkBytes/2 code
// units at a time, never splitting a surrogate pair, and looks at the
// interrupt between pieces; f returns false to stop. goja converts a
// string whole, through a slice of runes four times its length.
func (a *API) strChunks(s goja.String, f func(part string) bool) {
	const units = chunkBytes / 2
	n := s.Length()
	if n <= units {
		f(s.String())
		return
	}
	for i := 0; i < n; {
		a.stopIfInterrupted()
		j := min(i+units, n)
		if c := s.CharAt(j - 1); j < n && c >= 0xD800 && c < 0xDC00 {
			j++ // the pair's second half with it
		}
		if !f(s.Substring(i, j).String()) {
			return
		}
		i = j
	}
}

// newString starts a JS string of units UTF-16 code units, ASCII or not,
// that a Web API call builds a piece at a time (see utf8String): past
// V8's longest string it throws V8's RangeError, and it asks the
// allocation guard for its bytes (reserve).
func (a *API) newString(units int, ascii bool) *goja.StringBuilder {
	if units > maxStringLength {
		a.rangeError("Invalid string length")
	}
	var sb goja.StringBuilder
	if ascii {
		a.reserve(int64(units), goja.AllocString)
		sb.Grow(units)
	} else {
		a.reserve(2*int64(units+1), goja.AllocString)
		sb.LikelyUnicode(units)
	}
	return &sb
}

// utf8String makes the JS string of b, well-formed UTF-8. A long one is
// measured and converted to UTF-16 a chunk at a time, looking at the
// interrupt between chunks: goja would convert it whole at its first use
// (and the guest's code meanwhile sees no interrupt).
func utf8String[T string | []byte](a *API, b T) goja.Value {
	if len(b) <= chunkBytes {
		return a.vm.ToValue(string(b))
	}
	units, ascii := 0, true
	for i := 0; i < len(b); i += chunkBytes {
		a.stopIfInterrupted()
		for _, c := range []byte(b[i:min(i+chunkBytes, len(b))]) {
			switch {
			case c < utf8.RuneSelf:
				units++
			case c >= 0xF0: // a lead of four bytes: two code units
				units += 2
				ascii = false
			case c >= 0xC0:
				units++
				ascii = false
			}
		}
	}
	sb := a.newString(units, ascii)
	for i := 0; i < len(b); {
		a.stopIfInterrupted()
		j := min(i+chunkBytes, len(b))
		for j < len(b) && b[j]&0xC0 == 0x80 {
			j++ // the rest of the character with it
		}
		sb.WriteUTF8String(string(b[i:j]))
		i = j
	}
	return sb.String()
}

// latin1String makes a JS string whose code units are the bytes of b, a
// long one a chunk at a time as utf8String does.
func latin1String[T string | []byte](a *API, b T) goja.Value {
	ascii := true
	for i := 0; i < len(b) && ascii; i += chunkBytes {
		if i > 0 {
			a.stopIfInterrupted()
		}
		for _, c := range []byte(b[i:min(i+chunkBytes, len(b))]) {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
	}
	if ascii {
		return utf8String(a, b)
	}
	if len(b) <= chunkBytes {
		r := make([]rune, len(b))
		for j := 0; j < len(b); j++ {
			r[j] = rune(b[j])
		}
		return a.vm.ToValue(string(r))
	}
	sb := a.newString(len(b), false)
	buf := make([]byte, 0, 2*chunkBytes)
	for i := 0; i < len(b); i += chunkBytes {
		a.stopIfInterrupted()
		buf = buf[:0]
		for _, c := range []byte(b[i:min(i+chunkBytes, len(b))]) {
			buf = utf8.AppendRune(buf, rune(c))
		}
		sb.WriteUTF8String(string(buf))
	}
	return sb.String()
}

func isNullish(v goja.Value) bool {
	return v == nil || goja.IsUndefined(v) || goja.IsNull(v)
}

// typedArrayKinds maps the Go export types of goja's typed arrays.
var typedArrayKinds = map[reflect.Type]bool{
	reflect.TypeOf([]uint8(nil)):   true, // Uint8Array, Uint8ClampedArray
	reflect.TypeOf([]int8(nil)):    true,
	reflect.TypeOf([]uint16(nil)):  true,
	reflect.TypeOf([]int16(nil)):   true,
	reflect.TypeOf([]uint32(nil)):  true,
	reflect.TypeOf([]int32(nil)):   true,
	reflect.TypeOf([]float32(nil)): true,
	reflect.TypeOf([]float64(nil)): true,
	reflect.TypeOf([]int64(nil)):   true,
	reflect.TypeOf([]uint64(nil)):  true,
}

// integerTypedArray reports the types crypto.getRandomValues accepts.
var integerTypedArray = map[reflect.Type]bool{
	reflect.TypeOf([]uint8(nil)):  true,
	reflect.TypeOf([]int8(nil)):   true,
	reflect.TypeOf([]uint16(nil)): true,
	reflect.TypeOf([]int16(nil)):  true,
	reflect.TypeOf([]uint32(nil)): true,
	reflect.TypeOf([]int32(nil)):  true,
	reflect.TypeOf([]int64(nil)):  true,
	reflect.TypeOf([]uint64(nil)): true,
}

var (
	arrayBufferType = reflect.TypeOf(goja.ArrayBuffer{})
	typeBytes       = reflect.TypeOf([]byte(nil))
)

// asArrayBuffer returns o as an ArrayBuffer. Export is only called once the
// type is known: on an ordinary object it would copy the whole graph.
func asArrayBuffer(o *goja.Object) (goja.ArrayBuffer, bool) {
	if o.ExportType() != arrayBufferType {
		return goja.ArrayBuffer{}, false
	}
	ab, ok := o.Export().(goja.ArrayBuffer)
	return ab, ok
}

var (
	mapExportType   = reflect.TypeOf([][2]any(nil))
	sliceExportType = reflect.TypeOf([]any(nil))
)

// isMap and isSet recognise Map and Set objects by goja's export types,
// which guest code cannot fake (goja gives them no class name).
func isMap(o *goja.Object) bool { return o.ExportType() == mapExportType && o.ClassName() == "Object" }

func isSet(o *goja.Object) bool {
	return o.ExportType() == sliceExportType && o.ClassName() == "Object"
}

// isTypedArray reports whether o is a genuine typed array. The export type
// comes from goja's internal object kind, which guest code cannot fake.
func isTypedArray(o *goja.Object) bool {
	return typedArrayKinds[o.ExportType()]
}

// bufferSource returns the bytes viewed by an ArrayBuffer, typed array or
// DataView, aliasing the JS memory (copy before keeping them): WebIDL's
// BufferSource, which refuses a SharedArrayBuffer and views over one.
func (a *API) bufferSource(v goja.Value) ([]byte, bool) {
	return a.bufferSourceOf(v, false)
}

// allowSharedBufferSource is WebIDL's AllowSharedBufferSource (what
// TextDecoder.decode takes): bufferSource, a SharedArrayBuffer and views
// over one included. No other thread can write a SharedArrayBuffer here, so
// its bytes are read as an ArrayBuffer's.
func (a *API) allowSharedBufferSource(v goja.Value) ([]byte, bool) {
	return a.bufferSourceOf(v, true)
}

// viewIsShared reports whether the typed array or DataView o views a
// SharedArrayBuffer.
func viewIsShared(o *goja.Object) bool {
	bo, ok := o.Get("buffer").(*goja.Object)
	if !ok {
		return false
	}
	ab, ok := asArrayBuffer(bo)
	return ok && ab.Shared()
}

func (a *API) bufferSourceOf(v goja.Value, allowShared bool) ([]byte, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	if ab, ok := asArrayBuffer(o); ok {
		if ab.Shared() && !allowShared {
			return nil, false
		}
		return ab.Bytes(), true
	}
	if !allowShared && (isTypedArray(o) || a.isDataView(o)) && viewIsShared(o) {
		return nil, false
	}
	if isTypedArray(o) {
		var b []byte
		if err := a.vm.ExportTo(o, &b); err != nil {
			return nil, false
		}
		return b, true
	}
	if a.isDataView(o) {
		return a.dataViewBytes(o)
	}
	return nil, false
}

// hasTag reports whether o's Symbol.toStringTag is tag. It is a cheap first
// check: looking up a built-in constructor by name would build it (goja
// creates built-ins lazily), and most objects we see are plain.
func hasTag(o *goja.Object, tag string) bool {
	v := o.GetSymbol(goja.SymToStringTag)
	return v != nil && goja.IsString(v) && v.String() == tag
}

// isDataView reports whether o is (or claims well enough to be) a DataView;
// dataViewBytes validates what such an object answers.
func (a *API) isDataView(o *goja.Object) bool {
	if !hasTag(o, "DataView") {
		return false
	}
	dv := a.intrinsic("DataView")
	return dv != nil && a.vm.InstanceOf(o, dv)
}

// dataViewBytes reads a DataView through its accessors and checks every
// answer, so an object that only pretends to be a DataView yields at most
// some bytes of a real ArrayBuffer it holds.
func (a *API) dataViewBytes(o *goja.Object) ([]byte, bool) {
	bo, ok := o.Get("buffer").(*goja.Object)
	if !ok {
		return nil, false
	}
	ab, ok := asArrayBuffer(bo)
	if !ok {
		return nil, false
	}
	buf := ab.Bytes()
	off, n := o.Get("byteOffset").ToInteger(), o.Get("byteLength").ToInteger()
	if off < 0 || n < 0 || off > int64(len(buf)) || n > int64(len(buf))-off {
		return nil, false
	}
	return buf[off : off+n], true
}

// newArrayBuffer makes an ArrayBuffer over b, memory the caller has just
// allocated and gives away (see allocated).
func (a *API) newArrayBuffer(b []byte) goja.Value {
	a.allocated(b)
	return a.vm.ToValue(a.vm.NewArrayBuffer(b))
}

// allocated tells Options.ArrayBufferAllocated of b, memory just allocated
// for an ArrayBuffer's bytes.
func (a *API) allocated(b []byte) {
	if f := a.abAllocated; f != nil && len(b) > 0 {
		f(b)
	}
}

// reserve asks Options.AllowAlloc for n bytes of kind, about to be
// allocated at once, and throws V8's RangeError if it refuses (the guard
// has then ended the call). Smaller blocks than goja.AllocGuardMin do not
// ask, as for the runtime's own.
func (a *API) reserve(n int64, kind goja.AllocKind) {
	if a.allowAlloc == nil || n < goja.AllocGuardMin {
		return
	}
	if !a.allowAlloc(int(min(n, math.MaxInt)), kind) {
		if kind == goja.AllocString {
			a.rangeError("Invalid string length")
		}
		a.rangeError("Array buffer allocation failed")
	}
}

func (a *API) newUint8Array(b []byte) goja.Value {
	return a.construct("Uint8Array", a.newArrayBuffer(b))
}

// promiseTry runs f and returns a promise of its result; a throw becomes a
// rejection, as WebIDL requires of promise-returning operations.
func (a *API) promiseTry(f func() goja.Value) goja.Value {
	p, resolve, reject := a.vm.NewPromise()
	var v goja.Value
	if ex := a.vm.Try(func() { v = f() }); ex != nil {
		_ = reject(ex.Value())
	} else {
		_ = resolve(v)
	}
	return a.vm.ToValue(p)
}

func (a *API) jsonParse(s string) goja.Value {
	return a.callIntrinsic(goja.Undefined(), []goja.Value{a.vm.ToValue(s)}, "JSON", "parse")
}

// jsonStringify returns JSON.stringify(v) and false when that is undefined.
func (a *API) jsonStringify(v goja.Value) (string, bool) {
	r := a.callIntrinsic(goja.Undefined(), []goja.Value{v}, "JSON", "stringify")
	if goja.IsUndefined(r) {
		return "", false
	}
	return r.String(), true
}

// dict reads an optional WebIDL dictionary argument.
func (a *API) dict(v goja.Value, what string) *goja.Object {
	if isNullish(v) {
		return nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		a.typeError("%s must be an object", what)
	}
	return o
}

// field returns dictionary member name, nil when absent (undefined).
func field(o *goja.Object, name string) goja.Value {
	if o == nil {
		return nil
	}
	v := o.Get(name)
	if v == nil || goja.IsUndefined(v) {
		return nil
	}
	return v
}

// checkEvery is one less than how many steps a Web API loop over the
// guest's values takes between looks at the interrupt (checkpoint).
const checkEvery = 1<<12 - 1

// checkpoint is step i of a loop over the guest's values in one host call
// (the parts of a Blob, the pairs of a HeadersInit, the objects a
// structuredClone walks). The runtime sees its interrupt only between
// instructions, and such a loop over millions of values runs for seconds
// without one (then the worker's watchdog ends the worker): once a limit
// has interrupted the runtime, the loop throws, and the runtime ends the
// call with that limit at its next instruction, a catch block's too.
func (a *API) checkpoint(i int) {
	if i&checkEvery == 0 {
		a.stopIfInterrupted()
	}
}

// stopIfInterrupted throws once a limit has interrupted the runtime (see
// checkpoint).
func (a *API) stopIfInterrupted() {
	if a.interrupted != nil && a.interrupted() {
		panic(a.plainError("interrupted"))
	}
}

// forOf iterates v with the iteration protocol.
func (a *API) forOf(v goja.Value, step func(goja.Value) bool) {
	i := 0
	a.vm.ForOf(v, func(x goja.Value) bool {
		a.checkpoint(i)
		i++
		return step(x)
	})
}

// forOfMethod is forOf with the @@iterator method already read
// (goja.Runtime.ForOfMethod).
func (a *API) forOfMethod(v, method goja.Value, step func(goja.Value) bool) {
	i := 0
	a.vm.ForOfMethod(v, method, func(x goja.Value) bool {
		a.checkpoint(i)
		i++
		return step(x)
	})
}

// iterMethod reads o's Symbol.iterator once (WebIDL's sequence conversion
// does) and returns it, nil if it is not callable; asBuilt reports that it
// is still the one class id installed, so that copying o's state gives
// what iterating it would (the fast path of `new Headers(headers)`).
func (a *API) iterMethod(o *goja.Object, id classID) (iter goja.Value, asBuilt bool) {
	iter = o.GetSymbol(goja.SymIterator)
	if _, ok := goja.AssertFunction(iter); !ok {
		return nil, false
	}
	return iter, iter == a.class(id).iter
}

// isIterable reports whether o has a callable Symbol.iterator.
func isIterable(o *goja.Object) bool {
	_, ok := goja.AssertFunction(o.GetSymbol(goja.SymIterator))
	return ok
}

// pair reads a two-element sequence (a header or search-param pair).
func (a *API) pair(v goja.Value, what string) (goja.Value, goja.Value) {
	o, ok := v.(*goja.Object)
	if !ok || !isIterable(o) {
		a.typeError("%s: each pair must be an iterable [name, value]", what)
	}
	var items [2]goja.Value
	n := 0
	a.forOf(o, func(x goja.Value) bool {
		if n < 2 {
			items[n] = x
		}
		n++
		return n <= 2
	})
	if n != 2 {
		a.typeError("%s: each pair must have exactly two items", what)
	}
	return items[0], items[1]
}

// BufferSource returns the bytes viewed by an ArrayBuffer,
// SharedArrayBuffer, typed array or DataView, aliasing the JS memory (copy
// before keeping them); false for anything else. (WebAssembly's byte
// arguments take a SharedArrayBuffer too, as in V8.)
func (a *API) BufferSource(v goja.Value) ([]byte, bool) { return a.allowSharedBufferSource(v) }

// NewArrayBuffer makes an ArrayBuffer over b, memory the caller has just
// allocated and gives away (it counts as the guest's allocation).
func (a *API) NewArrayBuffer(b []byte) goja.Value { return a.newArrayBuffer(b) }

// isUint8Array reports whether o is a Uint8Array (not a Uint8ClampedArray,
// which exports as the same Go type).
func (a *API) isUint8Array(o *goja.Object) bool {
	if o.ExportType() != typeBytes || !hasTag(o, "Uint8Array") {
		return false
	}
	u8 := a.intrinsic("Uint8Array")
	return u8 != nil && a.vm.InstanceOf(o, u8)
}

// record walks the enumerable own string-keyed properties of o as WebIDL's
// record conversion does, with each key as a USVString (lone surrogates
// replaced) and each value read by the exact key. An enumerable symbol key
// is a TypeError. Ordinary objects take a fast way; a Proxy, or an object
// with lone surrogates in its keys or with symbol keys, the spec's steps
// (ownKeys, then for each key its descriptor and its value).
func (a *API) record(o *goja.Object, fn func(key string, v goja.Value)) {
	if o.ExportType() != proxyType {
		keys := o.Keys()
		exact := len(o.Symbols()) > 0
		for _, k := range keys {
			if strings.ContainsRune(k, utf8.RuneError) {
				exact = true // Keys() may have replaced lone surrogates
				break
			}
		}
		if !exact {
			for i, k := range keys {
				a.checkpoint(i)
				fn(k, o.Get(k))
			}
			return
		}
	}
	list, _ := a.callIntrinsic(nil, []goja.Value{o}, "Reflect", "ownKeys").(*goja.Object)
	if list == nil {
		return
	}
	n := list.Get("length").ToInteger()
	for i := int64(0); i < n; i++ {
		a.checkpoint(int(i))
		k := list.Get(strconv.FormatInt(i, 10))
		desc, ok := a.callIntrinsic(nil, []goja.Value{o, k}, "Reflect", "getOwnPropertyDescriptor").(*goja.Object)
		if !ok || !desc.Get("enumerable").ToBoolean() {
			continue
		}
		if _, ok := k.(*goja.Symbol); ok {
			a.typeError("Cannot convert a Symbol value to a string")
		}
		fn(k.String(), a.callIntrinsic(nil, []goja.Value{o, k}, "Reflect", "get"))
	}
}
