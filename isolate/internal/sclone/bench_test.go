package sclone

import (
	"testing"

	"github.com/dop251/goja"
)

func benchValues(b *testing.B) map[string]struct {
	vm *goja.Runtime
	v  goja.Value
} {
	m := map[string]struct {
		vm *goja.Runtime
		v  goja.Value
	}{}
	for name, src := range map[string]string{
		"small": `({count: 1, name: "x"})`,
		// About 10 KB: 100 records of mixed fields.
		"10KB": `Array.from({length: 100}, (_, i) => ({id: i, name: "user" + i, email: "user" + i + "@example.com",
			score: i * 1.5, tags: ["a", "b", "c"], active: i % 2 === 0, created: new Date(1700000000000 + i)}))`,
	} {
		vm := goja.New()
		v, err := vm.RunString(src)
		if err != nil {
			b.Fatal(err)
		}
		m[name] = struct {
			vm *goja.Runtime
			v  goja.Value
		}{vm, v}
	}
	return m
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"small", "10KB"} {
		tv := benchValues(b)[name]
		b.Run(name, func(b *testing.B) {
			enc, _ := Encode(tv.vm, tv.v, 0)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(tv.vm, tv.v, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"small", "10KB"} {
		tv := benchValues(b)[name]
		b.Run(name, func(b *testing.B) {
			enc, err := Encode(tv.vm, tv.v, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			vm := goja.New()
			for b.Loop() {
				if _, err := Decode(vm, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
