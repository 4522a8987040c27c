package webapi

import (
	"testing"

	"github.com/dop251/goja"
)

// TestIntlGlobal: Intl is a lazy global, and the built-ins' locale methods
// switch to it with Options.LocaleMethods or once Intl is used, not before.
func TestIntlGlobal(t *testing.T) {
	run := func(opts Options, src string) string {
		vm := goja.New()
		Install(vm, opts)
		v, err := vm.RunString(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return v.String()
	}
	cases := []struct {
		opts      Options
		src, want string
	}{
		{Options{}, `(1234.5).toLocaleString()`, "1234.5"}, // goja's own: Intl never touched
		{Options{LocaleMethods: true}, `(1234.5).toLocaleString()`, "1,234.5"},
		{Options{}, `typeof Intl + " " + (1234.5).toLocaleString()`, "object 1,234.5"},
		{Options{}, `Object.prototype.toString.call(Intl)`, "[object Intl]"},
		{Options{}, `new Intl.NumberFormat("de", {style: "currency", currency: "EUR"}).format(1)`, "1,00\u00a0€"},
		{Options{}, `Intl = 5; Intl`, "5"},
		{Options{LocaleMethods: true}, `"b".localeCompare("a")`, "1"},
	}
	for _, c := range cases {
		if got := run(c.opts, c.src); got != c.want {
			t.Errorf("%s (LocaleMethods %v) = %q, want %q", c.src, c.opts.LocaleMethods, got, c.want)
		}
	}
	if !UsesLocaleMethods(`d.toLocaleTimeString()`) || UsesLocaleMethods(`new Response("hi")`) {
		t.Error("UsesLocaleMethods")
	}
}
