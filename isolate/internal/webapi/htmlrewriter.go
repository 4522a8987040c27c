package webapi

import (
	"errors"
	"strings"

	"github.com/dop251/goja"
	"golang.org/x/net/html"

	"github.com/warrenmesh/warren/isolate/internal/htmlrewrite"
)

// HTMLRewriter, as on Cloudflare: new HTMLRewriter().on(selector,
// handlers).onDocument(handlers).transform(response). The rewriting itself
// is package htmlrewrite's incremental Rewriter (input chunks in, output
// chunks out). transform pipes the response's body stream through a
// TransformStream whose transform feeds each input chunk to the Rewriter
// and enqueues what it gives back, so the output streams as the input
// arrives and as the response is read. Handlers may be async: a handler
// returning a promise suspends the Rewriter, and the chunk's transform
// settles once it has gone on.

// maxRewriteOutput bounds a rewritten body (a Worker's response is
// bounded by the same figure when it leaves the isolate).
const maxRewriteOutput = 32 << 20

type rewriterState struct {
	noAttrs
	// ons and docs are the handlers so far: each transform gets a
	// Rewriter of its own with those registered before it.
	ons  []rewriterOn
	docs []htmlrewrite.DocumentHandlers
}

type rewriterOn struct {
	sel *htmlrewrite.Selector
	h   htmlrewrite.ElementHandlers
}

// rewriteRun is one transform's rewriting.
type rewriteRun struct {
	a  *API
	rw *htmlrewrite.Rewriter
	// waiting is the promise a handler returned; live the content objects
	// to invalidate when the handler is done.
	waiting goja.Value
	live    []*tokenRef
	out     []byte
	// inserted counts the bytes of content handlers inserted, bounded
	// like the output (content waits in memory until its place comes).
	inserted int
}

// tokenRef is what a content object (Element, Text, ...) reaches: valid
// only while its handler runs (until the promise it returned settles).
type tokenRef struct {
	valid bool
	run   *rewriteRun
}

func (t *tokenRef) check(a *API) {
	if !t.valid {
		a.typeError("This content token is no longer valid. Content tokens are only valid during the execution of the relevant content handler.")
	}
}

var htmlRewriterClass = &classDef{
	name: "HTMLRewriter",
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		return a.wrapProto(proto, &rewriterState{})
	},
	methods: newMembers(
		method("on", 2, func(a *API, call goja.FunctionCall) goja.Value {
			st := this[*rewriterState](a, call)
			src := a.str(call.Argument(0))
			sel, err := htmlrewrite.Compile(src)
			if err != nil {
				a.typeError("HTMLRewriter: %s", err.Error())
			}
			h := a.dict(call.Argument(1), "HTMLRewriter.on: handlers")
			var eh htmlrewrite.ElementHandlers
			if fn := a.handler(h, "element"); fn != nil {
				eh.Element = func(e *htmlrewrite.Element) (bool, error) {
					return a.callHandler(h, fn, func(t *tokenRef) goja.Value { return a.wrap(clsElement, &elementState{e: e, t: t}) })
				}
			}
			if fn := a.handler(h, "comments"); fn != nil {
				eh.Comments = a.commentHandler(h, fn)
			}
			if fn := a.handler(h, "text"); fn != nil {
				eh.Text = a.textHandler(h, fn)
			}
			st.ons = append(st.ons, rewriterOn{sel, eh})
			return call.This
		}),
		method("onDocument", 1, func(a *API, call goja.FunctionCall) goja.Value {
			st := this[*rewriterState](a, call)
			h := a.dict(call.Argument(0), "HTMLRewriter.onDocument: handlers")
			var dh htmlrewrite.DocumentHandlers
			if fn := a.handler(h, "doctype"); fn != nil {
				dh.Doctype = func(d *htmlrewrite.Doctype) (bool, error) {
					return a.callHandler(h, fn, func(t *tokenRef) goja.Value { return a.wrap(clsDoctype, &doctypeState{d: d}) })
				}
			}
			if fn := a.handler(h, "comments"); fn != nil {
				dh.Comments = a.commentHandler(h, fn)
			}
			if fn := a.handler(h, "text"); fn != nil {
				dh.Text = a.textHandler(h, fn)
			}
			if fn := a.handler(h, "end"); fn != nil {
				dh.End = func(d *htmlrewrite.DocumentEnd) (bool, error) {
					return a.callHandler(h, fn, func(t *tokenRef) goja.Value { return a.wrap(clsDocumentEnd, &docEndState{d: d, t: t}) })
				}
			}
			st.docs = append(st.docs, dh)
			return call.This
		}),
		method("transform", 1, func(a *API, call goja.FunctionCall) goja.Value {
			st := this[*rewriterState](a, call)
			in, ok := stateOf[*responseState](call.Argument(0))
			if !ok {
				a.typeError("HTMLRewriter.transform: the argument must be a Response")
			}
			if a.usedBody(&in.body) {
				a.typeError("HTMLRewriter.transform: %s", bodyUsedMsg)
			}
			out := *in
			out.headers = in.headers.clone()
			out.headersObj = nil
			out.typ, out.url, out.redirected = "default", "", false
			out.headers.immutable = false
			out.headers.delete("content-length")
			out.body = body{}
			if !in.has {
				return a.wrap(clsResponse, &out)
			}
			// The input's stream is piped through the rewriter: it is used
			// now, as on Cloudflare, and the output is produced as the
			// input comes and as the response's reader reads.
			src := a.bodyStream(&in.body).(*goja.Object)
			out.body = body{has: true, stream: a.rewriteStream(st, src)}
			return a.wrap(clsResponse, &out)
		}),
	),
}

// rewriteStream pipes src through a rewriting with st's handlers.
func (a *API) rewriteStream(st *rewriterState, src *goja.Object) *goja.Object {
	run := a.newRewriteRun(st)
	// step runs the rewriter over what it was given and enqueues its
	// output; the promise it returns settles when async handlers have.
	step := func(enqueue goja.Value) goja.Value {
		emit, _ := goja.AssertFunction(enqueue)
		promise, resolve, reject := a.vm.NewPromise()
		run.start(func(out []byte) {
			if len(out) > 0 {
				if _, err := emit(goja.Undefined(), a.newUint8Array(out)); err != nil {
					var ex *goja.Exception
					if errors.As(err, &ex) {
						_ = reject(ex.Value())
						return
					}
					_ = reject(a.plainError(err.Error()))
					return
				}
			}
			_ = resolve(goja.Undefined())
		}, func(v goja.Value) { _ = reject(v) })
		return a.vm.ToValue(promise)
	}
	transform := a.newFunc("transform", 2, func(call goja.FunctionCall) goja.Value {
		data, _ := a.bufferSource(call.Argument(0))
		run.rw.Write(data)
		return step(call.Argument(1))
	})
	flush := a.newFunc("flush", 1, func(call goja.FunctionCall) goja.Value {
		run.rw.Close()
		return step(call.Argument(0))
	})
	return a.call(a.streams().transformWith, src, transform, flush).(*goja.Object)
}

// newRewriteRun makes one transform's rewriting, with the handlers
// registered so far.
func (a *API) newRewriteRun(st *rewriterState) *rewriteRun {
	rw := htmlrewrite.New(htmlrewrite.Options{MaxOutput: maxRewriteOutput, Check: a.checkInterrupt})
	for _, o := range st.ons {
		rw.On(o.sel, o.h)
	}
	for _, d := range st.docs {
		rw.OnDocument(d)
	}
	return &rewriteRun{a: a, rw: rw}
}

var errInterrupted = errors.New("HTMLRewriter: interrupted")

// plainError makes an Error (not goja's GoError) with msg.
func (a *API) plainError(msg string) goja.Value {
	if ctor := a.intrinsic("Error"); ctor != nil {
		if o, err := a.vm.New(ctor, a.vm.ToValue(msg)); err == nil {
			return o
		}
	}
	return a.vm.NewGoError(errors.New(msg))
}

// checkInterrupt stops a rewriting when the runtime was interrupted for a
// limit (the limit is then the call's outcome).
func (a *API) checkInterrupt() error {
	if a.interrupted != nil && a.interrupted() {
		return errInterrupted
	}
	return nil
}

// handler reads handler method name of h (nil: none).
func (a *API) handler(h *goja.Object, name string) goja.Callable {
	v := field(h, name)
	if v == nil {
		return nil
	}
	fn, ok := goja.AssertFunction(v)
	if !ok {
		a.typeError("HTMLRewriter: the %s handler must be a function", name)
	}
	return fn
}

func (a *API) commentHandler(h *goja.Object, fn goja.Callable) htmlrewrite.CommentHandler {
	return func(c *htmlrewrite.Comment) (bool, error) {
		return a.callHandler(h, fn, func(t *tokenRef) goja.Value { return a.wrap(clsComment, &commentState{c: c, t: t}) })
	}
}

func (a *API) textHandler(h *goja.Object, fn goja.Callable) htmlrewrite.TextHandler {
	return func(c *htmlrewrite.TextChunk) (bool, error) {
		return a.callHandler(h, fn, func(t *tokenRef) goja.Value { return a.wrap(clsText, &textState{c: c, t: t}) })
	}
}

// callHandler calls a handler with the content object mk makes. A handler
// returning a thenable suspends the rewriting (a.rewriting, the one whose
// Run is calling) until it settles.
func (a *API) callHandler(this goja.Value, fn goja.Callable, mk func(*tokenRef) goja.Value) (bool, error) {
	run := a.rewriting
	if run == nil {
		return false, errors.New("HTMLRewriter: a handler called outside its rewriting")
	}
	t := &tokenRef{valid: true, run: run}
	v, err := fn(this, mk(t))
	if err != nil {
		t.valid = false
		return false, err
	}
	if o, ok := v.(*goja.Object); ok {
		if _, ok := goja.AssertFunction(o.Get("then")); ok {
			run.waiting = o
			run.live = append(run.live, t)
			return true, nil
		}
	}
	t.valid = false
	return false, nil
}

// start runs the Rewriter until it needs input or is done, waiting on the
// promises of async handlers on the way, then calls done with the output
// since the last call; or fail with the error. It may call back at once.
func (r *rewriteRun) start(done func([]byte), fail func(goja.Value)) {
	a := r.a
	prev := a.rewriting
	a.rewriting = r
	out, status, err := r.rw.Run()
	a.rewriting = prev
	r.out = append(r.out, out...)
	if err != nil {
		var ex *goja.Exception
		if errors.As(err, &ex) {
			fail(ex.Value())
		} else {
			fail(a.plainError(err.Error()))
		}
		return
	}
	if status != htmlrewrite.Suspended {
		data := r.out
		r.out = nil
		done(data)
		return
	}
	// A handler is waiting on a promise: go on when it settles.
	p := r.waiting.(*goja.Object)
	r.waiting = nil
	then, _ := goja.AssertFunction(p.Get("then"))
	resume := func() {
		for _, t := range r.live {
			t.valid = false
		}
		r.live = r.live[:0]
	}
	_, err = then(p,
		a.vm.ToValue(func(goja.FunctionCall) goja.Value { resume(); r.start(done, fail); return goja.Undefined() }),
		a.vm.ToValue(func(call goja.FunctionCall) goja.Value { resume(); fail(call.Argument(0)); return goja.Undefined() }))
	if err != nil {
		resume()
		var ex *goja.Exception
		if errors.As(err, &ex) {
			fail(ex.Value())
		} else {
			fail(a.plainError(err.Error()))
		}
	}
}

// content reads a content argument — a string, or a Response or body
// stream whose bytes are in memory (a body nothing has read) — and its
// {html} option.
func (a *API) content(call goja.FunctionCall) htmlrewrite.Content {
	var c htmlrewrite.Content
	v := call.Argument(0)
	var data []byte
	isBody := false
	if r, ok := stateOf[*responseState](v); ok {
		isBody = true
		if r.body.has {
			var ok bool
			if data, ok = a.takeBytes(&r.body); !ok {
				data, ok = a.pristineBytes(r.body.stream)
				if !ok {
					a.typeError("HTMLRewriter: content from a Response must have its body in memory (not a stream being written); read it with text() first")
				}
			}
		}
	} else if s, ok := a.asStream(v); ok {
		isBody = true
		if data, ok = a.pristineBytes(s); !ok {
			a.typeError("HTMLRewriter: a content stream must be a body nothing has read; read it with text() first")
		}
	}
	if isBody {
		c.Text = decodeUTF8(data, false)
	} else {
		c.Text = a.str(v)
	}
	if o := a.dict(call.Argument(1), "content options"); o != nil {
		if v := field(o, "html"); v != nil {
			c.HTML = v.ToBoolean()
		}
	}
	return c
}

type elementState struct {
	e *htmlrewrite.Element
	t *tokenRef
}

func (s *elementState) get(a *API, key string) goja.Value {
	switch key {
	case "tagName":
		return a.vm.ToValue(s.e.TagName())
	case "attributes":
		attrs := append([]html.Attribute(nil), s.e.Attributes()...)
		return a.newIterator(clsAttributesIterator, func() goja.Value {
			if len(attrs) == 0 {
				return nil
			}
			at := attrs[0]
			attrs = attrs[1:]
			return a.vm.NewArray(at.Key, at.Val)
		})
	case "removed":
		return a.vm.ToValue(s.e.Removed())
	case "namespaceURI":
		return a.vm.ToValue(s.e.NamespaceURI())
	case "canHaveContent":
		return a.vm.ToValue(s.e.CanHaveContent())
	}
	return nil
}

func (s *elementState) set(a *API, key string, v goja.Value) (known, ok bool) {
	switch key {
	case "tagName":
		s.t.check(a)
		s.e.SetTagName(a.markupName(v, "tag"))
		return true, true
	case "attributes", "removed", "namespaceURI", "canHaveContent":
		return true, false
	}
	return false, false
}

// markupName reads a tag or attribute name that goes into the output as
// is: one that would end the tag or make markup of its own is refused.
func (a *API) markupName(v goja.Value, what string) string {
	s := a.str(v)
	if s == "" || strings.ContainsAny(s, " \t\n\f\r/>=\"'<\x00") {
		a.typeError("HTMLRewriter: %q is not a valid %s name", s, what)
	}
	return s
}

// contentMethod declares a method of a content object that takes content.
func contentMethod[T hostState](name string, ref func(T) *tokenRef, f func(T, htmlrewrite.Content)) member {
	return method(name, 1, func(a *API, call goja.FunctionCall) goja.Value {
		s := this[T](a, call)
		t := ref(s)
		t.check(a)
		c := a.content(call)
		if t.run.inserted += len(c.Text); t.run.inserted > maxRewriteOutput {
			a.rangeError("HTMLRewriter: handlers inserted more than %d bytes", maxRewriteOutput)
		}
		f(s, c)
		return call.This
	})
}

func plainMethod[T hostState](name string, ref func(T) *tokenRef, f func(T)) member {
	return method(name, 0, func(a *API, call goja.FunctionCall) goja.Value {
		s := this[T](a, call)
		ref(s).check(a)
		f(s)
		return call.This
	})
}

func elRef(s *elementState) *tokenRef { return s.t }

var elementClass = &classDef{
	name: "Element",
	methods: newMembers(
		method("getAttribute", 1, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*elementState](a, call)
			if v, ok := s.e.Attribute(a.str(call.Argument(0))); ok {
				return a.vm.ToValue(v)
			}
			return goja.Null()
		}),
		method("hasAttribute", 1, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*elementState](a, call)
			_, ok := s.e.Attribute(a.str(call.Argument(0)))
			return a.vm.ToValue(ok)
		}),
		method("setAttribute", 2, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*elementState](a, call)
			s.t.check(a)
			name := a.markupName(call.Argument(0), "attribute")
			s.e.SetAttribute(name, a.str(call.Argument(1)))
			return call.This
		}),
		method("removeAttribute", 1, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*elementState](a, call)
			s.t.check(a)
			s.e.RemoveAttribute(a.str(call.Argument(0)))
			return call.This
		}),
		contentMethod("before", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.Before(c) }),
		contentMethod("after", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.After(c) }),
		contentMethod("prepend", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.Prepend(c) }),
		contentMethod("append", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.Append(c) }),
		contentMethod("replace", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.Replace(c) }),
		contentMethod("setInnerContent", elRef, func(s *elementState, c htmlrewrite.Content) { s.e.SetInnerContent(c) }),
		plainMethod("remove", elRef, func(s *elementState) { s.e.Remove() }),
		plainMethod("removeAndKeepContent", elRef, func(s *elementState) { s.e.RemoveAndKeepContent() }),
		method("onEndTag", 1, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*elementState](a, call)
			s.t.check(a)
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				a.typeError("Element.onEndTag: the handler must be a function")
			}
			if !s.e.CanHaveContent() {
				a.typeError("Element.onEndTag: <%s> has no end tag", s.e.TagName())
			}
			s.e.OnEndTag(func(et *htmlrewrite.EndTag) (bool, error) {
				return a.callHandler(goja.Undefined(), fn, func(t *tokenRef) goja.Value { return a.wrap(clsEndTag, &endTagState{e: et, t: t}) })
			})
			return goja.Undefined()
		}),
	),
}

type endTagState struct {
	e *htmlrewrite.EndTag
	t *tokenRef
}

func (s *endTagState) get(a *API, key string) goja.Value {
	if key == "name" {
		return a.vm.ToValue(s.e.Name())
	}
	return nil
}

func (s *endTagState) set(a *API, key string, v goja.Value) (known, ok bool) {
	if key == "name" {
		s.t.check(a)
		s.e.SetName(a.markupName(v, "tag"))
		return true, true
	}
	return false, false
}

func etRef(s *endTagState) *tokenRef { return s.t }

var endTagClass = &classDef{
	name: "EndTag",
	methods: newMembers(
		contentMethod("before", etRef, func(s *endTagState, c htmlrewrite.Content) { s.e.Before(c) }),
		contentMethod("after", etRef, func(s *endTagState, c htmlrewrite.Content) { s.e.After(c) }),
		plainMethod("remove", etRef, func(s *endTagState) { s.e.Remove() }),
	),
}

type textState struct {
	c *htmlrewrite.TextChunk
	t *tokenRef
}

func (s *textState) get(a *API, key string) goja.Value {
	switch key {
	case "text":
		return a.vm.ToValue(s.c.Text)
	case "lastInTextNode":
		return a.vm.ToValue(s.c.LastInTextNode)
	case "removed":
		return a.vm.ToValue(s.c.Removed())
	}
	return nil
}

func (s *textState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return s.get(a, key) != nil, false
}

func txRef(s *textState) *tokenRef { return s.t }

var textClass = &classDef{
	name: "Text",
	methods: newMembers(
		contentMethod("before", txRef, func(s *textState, c htmlrewrite.Content) { s.c.Before(c) }),
		contentMethod("after", txRef, func(s *textState, c htmlrewrite.Content) { s.c.After(c) }),
		contentMethod("replace", txRef, func(s *textState, c htmlrewrite.Content) { s.c.Replace(c) }),
		plainMethod("remove", txRef, func(s *textState) { s.c.Remove() }),
	),
}

type commentState struct {
	c *htmlrewrite.Comment
	t *tokenRef
}

func (s *commentState) get(a *API, key string) goja.Value {
	switch key {
	case "text":
		return a.vm.ToValue(s.c.Text())
	case "removed":
		return a.vm.ToValue(s.c.Removed())
	}
	return nil
}

func (s *commentState) set(a *API, key string, v goja.Value) (known, ok bool) {
	switch key {
	case "text":
		s.t.check(a)
		text := a.str(v)
		if strings.Contains(text, "-->") {
			a.typeError("HTMLRewriter: a comment's text cannot contain the comment closing sequence (-->)")
		}
		s.c.SetText(text)
		return true, true
	case "removed":
		return true, false
	}
	return false, false
}

func cmRef(s *commentState) *tokenRef { return s.t }

var commentClass = &classDef{
	name: "Comment",
	methods: newMembers(
		contentMethod("before", cmRef, func(s *commentState, c htmlrewrite.Content) { s.c.Before(c) }),
		contentMethod("after", cmRef, func(s *commentState, c htmlrewrite.Content) { s.c.After(c) }),
		contentMethod("replace", cmRef, func(s *commentState, c htmlrewrite.Content) { s.c.Replace(c) }),
		plainMethod("remove", cmRef, func(s *commentState) { s.c.Remove() }),
	),
}

type doctypeState struct{ d *htmlrewrite.Doctype }

func (s *doctypeState) get(a *API, key string) goja.Value {
	opt := func(v string, ok bool) goja.Value {
		if !ok {
			return goja.Null()
		}
		return a.vm.ToValue(v)
	}
	switch key {
	case "name":
		return opt(s.d.Name, s.d.Name != "")
	case "publicId":
		return opt(s.d.PublicID, s.d.HasPublic)
	case "systemId":
		return opt(s.d.SystemID, s.d.HasSystem)
	}
	return nil
}

func (s *doctypeState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return s.get(a, key) != nil, false
}

var doctypeClass = &classDef{name: "Doctype", methods: newMembers()}

type docEndState struct {
	noAttrs
	d *htmlrewrite.DocumentEnd
	t *tokenRef
}

var documentEndClass = &classDef{
	name: "DocumentEnd",
	methods: newMembers(
		contentMethod("append", func(s *docEndState) *tokenRef { return s.t }, func(s *docEndState, c htmlrewrite.Content) { s.d.Append(c) }),
	),
}
