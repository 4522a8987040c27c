package jsengine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// maxCachePut bounds the response a cache.put sends to the host (body and
// headers): what one entry of the node's cache may hold.
const maxCachePut = 16 << 20

// cachesObject is the caches global: caches.default and caches.open(name),
// each Cache's calls answered by the node's cache (OpCache).
func (l *loop) cachesObject() goja.Value {
	vm := l.vm
	o := vm.NewObject()
	var def *goja.Object
	_ = o.DefineAccessorProperty("default", vm.ToValue(func(goja.FunctionCall) goja.Value {
		if def == nil {
			def = l.cacheObject("")
		}
		return def
	}), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	_ = o.Set("open", func(call goja.FunctionCall) goja.Value {
		p, resolve, reject := vm.NewPromise()
		name := call.Argument(0)
		if _, ok := name.(*goja.Symbol); ok || goja.IsUndefined(name) {
			_ = reject(vm.NewTypeError("caches.open: a cache name (a string) is required"))
			return vm.ToValue(p)
		}
		s := name.String()
		if len(s) > 1024 {
			_ = reject(vm.NewTypeError("caches.open: the cache name is longer than 1024 bytes"))
			return vm.ToValue(p)
		}
		// Opened caches are apart from caches.default, whatever their name.
		_ = resolve(l.cacheObject(":" + s))
		return vm.ToValue(p)
	})
	return o
}

// cacheObject is one Cache: match, put and delete.
func (l *loop) cacheObject(name string) *goja.Object {
	vm := l.vm
	o := vm.NewObject()
	// request reads the request argument: its method and URL (a string
	// or URL is a GET of it), or the TypeError's message (refused).
	request := func(v goja.Value, what string) (method, url, refused string) {
		hr, err := l.api.ExportRequest(v, goja.Undefined())
		if err != nil {
			return "", "", fmt.Sprintf("Cache.%s: %v", what, err)
		}
		if !strings.HasPrefix(hr.URL, "http://") && !strings.HasPrefix(hr.URL, "https://") {
			return "", "", fmt.Sprintf("Cache.%s: the Cache API supports only http and https URLs, not %q", what, hr.URL)
		}
		return hr.Method, hr.URL, ""
	}
	ignoreMethod := func(v goja.Value) bool {
		if opts, ok := v.(*goja.Object); ok {
			if iv := opts.Get("ignoreMethod"); iv != nil {
				return iv.ToBoolean()
			}
		}
		return false
	}
	// call makes the host call and settles the promise with conv's value.
	call := func(c *contract.CacheCall, method string, resolve, reject func(any) error, conv func(*contract.HostReply) goja.Value) {
		if err := l.subrequest(); err != nil {
			_ = reject(vm.NewGoError(err))
			return
		}
		l.hostAsync(&contract.HostCall{Op: contract.OpCache, Method: method, Cache: c}, func(rep *contract.HostReply, err error) {
			switch {
			case err != nil:
				_ = reject(l.jsError("Error", fmt.Sprintf("Cache.%s: %v", method, err)))
			case rep.Error != "" && rep.Code == contract.CodeInvalid:
				_ = reject(vm.NewTypeError("Cache.%s: %s", method, rep.Error))
			case rep.Error != "":
				_ = reject(l.jsError("Error", fmt.Sprintf("Cache.%s: %s", method, rep.Error)))
			default:
				_ = resolve(conv(rep))
			}
		})
	}
	// keyed makes match and delete: a request that is not a GET (unless
	// ignoreMethod) answers miss without asking the cache.
	keyed := func(what string, miss goja.Value, conv func(*contract.HostReply) goja.Value) func(goja.FunctionCall) goja.Value {
		return func(c goja.FunctionCall) goja.Value {
			p, resolve, reject := vm.NewPromise()
			method, url, refused := request(c.Argument(0), what)
			switch {
			case refused != "":
				_ = reject(vm.NewTypeError("%s", refused))
			case method != "GET" && !ignoreMethod(c.Argument(1)):
				_ = resolve(miss)
			default:
				call(&contract.CacheCall{Name: name, URL: url}, what, resolve, reject, conv)
			}
			return vm.ToValue(p)
		}
	}
	_ = o.Set("match", keyed("match", goja.Undefined(), func(rep *contract.HostReply) goja.Value {
		if rep.Response == nil {
			return goja.Undefined()
		}
		r, err := l.api.NewResponse(fromResponse(rep.Response))
		if err != nil {
			return goja.Undefined()
		}
		return r
	}))
	_ = o.Set("delete", keyed("delete", vm.ToValue(false), func(rep *contract.HostReply) goja.Value {
		return vm.ToValue(rep.Found)
	}))
	_ = o.Set("put", func(c goja.FunctionCall) goja.Value {
		p, resolve, reject := vm.NewPromise()
		method, url, refused := request(c.Argument(0), "put")
		if refused != "" {
			_ = reject(vm.NewTypeError("%s", refused))
			return vm.ToValue(p)
		}
		if method != "GET" {
			_ = reject(vm.NewTypeError("Cache.put: cannot cache the response to a %s request (only GET)", method))
			return vm.ToValue(p)
		}
		respV := c.Argument(1)
		switch ok, used := l.api.IsResponse(respV); {
		case !ok:
			_ = reject(vm.NewTypeError("Cache.put: the second argument must be a Response"))
			return vm.ToValue(p)
		case used:
			_ = reject(vm.NewTypeError("Cache.put: the Response's body was already used"))
			return vm.ToValue(p)
		}
		hr, err := l.api.ExportResponse(respV)
		if err != nil {
			_ = reject(vm.NewTypeError("Cache.put: %s", err.Error()))
			return vm.ToValue(p)
		}
		put := func() {
			resp := toResponse(hr)
			n := len(resp.Body)
			for k, v := range resp.Headers {
				n += len(k) + len(v)
			}
			if n > maxCachePut {
				_ = reject(l.rangeError(fmt.Sprintf("Cache.put: the response is %d bytes, more than the %d an entry may hold", n, maxCachePut)))
				return
			}
			call(&contract.CacheCall{Name: name, URL: url, Response: resp}, "put", resolve, reject, func(*contract.HostReply) goja.Value {
				return goja.Undefined()
			})
		}
		if s := hr.Stream; s != nil {
			// A stream body (an HTMLRewriter's, one being written) is read
			// to its end first, as much as an entry may hold.
			hr.Stream, hr.Body = nil, []byte{}
			var step func()
			step = func() {
				s.Read(func(chunk []byte, eof bool, err error) {
					switch {
					case err != nil:
						var se *webapi.StreamError
						if errors.As(err, &se) {
							_ = reject(se.Value)
						} else {
							_ = reject(vm.NewTypeError("Cache.put: %s", err.Error()))
						}
					case eof:
						put()
					case len(hr.Body)+len(chunk) > maxCachePut:
						s.Cancel("Cache.put: the response is too large")
						_ = reject(l.rangeError(fmt.Sprintf("Cache.put: the response is more than the %d bytes an entry may hold", maxCachePut)))
					default:
						hr.Body = append(hr.Body, chunk...)
						step()
					}
				})
			}
			step()
			return vm.ToValue(p)
		}
		put()
		return vm.ToValue(p)
	})
	return o
}
