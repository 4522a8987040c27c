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
	// The setters log to a string: a push from a setter would itself
	// reach the setter.
	var seen = "";
	Object.defineProperty(Array.prototype, "2", {set: function(v) { seen += "set " + v + ";"; }, configurable: true});
	var b = [0, 1];
	b.push("x");
	delete Array.prototype[2];
	if (seen !== "set x;" || b.length !== 3 || b.hasOwnProperty(2)) throw new Error("setter: " + seen + " " + b.length);
	var proxied = [];
	Object.setPrototypeOf(proxied, new Proxy(Array.prototype, {set: function(t, k, v, r) { seen += "proxy " + String(k) + ";"; return true; }}));
	proxied.push(5);
	if (seen !== "set x;proxy 0;" || proxied.length !== 1) throw new Error("proxy: " + seen + " " + proxied.length);

	Object.defineProperty(Object.prototype, "1", {set: function(v) { seen += "object " + v + ";"; }, configurable: true});
	var c = [0];
	c.push("y");
	delete Object.prototype[1];
	Object.defineProperty(Array.prototype, "1", {value: "ro", writable: false, configurable: true});
	var d = [0];
	try { d.push("z"); throw new Error("pushed over a read-only inherited index"); } catch (e) { if (!(e instanceof TypeError)) throw e; }
	delete Array.prototype[1];
	if (seen !== "set x;proxy 0;object y;" || c.length !== 2 || c.hasOwnProperty(1) || d.length !== 1) throw new Error("inherited: " + seen + " " + c.length + " " + d.length);

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
