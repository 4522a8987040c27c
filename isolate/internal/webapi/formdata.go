package webapi

import (
	"bytes"
	"encoding/hex"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// formEntry is one entry of a FormData: a string, or a file (a Blob with a
// name).
type formEntry struct {
	name     string
	value    string
	file     *blobState // nil for a string entry
	filename string
}

// formData is the Go side of FormData.
type formData struct{ list []formEntry }

func (f *formData) get(a *API, key string) goja.Value                     { return nil }
func (f *formData) set(a *API, key string, v goja.Value) (known, ok bool) { return false, false }

// entry converts an append/set argument pair: a Blob becomes a File entry
// named by the third argument, else by the File's name, else "blob";
// anything else its string.
func (a *API) formEntry(call goja.FunctionCall) formEntry {
	e := formEntry{name: a.str(call.Argument(0))}
	if o, ok := call.Argument(1).(*goja.Object); ok {
		if b, ok := stateOf[*blobState](o); ok {
			f := &blobState{data: b.data, typ: b.typ, file: true, name: "blob", lastModified: b.lastModified}
			if b.file {
				f.name = b.name
			} else {
				f.lastModified = a.dateNow()
			}
			if fn := call.Argument(2); !goja.IsUndefined(fn) {
				f.name = a.str(fn)
			}
			e.file, e.filename = f, f.name
			return e
		}
	}
	if len(call.Arguments) > 2 {
		// Three arguments select the (name, Blob, filename) overload.
		a.typeError("Failed to execute 'append' on 'FormData': parameter 2 is not of type 'Blob'.")
	}
	e.value = a.str(call.Argument(1))
	return e
}

// formValue is an entry's value as the guest sees it: a string or a File.
func (a *API) formValue(e formEntry) goja.Value {
	if e.file == nil {
		return a.vm.ToValue(e.value)
	}
	return a.wrap(clsFile, e.file)
}

// parseForm reads a body as FormData, by its Content-Type:
// application/x-www-form-urlencoded or multipart/form-data.
func (a *API) parseForm(data []byte, contentType string) *formData {
	f := &formData{}
	mt, params, err := mime.ParseMediaType(contentType)
	switch {
	case err == nil && mt == "application/x-www-form-urlencoded":
		var p searchParams
		p.parse(a, string(data))
		for _, nv := range p.list {
			f.list = append(f.list, formEntry{name: nv.name, value: nv.value})
		}
		return f
	case err == nil && mt == "multipart/form-data" && params["boundary"] != "":
		// A body of 50 MB may hold a million parts (3 s in one host
		// call): the loop looks at the interrupt every few thousand.
		r := multipart.NewReader(bytes.NewReader(data), params["boundary"])
		for i := 0; ; i++ {
			a.checkpoint(i)
			part, err := r.NextPart()
			if err == io.EOF {
				return f
			}
			if err != nil {
				a.typeError("Could not parse content as FormData: %v", err)
			}
			// A part is read a chunk at a time too: one of 128 MiB took
			// 0.2 s.
			var buf bytes.Buffer
			for {
				a.stopIfInterrupted()
				_, err := io.CopyN(&buf, part, chunkBytes)
				if err == io.EOF {
					break
				}
				if err != nil {
					a.typeError("Could not parse content as FormData: %v", err)
				}
			}
			content := buf.Bytes()
			e := formEntry{name: part.FormName()}
			// A part with a filename parameter (even an empty one) is a file.
			_, disp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			if _, isFile := disp["filename"]; isFile {
				e.filename = part.FileName()
				e.file = &blobState{data: content, typ: blobType(part.Header.Get("Content-Type")), file: true, name: e.filename, lastModified: a.dateNow()}
			} else {
				e.value = decodeUTF8(content, false)
			}
			f.list = append(f.list, e)
		}
	}
	a.typeError("Could not parse content as FormData: the Content-Type is not multipart/form-data or application/x-www-form-urlencoded")
	return nil
}

// encodeForm serializes f as multipart/form-data with a random boundary.
// A form may name one Blob or string thousands of times, each append
// costing nothing: what its entries add up to is asked of the allocation
// guard before the body is written.
func (a *API) encodeForm(f *formData) ([]byte, string) {
	n := int64(0)
	for _, e := range f.list {
		n += int64(len(e.name) + len(e.value) + len(e.filename))
		if e.file != nil {
			n += int64(len(e.file.data))
		}
	}
	a.reserve(n, goja.AllocArrayBuffer)
	var rnd [12]byte
	a.randomFill(rnd[:])
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.SetBoundary("----warrenFormBoundary" + hex.EncodeToString(rnd[:]))
	quote := strings.NewReplacer("\n", "%0A", "\r", "%0D", `"`, "%22")
	for _, e := range f.list {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + quote.Replace(e.name) + `"`
		if e.file != nil {
			disp += `; filename="` + quote.Replace(e.filename) + `"`
			typ := e.file.typ
			if typ == "" {
				typ = "application/octet-stream"
			}
			h.Set("Content-Type", typ)
		}
		h.Set("Content-Disposition", disp)
		pw, _ := w.CreatePart(h)
		if e.file != nil {
			_, _ = pw.Write(e.file.data)
		} else {
			_, _ = io.WriteString(pw, e.value)
		}
	}
	_ = w.Close()
	return buf.Bytes(), "multipart/form-data; boundary=" + w.Boundary()
}

func (a *API) formIterator(f *formData, kind int) goja.Value {
	i := 0
	return a.newIterator(clsFormDataIterator, func() goja.Value {
		if i >= len(f.list) {
			return nil
		}
		e := f.list[i]
		i++
		switch kind {
		case iterKeys:
			return a.vm.ToValue(e.name)
		case iterValues:
			return a.formValue(e)
		}
		return a.vm.NewArray(e.name, a.formValue(e))
	})
}

var formDataClass = &classDef{
	name: "FormData",
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		if !goja.IsUndefined(call.Argument(0)) {
			a.typeError("FormData: warren has no HTML form to read entries from; construct it empty and append")
		}
		return a.wrapProto(proto, &formData{})
	},
	iterable: "entries",
	tag:      true,
	methods: newMembers(
		method("append", 2, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			f.list = append(f.list, a.formEntry(call))
			return goja.Undefined()
		}),
		method("delete", 1, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			name := a.str(call.Argument(0))
			f.list = slices.DeleteFunc(f.list, func(e formEntry) bool { return e.name == name })
			return goja.Undefined()
		}),
		method("get", 1, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			name := a.str(call.Argument(0))
			for _, e := range f.list {
				if e.name == name {
					return a.formValue(e)
				}
			}
			return goja.Null()
		}),
		method("getAll", 1, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			name := a.str(call.Argument(0))
			out := []any{}
			for _, e := range f.list {
				if e.name == name {
					out = append(out, a.formValue(e))
				}
			}
			return a.vm.NewArray(out...)
		}),
		method("has", 1, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			name := a.str(call.Argument(0))
			return a.vm.ToValue(slices.ContainsFunc(f.list, func(e formEntry) bool { return e.name == name }))
		}),
		method("set", 2, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			e := a.formEntry(call)
			i := slices.IndexFunc(f.list, func(x formEntry) bool { return x.name == e.name })
			if i < 0 {
				f.list = append(f.list, e)
				return goja.Undefined()
			}
			f.list[i] = e
			rest := f.list[i+1:]
			f.list = append(f.list[:i+1], slices.DeleteFunc(rest, func(x formEntry) bool { return x.name == e.name })...)
			return goja.Undefined()
		}),
		method("forEach", 1, func(a *API, call goja.FunctionCall) goja.Value {
			f := this[*formData](a, call)
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				a.typeError("FormData.forEach: callback is not a function")
			}
			for i := 0; i < len(f.list); i++ {
				e := f.list[i]
				if _, err := fn(call.Argument(1), a.formValue(e), a.vm.ToValue(e.name), call.This); err != nil {
					a.rethrow(err)
				}
			}
			return goja.Undefined()
		}),
		method("entries", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.formIterator(this[*formData](a, call), iterEntries)
		}),
		method("keys", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.formIterator(this[*formData](a, call), iterKeys)
		}),
		method("values", 0, func(a *API, call goja.FunctionCall) goja.Value {
			return a.formIterator(this[*formData](a, call), iterValues)
		}),
	),
}
