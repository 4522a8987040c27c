// Package webapi installs the Web API surface a Worker may use (Request,
// Response, Headers, URL, TextEncoder, crypto, console, ...) into a goja
// runtime, and moves requests and responses across the Go/JS boundary.
//
// # Cost
//
// A fresh runtime is made for every invocation, so Install only places one
// lazy object in the global object's prototype chain. A global is built on
// its first lookup and then becomes an ordinary global property. Classes are
// cheap to build and to instantiate: prototypes and statics create each
// method's function object on first lookup, and instances are goja dynamic
// objects over Go state whose attributes (status, url, href, ...) are answered
// directly, without accessor functions. Event, EventTarget, AbortSignal,
// AbortController and DOMException are JS compiled once per process and run
// in a runtime only when one of them is first used; so are the streams
// (stream.go), whose first use costs about 1 ms. Intl (package intl) is a
// lazy global too; the built-ins' toLocaleString and localeCompare are
// switched to it only for scripts that name them (Options.LocaleMethods) or
// once Intl is used.
//
// # Semantics
//
// WHATWG and Cloudflare Workers semantics; Workers win where they differ
// from Node (headers of incoming requests and of fetch responses are
// immutable; request methods including PATCH are upper-cased; MD5 digests
// and crypto.subtle.timingSafeEqual exist). URL parsing is
// github.com/nlnwa/whatwg-url with two patches for changes of the URL
// Standard made after its release ("^" percent-encoded in paths; a space
// ending an opaque path before "?" or "#" encoded as %20). TextDecoder
// decodes UTF-8, UTF-16 and windows-1252 itself and the other encodings of
// the Encoding Standard with golang.org/x/text/encoding/htmlindex, whose
// decoders follow that standard's.
//
// # Streams
//
// ReadableStream, WritableStream, TransformStream and the rest of the
// Streams Standard are the vendored web-streams-polyfill (stream.go,
// streams.js); the encoding and compression streams are built on them.
// Request and Response bodies are bytes in memory until a stream is asked
// for (the body attribute) or given (a stream BodyInit). Reading a body
// takes the bytes directly when its stream is one of ours that nothing has
// touched; otherwise it reads the stream. ExportResponse and ExportRequest
// give a stream body as a BodyStream, which the embedder reads chunk by
// chunk while it runs the event loop.
//
// Instances of the Go-backed classes (Request, Response, Headers, URL,
// URLSearchParams, Blob, File, FormData, TextEncoder, TextDecoder,
// CryptoKey) differ from browser objects in ways ordinary code does not
// notice: their attributes are own properties (resp.hasOwnProperty("status")
// is true), a subclass cannot override an attribute with a getter, and they
// cannot carry private fields (#x), symbol-keyed or accessor own properties,
// nor be frozen. Prototype members are not listed by
// Object.getOwnPropertyNames, and only Headers, URLSearchParams, Blob, File
// and the iterators have a Symbol.toStringTag. As WebIDL requires, the
// constructors throw TypeError when called without new (each is a Proxy of
// a native constructor: goja passes a native constructor no new.target, so
// only a construct trap can tell `C()` from `new C()`) and, like methods,
// when given fewer arguments than their length. A global that was never
// used cannot be deleted (it has no own property yet); assigning to it
// works. Event, EventTarget, AbortSignal,
// AbortController and DOMException are ordinary JS classes and have none of
// these differences.
//
// # HTMLRewriter
//
// HTMLRewriter drives package htmlrewrite's incremental Rewriter. Its
// transform returns a Response whose body is pending: produced from the
// input body when first read (see htmlrewriter.go), so that async handlers
// can run on the event loop. The embedder awaits SettleBody before
// ExportResponse. request.cf is the incoming request's HTTPRequest.CF,
// built on first use.
//
// # Not implemented
//
//   - FormData cannot be built from an HTML form (there is none).
//   - CompressionStream formats other than gzip, deflate and deflate-raw.
//   - In crypto.subtle (subtle.go has what there is): AES-GCM tags of 32
//     and 64 bits, RSA-PSS signing with an empty salt, compressed EC
//     points, algorithms Workers lacks too. crypto.DigestStream is
//     undefined.
//   - DOMException's legacy code constants (DOMException.ABORT_ERR, ...);
//     the code attribute is there.
//   - structuredClone transfers ArrayBuffers only (other transferables,
//     MessagePort and streams, do not exist here).
//   - request.fetcher, WebSocket, WebSocketPair, scheduler, EventSource,
//     MessageChannel, BroadcastChannel.
//   - performance.mark/measure and other performance entries.
//   - fetch, caches, setTimeout, queueMicrotask: installed by the event
//     loop, not here. AbortSignal.timeout uses the global setTimeout when one exists.
package webapi
