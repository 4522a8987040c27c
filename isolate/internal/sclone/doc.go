// Package sclone encodes JavaScript values to bytes and back with
// structured-clone semantics. The bytes carry Durable Object storage values
// and RPC arguments and results between isolates, possibly in different
// processes or on different nodes, so they depend on nothing but themselves.
//
// # Values
//
// Encode takes undefined, null, booleans, numbers (NaN, ±Infinity and -0
// exactly), bigints, strings (any UTF-16, lone surrogates included), Date,
// RegExp (source and flags), Boolean, Number, String and BigInt wrapper
// objects, Arrays (length, elements, holes kept as holes, and other own
// enumerable string-keyed properties), plain objects (own enumerable
// string-keyed properties in order; class instances become plain objects, as
// in V8), Map, Set, ArrayBuffer (a resizable one stays resizable, with its
// maxByteLength), every typed array and DataView (views of one buffer still
// share one buffer after decoding; byteOffset and length are kept, and a
// length-tracking view stays one), and Error objects (name, message, stack and cause; Decode rebuilds
// EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError or
// Error by name). Object identity within one value is kept: an object met
// twice is written once and referred to after, so shared and cyclic
// structures decode to the same shape. Getters are invoked, as structured
// clone does; an exception one throws is returned as the *goja.Exception.
//
// Functions, symbols, Proxies, WeakMap, WeakSet, Promise, iterators,
// generators, host objects, SharedArrayBuffers (and views of them), and views
// out of the bounds of a buffer that shrank fail with a *DataCloneError naming what could
// not be cloned; so does nesting deeper than 2000 levels, and output larger
// than the bound given to Encode (that error also matches ErrTooLarge).
//
// # Format
//
// The first byte is the format version, 1. One value follows, and nothing
// after it. A value is a tag byte and its payload; varint is an unsigned
// LEB128 (encoding/binary's Uvarint), zigzag a signed one (Varint):
//
//	'_' undefined   '0' null   'T' true   'F' false
//	'I' zigzag             a number that is an integer of magnitude < 2^53, not -0
//	'N' 8 bytes            any other number: IEEE 754 bits, little endian; NaN is 0x7FF8000000000000
//	'Z' varint n, bytes    a bigint: n = 2*len(magnitude) + sign (1 = negative); magnitude big endian, no leading zero
//	'"' varint n, n bytes  a string in UTF-8 (used whenever the string is valid UTF-16)
//	'c' varint n, 2n bytes a string as UTF-16 code units, little endian (only with lone surrogates)
//	'^' varint id          the object with that id, already decoded
//	'D' 8 bytes            a Date: its time value, as for 'N'
//	'R' string, string     a RegExp: source, flags
//	'y' / 'x'              Boolean object true / false
//	'n' number             Number object ('I' or 'N' value)
//	's' string             String object
//	'z' bigint             BigInt object ('Z' value)
//	'A' varint n, n values, properties   an Array with elements 0..n-1 and no holes
//	'a' varint n, properties             an Array of length n with only the properties listed (holes elsewhere)
//	'o' properties                       a plain object
//	'M' (value, value)*, '}'             a Map: keys and values in order
//	'S' value*, '}'                      a Set
//	'B' varint n, n bytes                an ArrayBuffer
//	'b' varint max, varint n, n bytes    a resizable ArrayBuffer: maxByteLength (at most 2^40, at least n), contents
//	'V' kind, value, varint off, varint len   a view: kind 0-11 (Int8Array, Uint8Array, Uint8ClampedArray,
//	                                     Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array,
//	                                     Float64Array, BigInt64Array, BigUint64Array, DataView), its buffer
//	                                     (a 'B', 'b' or '^' value), byteOffset and length (elements; bytes for DataView)
//	'v' kind, value, varint off          a length-tracking view (made without a length) of a resizable buffer
//	'E' kind, flags, [string], [string], [value]   an Error: kind 0-6 (Error, EvalError, RangeError,
//	                                     ReferenceError, SyntaxError, TypeError, URIError); flags bit 0: a message
//	                                     follows, bit 1: a stack, bit 2: a cause
//
// properties are (string value, value)* then '}'; an Array's never include
// "length", nor, in 'A', an index. Every object record ('D' to
// 'E') gets the next id, counting from 0, when its tag is read, except a
// view, which gets its id after its buffer.
//
// # Guarantees
//
// Encoding is deterministic: equal values (same shape, same property order)
// encode to equal bytes. Decode accepts exactly one value after the version
// byte and rejects trailing bytes. It never panics on arbitrary input: every
// length is checked against the bytes that remain before anything is
// allocated, nesting is bounded as for Encode, and sparse arrays are built
// so that their memory follows their element count, not their length: what
// Decode allocates is proportional to len(b), a few hundred bytes per input
// byte at worst (what the JS object a two-byte record asks for costs in
// goja). Malformed input fails with an error wrapping ErrMalformed.
package sclone
