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

func TestObjectLiteralSized(t *testing.T) {
	// Object literals are made for their number of properties; spreads,
	// duplicates, __proto__, accessors and computed keys still give what
	// they did.
	const SCRIPT = `
	var k = "c";
	var o = {a: 1, b: 2, a: 3, __proto__: {inherited: true}, [k]: 4, ...{d: 5, e: 6, f: 7}, get g() { return 8; }, 2: "two", 1: "one"};
	var big = {};
	var src = "({";
	for (var i = 0; i < 100; i++) src += "p" + i + ": " + i + ",";
	big = eval(src + "})");
	JSON.stringify(o) + " " + Object.keys(o).join() + " " + o.inherited + " " + Object.keys(big).length + " " + big.p99;
	`
	testScript(SCRIPT, asciiString(`{"1":"one","2":"two","a":3,"b":2,"c":4,"d":5,"e":6,"f":7,"g":8} 1,2,a,b,c,d,e,f,g true 100 99`), t)
}
