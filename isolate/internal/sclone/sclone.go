package sclone

import (
	"errors"
	"math/big"
	"reflect"

	"github.com/dop251/goja"
)

// version is the first byte of every encoding.
const version = 1

// maxDepth bounds nesting, on both sides: the walks are recursive in Go, and
// a Go stack overflow would kill the process. It is webapi's structuredClone
// bound.
const maxDepth = 2000

// maxSafe bounds the integers written as 'I' (2^53).
const maxSafe = 1 << 53

// Tags: see the package documentation.
const (
	tagUndefined  = '_'
	tagNull       = '0'
	tagTrue       = 'T'
	tagFalse      = 'F'
	tagInt        = 'I'
	tagFloat      = 'N'
	tagBigInt     = 'Z'
	tagUTF8       = '"'
	tagUTF16      = 'c'
	tagRef        = '^'
	tagDate       = 'D'
	tagRegExp     = 'R'
	tagTrueObj    = 'y'
	tagFalseObj   = 'x'
	tagNumberObj  = 'n'
	tagStringObj  = 's'
	tagBigIntObj  = 'z'
	tagDenseArray = 'A'
	tagArray      = 'a'
	tagObject     = 'o'
	tagMap        = 'M'
	tagSet        = 'S'
	tagBuffer     = 'B'
	tagResizable  = 'b'
	tagView       = 'V'
	tagTracking   = 'v'
	tagError      = 'E'
	tagEnd        = '}'
)

// Error flags.
const (
	errHasMessage = 1 << iota
	errHasStack
	errHasCause
	errFlags = errHasMessage | errHasStack | errHasCause
)

// maxResizableByteLength is the largest maxByteLength goja accepts for a
// resizable ArrayBuffer.
const maxResizableByteLength = 1 << 40

// canonicalNaN is the bits written for every NaN.
const canonicalNaN = 0x7FF8000000000000

// ErrTooLarge is matched (errors.Is) by the *DataCloneError Encode returns
// when the encoding would exceed its bound.
var ErrTooLarge = errors.New("sclone: value too large")

// ErrInterrupted is returned by EncodeInterruptible and DecodeInterruptible
// when their interrupted function reported true.
var ErrInterrupted = errors.New("sclone: interrupted")

// stopEvery is one less than how many values an encoding or decoding
// handles between looks at its interrupted function.
const stopEvery = 1<<12 - 1

// stop asks an interrupted function every stopEvery+1 values.
type stop struct {
	interrupted func() bool
	n           int
}

func (s *stop) stopped() bool {
	s.n++
	return s.n&stopEvery == 0 && s.interrupted != nil && s.interrupted()
}

// ErrMalformed is wrapped by the errors Decode returns for bytes that are not
// an encoding.
var ErrMalformed = errors.New("sclone: malformed data")

// DataCloneError reports a value that cannot be cloned. Error returns Msg;
// the caller throws a DOMException named "DataCloneError" with it.
type DataCloneError struct {
	Msg string
	err error // what it wraps, if anything (ErrTooLarge)
}

func (e *DataCloneError) Error() string { return e.Msg }

// Unwrap returns ErrTooLarge for a size error, else nil.
func (e *DataCloneError) Unwrap() error { return e.err }

// viewKinds names the view constructors by kind, with the Go type goja
// exports each typed array as and its element size.
var viewKinds = [...]struct {
	name string
	typ  reflect.Type
	size int
}{
	{"Int8Array", reflect.TypeOf([]int8(nil)), 1},
	{"Uint8Array", reflect.TypeOf([]uint8(nil)), 1},
	{"Uint8ClampedArray", reflect.TypeOf([]uint8(nil)), 1},
	{"Int16Array", reflect.TypeOf([]int16(nil)), 2},
	{"Uint16Array", reflect.TypeOf([]uint16(nil)), 2},
	{"Int32Array", reflect.TypeOf([]int32(nil)), 4},
	{"Uint32Array", reflect.TypeOf([]uint32(nil)), 4},
	{"Float32Array", reflect.TypeOf([]float32(nil)), 4},
	{"Float64Array", reflect.TypeOf([]float64(nil)), 8},
	{"BigInt64Array", reflect.TypeOf([]int64(nil)), 8},
	{"BigUint64Array", reflect.TypeOf([]uint64(nil)), 8},
	{"DataView", nil, 1},
}

const kindDataView = len(viewKinds) - 1

// typedArrayTypes holds the export types of goja's typed arrays, which guest
// code cannot fake.
var typedArrayTypes = func() map[reflect.Type]bool {
	m := map[reflect.Type]bool{}
	for _, k := range viewKinds {
		if k.typ != nil {
			m[k.typ] = true
		}
	}
	return m
}()

// errorNames are the Error constructors by kind.
var errorNames = [...]string{"Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"}

// Export types that tell goja's built-in objects apart. Guest code cannot
// fake them: they come from the kind of goja's internal object.
var (
	plainType       = reflect.TypeOf(map[string]any(nil))
	mapType         = reflect.TypeOf([][2]any(nil))
	setType         = reflect.TypeOf([]any(nil))
	bigIntType      = reflect.TypeOf((*big.Int)(nil))
	arrayBufferType = reflect.TypeOf(goja.ArrayBuffer{})
	proxyType       = reflect.TypeOf(goja.Proxy{})
	promiseType     = reflect.TypeOf((*goja.Promise)(nil))
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

// lookup returns the global built-in at path (e.g. "Map", "prototype",
// "set"), or nil. Built-ins are read from the global object, so guest code
// that replaced one gets what it asked for; every use checks the type.
func lookup(vm *goja.Runtime, path ...string) *goja.Object {
	var v goja.Value = vm.GlobalObject()
	for _, p := range path {
		o, ok := v.(*goja.Object)
		if !ok {
			return nil
		}
		v = o.Get(p)
	}
	o, _ := v.(*goja.Object)
	return o
}
