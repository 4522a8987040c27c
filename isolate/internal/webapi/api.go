package webapi

import (
	"crypto/rand"
	"io"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/intl"
)

// Header is one HTTP header field crossing the Go/JS boundary.
type Header struct{ Name, Value string }

// HTTPRequest is a request crossing the Go/JS boundary.
type HTTPRequest struct {
	Method  string
	URL     string
	Headers []Header
	Body    []byte // nil: no body
	// Stream, when not nil, is the body instead of Body: set by
	// ExportRequest for a stream body (see BodyStream).
	Stream *BodyStream
	// CF is request.cf, its properties in order; nil leaves it
	// undefined, an empty non-nil slice makes it an empty object.
	CF []Field
}

// Field is one property of a plain object crossing the Go/JS boundary.
type Field struct {
	Name  string
	Value any // a string or a number
}

// HTTPResponse is a response crossing the Go/JS boundary.
type HTTPResponse struct {
	Status     int
	StatusText string
	// Headers has lower-case names in Headers iteration order: sorted, values
	// of a repeated name combined with ", ", set-cookie kept separate.
	Headers []Header
	Body    []byte
	// Stream, when not nil, is the body instead of Body (which is then
	// nil): a ReadableStream to read with Stream.Read on the runtime's
	// goroutine.
	Stream *BodyStream
}

// Options configures Install. The zero value is usable.
type Options struct {
	// Log receives console.* output; level is "log", "info", "warn", "error"
	// or "debug". Nil discards (and skips formatting).
	Log func(level, message string)
	// MaxMessage bounds the bytes of one console message: a longer one is
	// cut, with a marker saying how many bytes were cut, to MaxMessage
	// bytes in all (0: DefaultMaxMessage).
	MaxMessage int
	// Rand feeds crypto.getRandomValues and crypto.randomUUID; nil means
	// crypto/rand.
	Rand io.Reader
	// Now is the clock for performance.now(), performance.timeOrigin,
	// Event.timeStamp and console.time; nil means time.Now. Date is not
	// affected.
	Now func() time.Time
	// Extra adds globals of the embedder's, built lazily like the Web API's
	// own (nil: none).
	Extra *ExtraGlobals
	// MaxBodyBytes bounds the bytes that reading a stream body to its end
	// (text(), arrayBuffer(), ...) may gather: past it the read rejects
	// with a RangeError and the stream is canceled (0: DefaultMaxBody).
	MaxBodyBytes int
	// Interrupted reports whether the runtime was interrupted for a limit:
	// long Go work (an HTMLRewriter's) stops when it does. Nil: never.
	Interrupted func() bool
	// LocaleMethods makes the built-ins' toLocaleString, toLocaleDateString,
	// toLocaleTimeString and localeCompare use Intl from the start. Set it
	// for scripts that name them (UsesLocaleMethods): patching the built-in
	// prototypes costs more than a small Worker's whole run. Without it they
	// are patched when Intl is first used.
	LocaleMethods bool
	// ArrayBufferAllocated, if set, is called with the bytes of every
	// ArrayBuffer the Web API makes over memory of its own (a body read, a
	// digest, a structured clone, TextEncoder's output), as
	// goja.Runtime.SetArrayBufferAllocHook is for the runtime's own; not for
	// buffers over memory it shares (a transfer).
	ArrayBufferAllocated func(data []byte)
	// AllowAlloc, if set, is the runtime's allocation guard
	// (goja.Runtime.SetAllocGuard), asked before the Web API allocates at
	// once a block whose size it knows in advance and that need not be
	// as large as anything the guest holds (a Blob made of one buffer
	// named many times): false refuses it, and the call throws V8's
	// RangeError instead.
	AllowAlloc func(size int, kind goja.AllocKind) bool
}

// UsesLocaleMethods reports whether script names one of the built-ins'
// locale-sensitive methods (see Options.LocaleMethods).
func UsesLocaleMethods(script string) bool { return intl.UsesLocaleMethods(script) }

// DefaultMaxBody is the default of Options.MaxBodyBytes: the memory a
// Worker has on Cloudflare.
const DefaultMaxBody = 128 << 20

// ExtraGlobals are globals an embedder adds (timers, fetch): Names maps each
// name to an index below 64 and is read-only (share one map between
// runtimes); Build makes the value on first use.
type ExtraGlobals struct {
	Names map[string]int
	Build func(index int) goja.Value
}

// API is the Web API surface installed into one goja runtime. It belongs to
// that runtime: use it only from the goroutine that runs the runtime.
type API struct {
	vm  *goja.Runtime
	log func(level, message string)
	// maxMessage is Options.MaxMessage, defaulted.
	maxMessage  int
	rand        io.Reader
	now         func() time.Time
	interrupted func() bool
	abAllocated func(data []byte)                        // Options.ArrayBufferAllocated
	allowAlloc  func(size int, kind goja.AllocKind) bool // Options.AllowAlloc
	origin      time.Time

	globals   *lazyGlobals
	extra     *ExtraGlobals
	classes   [numClasses]*class
	intr      intrinsics
	events    *eventsJS
	domExc    *goja.Object
	hasInst   *goja.Object
	fnHasInst goja.Value
	iterBase  *goja.Object
	console   *consoleState
	strm      *streamsRT // nil until streams are first used
	// lazyFactory makes lazy body streams and lazies maps each to its
	// state (lazybody.go); nil until the first.
	lazyFactory goja.Callable
	lazies      map[*goja.Object]*lazyStream
	maxBody     int
	// inspectSym is Symbol.for("nodejs.util.inspect.custom"), once looked up.
	inspectSym *goja.Symbol
	// rewriting is the HTMLRewriter run whose handlers are being called.
	rewriting *rewriteRun
	intl      intl.Intl
}

// Install makes the Web API globals available in vm and returns the handle
// used to move requests and responses across the Go/JS boundary.
//
// Install does almost no work: every global is built on its first use, by a
// lazy object placed between the global object and its prototype, and then
// becomes an ordinary (writable, configurable, non-enumerable) property of
// the global object.
func Install(vm *goja.Runtime, opts Options) *API {
	a := &API{vm: vm, log: opts.Log, maxMessage: opts.MaxMessage, rand: opts.Rand, now: opts.Now, extra: opts.Extra, maxBody: opts.MaxBodyBytes,
		interrupted: opts.Interrupted, abAllocated: opts.ArrayBufferAllocated, allowAlloc: opts.AllowAlloc}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBody
	}
	if a.maxMessage <= 0 {
		a.maxMessage = DefaultMaxMessage
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.origin = a.now()
	a.intl = intl.New(vm)
	if opts.LocaleMethods {
		a.intl.PatchBuiltins()
	}
	a.globals = &lazyGlobals{a: a}
	g := vm.GlobalObject()
	lazy := vm.NewDynamicObject(a.globals)
	_ = lazy.SetPrototype(g.Prototype())
	_ = g.SetPrototype(lazy)
	return a
}

// globalID names one lazily built global.
type globalID int

const (
	gRequest globalID = iota
	gResponse
	gHeaders
	gBlob
	gURL
	gURLSearchParams
	gTextEncoder
	gTextDecoder
	gAtob
	gBtoa
	gConsole
	gCrypto
	gCryptoKey
	gStructuredClone
	gAbortController
	gAbortSignal
	gEvent
	gEventTarget
	gDOMException
	gPerformance
	gNavigator
	gSelf
	gFormData
	gFile
	gHTMLRewriter
	gIntl
	// The stream globals come last: buildGlobal takes them from the
	// streams prelude by name.
	gReadableStream
	gStreamReader
	gStreamBYOBReader
	gStreamBYOBRequest
	gStreamController
	gByteStreamController
	gWritableStream
	gWriter
	gWritableController
	gTransformStream
	gTransformController
	gByteLengthQueuingStrategy
	gCountQueuingStrategy
	gTextEncoderStream
	gTextDecoderStream
	gCompressionStream
	gDecompressionStream
	numGlobals
)

// lazyGlobals keeps one bit per global.
var _ [64 - numGlobals]struct{}

var streamGlobals = [...]string{
	0:                                            "ReadableStream",
	gStreamReader - gReadableStream:              "ReadableStreamDefaultReader",
	gStreamBYOBReader - gReadableStream:          "ReadableStreamBYOBReader",
	gStreamBYOBRequest - gReadableStream:         "ReadableStreamBYOBRequest",
	gStreamController - gReadableStream:          "ReadableStreamDefaultController",
	gByteStreamController - gReadableStream:      "ReadableByteStreamController",
	gWritableStream - gReadableStream:            "WritableStream",
	gWriter - gReadableStream:                    "WritableStreamDefaultWriter",
	gWritableController - gReadableStream:        "WritableStreamDefaultController",
	gTransformStream - gReadableStream:           "TransformStream",
	gTransformController - gReadableStream:       "TransformStreamDefaultController",
	gByteLengthQueuingStrategy - gReadableStream: "ByteLengthQueuingStrategy",
	gCountQueuingStrategy - gReadableStream:      "CountQueuingStrategy",
	gTextEncoderStream - gReadableStream:         "TextEncoderStream",
	gTextDecoderStream - gReadableStream:         "TextDecoderStream",
	gCompressionStream - gReadableStream:         "CompressionStream",
	gDecompressionStream - gReadableStream:       "DecompressionStream",
}

var globalNames = map[string]globalID{
	"Request":                          gRequest,
	"Response":                         gResponse,
	"Headers":                          gHeaders,
	"Blob":                             gBlob,
	"ReadableStream":                   gReadableStream,
	"ReadableStreamDefaultReader":      gStreamReader,
	"ReadableStreamBYOBReader":         gStreamBYOBReader,
	"ReadableStreamBYOBRequest":        gStreamBYOBRequest,
	"ReadableStreamDefaultController":  gStreamController,
	"ReadableByteStreamController":     gByteStreamController,
	"WritableStream":                   gWritableStream,
	"WritableStreamDefaultWriter":      gWriter,
	"WritableStreamDefaultController":  gWritableController,
	"TransformStream":                  gTransformStream,
	"TransformStreamDefaultController": gTransformController,
	"ByteLengthQueuingStrategy":        gByteLengthQueuingStrategy,
	"CountQueuingStrategy":             gCountQueuingStrategy,
	"TextEncoderStream":                gTextEncoderStream,
	"TextDecoderStream":                gTextDecoderStream,
	"CompressionStream":                gCompressionStream,
	"DecompressionStream":              gDecompressionStream,
	"FormData":                         gFormData,
	"File":                             gFile,
	"HTMLRewriter":                     gHTMLRewriter,
	"URL":                              gURL,
	"URLSearchParams":                  gURLSearchParams,
	"TextEncoder":                      gTextEncoder,
	"TextDecoder":                      gTextDecoder,
	"atob":                             gAtob,
	"btoa":                             gBtoa,
	"console":                          gConsole,
	"crypto":                           gCrypto,
	"CryptoKey":                        gCryptoKey,
	"structuredClone":                  gStructuredClone,
	"AbortController":                  gAbortController,
	"AbortSignal":                      gAbortSignal,
	"Event":                            gEvent,
	"EventTarget":                      gEventTarget,
	"DOMException":                     gDOMException,
	"performance":                      gPerformance,
	"navigator":                        gNavigator,
	"self":                             gSelf,
	"Intl":                             gIntl,
}

func (a *API) buildGlobal(id globalID) goja.Value {
	if id >= gReadableStream {
		return a.streamClass(streamGlobals[id-gReadableStream])
	}
	switch id {
	case gRequest:
		return a.classCtor(clsRequest)
	case gResponse:
		return a.classCtor(clsResponse)
	case gHeaders:
		return a.classCtor(clsHeaders)
	case gBlob:
		return a.classCtor(clsBlob)
	case gFormData:
		return a.classCtor(clsFormData)
	case gFile:
		return a.classCtor(clsFile)
	case gHTMLRewriter:
		return a.classCtor(clsHTMLRewriter)
	case gURL:
		return a.classCtor(clsURL)
	case gURLSearchParams:
		return a.classCtor(clsURLSearchParams)
	case gTextEncoder:
		return a.classCtor(clsTextEncoder)
	case gTextDecoder:
		return a.classCtor(clsTextDecoder)
	case gCryptoKey:
		return a.classCtor(clsCryptoKey)
	case gAtob:
		return a.newFunc("atob", 1, a.atob)
	case gBtoa:
		return a.newFunc("btoa", 1, a.btoa)
	case gStructuredClone:
		return a.newFunc("structuredClone", 1, a.structuredClone)
	case gConsole:
		return a.newLazyObject(consoleMembers, true, nil)
	case gCrypto:
		return a.newLazyObject(cryptoMembers, true, nil)
	case gPerformance:
		return a.newLazyObject(performanceMembers, true, nil)
	case gNavigator:
		return a.newLazyObject(navigatorMembers, true, nil)
	case gAbortController:
		return a.eventClasses().Get("AbortController")
	case gAbortSignal:
		return a.eventClasses().Get("AbortSignal")
	case gEvent:
		return a.eventClasses().Get("Event")
	case gEventTarget:
		return a.eventClasses().Get("EventTarget")
	case gDOMException:
		return a.domExceptionClass()
	case gSelf:
		return a.vm.GlobalObject()
	case gIntl:
		return a.intl.Namespace()
	}
	return goja.Undefined()
}

// lazyGlobals is the dynamic object between the global object and its
// prototype. A global name that was never touched is answered here; the
// first Get builds the value and defines it on the global object itself, so
// later lookups never come back here (and a deleted global stays deleted).
type lazyGlobals struct {
	a    *API
	done uint64 // bit id: global id was defined or deleted
	// vals holds the globals a frozen global object refused to take.
	vals      map[globalID]goja.Value
	extraDone uint64 // bit i: extra global i was defined or deleted
}

func (l *lazyGlobals) Get(key string) goja.Value {
	id, ok := globalNames[key]
	if !ok {
		return l.getExtra(key)
	}
	if l.done&(1<<id) != 0 {
		return nil
	}
	v := l.vals[id]
	if v == nil {
		v = l.a.buildGlobal(id)
	}
	// A frozen global object refuses the definition; the value then keeps
	// being answered from here.
	if l.a.vm.GlobalObject().DefineDataProperty(key, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE) == nil {
		l.done |= 1 << id
		delete(l.vals, id)
	} else {
		if l.vals == nil {
			l.vals = map[globalID]goja.Value{}
		}
		l.vals[id] = v
	}
	return v
}

func (l *lazyGlobals) getExtra(key string) goja.Value {
	x := l.a.extra
	if x == nil {
		return nil
	}
	i, ok := x.Names[key]
	if !ok || l.extraDone&(1<<i) != 0 {
		return nil
	}
	v := x.Build(i)
	if l.a.vm.GlobalObject().DefineDataProperty(key, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE) == nil {
		l.extraDone |= 1 << i
	}
	return v
}

func (l *lazyGlobals) Set(key string, val goja.Value) bool { return false }

func (l *lazyGlobals) Has(key string) bool {
	id, ok := globalNames[key]
	if !ok {
		if x := l.a.extra; x != nil {
			i, ok := x.Names[key]
			return ok && l.extraDone&(1<<i) == 0
		}
		return false
	}
	return l.done&(1<<id) == 0
}

func (l *lazyGlobals) Delete(key string) bool {
	if id, ok := globalNames[key]; ok {
		l.done |= 1 << id
	} else if x := l.a.extra; x != nil {
		if i, ok := x.Names[key]; ok {
			l.extraDone |= 1 << i
		}
	}
	return true
}

func (l *lazyGlobals) Keys() []string { return nil }
