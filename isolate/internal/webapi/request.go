package webapi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/dop251/goja"
	werrors "github.com/nlnwa/whatwg-url/errors"
)

type requestState struct {
	body
	method     string
	url        string
	headers    *headerList
	headersObj *goja.Object
	redirect   string
	signal     goja.Value // nil until asked for or given
	integrity  string
	// cf is request.cf: the incoming request's, or init.cf (nil:
	// undefined). The incoming request's is built from cfFields on first
	// use.
	cf       goja.Value
	cfFields []Field
}

func (r *requestState) get(a *API, key string) goja.Value {
	switch key {
	case "method":
		return a.vm.ToValue(r.method)
	case "url":
		return a.vm.ToValue(r.url)
	case "headers":
		return a.headersObject(r.headers, &r.headersObj)
	case "redirect":
		return a.vm.ToValue(r.redirect)
	case "signal":
		if r.signal == nil {
			r.signal = a.newAbortSignal()
		}
		return r.signal
	case "bodyUsed":
		return a.vm.ToValue(a.usedBody(&r.body))
	case "body":
		return a.bodyStream(&r.body)
	case "integrity":
		return a.vm.ToValue(r.integrity)
	case "keepalive":
		return a.vm.ToValue(false)
	case "cf":
		if r.cf == nil && r.cfFields != nil {
			cf := a.vm.NewObject()
			for _, f := range r.cfFields {
				_ = cf.Set(f.Name, f.Value)
			}
			r.cf, r.cfFields = cf, nil
		}
		if r.cf == nil {
			return goja.Undefined()
		}
		return r.cf
	}
	return nil
}

// hasAttr answers without building the attribute: "signal" would run the
// events prelude.
func (r *requestState) hasAttr(key string) bool {
	switch key {
	case "method", "url", "headers", "redirect", "signal", "bodyUsed", "integrity", "keepalive", "cf":
		return true
	}
	return false
}

func (r *requestState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return r.hasAttr(key), false
}

func (r *requestState) clone(a *API) *requestState {
	c := *r
	c.headers = r.headers.clone()
	c.headersObj = nil
	a.cloneBody(&r.body, &c.body)
	return &c
}

var requestClass = &classDef{
	name:   "Request",
	length: 1,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		return a.wrapProto(proto, a.newRequestState(call.Argument(0), call.Argument(1)))
	},
	methods: newMembers(append(bodyMethods(func(a *API, call goja.FunctionCall) (*body, *headerList) {
		r := this[*requestState](a, call)
		return &r.body, r.headers
	}),
		method("clone", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := this[*requestState](a, call)
			if a.unusable(&r.body) {
				a.typeError("Failed to execute 'clone' on 'Request': Request body is already used")
			}
			return a.wrap(clsRequest, r.clone(a))
		}),
	)...),
}

var methodNormal = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// newRequestState implements new Request(input, init), throwing to JS.
func (a *API) newRequestState(input, initV goja.Value) *requestState {
	r := &requestState{method: "GET", redirect: "follow", headers: &headerList{}}
	var src *requestState
	if s, ok := stateOf[*requestState](input); ok {
		src = s
		r.method, r.url, r.redirect, r.integrity, r.signal, r.cf, r.cfFields = s.method, s.url, s.redirect, s.integrity, s.signal, s.cf, s.cfFields
	} else {
		raw := a.str(input)
		u, err := parseURL(raw, nil)
		if err != nil {
			a.typeError("Failed to construct 'Request': Invalid URL %q", raw)
		}
		if u.Username() != "" || u.Password() != "" {
			a.typeError("Failed to construct 'Request': Request cannot be constructed from a URL that includes credentials: %q", raw)
		}
		r.url = u.Href(false)
	}
	init := a.dict(initV, "Failed to construct 'Request': init")

	if v := field(init, "method"); v != nil {
		m := a.byteString(v, "Request method")
		if !isToken(m) {
			a.typeError("Failed to construct 'Request': %q is not a valid HTTP method.", m)
		}
		up := strings.ToUpper(m)
		switch up {
		case "CONNECT", "TRACE", "TRACK":
			a.typeError("Failed to construct 'Request': %q HTTP method is unsupported.", m)
		}
		if slices.Contains(methodNormal, up) {
			m = up
		}
		r.method = m
	}
	if v := field(init, "redirect"); v != nil {
		switch s := a.str(v); s {
		case "follow", "error", "manual":
			r.redirect = s
		default:
			a.typeError("Failed to construct 'Request': redirect must be one of follow, error, manual; got %q", s)
		}
	}
	if v := field(init, "cf"); v != nil {
		// As on Cloudflare: kept as given; fetch honours none of it.
		if _, ok := v.(*goja.Object); !ok && !goja.IsNull(v) {
			a.typeError("Failed to construct 'Request': init.cf must be an object")
		}
		r.cf = v
	}
	if v := field(init, "integrity"); v != nil {
		r.integrity = a.str(v)
	}
	if init != nil {
		if v := init.Get("signal"); v != nil && !goja.IsUndefined(v) {
			if goja.IsNull(v) {
				r.signal = nil
			} else if !a.isAbortSignal(v) {
				a.typeError("Failed to construct 'Request': member signal is not of type AbortSignal.")
			} else {
				r.signal = v
			}
		}
	}

	if hv := field(init, "headers"); hv != nil {
		a.fillHeaders(r.headers, hv)
	} else if src != nil {
		r.headers.list = slices.Clone(src.headers.list)
	}

	var bodyV goja.Value
	if init != nil {
		bodyV = init.Get("body")
	}
	hasInitBody := !isNullish(bodyV)
	if (hasInitBody || (src != nil && src.has)) && (r.method == "GET" || r.method == "HEAD") {
		a.typeError("Failed to construct 'Request': Request with GET/HEAD method cannot have body.")
	}
	switch {
	case hasInitBody:
		ct := a.extractBody(bodyV, &r.body)
		if ct != "" && !r.headers.has("content-type") {
			r.headers.append("content-type", ct)
		}
	case src != nil && src.has:
		// The new Request takes the body over: the source is used.
		if a.unusable(&src.body) {
			a.typeError("Failed to construct 'Request': Cannot construct a Request with a Request object that has already been used.")
		}
		r.has = true
		a.settle(&src.body)
		if src.stream == nil {
			r.data, r.lazy = src.data, src.lazy
		} else if data, ok := a.pristineBytes(src.stream); ok {
			r.data = data
		} else {
			r.stream = src.stream
		}
		src.used = true
	}
	return r
}

// lastHref is the last request URL NewRequest parsed and its
// serialization: the calls a process runs mostly share one (parsing is
// about a tenth of a hello call's CPU in a worker).
var lastHref atomic.Pointer[[2]string]

// requestHref is raw parsed and serialized, as a Request's url.
func requestHref(raw string) (string, error) {
	if p := lastHref.Load(); p != nil && p[0] == raw {
		return p[1], nil
	}
	u, err := parseURL(raw, nil)
	if err != nil {
		return "", fmt.Errorf("webapi: request URL %q: %w", raw, err)
	}
	href := u.Href(false)
	lastHref.Store(&[2]string{raw, href})
	return href, nil
}

// CheckRequestURL reports why raw cannot be the url of the Request a fetch
// handler receives, which the URL Standard's parser reads (Go's net/url
// takes many a URL it refuses: a port past 65535, an IPv4 address with a
// part past 255, a host with "<" or "%"), in words that do not repeat raw;
// nil if it can be. The embedder checks a request with it before any
// runtime builds the Request, whose failure would be the runtime's.
//
// Only the scheme and the authority can make the parser fail (the path,
// query and fragment it percent-encodes as it meets them), so only they
// are parsed: the parser takes 50-120 ns a byte, 120 ms for a megabyte of
// path.
func CheckRequestURL(raw string) error {
	if len(raw) > maxURLLength {
		return urlError("URL too long")
	}
	if err := checkPathCost(raw, nil); err != nil {
		return err
	}
	// The parser drops every tab and newline first.
	head := raw
	if strings.ContainsAny(raw, "\t\n\r") {
		raw = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(raw)
		head = raw
	}
	if i := strings.Index(raw, "://"); i >= 0 {
		// The authority starts past every slash (a special scheme's
		// parser skips them) and ends at the path, query or fragment; a
		// slash stays after it, so that what ends it is not trimmed as
		// the end of the input is (a space).
		k := i + 3
		for k < len(raw) && (raw[k] == '/' || raw[k] == '\\') {
			k++
		}
		if j := strings.IndexAny(raw[k:], "/?#\\"); j >= 0 {
			head = raw[:k+j] + "/"
		}
	}
	_, err := parseURL(head, nil)
	var ve *werrors.ValidationError
	if errors.As(err, &ve) {
		if d := ve.Description(); d != "" && len(d) <= 16 {
			return fmt.Errorf("%s: %s", ve.Type(), d)
		}
		return errors.New(string(ve.Type()))
	}
	return err
}

// NewRequest makes the JS Request a fetch handler receives. Its headers are
// immutable, as on Cloudflare. The body is not copied: do not modify
// hr.Body afterwards.
func (a *API) NewRequest(hr *HTTPRequest) (*goja.Object, error) {
	href, err := requestHref(hr.URL)
	if err != nil {
		return nil, err
	}
	method := hr.Method
	if method == "" {
		method = "GET"
	}
	if !isToken(method) {
		return nil, fmt.Errorf("webapi: invalid request method %q", method)
	}
	h, err := goHeaders(hr.Headers)
	if err != nil {
		return nil, err
	}
	h.immutable = true
	r := &requestState{
		method:   method,
		url:      href,
		headers:  h,
		redirect: "follow",
		body:     body{data: hr.Body, has: hr.Body != nil},
	}
	r.cfFields = hr.CF
	return a.wrap(clsRequest, r), nil
}

// goHeaders validates headers coming from Go.
func goHeaders(hs []Header) (*headerList, error) {
	h := &headerList{list: make([]Header, 0, len(hs))}
	for _, e := range hs {
		if !isToken(e.Name) {
			return nil, fmt.Errorf("webapi: invalid header name %q", e.Name)
		}
		v, ok := normalizeHeaderValue(e.Value)
		if !ok {
			return nil, fmt.Errorf("webapi: invalid value for header %q", e.Name)
		}
		h.list = append(h.list, Header{strings.ToLower(e.Name), v})
	}
	return h, nil
}

// ExportRequest implements the argument handling of fetch(input, init):
// the same semantics as new Request(input, init). A request body is
// consumed; a stream body is Stream, for the caller to read before it
// sends the request. An error is usually a *goja.Exception whose Value is
// the TypeError to reject the fetch promise with.
func (a *API) ExportRequest(input, init goja.Value) (*HTTPRequest, error) {
	var r *requestState
	var headers []Header
	if ex := a.vm.Try(func() {
		r = a.newRequestState(input, init)
		headers = a.exportHeaders(r.headers)
	}); ex != nil {
		return nil, ex
	}
	hr := &HTTPRequest{Method: r.method, URL: r.url, Headers: headers}
	if r.has {
		var data []byte
		ok := true
		if ex := a.vm.Try(func() { data, ok = a.takeBytes(&r.body) }); ex != nil {
			return nil, ex
		}
		if !ok {
			hr.Stream = &BodyStream{a: a, stream: r.stream}
			return hr, nil
		}
		hr.Body = slices.Clone(data)
		if hr.Body == nil {
			hr.Body = []byte{}
		}
	}
	return hr, nil
}
