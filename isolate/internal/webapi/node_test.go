package webapi

import "testing"

// TestNodeSupport: the Go half of the nodejs_compat modules.
func TestNodeSupport(t *testing.T) {
	e := newEnv(t)
	_ = e.vm.Set("node", e.api.NodeSupport())
	hex := `const hex = (ab) => [...new Uint8Array(ab)].map((b) => b.toString(16).padStart(2, "0")).join("");`
	tests := []struct{ body, want string }{
		{hex + `const h = node.hash("sha256"); h.update(new TextEncoder().encode("ab")); h.update(new Uint8Array([99])); return hex(h.digest());`,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{hex + `const h = node.hash("RSA-SHA1"); h.update(new Uint8Array(new TextEncoder().encode("xabcx").buffer, 1, 3)); return hex(h.digest());`,
			"a9993e364706816aba3e25717850c26c9cd0d89d"},
		{hex + `const h = node.hmac("md5", new TextEncoder().encode("key")); h.update(new TextEncoder().encode("The quick brown fox jumps over the lazy dog")); return hex(h.digest());`,
			"80070713463e7749b90c2dc24911e275"},
		{`return String(node.hash("sha3-256")) + " " + String(node.hmac("whirlpool", new Uint8Array(1)));`, "null null"},
		{`const h = node.hash("md5"); h.digest(); h.digest();`, "rejected: TypeError: Digest already called"},
		{`node.hash("md5").update("a string");`, "rejected: TypeError: The data is not of type 'ArrayBuffer' or 'ArrayBufferView'."},
		{`return node.inspect({ a: "s", b: [1, { c: new Map([[1, 2]]) }] });`, "{ a: 's', b: [ 1, { c: Map(1) {...} } ] }"},
		{`return node.inspect({ a: { b: { c: {} } } }, 0) + " " + node.inspect("top");`, "{ a: [Object] } 'top'"},
		{`return node.format("%s=%d %j", "n", 4, { x: 1 }, "rest");`, `n=4 {"x":1} rest`},
		{`return node.inspect({ [Symbol.for("nodejs.util.inspect.custom")](depth) { return "custom@" + depth; } });`, "custom@2"},
		{`const mk = () => ({ [Symbol.for("nodejs.util.inspect.custom")]: () => mk() }); return node.inspect(mk()).length < 100;`, "true"},
		{`return node.inspect({ [Symbol.for("nodejs.util.inspect.custom")]() { throw new Error("no"); }, a: 1 }).startsWith("{ a: 1");`, "true"},
		{`return node.inspect({ x: { [Symbol.for("nodejs.util.inspect.custom")]() { return { shown: true }; } } });`, "{ x: { shown: true } }"},
		// A step does a bounded number of HMACs, whatever it is asked.
		{`const p = node.pbkdf2("sha1", new Uint8Array(1), new Uint8Array(1), 2 ** 40, 20); return p.step(2 ** 53);`, "false"},
		{`node.pbkdf2("sha1", new Uint8Array(1), new Uint8Array(1), 0, 20);`, "rejected: RangeError: pbkdf2: iterations must be at least 1 and the key length between 0 and 2147483647"},
		{`const p = node.pbkdf2("sha256", new Uint8Array(1), new Uint8Array(1), 5, 8); p.result();`, "rejected: TypeError: pbkdf2: not done"},
		{`return String(node.hkdf("md5", new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 16).byteLength);`, "16"},
		{`node.hkdf("md5", new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 16 * 255 + 1);`, "rejected: RangeError: Invalid key length"},
	}
	for _, tc := range tests {
		if got := e.eval(tc.body); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.body, got, tc.want)
		}
	}
	// console.log honours the custom inspect method too.
	e.eval(`console.log("v:", { [Symbol.for("nodejs.util.inspect.custom")]() { return "<Custom>"; } });`)
	if n := len(e.logs); n == 0 || e.logs[n-1].msg != "v: <Custom>" {
		t.Errorf("console.log: %+v", e.logs)
	}
}
