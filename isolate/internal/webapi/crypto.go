package webapi

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// maxRandomBytes is getRandomValues' quota.
const maxRandomBytes = 65536

var cryptoMembers = newMembers(
	method("getRandomValues", 1, func(a *API, call goja.FunctionCall) goja.Value {
		v := call.Argument(0)
		o, ok := v.(*goja.Object)
		if !ok {
			a.typeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.")
		}
		if !integerTypedArray[o.ExportType()] {
			panic(a.domException("The provided ArrayBufferView is not an integer array type.", "TypeMismatchError"))
		}
		var buf []byte
		if err := a.vm.ExportTo(o, &buf); err != nil {
			a.rethrow(err)
		}
		if len(buf) > maxRandomBytes {
			panic(a.domException(fmt.Sprintf("The ArrayBufferView's byte length (%d) exceeds the number of bytes of entropy available via this API (%d).", len(buf), maxRandomBytes), "QuotaExceededError"))
		}
		a.randomFill(buf)
		return o
	}),
	method("randomUUID", 0, func(a *API, call goja.FunctionCall) goja.Value {
		var b [16]byte
		a.randomFill(b[:])
		b[6] = b[6]&0x0F | 0x40
		b[8] = b[8]&0x3F | 0x80
		var s [36]byte
		hex.Encode(s[0:8], b[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], b[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], b[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], b[8:10])
		s[23] = '-'
		hex.Encode(s[24:], b[10:])
		return a.vm.ToValue(string(s[:]))
	}),
	value("subtle", func(a *API) goja.Value { return a.newLazyObject(subtleMembers, true, nil) }),
)

func (a *API) randomFill(b []byte) {
	if _, err := io.ReadFull(a.rand, b); err != nil {
		panic(a.vm.NewGoError(fmt.Errorf("webapi: reading random bytes: %w", err)))
	}
}

var hashes = map[string]func() hash.Hash{
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
	"MD5":     md5.New, // Workers offers MD5 for digest only
}

// algorithm normalizes an AlgorithmIdentifier to its name (upper-cased
// for matching) and the dictionary, if one was given.
func (a *API) algorithm(v goja.Value) (string, *goja.Object) {
	if o, ok := v.(*goja.Object); ok {
		n := o.Get("name")
		if n == nil || goja.IsUndefined(n) {
			a.typeError("Algorithm: name is missing")
		}
		return strings.ToUpper(a.str(n)), o
	}
	return strings.ToUpper(a.str(v)), nil
}

func (a *API) hashName(v goja.Value) string {
	name, _ := a.algorithm(v)
	if _, ok := hashes[name]; !ok || name == "MD5" {
		panic(a.domException(fmt.Sprintf("Unrecognized hash algorithm %q", name), "NotSupportedError"))
	}
	return name
}

func (a *API) bufferArg(v goja.Value, what string) []byte {
	b, ok := a.bufferSource(v)
	if !ok {
		a.typeError("%s is not of type 'ArrayBuffer' or 'ArrayBufferView'.", what)
	}
	return b
}

type cryptoKey struct {
	hash        string
	key         []byte
	length      int
	extractable bool
	usages      []string
	algObj      *goja.Object
	usagesObj   *goja.Object
}

func (k *cryptoKey) get(a *API, key string) goja.Value {
	switch key {
	case "type":
		return a.vm.ToValue("secret")
	case "extractable":
		return a.vm.ToValue(k.extractable)
	case "algorithm":
		if k.algObj == nil {
			h := a.vm.NewObject()
			_ = h.Set("name", k.hash)
			k.algObj = a.vm.NewObject()
			_ = k.algObj.Set("name", "HMAC")
			_ = k.algObj.Set("hash", h)
			_ = k.algObj.Set("length", k.length)
		}
		return k.algObj
	case "usages":
		if k.usagesObj == nil {
			var u []any
			for _, s := range k.usages {
				u = append(u, s)
			}
			k.usagesObj = a.vm.NewArray(u...)
		}
		return k.usagesObj
	}
	return nil
}

func (k *cryptoKey) set(a *API, key string, v goja.Value) (known, ok bool) {
	return k.get(a, key) != nil, false
}

var cryptoKeyClass = &classDef{name: "CryptoKey", methods: newMembers()}

func (a *API) hmacKey(v goja.Value, usage string) *cryptoKey {
	k, ok := stateOf[*cryptoKey](v)
	if !ok {
		a.typeError("parameter 2 is not of type 'CryptoKey'.")
	}
	if !slices.Contains(k.usages, usage) {
		panic(a.domException(fmt.Sprintf("The requested operation is not valid for the provided key (it lacks the %q usage).", usage), "InvalidAccessError"))
	}
	return k
}

func (a *API) checkHMAC(v goja.Value) {
	if name, _ := a.algorithm(v); name != "HMAC" {
		panic(a.domException(fmt.Sprintf("Unrecognized or unsupported algorithm %q (warren supports HMAC only)", name), "NotSupportedError"))
	}
}

func (k *cryptoKey) mac(data []byte) []byte {
	m := hmac.New(hashes[k.hash], k.key)
	m.Write(data)
	return m.Sum(nil)
}

var subtleMembers = newMembers(
	promiseMethod("digest", 2, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, _ := a.algorithm(call.Argument(0))
			newHash, ok := hashes[name]
			if !ok {
				panic(a.domException(fmt.Sprintf("Unrecognized name %q", name), "NotSupportedError"))
			}
			h := newHash()
			h.Write(a.bufferArg(call.Argument(1), "Failed to execute 'digest' on 'SubtleCrypto': parameter 2"))
			return a.newArrayBuffer(h.Sum(nil))
		})
	}),
	promiseMethod("importKey", 5, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			if f := a.str(call.Argument(0)); f != "raw" {
				panic(a.domException(fmt.Sprintf("Unsupported key format %q (warren supports \"raw\" HMAC keys)", f), "NotSupportedError"))
			}
			key := slices.Clone(a.bufferArg(call.Argument(1), "Failed to execute 'importKey' on 'SubtleCrypto': parameter 2"))
			a.checkHMAC(call.Argument(2))
			_, alg := a.algorithm(call.Argument(2))
			hv := field(alg, "hash")
			if hv == nil {
				a.typeError("HmacImportParams: hash is missing")
			}
			k := &cryptoKey{hash: a.hashName(hv), key: key, extractable: call.Argument(3).ToBoolean()}
			if len(key) == 0 {
				panic(a.domException("HMAC key data must not be empty.", "DataError"))
			}
			k.length = len(key) * 8
			if lv := field(alg, "length"); lv != nil {
				l := lv.ToInteger()
				if l <= 0 || l > int64(len(key))*8 || l <= int64(len(key))*8-8 {
					panic(a.domException("Invalid HMAC key length.", "DataError"))
				}
				k.length = int(l)
			}
			uv, ok := call.Argument(4).(*goja.Object)
			if !ok || !isIterable(uv) {
				a.typeError("Failed to execute 'importKey' on 'SubtleCrypto': parameter 5 is not iterable.")
			}
			a.forOf(uv, func(u goja.Value) bool {
				s := a.str(u)
				if s != "sign" && s != "verify" {
					panic(a.domException(fmt.Sprintf("Invalid key usage %q for an HMAC key.", s), "SyntaxError"))
				}
				if !slices.Contains(k.usages, s) {
					k.usages = append(k.usages, s)
				}
				return true
			})
			if len(k.usages) == 0 {
				panic(a.domException("Usages cannot be empty when creating a key.", "SyntaxError"))
			}
			return a.wrap(clsCryptoKey, k)
		})
	}),
	promiseMethod("exportKey", 2, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			f := a.str(call.Argument(0))
			k, ok := stateOf[*cryptoKey](call.Argument(1))
			if !ok {
				a.typeError("Failed to execute 'exportKey' on 'SubtleCrypto': parameter 2 is not of type 'CryptoKey'.")
			}
			if f != "raw" {
				panic(a.domException(fmt.Sprintf("Unsupported key format %q", f), "NotSupportedError"))
			}
			if !k.extractable {
				panic(a.domException("The key is not extractable.", "InvalidAccessError"))
			}
			return a.newArrayBuffer(slices.Clone(k.key))
		})
	}),
	promiseMethod("sign", 3, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			a.checkHMAC(call.Argument(0))
			k := a.hmacKey(call.Argument(1), "sign")
			data := a.bufferArg(call.Argument(2), "Failed to execute 'sign' on 'SubtleCrypto': parameter 3")
			return a.newArrayBuffer(k.mac(data))
		})
	}),
	promiseMethod("verify", 4, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			a.checkHMAC(call.Argument(0))
			k := a.hmacKey(call.Argument(1), "verify")
			sig := a.bufferArg(call.Argument(2), "Failed to execute 'verify' on 'SubtleCrypto': parameter 3")
			data := a.bufferArg(call.Argument(3), "Failed to execute 'verify' on 'SubtleCrypto': parameter 4")
			return a.vm.ToValue(hmac.Equal(k.mac(data), sig))
		})
	}),
	// timingSafeEqual is a Workers extension.
	method("timingSafeEqual", 2, func(a *API, call goja.FunctionCall) goja.Value {
		x := a.bufferArg(call.Argument(0), "Failed to execute 'timingSafeEqual' on 'SubtleCrypto': parameter 1")
		y := a.bufferArg(call.Argument(1), "Failed to execute 'timingSafeEqual' on 'SubtleCrypto': parameter 2")
		if len(x) != len(y) {
			a.typeError("Failed to execute 'timingSafeEqual' on 'SubtleCrypto': Input buffers must have the same byte length.")
		}
		return a.vm.ToValue(subtle.ConstantTimeCompare(x, y) == 1)
	}),
)
