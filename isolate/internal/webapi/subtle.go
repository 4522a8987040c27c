package webapi

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// Web Crypto's SubtleCrypto (https://w3c.github.io/webcrypto/) on Go's
// crypto packages, with the algorithms Workers offers: HMAC; AES-GCM,
// AES-CBC, AES-CTR and AES-KW; ECDSA and ECDH on P-256, P-384 and P-521;
// Ed25519 (also by Workers' older name NODE-ED25519) and X25519;
// RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP; PBKDF2 and HKDF; the digests.
// Keys travel as raw, jwk, spki and pkcs8 as the specification allows for
// each algorithm.
//
// An operation runs in Go, where the guest's CPU limit cannot interrupt
// it, so the costly ones are bounded up front: PBKDF2 by its iterations
// (at most 100,000, as Workers) and blocks, RSA moduli to 8,192 bits
// (4,096 for generateKey), derived lengths and AES-GCM's iv. Those that
// take their time from the size of their input (digests, HMAC, AES-CBC,
// AES-CTR, the salt and info of PBKDF2 and HKDF), from their work (PBKDF2)
// or from chance (an RSA key's primes) look at the interrupt as they go.

const (
	maxPBKDF2Iterations = 100_000
	// maxPBKDF2Work bounds iterations × output blocks of one deriveBits
	// (100,000 iterations of a 1,024-bit output of SHA-256: 400,000).
	maxPBKDF2Work     = 400_000
	maxRSABits        = 8192
	maxRSAGenBits     = 4096
	maxDerivedBits    = 1 << 16
	maxIVBytes        = 1 << 10
	maxOAEPLabelBytes = 1 << 16
)

// Canonical algorithm names by their upper-cased form (names match
// case-insensitively).
var algNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"HMAC", "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW", "ECDSA", "ECDH", "Ed25519", "X25519",
		"NODE-ED25519", "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP", "PBKDF2", "HKDF", "SHA-1", "SHA-256", "SHA-384", "SHA-512", "MD5"} {
		m[strings.ToUpper(n)] = n
	}
	return m
}()

// usagesOf lists the usages a key of an algorithm may have, by key type.
var usagesOf = map[string]map[string][]string{
	"HMAC":              {"secret": {"sign", "verify"}},
	"AES-GCM":           {"secret": {"encrypt", "decrypt", "wrapKey", "unwrapKey"}},
	"AES-CBC":           {"secret": {"encrypt", "decrypt", "wrapKey", "unwrapKey"}},
	"AES-CTR":           {"secret": {"encrypt", "decrypt", "wrapKey", "unwrapKey"}},
	"AES-KW":            {"secret": {"wrapKey", "unwrapKey"}},
	"PBKDF2":            {"secret": {"deriveKey", "deriveBits"}},
	"HKDF":              {"secret": {"deriveKey", "deriveBits"}},
	"ECDSA":             {"public": {"verify"}, "private": {"sign"}},
	"Ed25519":           {"public": {"verify"}, "private": {"sign"}},
	"NODE-ED25519":      {"public": {"verify"}, "private": {"sign"}},
	"RSASSA-PKCS1-v1_5": {"public": {"verify"}, "private": {"sign"}},
	"RSA-PSS":           {"public": {"verify"}, "private": {"sign"}},
	"RSA-OAEP":          {"public": {"encrypt", "wrapKey"}, "private": {"decrypt", "unwrapKey"}},
	"ECDH":              {"public": {}, "private": {"deriveKey", "deriveBits"}},
	"X25519":            {"public": {}, "private": {"deriveKey", "deriveBits"}},
}

var curves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}

// hashBits are the digests' lengths; hashBlockBits their block sizes (an
// HMAC key's default length).
var (
	hashBits      = map[string]int{"SHA-1": 160, "SHA-256": 256, "SHA-384": 384, "SHA-512": 512}
	hashBlockBits = map[string]int{"SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024}
	cryptoHashes  = map[string]crypto.Hash{"SHA-1": crypto.SHA1, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512}
)

// cryptoKey is a CryptoKey's state.
type cryptoKey struct {
	kind        string // "secret", "public" or "private"
	alg         keyAlg
	extractable bool
	usages      []string
	secret      []byte // HMAC, AES, PBKDF2, HKDF
	macKey      []byte // an HMAC or PBKDF2 secret, hashed once if longer than the hash's block (macKey)
	// pub and priv: *ecdsa.PublicKey/PrivateKey (ECDSA, ECDH),
	// ed25519.PublicKey/PrivateKey, *ecdh.PublicKey/PrivateKey (X25519),
	// *rsa.PublicKey/PrivateKey.
	pub  any
	priv any

	algObj, usagesObj *goja.Object
}

// keyAlg is a key's algorithm: its name and the parameters its kind has.
type keyAlg struct {
	name     string
	hash     string // HMAC, RSA
	length   int    // HMAC and AES, bits
	curve    string // ECDSA, ECDH, NODE-ED25519
	modulus  int    // RSA, bits
	exponent []byte // RSA, big-endian
}

func (k *cryptoKey) get(a *API, key string) goja.Value {
	switch key {
	case "type":
		return a.vm.ToValue(k.kind)
	case "extractable":
		return a.vm.ToValue(k.extractable)
	case "algorithm":
		if k.algObj == nil {
			k.algObj = k.alg.object(a)
		}
		return k.algObj
	case "usages":
		if k.usagesObj == nil {
			u := make([]any, len(k.usages))
			for i, s := range k.usages {
				u[i] = s
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

// object is the key's algorithm attribute (a KeyAlgorithm dictionary).
func (g keyAlg) object(a *API) *goja.Object {
	o := a.vm.NewObject()
	_ = o.Set("name", g.name)
	if g.hash != "" {
		h := a.vm.NewObject()
		_ = h.Set("name", g.hash)
		_ = o.Set("hash", h)
	}
	if g.length != 0 {
		_ = o.Set("length", g.length)
	}
	if g.curve != "" {
		_ = o.Set("namedCurve", g.curve)
	}
	if g.modulus != 0 {
		_ = o.Set("modulusLength", g.modulus)
		_ = o.Set("publicExponent", a.newUint8Array(slices.Clone(g.exponent)))
	}
	return o
}

var cryptoKeyClass = &classDef{name: "CryptoKey", methods: newMembers()}

func (a *API) cryptoError(name, format string, args ...any) {
	panic(a.domException(errorf(format, args...), name))
}

// algorithm normalizes an AlgorithmIdentifier to its canonical name and
// the dictionary, if one was given. An unknown name is NotSupportedError.
func (a *API) algorithm(v goja.Value) (string, *goja.Object) {
	var name string
	o, isObj := v.(*goja.Object)
	if isObj {
		n := o.Get("name")
		if n == nil || goja.IsUndefined(n) {
			a.typeError("Algorithm: name is missing")
		}
		name = a.str(n)
	} else {
		name = a.str(v)
	}
	canon, ok := algNames[strings.ToUpper(name)]
	if !ok {
		a.cryptoError("NotSupportedError", "Unrecognized or unsupported algorithm %q", name)
	}
	return canon, o
}

// hashName reads a hash member (a name or {name}) that must be a SHA.
func (a *API) hashName(v goja.Value) string {
	name, _ := a.algorithm(v)
	if _, ok := hashBits[name]; !ok {
		a.cryptoError("NotSupportedError", "Unrecognized hash algorithm %q", name)
	}
	return name
}

func (a *API) requiredField(o *goja.Object, dict, name string) goja.Value {
	v := field(o, name)
	if v == nil {
		a.typeError("%s: %s is missing", dict, name)
	}
	return v
}

func (a *API) bufferArg(v goja.Value, what string) []byte {
	b, ok := a.bufferSource(v)
	if !ok {
		a.typeError("%s is not of type 'ArrayBuffer' or 'ArrayBufferView'.", what)
	}
	return b
}

// keyArg reads a CryptoKey argument and checks that it is a key of
// algorithm name with usage.
func (a *API) keyArg(v goja.Value, op string, n int, name, usage string) *cryptoKey {
	k, ok := stateOf[*cryptoKey](v)
	if !ok {
		a.typeError("Failed to execute '%s' on 'SubtleCrypto': parameter %d is not of type 'CryptoKey'.", op, n)
	}
	if name != "" && k.alg.name != name {
		a.cryptoError("InvalidAccessError", "The requested operation is not valid for the provided key: it is a %s key, not %s.", k.alg.name, name)
	}
	if usage != "" && !slices.Contains(k.usages, usage) {
		a.cryptoError("InvalidAccessError", "The requested operation is not valid for the provided key (it lacks the %q usage).", usage)
	}
	return k
}

// keyUsages reads a usages sequence and checks each against what a key of
// algorithm name and type kind may have.
func (a *API) keyUsages(v goja.Value, name, kind, op string) []string {
	uv, ok := v.(*goja.Object)
	if !ok || !isIterable(uv) {
		a.typeError("Failed to execute '%s' on 'SubtleCrypto': the key usages are not iterable.", op)
	}
	allowed := usagesOf[name]
	var out []string
	a.forOf(uv, func(u goja.Value) bool {
		s := a.str(u)
		if !slices.Contains(allowed["secret"], s) && !slices.Contains(allowed["public"], s) && !slices.Contains(allowed["private"], s) {
			a.cryptoError("SyntaxError", "Invalid key usage %q for a %s key.", s, name)
		}
		if kind != "" && !slices.Contains(allowed[kind], s) {
			a.cryptoError("SyntaxError", "Invalid key usage %q for a %s %s key.", s, name, kind)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
		return true
	})
	return out
}

// newKey makes a CryptoKey; an empty usage list is SyntaxError for secret
// and private keys.
func (a *API) newKey(k *cryptoKey) goja.Value {
	if len(k.usages) == 0 && k.kind != "public" {
		a.cryptoError("SyntaxError", "Usages cannot be empty when creating a key.")
	}
	return a.wrap(clsCryptoKey, k)
}

func (a *API) hmacOf(k *cryptoKey, data []byte) []byte {
	if k.macKey == nil {
		k.macKey = a.macKey(hashes[k.alg.hash], k.secret)
	}
	m := hmac.New(hashes[k.alg.hash], k.macKey)
	a.hashWrite(m, data)
	return m.Sum(nil)
}

func (a *API) digestOf(name string, data []byte) []byte {
	h := hashes[name]()
	a.hashWrite(h, data)
	return h.Sum(nil)
}

// macKey is the HMAC key to use for key: a key longer than the hash's
// block is its digest (RFC 2104), which hmac.New would compute in one
// call for every MAC made with it, out of the interrupt's reach (100 MiB
// took 0.2 s each time); it is computed once, with hashWrite.
func (a *API) macKey(newHash func() hash.Hash, key []byte) []byte {
	h := newHash()
	if len(key) <= h.BlockSize() {
		return key
	}
	a.hashWrite(h, key)
	return h.Sum(nil)
}

// hashStep is how much of its input a digest or HMAC takes at a time
// (1-4 ms).
const hashStep = 1 << 20

// hashWrite feeds data to h a piece at a time, looking at the interrupt
// between: a digest of 100 MiB takes most of a second in one host call.
func (a *API) hashWrite(h hash.Hash, data []byte) {
	for len(data) > 0 {
		a.stopIfInterrupted()
		n := min(len(data), hashStep)
		h.Write(data[:n])
		data = data[n:]
	}
}

var subtleMembers = newMembers(
	promiseMethod("digest", 2, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, _ := a.algorithm(call.Argument(0))
			newHash, ok := hashes[name]
			if !ok {
				a.cryptoError("NotSupportedError", "Unrecognized name %q", name)
			}
			h := newHash()
			a.hashWrite(h, a.bufferArg(call.Argument(1), "Failed to execute 'digest' on 'SubtleCrypto': parameter 2"))
			return a.newArrayBuffer(h.Sum(nil))
		})
	}),
	promiseMethod("importKey", 5, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			format := a.str(call.Argument(0))
			var data []byte
			var jwk *goja.Object
			if format == "jwk" {
				o, ok := call.Argument(1).(*goja.Object)
				if !ok {
					a.typeError("Failed to execute 'importKey' on 'SubtleCrypto': the key data is not a JsonWebKey.")
				}
				jwk = o
			} else {
				data = slices.Clone(a.bufferArg(call.Argument(1), "Failed to execute 'importKey' on 'SubtleCrypto': parameter 2"))
			}
			name, alg := a.algorithm(call.Argument(2))
			return a.newKey(a.importKey(format, data, jwk, name, alg, call.Argument(3).ToBoolean(), call.Argument(4)))
		})
	}),
	promiseMethod("exportKey", 2, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			format := a.str(call.Argument(0))
			k := a.keyArg(call.Argument(1), "exportKey", 2, "", "")
			if !k.extractable {
				a.cryptoError("InvalidAccessError", "The key is not extractable.")
			}
			if format == "jwk" {
				return a.exportJWK(k)
			}
			return a.newArrayBuffer(a.exportKey(format, k))
		})
	}),
	promiseMethod("generateKey", 3, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			return a.generateKey(call.Argument(0), call.Argument(1).ToBoolean(), call.Argument(2))
		})
	}),
	promiseMethod("sign", 3, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, p := a.algorithm(call.Argument(0))
			k := a.keyArg(call.Argument(1), "sign", 2, name, "sign")
			data := a.bufferArg(call.Argument(2), "Failed to execute 'sign' on 'SubtleCrypto': parameter 3")
			return a.newArrayBuffer(a.sign(name, p, k, data))
		})
	}),
	promiseMethod("verify", 4, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, p := a.algorithm(call.Argument(0))
			k := a.keyArg(call.Argument(1), "verify", 2, name, "verify")
			sig := slices.Clone(a.bufferArg(call.Argument(2), "Failed to execute 'verify' on 'SubtleCrypto': parameter 3"))
			data := a.bufferArg(call.Argument(3), "Failed to execute 'verify' on 'SubtleCrypto': parameter 4")
			return a.vm.ToValue(a.verify(name, p, k, sig, data))
		})
	}),
	cipherMethod("encrypt", true),
	cipherMethod("decrypt", false),
	promiseMethod("deriveBits", 3, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, p := a.algorithm(call.Argument(0))
			k := a.keyArg(call.Argument(1), "deriveBits", 2, name, "deriveBits")
			length := -1 // null: the whole secret (ECDH, X25519)
			if lv := call.Argument(2); !isNullish(lv) {
				length = int(min(max(lv.ToInteger(), 0), maxDerivedBits+1))
			}
			return a.newArrayBuffer(a.deriveBits(name, p, k, length))
		})
	}),
	promiseMethod("deriveKey", 5, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, p := a.algorithm(call.Argument(0))
			k := a.keyArg(call.Argument(1), "deriveKey", 2, name, "deriveKey")
			dname, dalg := a.algorithm(call.Argument(2))
			length := derivedKeyLength(a, dname, dalg)
			bits := a.deriveBits(name, p, k, length)
			return a.newKey(a.importKey("raw", bits, nil, dname, dalg, call.Argument(3).ToBoolean(), call.Argument(4)))
		})
	}),
	promiseMethod("wrapKey", 4, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			format := a.str(call.Argument(0))
			k := a.keyArg(call.Argument(1), "wrapKey", 2, "", "")
			name, p := a.algorithm(call.Argument(3))
			wk := a.keyArg(call.Argument(2), "wrapKey", 3, name, "wrapKey")
			if !k.extractable {
				a.cryptoError("InvalidAccessError", "The key is not extractable.")
			}
			var data []byte
			if format == "jwk" {
				s, _ := a.jsonStringify(a.exportJWK(k))
				data = []byte(s)
			} else {
				data = a.exportKey(format, k)
			}
			return a.newArrayBuffer(a.cipher(true, name, p, wk, data))
		})
	}),
	promiseMethod("unwrapKey", 7, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			format := a.str(call.Argument(0))
			wrapped := a.bufferArg(call.Argument(1), "Failed to execute 'unwrapKey' on 'SubtleCrypto': parameter 2")
			name, p := a.algorithm(call.Argument(3))
			uk := a.keyArg(call.Argument(2), "unwrapKey", 3, name, "unwrapKey")
			kname, kalg := a.algorithm(call.Argument(4))
			data := a.cipher(false, name, p, uk, wrapped)
			var jwk *goja.Object
			if format == "jwk" {
				var v goja.Value
				if ex := a.vm.Try(func() { v = a.jsonParse(string(data)) }); ex != nil {
					a.cryptoError("DataError", "The unwrapped key is not JSON.")
				}
				o, ok := v.(*goja.Object)
				if !ok {
					a.cryptoError("DataError", "The unwrapped key is not a JsonWebKey.")
				}
				jwk = o
			}
			return a.newKey(a.importKey(format, data, jwk, kname, kalg, call.Argument(5).ToBoolean(), call.Argument(6)))
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

// cipherMethod is encrypt or decrypt.
func cipherMethod(op string, encrypt bool) member {
	return promiseMethod(op, 3, func(a *API, call goja.FunctionCall) goja.Value {
		return a.promiseTry(func() goja.Value {
			name, p := a.algorithm(call.Argument(0))
			k := a.keyArg(call.Argument(1), op, 2, name, op)
			data := a.bufferArg(call.Argument(2), "Failed to execute '"+op+"' on 'SubtleCrypto': parameter 3")
			return a.newArrayBuffer(a.cipher(encrypt, name, p, k, data))
		})
	})
}

// derivedKeyLength is the length deriveKey asks of deriveBits for a key
// of algorithm name: an AES key's length, an HMAC key's (its hash's block
// size by default), nothing for the KDFs (whose keys take any length:
// refused, as Web Crypto does, since the length has no default).
func derivedKeyLength(a *API, name string, alg *goja.Object) int {
	switch name {
	case "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW":
		l := int(a.requiredField(alg, "AesDerivedKeyParams", "length").ToInteger())
		if l != 128 && l != 192 && l != 256 {
			a.cryptoError("OperationError", "AES key length must be 128, 192 or 256 bits.")
		}
		return l
	case "HMAC":
		h := a.hashName(a.requiredField(alg, "HmacImportParams", "hash"))
		if lv := field(alg, "length"); lv != nil {
			l := lv.ToInteger()
			if l <= 0 || l > maxDerivedBits {
				a.cryptoError("OperationError", "Invalid HMAC key length.")
			}
			return int(l)
		}
		return hashBlockBits[h]
	case "HKDF", "PBKDF2":
		a.typeError("deriveKey cannot make a %s key: its length has no default", name)
	}
	a.cryptoError("NotSupportedError", "deriveKey cannot make a %s key", name)
	return 0
}

// ---- importKey and exportKey ----

func (a *API) importKey(format string, data []byte, jwk *goja.Object, name string, alg *goja.Object, extractable bool, usagesV goja.Value) *cryptoKey {
	k := &cryptoKey{alg: keyAlg{name: name}, extractable: extractable}
	switch format {
	case "raw", "jwk", "spki", "pkcs8":
	default:
		a.typeError("Failed to execute 'importKey' on 'SubtleCrypto': the format %q is not one of raw, jwk, spki, pkcs8.", format)
	}
	var j *jwkReader
	if format == "jwk" {
		j = &jwkReader{a: a, o: jwk}
	}
	switch name {
	case "HMAC":
		k.kind = "secret"
		k.alg.hash = a.hashName(a.requiredField(alg, "HmacImportParams", "hash"))
		switch format {
		case "raw":
			k.secret = data
		case "jwk":
			j.kty("oct")
			k.secret = j.bytes("k", true)
			j.alg(jwkAlg(k.alg))
		default:
			a.cryptoError("NotSupportedError", "An HMAC key cannot be imported as %s.", format)
		}
		if len(k.secret) == 0 {
			a.cryptoError("DataError", "HMAC key data must not be empty.")
		}
		k.alg.length = len(k.secret) * 8
		if lv := field(alg, "length"); lv != nil {
			l := lv.ToInteger()
			if l <= 0 || l > int64(len(k.secret))*8 || l <= int64(len(k.secret))*8-8 {
				a.cryptoError("DataError", "Invalid HMAC key length.")
			}
			k.alg.length = int(l)
		}
	case "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW":
		k.kind = "secret"
		switch format {
		case "raw":
			k.secret = data
		case "jwk":
			j.kty("oct")
			k.secret = j.bytes("k", true)
		default:
			a.cryptoError("NotSupportedError", "An AES key cannot be imported as %s.", format)
		}
		switch len(k.secret) {
		case 16, 24, 32:
		default:
			a.cryptoError("DataError", "AES key data must be 128, 192 or 256 bits, not %d.", len(k.secret)*8)
		}
		k.alg.length = len(k.secret) * 8
		if j != nil {
			j.alg(jwkAlg(k.alg))
		}
	case "PBKDF2", "HKDF":
		k.kind = "secret"
		if format != "raw" {
			a.cryptoError("NotSupportedError", "A %s key can only be imported raw.", name)
		}
		if extractable {
			a.cryptoError("SyntaxError", "A %s key cannot be extractable.", name)
		}
		k.secret = data
	case "ECDSA", "ECDH":
		k.alg.curve = a.str(a.requiredField(alg, "EcKeyImportParams", "namedCurve"))
		curve, ok := curves[k.alg.curve]
		if !ok {
			a.cryptoError("NotSupportedError", "Unsupported named curve %q.", k.alg.curve)
		}
		switch format {
		case "raw":
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, data)
			if err != nil {
				a.cryptoError("DataError", "The key is not an uncompressed point of %s.", k.alg.curve)
			}
			k.kind, k.pub = "public", pub
		case "spki":
			pub, ok := a.parseSPKI(data).(*ecdsa.PublicKey)
			if !ok || pub.Curve != curve {
				a.cryptoError("DataError", "The key is not a %s public key.", k.alg.curve)
			}
			k.kind, k.pub = "public", pub
		case "pkcs8":
			priv, ok := a.parsePKCS8(data).(*ecdsa.PrivateKey)
			if !ok || priv.Curve != curve {
				a.cryptoError("DataError", "The key is not a %s private key.", k.alg.curve)
			}
			k.kind, k.priv = "private", priv
		case "jwk":
			j.kty("EC")
			if crv := j.str("crv", true); crv != k.alg.curve {
				a.cryptoError("DataError", "The JWK's crv %q is not %s.", crv, k.alg.curve)
			}
			size := (curve.Params().BitSize + 7) / 8
			x, y := j.fixed("x", size), j.fixed("y", size)
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, x, y))
			if err != nil {
				a.cryptoError("DataError", "The JWK's x and y are not a point of %s.", k.alg.curve)
			}
			k.kind, k.pub = "public", pub
			if j.has("d") {
				priv, err := ecdsa.ParseRawPrivateKey(curve, j.fixed("d", size))
				if err != nil || !priv.PublicKey.Equal(pub) {
					a.cryptoError("DataError", "The JWK's d does not match its x and y.")
				}
				k.kind, k.pub, k.priv = "private", nil, priv
			}
			if name == "ECDSA" {
				j.alg(jwkAlg(k.alg))
			}
		}
	case "Ed25519", "NODE-ED25519", "X25519":
		if name == "NODE-ED25519" {
			k.alg.curve = "NODE-ED25519"
		}
		okp := "Ed25519"
		if name == "X25519" {
			okp = "X25519"
		}
		switch format {
		case "raw":
			k.kind, k.pub = "public", a.okpPublic(okp, data)
		case "spki":
			pub := a.parseSPKI(data)
			if !isOKPPublic(okp, pub) {
				a.cryptoError("DataError", "The key is not an %s public key.", okp)
			}
			k.kind, k.pub = "public", pub
		case "pkcs8":
			priv := a.parsePKCS8(data)
			if !isOKPPublic(okp, publicOf(priv)) {
				a.cryptoError("DataError", "The key is not an %s private key.", okp)
			}
			k.kind, k.priv = "private", priv
		case "jwk":
			j.kty("OKP")
			if crv := j.str("crv", true); crv != okp {
				a.cryptoError("DataError", "The JWK's crv %q is not %s.", crv, okp)
			}
			pub := a.okpPublic(okp, j.fixed("x", 32))
			k.kind, k.pub = "public", pub
			if j.has("d") {
				priv := a.okpPrivate(okp, j.fixed("d", 32))
				if !publicOf(priv).(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
					a.cryptoError("DataError", "The JWK's d does not match its x.")
				}
				k.kind, k.pub, k.priv = "private", nil, priv
			}
			if okp == "Ed25519" {
				if v := j.str("alg", false); v != "" && v != "EdDSA" && v != "Ed25519" {
					a.cryptoError("DataError", "The JWK's alg %q is not EdDSA.", v)
				}
			}
		}
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		k.alg.hash = a.hashName(a.requiredField(alg, "RsaHashedImportParams", "hash"))
		switch format {
		case "spki":
			pub, ok := a.parseSPKI(data).(*rsa.PublicKey)
			if !ok {
				a.cryptoError("DataError", "The key is not an RSA public key.")
			}
			k.kind, k.pub = "public", pub
		case "pkcs8":
			priv, ok := a.parsePKCS8(data).(*rsa.PrivateKey)
			if !ok {
				a.cryptoError("DataError", "The key is not an RSA private key.")
			}
			k.kind, k.priv = "private", priv
		case "jwk":
			j.kty("RSA")
			k.kind, k.pub, k.priv = a.rsaFromJWK(j)
			j.alg(jwkAlg(k.alg))
		default:
			a.cryptoError("NotSupportedError", "An RSA key cannot be imported raw.")
		}
		pub := k.rsaPublic()
		if bits := pub.N.BitLen(); bits > maxRSABits {
			a.cryptoError("NotSupportedError", "RSA keys of %d bits are more than warren takes (%d).", bits, maxRSABits)
		}
		k.alg.modulus = pub.N.BitLen()
		k.alg.exponent = big.NewInt(int64(pub.E)).Bytes()
	default:
		a.cryptoError("NotSupportedError", "%s keys cannot be imported.", name)
	}
	k.usages = a.keyUsages(usagesV, name, k.kind, "importKey")
	if j != nil {
		j.checkUse(k)
	}
	return k
}

func (k *cryptoKey) rsaPublic() *rsa.PublicKey {
	if k.priv != nil {
		return &k.priv.(*rsa.PrivateKey).PublicKey
	}
	return k.pub.(*rsa.PublicKey)
}

// public returns the key's public half (itself for a public key).
func (k *cryptoKey) public() any {
	if k.priv != nil {
		return publicOf(k.priv)
	}
	return k.pub
}

func publicOf(priv any) any {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		return &p.PublicKey
	case *rsa.PrivateKey:
		return &p.PublicKey
	case ed25519.PrivateKey:
		return p.Public()
	case *ecdh.PrivateKey:
		return p.PublicKey()
	}
	return nil
}

func (a *API) parseSPKI(data []byte) any {
	pub, err := x509.ParsePKIXPublicKey(data)
	if err != nil {
		a.cryptoError("DataError", "The key is not a valid SubjectPublicKeyInfo: %v", err)
	}
	if e, ok := pub.(*ecdh.PublicKey); ok && e.Curve() != ecdh.X25519() {
		a.cryptoError("DataError", "The key is not a supported public key.")
	}
	return pub
}

func (a *API) parsePKCS8(data []byte) any {
	priv, err := x509.ParsePKCS8PrivateKey(data)
	if err != nil {
		a.cryptoError("DataError", "The key is not a valid PKCS #8 private key: %v", err)
	}
	return priv
}

func isOKPPublic(okp string, pub any) bool {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return okp == "Ed25519"
	case *ecdh.PublicKey:
		return okp == "X25519" && p.Curve() == ecdh.X25519()
	}
	return false
}

func (a *API) okpPublic(okp string, b []byte) any {
	if okp == "Ed25519" {
		if len(b) != ed25519.PublicKeySize {
			a.cryptoError("DataError", "An Ed25519 public key is 32 bytes, not %d.", len(b))
		}
		return ed25519.PublicKey(slices.Clone(b))
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		a.cryptoError("DataError", "An X25519 public key is 32 bytes, not %d.", len(b))
	}
	return pub
}

func (a *API) okpPrivate(okp string, seed []byte) any {
	if okp == "Ed25519" {
		return ed25519.NewKeyFromSeed(seed)
	}
	priv, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		a.cryptoError("DataError", "The X25519 private key is not valid.")
	}
	return priv
}

func (a *API) rsaFromJWK(j *jwkReader) (string, any, any) {
	n, e := j.big("n"), j.big("e")
	if n.BitLen() > maxRSABits {
		a.cryptoError("NotSupportedError", "RSA keys of %d bits are more than warren takes (%d).", n.BitLen(), maxRSABits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		a.cryptoError("DataError", "The JWK's e is not a usable RSA exponent.")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	if !j.has("d") {
		if pub.N.BitLen() < 512 || pub.N.Bit(0) == 0 {
			a.cryptoError("DataError", "The JWK's n is not an RSA modulus.")
		}
		return "public", pub, nil
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: j.big("d")}
	if j.has("p") {
		priv.Primes = []*big.Int{j.big("p"), j.big("q")}
	}
	if err := priv.Validate(); err != nil {
		a.cryptoError("DataError", "The JWK is not a valid RSA private key: %v", err)
	}
	priv.Precompute()
	return "private", nil, priv
}

// exportKey exports in the binary formats.
func (a *API) exportKey(format string, k *cryptoKey) []byte {
	var out []byte
	var err error
	switch format {
	case "raw":
		switch {
		case k.kind == "secret" && k.alg.name != "PBKDF2" && k.alg.name != "HKDF":
			return slices.Clone(k.secret)
		case k.kind == "public":
			switch p := k.pub.(type) {
			case *ecdsa.PublicKey:
				out, err = p.Bytes()
			case ed25519.PublicKey:
				return slices.Clone(p)
			case *ecdh.PublicKey:
				return p.Bytes()
			}
		}
	case "spki":
		if k.kind == "public" {
			out, err = x509.MarshalPKIXPublicKey(k.pub)
		}
	case "pkcs8":
		if k.kind == "private" {
			out, err = x509.MarshalPKCS8PrivateKey(k.priv)
		}
	case "jwk":
	default:
		a.typeError("Failed to execute 'exportKey' on 'SubtleCrypto': the format %q is not one of raw, jwk, spki, pkcs8.", format)
	}
	if err != nil {
		a.cryptoError("OperationError", "Exporting the key failed: %v", err)
	}
	if out == nil {
		a.cryptoError("InvalidAccessError", "A %s %s key cannot be exported as %s.", k.alg.name, k.kind, format)
	}
	return out
}

func (a *API) exportJWK(k *cryptoKey) goja.Value {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	o := a.vm.NewObject()
	set := func(name string, v any) { _ = o.Set(name, v) }
	switch k.alg.name {
	case "HMAC", "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW":
		set("kty", "oct")
		set("k", b64(k.secret))
		set("alg", jwkAlg(k.alg))
	case "ECDSA", "ECDH":
		pub := k.public().(*ecdsa.PublicKey)
		raw, err := pub.Bytes()
		if err != nil {
			a.cryptoError("OperationError", "Exporting the key failed: %v", err)
		}
		size := (len(raw) - 1) / 2
		set("kty", "EC")
		set("crv", k.alg.curve)
		set("x", b64(raw[1:1+size]))
		set("y", b64(raw[1+size:]))
		if k.priv != nil {
			d, err := k.priv.(*ecdsa.PrivateKey).Bytes()
			if err != nil {
				a.cryptoError("OperationError", "Exporting the key failed: %v", err)
			}
			set("d", b64(d))
		}
	case "Ed25519", "NODE-ED25519", "X25519":
		set("kty", "OKP")
		switch p := k.public().(type) {
		case ed25519.PublicKey:
			set("crv", "Ed25519")
			set("x", b64(p))
			set("alg", jwkAlg(k.alg))
		case *ecdh.PublicKey:
			set("crv", "X25519")
			set("x", b64(p.Bytes()))
		}
		switch p := k.priv.(type) {
		case ed25519.PrivateKey:
			set("d", b64(p.Seed()))
		case *ecdh.PrivateKey:
			set("d", b64(p.Bytes()))
		}
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		pub := k.rsaPublic()
		set("kty", "RSA")
		set("n", b64(pub.N.Bytes()))
		set("e", b64(big.NewInt(int64(pub.E)).Bytes()))
		if p, ok := k.priv.(*rsa.PrivateKey); ok {
			set("d", b64(p.D.Bytes()))
			if len(p.Primes) == 2 {
				set("p", b64(p.Primes[0].Bytes()))
				set("q", b64(p.Primes[1].Bytes()))
				set("dp", b64(p.Precomputed.Dp.Bytes()))
				set("dq", b64(p.Precomputed.Dq.Bytes()))
				set("qi", b64(p.Precomputed.Qinv.Bytes()))
			}
		}
		set("alg", jwkAlg(k.alg))
	default:
		a.cryptoError("InvalidAccessError", "A %s key cannot be exported as jwk.", k.alg.name)
	}
	u := make([]any, len(k.usages))
	for i, s := range k.usages {
		u[i] = s
	}
	set("key_ops", a.vm.NewArray(u...))
	set("ext", k.extractable)
	return o
}

// jwkAlg is a JWK's "alg" for a key of algorithm g. An ECDSA key's is only
// checked on import: exports leave it out, as Node's do.
func jwkAlg(g keyAlg) string {
	h := strings.TrimPrefix(g.hash, "SHA-")
	switch g.name {
	case "HMAC":
		return "HS" + h
	case "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW":
		return fmt.Sprintf("A%d%s", g.length, strings.TrimPrefix(g.name, "AES-"))
	case "RSASSA-PKCS1-v1_5":
		return "RS" + h
	case "RSA-PSS":
		return "PS" + h
	case "RSA-OAEP":
		if h == "1" {
			return "RSA-OAEP"
		}
		return "RSA-OAEP-" + h
	case "ECDSA":
		return map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[g.curve]
	case "Ed25519", "NODE-ED25519":
		return "Ed25519"
	}
	return ""
}

// jwkReader reads the members of a JsonWebKey dictionary.
type jwkReader struct {
	a *API
	o *goja.Object
}

func (j *jwkReader) has(name string) bool { return field(j.o, name) != nil }

func (j *jwkReader) str(name string, required bool) string {
	v := field(j.o, name)
	if v == nil {
		if required {
			j.a.cryptoError("DataError", "The JWK has no %q.", name)
		}
		return ""
	}
	return j.a.str(v)
}

func (j *jwkReader) kty(want string) {
	if got := j.str("kty", true); got != want {
		j.a.cryptoError("DataError", "The JWK's kty is %q, not %q.", got, want)
	}
}

func (j *jwkReader) alg(want string) {
	if got := j.str("alg", false); got != "" && got != want {
		j.a.cryptoError("DataError", "The JWK's alg %q does not match the algorithm (%s).", got, want)
	}
}

func (j *jwkReader) bytes(name string, required bool) []byte {
	s := j.str(name, required)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		j.a.cryptoError("DataError", "The JWK's %q is not base64url.", name)
	}
	return b
}

func (j *jwkReader) fixed(name string, size int) []byte {
	b := j.bytes(name, true)
	if len(b) != size {
		j.a.cryptoError("DataError", "The JWK's %q is %d bytes, not %d.", name, len(b), size)
	}
	return b
}

func (j *jwkReader) big(name string) *big.Int {
	b := j.bytes(name, true)
	if len(b) == 0 || len(b) > maxRSABits/4 {
		j.a.cryptoError("DataError", "The JWK's %q is not a usable RSA number.", name)
	}
	return new(big.Int).SetBytes(b)
}

// checkUse applies the JWK's ext, key_ops and use to the key being made.
func (j *jwkReader) checkUse(k *cryptoKey) {
	if v := field(j.o, "ext"); v != nil && !v.ToBoolean() && k.extractable {
		j.a.cryptoError("DataError", "The JWK is not extractable (ext is false).")
	}
	if v := field(j.o, "key_ops"); v != nil {
		var ops []string
		j.a.forOf(v, func(op goja.Value) bool { ops = append(ops, j.a.str(op)); return true })
		for _, u := range k.usages {
			if !slices.Contains(ops, u) {
				j.a.cryptoError("DataError", "The JWK's key_ops lack the usage %q.", u)
			}
		}
	}
	if use := j.str("use", false); use != "" {
		want := "sig"
		if slices.ContainsFunc(k.usages, func(u string) bool { return u != "sign" && u != "verify" }) {
			want = "enc"
		}
		if use != want {
			j.a.cryptoError("DataError", "The JWK's use %q does not allow the usages asked.", use)
		}
	}
}

// ---- generateKey ----

func (a *API) generateKey(algV goja.Value, extractable bool, usagesV goja.Value) goja.Value {
	name, alg := a.algorithm(algV)
	usages := a.keyUsages(usagesV, name, "", "generateKey")
	secret := func(k *cryptoKey, n int) goja.Value {
		k.kind, k.extractable, k.usages = "secret", extractable, usages
		k.secret = make([]byte, n)
		a.randomFill(k.secret)
		return a.newKey(k)
	}
	switch name {
	case "HMAC":
		k := &cryptoKey{alg: keyAlg{name: name, hash: a.hashName(a.requiredField(alg, "HmacKeyGenParams", "hash"))}}
		k.alg.length = hashBlockBits[k.alg.hash]
		if lv := field(alg, "length"); lv != nil {
			l := lv.ToInteger()
			if l <= 0 || l > maxDerivedBits {
				a.cryptoError("OperationError", "Invalid HMAC key length.")
			}
			k.alg.length = int(l)
		}
		return secret(k, (k.alg.length+7)/8)
	case "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW":
		l := int(a.requiredField(alg, "AesKeyGenParams", "length").ToInteger())
		if l != 128 && l != 192 && l != 256 {
			a.cryptoError("OperationError", "AES key length must be 128, 192 or 256 bits.")
		}
		return secret(&cryptoKey{alg: keyAlg{name: name, length: l}}, l/8)
	}
	pair := func(g keyAlg, pub, priv any) goja.Value {
		pk := &cryptoKey{kind: "public", alg: g, extractable: true, pub: pub}
		sk := &cryptoKey{kind: "private", alg: g, extractable: extractable, priv: priv}
		for _, u := range usages {
			if slices.Contains(usagesOf[name]["public"], u) {
				pk.usages = append(pk.usages, u)
			} else {
				sk.usages = append(sk.usages, u)
			}
		}
		o := a.vm.NewObject()
		_ = o.Set("publicKey", a.newKey(pk))
		_ = o.Set("privateKey", a.newKey(sk))
		return o
	}
	switch name {
	case "ECDSA", "ECDH":
		g := keyAlg{name: name, curve: a.str(a.requiredField(alg, "EcKeyGenParams", "namedCurve"))}
		curve, ok := curves[g.curve]
		if !ok {
			a.cryptoError("NotSupportedError", "Unsupported named curve %q.", g.curve)
		}
		priv, err := ecdsa.GenerateKey(curve, a.rand)
		if err != nil {
			a.cryptoError("OperationError", "Generating the key failed: %v", err)
		}
		return pair(g, &priv.PublicKey, priv)
	case "Ed25519", "NODE-ED25519":
		g := keyAlg{name: name}
		if name == "NODE-ED25519" {
			g.curve = name
		}
		pub, priv, err := ed25519.GenerateKey(a.rand)
		if err != nil {
			a.cryptoError("OperationError", "Generating the key failed: %v", err)
		}
		return pair(g, pub, priv)
	case "X25519":
		priv, err := ecdh.X25519().GenerateKey(a.rand)
		if err != nil {
			a.cryptoError("OperationError", "Generating the key failed: %v", err)
		}
		return pair(keyAlg{name: name}, priv.PublicKey(), priv)
	case "RSASSA-PKCS1-v1_5", "RSA-PSS", "RSA-OAEP":
		g := keyAlg{name: name, hash: a.hashName(a.requiredField(alg, "RsaHashedKeyGenParams", "hash"))}
		bits := a.requiredField(alg, "RsaHashedKeyGenParams", "modulusLength").ToInteger()
		e := a.bufferArg(a.requiredField(alg, "RsaHashedKeyGenParams", "publicExponent"), "RsaHashedKeyGenParams: publicExponent")
		if new(big.Int).SetBytes(e).Int64() != 65537 {
			a.cryptoError("OperationError", "warren generates RSA keys with the public exponent 65537 only.")
		}
		if bits < 1024 || bits > maxRSAGenBits || bits%8 != 0 {
			a.cryptoError("OperationError", "The RSA modulus length must be a multiple of 8 from 1024 to %d bits.", maxRSAGenBits)
		}
		priv := a.generateRSAKey(int(bits))
		g.modulus, g.exponent = int(bits), []byte{1, 0, 1}
		return pair(g, &priv.PublicKey, priv)
	}
	a.cryptoError("NotSupportedError", "%s keys cannot be generated.", name)
	return nil
}

// generateRSAKey makes an RSA key of bits bits (a multiple of 8) with
// the public exponent 65537, looking at the interrupt between the
// candidates for its primes. rsa.GenerateKey cannot be interrupted, and
// one of 4,096 bits took 0.5-4 s of CPU in one host call (a worker
// ended by its watchdog); it also ignores the reader it is given, so this
// reads crypto/rand as it does. Each prime is a random odd number of half
// the bits with its two top bits set, so that their product has all its
// bits, tested as crypto/rand.Prime tests (ProbablyPrime(20): 20
// Miller-Rabin rounds and Baillie-PSW); the primes differ in their top
// 100 bits and d is above 2^(bits/2), as FIPS 186-5 asks. One test of a
// prime of 2,048 bits, the longest step, takes tens of milliseconds.
func (a *API) generateRSAKey(bits int) *rsa.PrivateKey {
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func(bits int) *big.Int {
		b := make([]byte, (bits+7)/8)
		p, pm1, g := new(big.Int), new(big.Int), new(big.Int)
		for {
			a.stopIfInterrupted()
			if _, err := cryptorand.Read(b); err != nil {
				a.cryptoError("OperationError", "Generating the key failed: %v", err)
			}
			excess := len(b)*8 - bits
			b[0] &= 0xFF >> excess
			if excess < 7 {
				b[0] |= 0xC0 >> excess
			} else {
				b[0] |= 0x01
				b[1] |= 0x80
			}
			b[len(b)-1] |= 1
			p.SetBytes(b)
			// p-1 must be prime to e for d to exist.
			if g.GCD(nil, nil, pm1.Sub(p, one), e).Cmp(one) != 0 || !p.ProbablyPrime(20) {
				continue
			}
			return p
		}
	}
	for {
		p := prime(bits / 2)
		q := prime(bits - bits/2)
		if new(big.Int).Abs(new(big.Int).Sub(p, q)).BitLen() <= bits/2-100 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		pm1, qm1 := new(big.Int).Sub(p, one), new(big.Int).Sub(q, one)
		gcd := new(big.Int).GCD(nil, nil, pm1, qm1)
		lambda := new(big.Int).Div(new(big.Int).Mul(pm1, qm1), gcd)
		d := new(big.Int).ModInverse(e, lambda)
		if n.BitLen() != bits || d == nil || d.BitLen() <= bits/2 {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if err := k.Validate(); err != nil {
			a.cryptoError("OperationError", "Generating the key failed: %v", err)
		}
		return k
	}
}

// ---- sign and verify ----

func (a *API) sign(name string, p *goja.Object, k *cryptoKey, data []byte) []byte {
	switch name {
	case "HMAC":
		return a.hmacOf(k, data)
	case "ECDSA":
		h := a.hashName(a.requiredField(p, "EcdsaParams", "hash"))
		priv := k.priv.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(a.rand, priv, a.digestOf(h, data))
		if err != nil {
			a.cryptoError("OperationError", "Signing failed: %v", err)
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig
	case "Ed25519", "NODE-ED25519":
		return ed25519.Sign(k.priv.(ed25519.PrivateKey), data)
	case "RSASSA-PKCS1-v1_5":
		sig, err := rsa.SignPKCS1v15(a.rand, k.priv.(*rsa.PrivateKey), cryptoHashes[k.alg.hash], a.digestOf(k.alg.hash, data))
		if err != nil {
			a.cryptoError("OperationError", "Signing failed: %v", err)
		}
		return sig
	case "RSA-PSS":
		salt := a.saltLength(p, k, true)
		sig, err := rsa.SignPSS(a.rand, k.priv.(*rsa.PrivateKey), cryptoHashes[k.alg.hash], a.digestOf(k.alg.hash, data), &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			a.cryptoError("OperationError", "Signing failed: %v", err)
		}
		return sig
	}
	a.cryptoError("NotSupportedError", "%s cannot sign.", name)
	return nil
}

func (a *API) verify(name string, p *goja.Object, k *cryptoKey, sig, data []byte) bool {
	switch name {
	case "HMAC":
		return hmac.Equal(a.hmacOf(k, data), sig)
	case "ECDSA":
		h := a.hashName(a.requiredField(p, "EcdsaParams", "hash"))
		pub := k.pub.(*ecdsa.PublicKey)
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, a.digestOf(h, data), r, s)
	case "Ed25519", "NODE-ED25519":
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.pub.(ed25519.PublicKey), data, sig)
	case "RSASSA-PKCS1-v1_5":
		return rsa.VerifyPKCS1v15(k.pub.(*rsa.PublicKey), cryptoHashes[k.alg.hash], a.digestOf(k.alg.hash, data), sig) == nil
	case "RSA-PSS":
		salt := a.saltLength(p, k, false)
		return rsa.VerifyPSS(k.pub.(*rsa.PublicKey), cryptoHashes[k.alg.hash], a.digestOf(k.alg.hash, data), sig, &rsa.PSSOptions{SaltLength: salt}) == nil
	}
	a.cryptoError("NotSupportedError", "%s cannot verify.", name)
	return false
}

// saltLength reads RSA-PSS's saltLength. Go's rsa package cannot sign with
// an empty salt (0 means "as long as fits" to it), so signing with one is
// NotSupportedError, and verifying with one accepts any salt length.
func (a *API) saltLength(p *goja.Object, k *cryptoKey, signing bool) int {
	s := a.requiredField(p, "RsaPssParams", "saltLength").ToInteger()
	limit := int64((k.alg.modulus+7)/8 - hashBits[k.alg.hash]/8 - 2)
	if s < 0 || s > limit {
		a.cryptoError("OperationError", "The RSA-PSS salt length %d does not fit this key (at most %d).", s, limit)
	}
	if s == 0 {
		if signing {
			a.cryptoError("NotSupportedError", "RSA-PSS signatures with an empty salt are not supported.")
		}
		return rsa.PSSSaltLengthAuto
	}
	return int(s)
}

// ---- encrypt, decrypt, wrap ----

func (a *API) cipher(encrypt bool, name string, p *goja.Object, k *cryptoKey, data []byte) []byte {
	switch name {
	case "AES-GCM":
		return a.aesGCM(encrypt, p, k, data)
	case "AES-CBC":
		return a.aesCBC(encrypt, p, k, data)
	case "AES-CTR":
		return a.aesCTR(p, k, data)
	case "AES-KW":
		if encrypt {
			return a.aesKeyWrap(k, data)
		}
		return a.aesKeyUnwrap(k, data)
	case "RSA-OAEP":
		var label []byte
		if v := field(p, "label"); v != nil {
			label = a.bufferArg(v, "RsaOaepParams: label")
			if len(label) > maxOAEPLabelBytes {
				a.cryptoError("OperationError", "The RSA-OAEP label is longer than %d bytes.", maxOAEPLabelBytes)
			}
		}
		h := hashes[k.alg.hash]()
		if encrypt {
			out, err := rsa.EncryptOAEP(h, a.rand, k.pub.(*rsa.PublicKey), data, label)
			if err != nil {
				a.cryptoError("OperationError", "Encryption failed: %v", err)
			}
			return out
		}
		out, err := rsa.DecryptOAEP(h, nil, k.priv.(*rsa.PrivateKey), data, label)
		if err != nil {
			a.cryptoError("OperationError", "Decryption failed.")
		}
		return out
	}
	a.cryptoError("NotSupportedError", "%s cannot encrypt or decrypt.", name)
	return nil
}

func (a *API) aesBlock(k *cryptoKey) cipher.Block {
	b, err := aes.NewCipher(k.secret)
	if err != nil {
		a.cryptoError("OperationError", "%v", err)
	}
	return b
}

func (a *API) aesGCM(encrypt bool, p *goja.Object, k *cryptoKey, data []byte) []byte {
	iv := a.bufferArg(a.requiredField(p, "AesGcmParams", "iv"), "AesGcmParams: iv")
	if len(iv) == 0 || len(iv) > maxIVBytes {
		a.cryptoError("OperationError", "The AES-GCM iv must be 1 to %d bytes, not %d.", maxIVBytes, len(iv))
	}
	tag := 128
	if v := field(p, "tagLength"); v != nil {
		tag = int(v.ToInteger())
	}
	switch tag {
	case 96, 104, 112, 120, 128:
	case 32, 64:
		a.cryptoError("NotSupportedError", "AES-GCM tags of %d bits are not supported (96 to 128).", tag)
	default:
		a.cryptoError("OperationError", "The AES-GCM tag length %d is not one of 32, 64, 96, 104, 112, 120, 128.", tag)
	}
	var aad []byte
	if v := field(p, "additionalData"); v != nil {
		aad = a.bufferArg(v, "AesGcmParams: additionalData")
	}
	var g cipher.AEAD
	var err error
	switch {
	case len(iv) == 12:
		g, err = cipher.NewGCMWithTagSize(a.aesBlock(k), tag/8)
	case tag == 128:
		g, err = cipher.NewGCMWithNonceSize(a.aesBlock(k), len(iv))
	default:
		a.cryptoError("NotSupportedError", "AES-GCM tags shorter than 128 bits need a 96-bit iv.")
	}
	if err != nil {
		a.cryptoError("OperationError", "%v", err)
	}
	if encrypt {
		return g.Seal(nil, iv, data, aad)
	}
	out, err := g.Open(nil, iv, data, aad)
	if err != nil {
		a.cryptoError("OperationError", "Decryption failed.")
	}
	return out
}

func (a *API) aesCBC(encrypt bool, p *goja.Object, k *cryptoKey, data []byte) []byte {
	iv := a.bufferArg(a.requiredField(p, "AesCbcParams", "iv"), "AesCbcParams: iv")
	if len(iv) != aes.BlockSize {
		a.cryptoError("OperationError", "The AES-CBC iv must be 16 bytes, not %d.", len(iv))
	}
	b := a.aesBlock(k)
	if encrypt {
		pad := aes.BlockSize - len(data)%aes.BlockSize
		a.reserve(int64(len(data)+pad), goja.AllocArrayBuffer)
		out := make([]byte, len(data)+pad)
		copy(out, data)
		for i := len(data); i < len(out); i++ {
			out[i] = byte(pad)
		}
		a.cryptBlocks(cipher.NewCBCEncrypter(b, iv), out, out)
		return out
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		a.cryptoError("OperationError", "Decryption failed: the data is not a whole number of blocks.")
	}
	a.reserve(int64(len(data)), goja.AllocArrayBuffer)
	out := make([]byte, len(data))
	a.cryptBlocks(cipher.NewCBCDecrypter(b, iv), out, data)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		a.cryptoError("OperationError", "Decryption failed: bad padding.")
	}
	return out[:len(out)-pad]
}

// cipherStep is how much of its input AES-CBC and AES-CTR take at a time
// (1-5 ms).
const cipherStep = 1 << 20

// cryptBlocks runs m over data, whole blocks, into out a step at a time,
// looking at the interrupt between: one pass over 300 MiB took 0.6 s in
// one host call, and a call past its limit ended its worker.
func (a *API) cryptBlocks(m cipher.BlockMode, out, data []byte) {
	for off := 0; off < len(data); off += cipherStep {
		a.stopIfInterrupted()
		end := min(off+cipherStep, len(data))
		m.CryptBlocks(out[off:end], data[off:end])
	}
}

// aesCTR runs AES-CTR with Web Crypto's counter: the rightmost length bits
// of the counter block count the blocks (wrapping) and the rest stay.
func (a *API) aesCTR(p *goja.Object, k *cryptoKey, data []byte) []byte {
	ctr := a.bufferArg(a.requiredField(p, "AesCtrParams", "counter"), "AesCtrParams: counter")
	if len(ctr) != aes.BlockSize {
		a.cryptoError("OperationError", "The AES-CTR counter must be 16 bytes, not %d.", len(ctr))
	}
	bits := int(a.requiredField(p, "AesCtrParams", "length").ToInteger())
	if bits <= 0 || bits > 128 {
		a.cryptoError("OperationError", "The AES-CTR counter length must be 1 to 128 bits, not %d.", bits)
	}
	blocks := (len(data) + aes.BlockSize - 1) / aes.BlockSize
	if bits < 63 && blocks > 1<<bits {
		a.cryptoError("OperationError", "The data needs more blocks than a %d-bit counter counts.", bits)
	}
	b := a.aesBlock(k)
	var block, stream [aes.BlockSize]byte
	copy(block[:], ctr)
	a.reserve(int64(len(data)), goja.AllocArrayBuffer)
	out := make([]byte, len(data))
	for off := 0; off < len(data); off += aes.BlockSize {
		if off%cipherStep == 0 { // as cryptBlocks: 300 MiB took 1 s
			a.stopIfInterrupted()
		}
		b.Encrypt(stream[:], block[:])
		subtle.XORBytes(out[off:], data[off:], stream[:])
		incCounter(&block, bits)
	}
	return out
}

// incCounter adds one to the rightmost bits bits of block, modulo 2^bits.
func incCounter(block *[aes.BlockSize]byte, bits int) {
	for i := aes.BlockSize - 1; i >= 0 && bits > 0; i-- {
		n := min(bits, 8)
		mask := byte(1<<n - 1)
		low := (block[i] + 1) & mask
		block[i] = block[i]&^mask | low
		if low != 0 {
			return
		}
		bits -= n
	}
}

var kwIV = []byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// aesKeyWrap is RFC 3394's key wrap. It ciphers every 8 bytes of its
// input six times, one block at a time: a key of 64 MiB (an HMAC key
// imported raw, or what unwrapKey is given) was 50 million blocks in one
// host call, and both directions look at the interrupt every few
// thousand (checkpoint).
func (a *API) aesKeyWrap(k *cryptoKey, data []byte) []byte {
	if len(data) < 16 || len(data)%8 != 0 {
		a.cryptoError("OperationError", "AES-KW wraps 16 bytes or more, in multiples of 8 (this is %d).", len(data))
	}
	b := a.aesBlock(k)
	n := len(data) / 8
	out := make([]byte, len(data)+8)
	copy(out, kwIV)
	copy(out[8:], data)
	var buf [16]byte
	for j := range 6 {
		for i := 1; i <= n; i++ {
			a.checkpoint(i)
			copy(buf[:8], out[:8])
			copy(buf[8:], out[i*8:i*8+8])
			b.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			for s := 7; s >= 0; s-- {
				buf[s] ^= byte(t)
				t >>= 8
			}
			copy(out[:8], buf[:8])
			copy(out[i*8:], buf[8:])
		}
	}
	return out
}

func (a *API) aesKeyUnwrap(k *cryptoKey, data []byte) []byte {
	if len(data) < 24 || len(data)%8 != 0 {
		a.cryptoError("OperationError", "Unwrapping failed: AES-KW data is 24 bytes or more, in multiples of 8.")
	}
	b := a.aesBlock(k)
	n := len(data)/8 - 1
	out := slices.Clone(data)
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			a.checkpoint(i)
			copy(buf[:8], out[:8])
			t := uint64(n*j + i)
			for s := 7; s >= 0; s-- {
				buf[s] ^= byte(t)
				t >>= 8
			}
			copy(buf[8:], out[i*8:i*8+8])
			b.Decrypt(buf[:], buf[:])
			copy(out[:8], buf[:8])
			copy(out[i*8:], buf[8:])
		}
	}
	if subtle.ConstantTimeCompare(out[:8], kwIV) != 1 {
		a.cryptoError("OperationError", "Unwrapping failed: the integrity check did not pass.")
	}
	return out[8:]
}

// ---- deriveBits ----

func (a *API) deriveBits(name string, p *goja.Object, k *cryptoKey, length int) []byte {
	if length > maxDerivedBits {
		a.cryptoError("OperationError", "deriveBits makes at most %d bits.", maxDerivedBits)
	}
	if length >= 0 && length%8 != 0 && name != "ECDH" && name != "X25519" {
		a.cryptoError("OperationError", "The length must be a multiple of 8 bits.")
	}
	switch name {
	case "PBKDF2", "HKDF":
		if length < 0 {
			a.cryptoError("OperationError", "%s needs a length.", name)
		}
		h := a.hashName(a.requiredField(p, name+"Params", "hash"))
		salt := a.bufferArg(a.requiredField(p, name+"Params", "salt"), name+"Params: salt")
		if length == 0 {
			return []byte{}
		}
		if name == "HKDF" {
			info := a.bufferArg(a.requiredField(p, "HkdfParams", "info"), "HkdfParams: info")
			if length/8 > 255*hashes[h]().Size() {
				a.cryptoError("OperationError", "HKDF failed: hkdf: requested key length too large")
			}
			return a.hkdf(hashes[h], k.secret, salt, info, length/8)
		}
		iter := a.requiredField(p, "Pbkdf2Params", "iterations").ToInteger()
		if iter <= 0 {
			a.cryptoError("OperationError", "PBKDF2 needs one iteration or more.")
		}
		if iter > maxPBKDF2Iterations {
			a.cryptoError("NotSupportedError", "PBKDF2 iteration counts above %d are not supported (asked %d).", maxPBKDF2Iterations, iter)
		}
		blocks := int64((length/8 + hashBits[h]/8 - 1) / (hashBits[h] / 8))
		if iter*blocks > maxPBKDF2Work {
			a.cryptoError("NotSupportedError", "PBKDF2 of %d bits at %d iterations is more work than warren does in one call (iterations × %s blocks at most %d).", length, iter, h, maxPBKDF2Work)
		}
		// A step at a time, looking at the interrupt between: the most
		// work allowed took 0.3 s, and a salt of 64 MiB is hashed once
		// for every block.
		pk := &pbkdf2{a: a, prf: hmac.New(hashes[h], a.macKey(hashes[h], k.secret)), salt: salt, iter: iter, keyLen: length / 8, block: 1}
		for !pk.step(maxPBKDF2Step) {
			a.stopIfInterrupted()
		}
		return pk.out[:pk.keyLen]
	case "ECDH", "X25519":
		pv := a.requiredField(p, "EcdhKeyDeriveParams", "public")
		pk, ok := stateOf[*cryptoKey](pv)
		if !ok {
			a.typeError("EcdhKeyDeriveParams: public is not a CryptoKey")
		}
		if pk.kind != "public" || pk.alg.name != name || pk.alg.curve != k.alg.curve {
			a.cryptoError("InvalidAccessError", "The public key is not a %s public key of the same curve.", name)
		}
		var secret []byte
		var err error
		switch priv := k.priv.(type) {
		case *ecdsa.PrivateKey:
			var ep *ecdh.PrivateKey
			var eq *ecdh.PublicKey
			if ep, err = priv.ECDH(); err == nil {
				if eq, err = pk.pub.(*ecdsa.PublicKey).ECDH(); err == nil {
					secret, err = ep.ECDH(eq)
				}
			}
		case *ecdh.PrivateKey:
			secret, err = priv.ECDH(pk.pub.(*ecdh.PublicKey))
		}
		if err != nil {
			a.cryptoError("OperationError", "Deriving the secret failed: %v", err)
		}
		if length < 0 {
			return secret
		}
		if length > len(secret)*8 {
			a.cryptoError("OperationError", "The secret has %d bits, fewer than the %d asked.", len(secret)*8, length)
		}
		out := secret[:(length+7)/8]
		if r := length % 8; r != 0 {
			out[len(out)-1] &= byte(0xff << (8 - r))
		}
		return out
	}
	a.cryptoError("NotSupportedError", "%s cannot derive bits.", name)
	return nil
}
