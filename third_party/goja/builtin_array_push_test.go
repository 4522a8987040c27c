package goja

import "testing"

func TestArrayPushFastPath(t *testing.T) {
	const SCRIPT = `
	var a = [];
	for (var i = 0; i < 100; i++) {
		if (a.push(i, i + 1) !== 2 * (i + 1)) throw new Error("push returned the wrong length");
	}
	if (a.length !== 200 || a[199] !== 100 || a[0] !== 0) throw new Error("a: " + a.length);

	// Not a plain array, or prototypes with indexed properties: the
	// generic path, setters and errors included.
	var seen = [];
	Object.defineProperty(Array.prototype, "2", {set: function(v) { seen.push("set " + v); }, configurable: true});
	var b = [0, 1];
	b.push("x");
	delete Array.prototype[2];
	if (seen.join() !== "set x" || b.length !== 3 || b.hasOwnProperty(2)) throw new Error("setter: " + seen + " " + b.length);

	var f = Object.freeze([1]);
	try { f.push(2); throw new Error("pushed onto a frozen array"); } catch (e) { if (!(e instanceof TypeError)) throw e; }
	var n = Object.preventExtensions([1]);
	try { n.push(2); throw new Error("pushed onto a non-extensible array"); } catch (e) { if (!(e instanceof TypeError)) throw e; }
	var l = [1];
	Object.defineProperty(l, "length", {writable: false});
	try { l.push(2); throw new Error("pushed with a read-only length"); } catch (e) { if (!(e instanceof TypeError)) throw e; }
	var g = [1];
	Object.defineProperty(g, "0", {get: function() { return 7; }, configurable: true});
	g.push(8);
	var o = {length: 1};
	Array.prototype.push.call(o, "y");
	g.join() + " " + o.length + o[1];
	`
	testScript(SCRIPT, asciiString("7,8 2y"), t)
}

func BenchmarkArrayPush(b *testing.B) {
	vm := New()
	prg := MustCompile("push.js", `var a = []; for (var i = 0; i < 10000; i++) a.push(i);`, false)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.RunProgram(prg); err != nil {
			b.Fatal(err)
		}
	}
}
