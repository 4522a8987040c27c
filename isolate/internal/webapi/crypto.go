package webapi

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

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
