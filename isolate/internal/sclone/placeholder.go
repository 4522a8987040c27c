// Package sclone encodes JavaScript values to bytes and back with
// structured-clone semantics.
//
// This file is a stand-in (JSON-based: undefined, and what JSON.stringify
// keeps) with the package's API, to be replaced by the real codec.
package sclone

import (
	"fmt"

	"github.com/dop251/goja"
)

// DataCloneError is a value that cannot be cloned, or an encoding over its
// bound; the JS side throws it as a DOMException "DataCloneError".
type DataCloneError struct{ Msg string }

func (e *DataCloneError) Error() string { return "DataCloneError: " + e.Msg }

const (
	tagUndefined = 0
	tagJSON      = 1
)

// Encode encodes v; an encoding over max bytes is a *DataCloneError.
func Encode(vm *goja.Runtime, v goja.Value, max int) ([]byte, error) {
	if v == nil || goja.IsUndefined(v) {
		return []byte{tagUndefined}, nil
	}
	if _, ok := goja.AssertFunction(v); ok {
		return nil, &DataCloneError{Msg: "a function could not be cloned"}
	}
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	s, err := stringify(goja.Undefined(), v)
	if err != nil {
		return nil, err
	}
	if goja.IsUndefined(s) {
		return nil, &DataCloneError{Msg: fmt.Sprintf("%s could not be cloned", v.String())}
	}
	out := append([]byte{tagJSON}, s.String()...)
	if len(out) > max {
		return nil, &DataCloneError{Msg: fmt.Sprintf("the value is larger than %d bytes", max)}
	}
	return out, nil
}

// Decode decodes what Encode wrote.
func Decode(vm *goja.Runtime, b []byte) (goja.Value, error) {
	if len(b) == 0 {
		return nil, &DataCloneError{Msg: "empty encoding"}
	}
	switch b[0] {
	case tagUndefined:
		return goja.Undefined(), nil
	case tagJSON:
		parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
		return parse(goja.Undefined(), vm.ToValue(string(b[1:])))
	}
	return nil, &DataCloneError{Msg: fmt.Sprintf("unknown encoding version %d", b[0])}
}
