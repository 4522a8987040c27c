package webapi

import (
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// body is the body of a Request or Response: bytes in memory, or a
// ReadableStream. Bytes are made a stream only when the body attribute is
// asked for (and then, before streams are started, a lazy one: see
// lazybody.go); a stream given as a body is read only when the body is.
type body struct {
	data   []byte // never modified once set; readers get copies
	has    bool   // false: null body
	used   bool   // read as bytes (a stream body is used when disturbed)
	stream *goja.Object
	// lazy is the body's stream while it is not made (stream is nil),
	// and then still what the body attribute answers.
	lazy *lazyStream
}

const bodyUsedMsg = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."

// extractBody converts a BodyInit into b. It returns the Content-Type the
// body implies ("" for none).
func (a *API) extractBody(v goja.Value, b *body) (contentType string) {
	b.data, b.has, b.used, b.stream, b.lazy = nil, false, false, nil, nil
	if isNullish(v) {
		return ""
	}
	b.has = true
	o, ok := v.(*goja.Object)
	if !ok {
		b.data = []byte(a.str(v))
		return "text/plain;charset=UTF-8"
	}
	if ls, ok := a.lazyOf(o); ok && ls.real == nil {
		// Another body's stream, not made: share it unmade.
		if ls.used {
			a.typeError("This ReadableStream is disturbed (has already been read from), and cannot be used as a body.")
		}
		b.lazy = ls
		return ""
	}
	if h, ok := asHost(o); ok {
		switch st := h.st.(type) {
		case *searchParams:
			b.data = []byte(st.serialize(a))
			return "application/x-www-form-urlencoded;charset=UTF-8"
		case *blobState:
			b.data = st.data
			return st.typ
		case *formData:
			data, ct := a.encodeForm(st)
			b.data = data
			return ct
		}
	}
	if buf, ok := a.bufferSource(o); ok {
		b.data = slices.Clone(buf)
		return ""
	}
	if s, ok := a.asStream(o); ok {
		if a.streamTest(a.strm.locked, s) || a.streamTest(a.strm.disturbed, s) {
			a.typeError("This ReadableStream is disturbed (has already been read from), and cannot be used as a body.")
		}
		b.stream = s
		if ls, ok := a.lazyOf(o); ok {
			b.lazy = ls // the body attribute answers the same object
		}
		return ""
	}
	return a.textBody(b, v)
}

// textBody makes b the string conversion of v.
func (a *API) textBody(b *body, v goja.Value) string {
	b.data = []byte(a.str(v))
	return "text/plain;charset=UTF-8"
}

// takeBytes marks b used and returns its bytes when they can be had at
// once; false when b is a stream that must be read. A used body throws.
func (a *API) takeBytes(b *body) ([]byte, bool) {
	a.settle(b)
	if b.stream == nil && b.lazy != nil {
		if b.used || b.lazy.used {
			a.typeError(bodyUsedMsg)
		}
		b.used, b.lazy.used = true, true
		return b.lazy.data, true
	}
	if b.stream == nil {
		if b.used {
			a.typeError(bodyUsedMsg)
		}
		b.used = b.has
		return b.data, true
	}
	if a.unusable(b) {
		a.typeError(bodyUsedMsg)
	}
	if data, ok := a.pristineBytes(b.stream); ok {
		return data, true
	}
	return nil, false
}

const (
	readText = iota
	readJSON
	readArrayBuffer
	readBytes
	readBlob
	readForm
)

var readNames = [...]string{"text()", "json()", "arrayBuffer()", "bytes()", "blob()", "formData()"}

// read implements text(), json(), arrayBuffer(), bytes(), blob() and
// formData().
func (a *API) read(b *body, kind int, contentType func() string) goja.Value {
	convert := func(data []byte) goja.Value {
		switch kind {
		case readText:
			return a.utf8Text(data)
		case readJSON:
			return a.jsonParse(decodeUTF8(data, false))
		case readArrayBuffer:
			return a.newArrayBuffer(slices.Clone(data))
		case readBytes:
			return a.newUint8Array(slices.Clone(data))
		case readForm:
			return a.wrap(clsFormData, a.parseForm(data, contentType()))
		default:
			return a.wrap(clsBlob, &blobState{data: slices.Clone(data), typ: blobType(contentType())})
		}
	}
	return a.promiseTry(func() goja.Value {
		data, ok := a.takeBytes(b)
		if !ok {
			// The promise returned adopts the read's.
			return a.readStream(b.stream, readNames[kind], convert)
		}
		return convert(data)
	})
}

func bodyMethods(get func(a *API, call goja.FunctionCall) (*body, *headerList)) []member {
	reader := func(name string, kind int) member {
		return method(name, 0, func(a *API, call goja.FunctionCall) goja.Value {
			b, h := get(a, call)
			return a.read(b, kind, func() string {
				v, _ := h.lookup(a, "content-type")
				return v
			})
		})
	}
	return []member{
		reader("text", readText),
		reader("json", readJSON),
		reader("arrayBuffer", readArrayBuffer),
		reader("bytes", readBytes),
		reader("blob", readBlob),
		reader("formData", readForm),
	}
}

// blobType normalizes a Blob type: lower-case, empty if not printable ASCII.
func blobType(t string) string {
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7E {
			return ""
		}
	}
	return strings.ToLower(t)
}
