package webapi

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

type responseState struct {
	body
	status     int
	statusText string
	headers    *headerList
	headersObj *goja.Object
	typ        string // "default", "error" or "basic"
	url        string
	redirected bool
}

func (r *responseState) get(a *API, key string) goja.Value {
	switch key {
	case "status":
		return a.vm.ToValue(r.status)
	case "statusText":
		return a.latin1Value(r.statusText)
	case "ok":
		return a.vm.ToValue(r.status >= 200 && r.status <= 299)
	case "headers":
		return a.headersObject(r.headers, &r.headersObj)
	case "type":
		return a.vm.ToValue(r.typ)
	case "url":
		return a.vm.ToValue(r.url)
	case "redirected":
		return a.vm.ToValue(r.redirected)
	case "bodyUsed":
		return a.vm.ToValue(a.usedBody(&r.body))
	case "body":
		return a.bodyStream(&r.body)
	case "webSocket":
		return goja.Null()
	}
	return nil
}

func (r *responseState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return r.get(a, key) != nil, false
}

func (r *responseState) clone(a *API) *responseState {
	c := *r
	c.headers = r.headers.clone()
	c.headersObj = nil
	a.cloneBody(&r.body, &c.body)
	return &c
}

func isNullBodyStatus(s int) bool { return s == 101 || s == 103 || s == 204 || s == 205 || s == 304 }

func isRedirectStatus(s int) bool { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308 }

// initResponse applies a ResponseInit and the body's Content-Type.
func (a *API) initResponse(r *responseState, initV goja.Value, contentType string, hasBody bool) {
	init := a.dict(initV, "Failed to construct 'Response': init")
	if v := field(init, "status"); v != nil {
		// WebIDL unsigned short: modulo 2^16.
		f := v.ToFloat()
		s := 0
		if f == f && f < 1e300 && f > -1e300 {
			s = int(int64(f) & 0xFFFF)
		}
		if s < 200 || s > 599 {
			a.rangeError("Failed to construct 'Response': The status provided (%d) is outside the range [200, 599].", s)
		}
		r.status = s
	}
	if v := field(init, "statusText"); v != nil {
		t := a.byteString(v, "statusText")
		if strings.ContainsAny(t, "\r\n") {
			a.typeError("Failed to construct 'Response': Invalid statusText.")
		}
		r.statusText = t
	}
	if v := field(init, "headers"); v != nil {
		a.fillHeaders(r.headers, v)
	}
	if hasBody && isNullBodyStatus(r.status) {
		a.typeError("Failed to construct 'Response': Response with null body status cannot have body")
	}
	if contentType != "" && !r.headers.has("content-type") {
		r.headers.append("content-type", contentType)
	}
}

func newResponseState() *responseState {
	return &responseState{status: 200, headers: &headerList{}, typ: "default"}
}

var responseClass = &classDef{
	name:   "Response",
	length: 0,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		r := newResponseState()
		ct := a.extractBody(call.Argument(0), &r.body)
		a.initResponse(r, call.Argument(1), ct, r.has)
		return a.wrapProto(proto, r)
	},
	methods: newMembers(append(bodyMethods(func(a *API, call goja.FunctionCall) (*body, *headerList) {
		r := this[*responseState](a, call)
		return &r.body, r.headers
	}),
		method("clone", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := this[*responseState](a, call)
			if a.unusable(&r.body) {
				a.typeError("Failed to execute 'clone' on 'Response': Response body is already used")
			}
			return a.wrap(clsResponse, r.clone(a))
		}),
	)...),
	statics: newMembers(
		method("json", 1, func(a *API, call goja.FunctionCall) goja.Value {
			s, ok := a.jsonStringify(call.Argument(0))
			if !ok {
				a.typeError("Failed to execute 'json' on 'Response': The data is not JSON serializable")
			}
			r := newResponseState()
			r.data, r.has = []byte(s), true
			a.initResponse(r, call.Argument(1), "application/json", true)
			return a.wrap(clsResponse, r)
		}),
		method("redirect", 1, func(a *API, call goja.FunctionCall) goja.Value {
			raw := a.str(call.Argument(0))
			u, err := parseURL(raw, nil)
			if err != nil {
				a.typeError("Failed to execute 'redirect' on 'Response': Invalid URL %q", raw)
			}
			status := 302
			if v := call.Argument(1); !goja.IsUndefined(v) {
				status = int(v.ToInteger() & 0xFFFF)
			}
			if !isRedirectStatus(status) {
				a.rangeError("Failed to execute 'redirect' on 'Response': Invalid status code %d", status)
			}
			r := newResponseState()
			r.status = status
			r.headers.append("location", u.Href(false))
			r.headers.immutable = true
			return a.wrap(clsResponse, r)
		}),
		method("error", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := newResponseState()
			r.status, r.typ = 0, "error"
			r.headers.immutable = true
			return a.wrap(clsResponse, r)
		}),
	),
}

// NewResponse makes a JS Response, as fetch() resolves to. Its headers are
// immutable. The body is not copied: do not modify hr.Body afterwards.
func (a *API) NewResponse(hr *HTTPResponse) (*goja.Object, error) {
	if hr.Status < 0 || hr.Status > 999 {
		return nil, fmt.Errorf("webapi: invalid response status %d", hr.Status)
	}
	if strings.ContainsAny(hr.StatusText, "\r\n") {
		return nil, fmt.Errorf("webapi: invalid response status text %q", hr.StatusText)
	}
	h, err := goHeaders(hr.Headers)
	if err != nil {
		return nil, err
	}
	h.immutable = true
	r := &responseState{
		status:     hr.Status,
		statusText: hr.StatusText,
		headers:    h,
		typ:        "basic",
		body:       body{data: hr.Body, has: hr.Body != nil || !isNullBodyStatus(hr.Status)},
	}
	return a.wrap(clsResponse, r), nil
}

// ErrNotResponse is wrapped by ExportResponse when the handler returned
// something other than a Response.
var ErrNotResponse = errors.New("not a Response")

// ExportResponse converts what a fetch handler returned into Go, consuming
// the body. A body in memory (or a stream of one nothing has read) is
// Body; a stream body is Stream, for the caller to read (see BodyStream).
// A value that is not a Response is an error that says what it was and
// wraps ErrNotResponse.
func (a *API) ExportResponse(v goja.Value) (*HTTPResponse, error) {
	r, ok := stateOf[*responseState](v)
	if !ok {
		return nil, fmt.Errorf("fetch handler returned %s, %w", a.describe(v), ErrNotResponse)
	}
	if r.typ == "error" {
		return nil, fmt.Errorf("fetch handler returned a network error (Response.error()), %w", ErrNotResponse)
	}
	var headers []Header
	if ex := a.vm.Try(func() { headers = a.exportHeaders(r.headers) }); ex != nil {
		return nil, ex
	}
	var ex *goja.Exception
	var data []byte
	var stream *goja.Object
	used := false
	if r.has {
		ex = a.vm.Try(func() {
			if a.unusable(&r.body) {
				used = true
				return
			}
			var ok bool
			if data, ok = a.takeBytes(&r.body); !ok {
				stream = r.stream
			}
		})
	} else if r.used {
		used = true
	}
	if ex != nil {
		return nil, ex
	}
	if used {
		return nil, errors.New("fetch handler returned a Response whose body was already used")
	}
	hr := &HTTPResponse{
		Status:     r.status,
		StatusText: r.statusText,
		Headers:    headers,
	}
	switch {
	case stream != nil:
		hr.Stream = &BodyStream{a: a, stream: stream}
	case r.has:
		hr.Body = slices.Clone(data)
		if hr.Body == nil {
			hr.Body = []byte{}
		}
	}
	return hr, nil
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// describe names a JS value for error messages: "undefined", "a string",
// "an object (Object)", "a Promise". It may be called from Go, outside any
// JS call, so guest getters run under Try.
func (a *API) describe(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	case goja.IsString(v):
		return "a string"
	case goja.IsNumber(v):
		return "a number"
	case goja.IsBigInt(v):
		return "a bigint"
	}
	o, ok := v.(*goja.Object)
	if !ok {
		if _, ok := v.(*goja.Symbol); ok {
			return "a symbol"
		}
		if v.ExportType() != nil && v.ExportType().Kind() == reflect.Bool {
			return "a boolean"
		}
		return "a primitive"
	}
	desc := "an object"
	_ = a.vm.Try(func() { describeObject(o, &desc) })
	return desc
}

// describeObject may run guest code (getters, proxy traps) and throw, so it
// improves *desc step by step.
func describeObject(o *goja.Object, desc *string) {
	if _, ok := goja.AssertFunction(o); ok {
		*desc = "a function"
		return
	}
	if o.ExportType() == promiseType {
		*desc = "a Promise (did you forget to await it?)"
		return
	}
	name := o.ClassName()
	if name == "Array" {
		*desc = "an array"
		return
	}
	*desc = "an object (" + name + ")"
	if c, ok := o.Get("constructor").(*goja.Object); ok {
		if n := c.Get("name"); n != nil && goja.IsString(n) && n.String() != "" {
			*desc = "an object (" + n.String() + ")"
		}
	}
}

// IsResponse reports whether v is a Response, and whether its body was
// used.
func (a *API) IsResponse(v goja.Value) (ok, used bool) {
	r, ok := stateOf[*responseState](v)
	return ok, ok && r.used
}
