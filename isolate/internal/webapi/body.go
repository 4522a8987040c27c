package webapi

import (
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// body is the body of a Request or Response. Bodies live in memory, so
// reading one completes at once; as a stream (the body attribute) it is a
// single chunk.
type body struct {
	data   []byte // never modified once set; readers get copies
	has    bool   // false: null body
	used   bool
	stream *goja.Object // the body attribute, once asked for
}

const bodyUsedMsg = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."

// extractBody converts a BodyInit. It returns the bytes, the Content-Type
// the body implies ("" for none) and whether the body is non-null.
func (a *API) extractBody(v goja.Value) (data []byte, contentType string, has bool) {
	if isNullish(v) {
		return nil, "", false
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return []byte(a.str(v)), "text/plain;charset=UTF-8", true
	}
	if h, ok := asHost(o); ok {
		switch st := h.st.(type) {
		case *searchParams:
			return []byte(st.serialize()), "application/x-www-form-urlencoded;charset=UTF-8", true
		case *blobState:
			return st.data, st.typ, true
		case *streamState:
			return a.streamBody(st), "", true
		case *formData:
			data, ct := a.encodeForm(st)
			return data, ct, true
		}
	}
	if b, ok := a.bufferSource(o); ok {
		return slices.Clone(b), "", true
	}
	// A stream would otherwise become the text "[object ReadableStream]".
	if _, ok := goja.AssertFunction(o.Get("getReader")); ok {
		a.typeError("warren supports as a stream body only another Request's or Response's body; pass a string, ArrayBuffer, typed array, Blob or URLSearchParams")
	}
	return []byte(a.str(v)), "text/plain;charset=UTF-8", true
}

// takeBody marks b used and returns its bytes; nil, false when the body was
// already used.
func (b *body) take() ([]byte, bool) {
	if b.used {
		return nil, false
	}
	if b.has {
		b.used = true
	}
	return b.data, true
}

const (
	readText = iota
	readJSON
	readArrayBuffer
	readBytes
	readBlob
	readForm
)

// read implements text(), json(), arrayBuffer(), bytes() and blob().
func (a *API) read(b *body, kind int, contentType func() string) goja.Value {
	return a.promiseTry(func() goja.Value {
		data, ok := b.take()
		if !ok {
			a.typeError(bodyUsedMsg)
		}
		switch kind {
		case readText:
			return a.vm.ToValue(decodeUTF8(data, false))
		case readJSON:
			return a.jsonParse(decodeUTF8(data, false))
		case readArrayBuffer:
			return a.newArrayBuffer(slices.Clone(data))
		case readBytes:
			return a.newUint8Array(slices.Clone(data))
		case readForm:
			return a.wrap(clsFormData, a.parseForm(data, contentType()))
		default:
			return a.wrap(clsBlob, &blobState{data: data, typ: blobType(contentType())})
		}
	})
}

func bodyMethods(get func(a *API, call goja.FunctionCall) (*body, *headerList)) []member {
	reader := func(name string, kind int) member {
		return method(name, 0, func(a *API, call goja.FunctionCall) goja.Value {
			b, h := get(a, call)
			return a.read(b, kind, func() string {
				v, _ := h.lookup("content-type")
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
