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
// in a runtime only when one of them is first used. Intl (package intl) is
// a lazy global too; the built-ins' toLocaleString and localeCompare are
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
// ending an opaque path before "?" or "#" encoded as %20).
//
// Instances of the Go-backed classes (Request, Response, Headers, URL,
// URLSearchParams, Blob, TextEncoder, TextDecoder, CryptoKey) differ from
// browser objects in ways ordinary code does not notice: their attributes
// are own properties (resp.hasOwnProperty("status") is true), a subclass
// cannot override an attribute with a getter, and they cannot carry private
// fields (#x), symbol-keyed or accessor own properties, nor be frozen.
// Prototype members are not listed by Object.getOwnPropertyNames, and only
// Headers, URLSearchParams and Blob have a Symbol.toStringTag. Calling one of
// these constructors without new constructs (goja cannot tell the calls
// apart). A global that was never used cannot be deleted (it has no own
// property yet); assigning to it works. Event, EventTarget, AbortSignal,
// AbortController and DOMException are ordinary JS classes and have none of
// these differences.
//
// # Not implemented
//
//   - Streams beyond a body's own: Request/Response.body is a ReadableStream
//     of the buffered body (one chunk) that a reader can read (getReader,
//     read, releaseLock, cancel) and that can be the body of a new Request
//     or Response (the Workers way of re-wrapping one). ReadableStreams made
//     by Workers (new ReadableStream), tee, pipeTo, async iteration,
//     WritableStream, TransformStream and Blob.stream are not there.
//   - File: FormData file entries are Blobs with a name property.
//     FormData cannot be built from an HTML form (there is none).
//   - TextDecoderStream, TextEncoderStream, CompressionStream.
//   - TextDecoder encodings other than utf-8, utf-16le, utf-16be and
//     windows-1252 (with their labels): the constructor throws RangeError.
//   - crypto.subtle beyond digest (SHA-1/256/384/512, MD5), importKey("raw")
//     of HMAC keys, exportKey("raw"), sign, verify and timingSafeEqual:
//     encrypt, decrypt, generateKey, deriveKey, deriveBits, wrapKey,
//     unwrapKey and other algorithms are undefined or reject with
//     NotSupportedError. crypto.DigestStream is undefined.
//   - DOMException's legacy code constants (DOMException.ABORT_ERR, ...);
//     the code attribute is there.
//   - structuredClone's transfer option (a non-empty list throws
//     DataCloneError).
//   - request.cf, request.fetcher, WebSocket, WebSocketPair, caches,
//     HTMLRewriter, scheduler, EventSource, MessageChannel, BroadcastChannel.
//   - performance.mark/measure and other performance entries.
//   - fetch, setTimeout, queueMicrotask: installed by the event loop, not
//     here. AbortSignal.timeout uses the global setTimeout when one exists.
package webapi
