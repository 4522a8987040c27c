package webapi

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestArrayBufferAllocated: Options.ArrayBufferAllocated sees the bytes of
// every ArrayBuffer the Web API makes over memory of its own, with the
// length the script sees, and not a transfer's (the same memory).
func TestArrayBufferAllocated(t *testing.T) {
	var got []int
	vm := goja.New()
	api := Install(vm, Options{ArrayBufferAllocated: func(data []byte) { got = append(got, len(data)) }})
	e := &env{t: t, vm: vm, api: api}
	for _, c := range []struct {
		body string
		want []int
	}{
		{`return (await new Response("hello").arrayBuffer()).byteLength`, []int{5}},
		{`return (await new Response("hello").bytes()).length`, []int{5}},
		{`return (await new Blob(["abc"]).arrayBuffer()).byteLength`, []int{3}},
		{`return new TextEncoder().encode("héllo").length`, []int{6}},
		{`return (await crypto.subtle.digest("SHA-256", new Uint8Array(0))).byteLength`, []int{32}},
		{`return new TextEncoder().encode("").length`, nil},
		// A clone is a copy; the goja allocation of the original is the
		// runtime's, not the Web API's.
		{`const b = new ArrayBuffer(10); return structuredClone(b).byteLength`, []int{10}},
		{`const b = new ArrayBuffer(10); return structuredClone(b, { transfer: [b] }).byteLength`, nil},
	} {
		got = nil
		if r := e.eval(c.body); strings.HasPrefix(r, "rejected") {
			t.Errorf("%s: %s", c.body, r)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: saw %v, want %v", c.body, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: saw %v, want %v", c.body, got, c.want)
				break
			}
		}
	}
}
