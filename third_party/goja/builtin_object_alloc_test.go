package goja

import "testing"

func BenchmarkObjectLiterals(b *testing.B) {
	vm := New()
	prg := MustCompile("objects.js", `
	(function() {
		var items = [];
		for (var i = 0; i < 10000; i++) items.push({id: i, name: "item" + i, score: (i * 7919) % 10007});
		return items.length;
	})();
	`, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.RunProgram(prg); err != nil {
			b.Fatal(err)
		}
	}
}
