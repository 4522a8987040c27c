package intl

import (
	"testing"

	"github.com/dop251/goja"
)

func benchJS(b *testing.B, setup, loop string) {
	vm := newVM(b)
	if _, err := vm.RunString(setup); err != nil {
		b.Fatal(err)
	}
	p := goja.MustCompile("bench.js", loop, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vm.RunProgram(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNumberFormat(b *testing.B) {
	benchJS(b, `const nf = new Intl.NumberFormat("de", {style: "currency", currency: "EUR"})`, `nf.format(1234567.891)`)
}

func BenchmarkDateTimeFormat(b *testing.B) {
	benchJS(b, `const df = new Intl.DateTimeFormat("en", {dateStyle: "full", timeStyle: "long", timeZone: "America/New_York"})`, `df.format(1700000000000)`)
}

func BenchmarkLocaleCompare(b *testing.B) {
	benchJS(b, ``, `"résumé".localeCompare("resume", "fr")`)
}

// BenchmarkFirstUse is the cost of Intl in a fresh runtime (the JS layer
// runs; the locale data is already decoded in this process).
func BenchmarkFirstUse(b *testing.B) {
	p := goja.MustCompile("first.js", `new Intl.NumberFormat("en").format(1234.5)`, true)
	b.ReportAllocs()
	for b.Loop() {
		vm := goja.New()
		in := New(vm)
		_ = vm.Set("Intl", in.Namespace())
		if _, err := vm.RunProgram(p); err != nil {
			b.Fatal(err)
		}
	}
}
