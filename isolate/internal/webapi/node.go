package webapi

import (
	"crypto/hmac"
	"encoding"
	"encoding/binary"
	"hash"
	"strings"

	"github.com/dop251/goja"
)

// nodeHashes are the digests node:crypto's createHash and createHmac
// accept, by Node's (lower-case) names.
var nodeHashes = map[string]func() hash.Hash{
	"md5":    hashes["MD5"],
	"sha1":   hashes["SHA-1"],
	"sha256": hashes["SHA-256"],
	"sha384": hashes["SHA-384"],
	"sha512": hashes["SHA-512"],
}

// nodeHashAliases are the other spellings Node accepts for them.
var nodeHashAliases = map[string]string{
	"sha-1": "sha1", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512",
	"rsa-md5": "md5", "rsa-sha1": "sha1", "rsa-sha256": "sha256", "rsa-sha384": "sha384", "rsa-sha512": "sha512",
}

// NodeSupport builds the object the nodejs_compat modules (bundled from
// the bundle package's nodejs directory) reach Go through: util.inspect
// and util.format share the console's renderer, and node:crypto hashes in
// Go. Everything on it is pure computation over the caller's values (what
// crypto.subtle.digest already offers, made synchronous), so it gives
// guest code no capability it lacks without it.
//
//	inspect(value, depth) string
//	format(...args) string
//	hash(name) -> {update(bytes), digest() ArrayBuffer, copy()}, or null for an unknown name
//	hmac(name, key bytes) -> the same, without copy
//	pbkdf2(name, password, salt, iterations, keyLength) -> {step(n) bool, result() ArrayBuffer}, or null
//	hkdf(name, key, salt, info, keyLength) ArrayBuffer, or null
//
// PBKDF2 runs in steps of at most n HMACs, so that JavaScript calls them
// in a loop the CPU limit can interrupt; the others are bounded by their
// input (or, for hkdf, by 255 digests).
func (a *API) NodeSupport() goja.Value {
	o := a.vm.NewObject()
	_ = o.Set("inspect", a.newFunc("inspect", 2, func(call goja.FunctionCall) goja.Value {
		depth := inspectDepth
		if d := call.Argument(1); !goja.IsUndefined(d) {
			f := d.ToFloat()
			switch {
			case f != f: // NaN: the default
			case f > 20:
				depth = 20
			case f < 0:
				depth = 0
			default:
				depth = int(f)
			}
		}
		m := &message{max: a.maxMessage}
		in := &inspector{a: a, b: m}
		in.value(call.Argument(0), depth, true)
		return a.vm.ToValue(m.String())
	}))
	_ = o.Set("format", a.newFunc("format", 0, func(call goja.FunctionCall) goja.Value {
		m := &message{max: a.maxMessage}
		a.format(m, call.Arguments)
		return a.vm.ToValue(m.String())
	}))
	_ = o.Set("hash", a.newFunc("hash", 1, func(call goja.FunctionCall) goja.Value {
		newHash := nodeHash(call.Argument(0).String())
		if newHash == nil {
			return goja.Null()
		}
		return a.nodeHasher(newHash())
	}))
	_ = o.Set("hmac", a.newFunc("hmac", 2, func(call goja.FunctionCall) goja.Value {
		newHash := nodeHash(call.Argument(0).String())
		if newHash == nil {
			return goja.Null()
		}
		key := a.macKey(newHash, a.bufferArg(call.Argument(1), "The key"))
		return a.nodeHasher(hmac.New(newHash, key))
	}))
	_ = o.Set("pbkdf2", a.newFunc("pbkdf2", 5, func(call goja.FunctionCall) goja.Value {
		newHash := nodeHash(call.Argument(0).String())
		if newHash == nil {
			return goja.Null()
		}
		p := &pbkdf2{
			a:      a,
			prf:    hmac.New(newHash, a.macKey(newHash, a.bufferArg(call.Argument(1), "The password"))),
			salt:   append([]byte(nil), a.bufferArg(call.Argument(2), "The salt")...),
			iter:   call.Argument(3).ToInteger(),
			keyLen: int(call.Argument(4).ToInteger()),
			block:  1,
		}
		if p.iter < 1 || p.keyLen < 0 || p.keyLen > maxNodeKey {
			a.rangeError("pbkdf2: iterations must be at least 1 and the key length between 0 and %d", maxNodeKey)
		}
		st := a.vm.NewObject()
		_ = st.Set("step", a.newFunc("step", 1, func(call goja.FunctionCall) goja.Value {
			return a.vm.ToValue(p.step(min(call.Argument(0).ToInteger(), maxPBKDF2Step)))
		}))
		_ = st.Set("result", a.newFunc("result", 0, func(goja.FunctionCall) goja.Value {
			if len(p.out) < p.keyLen {
				a.typeError("pbkdf2: not done")
			}
			return a.newArrayBuffer(p.out[:p.keyLen])
		}))
		return st
	}))
	_ = o.Set("hkdf", a.newFunc("hkdf", 5, func(call goja.FunctionCall) goja.Value {
		newHash := nodeHash(call.Argument(0).String())
		if newHash == nil {
			return goja.Null()
		}
		key := a.bufferArg(call.Argument(1), "The key")
		salt := a.bufferArg(call.Argument(2), "The salt")
		info := a.bufferArg(call.Argument(3), "The info")
		n := call.Argument(4).ToInteger()
		if n < 0 || n > int64(255*newHash().Size()) {
			a.rangeError("Invalid key length")
		}
		return a.newArrayBuffer(a.hkdf(newHash, key, salt, info, int(n)))
	}))
	return o
}

// maxNodeKey bounds a derived key: Node's kMaxLength of node:buffer.
const maxNodeKey = 1<<31 - 1

// maxPBKDF2Step bounds the HMACs of one pbkdf2 step (a few ms), whatever
// its caller asks: between steps the CPU limit can interrupt.
const maxPBKDF2Step = 1 << 14

// pbkdf2 is PBKDF2 (RFC 8018) computed a few HMACs at a time.
type pbkdf2 struct {
	a         *API      // hashes the salt (hashWrite)
	prf       hash.Hash // HMAC keyed with the password
	salt      []byte
	iter      int64
	keyLen    int
	block     uint32 // the block being computed, from 1
	j         int64  // HMACs done for it
	u, t, out []byte
}

// step computes at most n HMACs and reports whether the key is done.
func (p *pbkdf2) step(n int64) bool {
	for n > 0 && len(p.out) < p.keyLen {
		if p.j == 0 {
			// The salt may be hundreds of megabytes, hashed again for
			// every block: a piece at a time, looking at the interrupt.
			p.prf.Reset()
			p.a.hashWrite(p.prf, p.salt)
			p.prf.Write(binary.BigEndian.AppendUint32(nil, p.block))
			p.u = p.prf.Sum(p.u[:0])
			p.t = append(p.t[:0], p.u...)
			p.j, n = 1, n-1
		}
		for ; p.j < p.iter && n > 0; p.j, n = p.j+1, n-1 {
			p.prf.Reset()
			p.prf.Write(p.u)
			p.u = p.prf.Sum(p.u[:0])
			for i := range p.t {
				p.t[i] ^= p.u[i]
			}
		}
		if p.j == p.iter {
			p.out = append(p.out, p.t...)
			p.block++
			p.j = 0
		}
	}
	return len(p.out) >= p.keyLen
}

// hkdf is HKDF (RFC 5869) of n bytes, as crypto/hkdf.Key computes it,
// with the secret, the salt (an HMAC key longer than a block is hashed,
// macKey) and the info, hashed once per output block, fed to the HMACs a
// piece at a time (hashWrite): hkdf.Key takes them whole, out of the
// interrupt's reach, and an info of 64 MiB was hashed 255 times in one
// host call. n is at most 255 digests.
func (a *API) hkdf(newHash func() hash.Hash, secret, salt, info []byte, n int) []byte {
	if len(salt) == 0 {
		salt = make([]byte, newHash().Size())
	}
	extract := hmac.New(newHash, a.macKey(newHash, salt))
	a.hashWrite(extract, secret)
	expand := hmac.New(newHash, extract.Sum(nil))
	out := make([]byte, 0, n+expand.Size())
	var t []byte
	for i := byte(1); len(out) < n; i++ {
		expand.Reset()
		expand.Write(t)
		a.hashWrite(expand, info)
		expand.Write([]byte{i})
		t = expand.Sum(t[:0])
		out = append(out, t...)
	}
	return out[:n]
}

// nodeHashOf makes a new hash of the same algorithm as h (one of
// nodeHashes, by digest size and block size).
func nodeHashOf(h hash.Hash) hash.Hash {
	for _, newHash := range nodeHashes {
		if c := newHash(); c.Size() == h.Size() && c.BlockSize() == h.BlockSize() {
			if _, ok := c.(encoding.BinaryUnmarshaler); ok {
				return c
			}
		}
	}
	return nil
}

func nodeHash(name string) func() hash.Hash {
	name = strings.ToLower(name)
	if n, ok := nodeHashAliases[name]; ok {
		name = n
	}
	return nodeHashes[name]
}

// nodeHasher wraps h for JS: update(bytes) feeds it, digest() ends it.
func (a *API) nodeHasher(h hash.Hash) goja.Value {
	o := a.vm.NewObject()
	done := false
	_ = o.Set("update", a.newFunc("update", 1, func(call goja.FunctionCall) goja.Value {
		if done {
			a.typeError("Digest already called")
		}
		a.hashWrite(h, a.bufferArg(call.Argument(0), "The data"))
		return goja.Undefined()
	}))
	_ = o.Set("digest", a.newFunc("digest", 0, func(call goja.FunctionCall) goja.Value {
		if done {
			a.typeError("Digest already called")
		}
		done = true
		return a.newArrayBuffer(h.Sum(nil))
	}))
	if m, ok := h.(encoding.BinaryMarshaler); ok {
		_ = o.Set("copy", a.newFunc("copy", 0, func(call goja.FunctionCall) goja.Value {
			if done {
				a.typeError("Digest already called")
			}
			state, err := m.MarshalBinary()
			if err != nil {
				a.rethrow(err)
			}
			c := nodeHashOf(h)
			if c == nil {
				a.typeError("this hash cannot be copied")
			}
			if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
				a.rethrow(err)
			}
			return a.nodeHasher(c)
		}))
	}
	return o
}

// customInspect is Symbol.for("nodejs.util.inspect.custom"): an object
// with a method under it (a Buffer of node:buffer) is rendered by it, as
// util.inspect and console.log do in Node.
func (a *API) customInspect() *goja.Symbol {
	if a.inspectSym == nil {
		sym, _ := a.vm.Get("Symbol").(*goja.Object)
		if sym == nil {
			return nil
		}
		forFn, ok := goja.AssertFunction(sym.Get("for"))
		if !ok {
			return nil
		}
		v, err := forFn(sym, a.vm.ToValue("nodejs.util.inspect.custom"))
		if err != nil {
			return nil
		}
		a.inspectSym, _ = v.(*goja.Symbol)
	}
	return a.inspectSym
}

// custom renders o with its custom inspect method, if it has one.
func (in *inspector) custom(o *goja.Object, depth int) bool {
	if depth < 0 { // a custom method returning ever new objects stops here
		return false
	}
	sym := in.a.customInspect()
	if sym == nil {
		return false
	}
	var fn goja.Callable
	var ret goja.Value
	if ex := in.a.vm.Try(func() {
		f, ok := goja.AssertFunction(o.GetSymbol(sym))
		if !ok {
			return
		}
		r, err := f(o, in.a.vm.ToValue(depth), in.a.vm.NewObject())
		if err == nil {
			fn, ret = f, r
		}
	}); ex != nil || fn == nil {
		return false
	}
	if ret == nil {
		ret = goja.Undefined()
	}
	if goja.IsString(ret) {
		in.b.WriteString(ret.String())
		return true
	}
	if r, ok := ret.(*goja.Object); ok && r == o {
		return false
	}
	in.value(ret, depth-1, true)
	return true
}
