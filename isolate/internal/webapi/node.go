package webapi

import (
	"crypto/hmac"
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
//	hash(name) -> {update(bytes), digest() ArrayBuffer}, or null for an unknown name
//	hmac(name, key bytes) -> the same
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
		key := a.bufferArg(call.Argument(1), "The key")
		return a.nodeHasher(hmac.New(newHash, key))
	}))
	return o
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
		h.Write(a.bufferArg(call.Argument(0), "The data"))
		return goja.Undefined()
	}))
	_ = o.Set("digest", a.newFunc("digest", 0, func(call goja.FunctionCall) goja.Value {
		if done {
			a.typeError("Digest already called")
		}
		done = true
		return a.newArrayBuffer(h.Sum(nil))
	}))
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
