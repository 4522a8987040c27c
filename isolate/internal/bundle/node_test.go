package bundle

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestNodeResolution: which imports of Node.js built-in modules resolve,
// with and without nodejs_compat, and what the refusals say.
func TestNodeResolution(t *testing.T) {
	const flagErr = `add "nodejs_compat" to compatibilityFlags (warren run --compat nodejs_compat)`
	tests := []struct {
		name   string
		compat bool
		mods   []Module
		want   string // the default export, as a string
		errHas []string
	}{
		{name: "node: without the flag", mods: []Module{esm("main.js", `import { Buffer } from "node:buffer"; export default Buffer`)},
			errHas: []string{`main.js:1:24: import "node:buffer": ` + flagErr}},
		{name: "bare builtin without the flag", mods: []Module{esm("main.js", `import { EventEmitter } from "events"; export default EventEmitter`)},
			errHas: []string{`import "events": it is the Node.js built-in module node:events; ` + flagErr}},
		{name: "require without the flag", mods: []Module{{Name: "main.js", Kind: CommonJS, Source: `module.exports = require("node:crypto")`}},
			errHas: []string{`import "node:crypto": ` + flagErr}},
		{name: "unsupported node: module", compat: true, mods: []Module{esm("main.js", `import fs from "node:fs"; export default fs`)},
			errHas: []string{`import "node:fs" (imported by "main.js"): warren's nodejs_compat does not support this module; it has node:assert, `}},
		{name: "unsupported node: module without the flag", mods: []Module{esm("main.js", `import net from "node:net"; export default net`)},
			errHas: []string{`import "node:net"`, "does not support"}},
		{name: "unsupported bare builtin", compat: true, mods: []Module{esm("main.js", `import { readFile } from "fs/promises"; export default readFile`)},
			errHas: []string{`import "fs/promises" (imported by "main.js"): the Node.js built-in module node:fs/promises is not supported by warren`}},
		{name: "unknown node: name", compat: true, mods: []Module{esm("main.js", `import x from "node:nope"; export default x`)},
			errHas: []string{`import "node:nope"`, "does not support"}},
		{name: "node: with the flag", compat: true, mods: []Module{esm("main.js", `import { Buffer } from "node:buffer"; export default Buffer.from("hi").toString("hex")`)},
			want: "6869"},
		{name: "bare builtin with the flag", compat: true, mods: []Module{esm("main.js", `import path from "path"; export default path.join("/a", "../b")`)},
			want: "/b"},
		{name: "subpath", compat: true, mods: []Module{esm("main.js", `import { isDate } from "node:util/types"; import { posix } from "path/posix"; export default isDate(new Date()) + posix.sep`)},
			want: "true/"},
		{name: "require with the flag", compat: true, mods: []Module{{Name: "main.js", Kind: CommonJS, Source: `const { EventEmitter } = require("node:events"); const e = new EventEmitter(); let n = 0; e.on("x", () => n++); e.emit("x"); module.exports = String(n)`}},
			want: "1"},
		{name: "a module of the code object named like a builtin, without the flag", mods: []Module{esm("main.js", `import b from "buffer"; export default b`), esm("buffer", `export default "mine"`)},
			want: "mine"},
		{name: "the builtin wins with the flag", compat: true, mods: []Module{esm("main.js", `import { Buffer } from "buffer"; export default typeof Buffer.alloc`), esm("buffer", `export default "mine"`)},
			want: "function"},
		{name: "a code module named like an unsupported builtin", compat: true, mods: []Module{esm("main.js", `import fs from "fs"; export default fs`), esm("fs", `export default "my fs"`)},
			want: "my fs"},
		{name: "globals with the flag", compat: true, mods: []Module{esm("main.js", `export default typeof Buffer + " " + typeof process + " " + Buffer.from("a").length + " " + process.platform`)},
			want: "function object 1 linux"},
		{name: "no globals without the flag", mods: []Module{esm("main.js", `export default typeof Buffer + " " + typeof process`)},
			want: "undefined undefined"},
		{name: "a global is replaced by assignment", compat: true, mods: []Module{esm("main.js", `globalThis.Buffer = 5; export default String(Buffer)`)},
			want: "5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := BundleWith("main.js", tc.mods, Config{NodeCompat: tc.compat})
			if tc.errHas != nil {
				if err == nil {
					t.Fatalf("bundled, want an error with %q", tc.errHas)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, ns, err := runScript(res.Script)
			if err != nil {
				t.Fatal(err)
			}
			if got := ns.Get("default").String(); got != tc.want {
				t.Errorf("default export %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNodeLazy: the node modules are bundled only with the flag, and
// only for code that imports them or names Buffer or process; the globals
// do not run node:buffer or node:process until read.
func TestNodeLazy(t *testing.T) {
	hello := []Module{esm("main.js", `export default { fetch() { return new ArrayBuffer(1) } }`)}
	plain, err := Bundle("main.js", hello)
	if err != nil {
		t.Fatal(err)
	}
	if none, err := BundleWith("main.js", hello, Config{}); err != nil || none.Script != plain.Script {
		t.Errorf("BundleWith without flags differs from Bundle (%v)", err)
	}
	if strings.Contains(plain.Script, NodeSupportGlobal) || strings.Contains(plain.Script, "require_") {
		t.Errorf("a bundle without nodejs_compat has node code:\n%s", plain.Script)
	}
	if compat, err := BundleWith("main.js", hello, Config{NodeCompat: true}); err != nil || compat.Script != plain.Script {
		t.Errorf("nodejs_compat changed the bundle of code that uses nothing of Node's (%v)", err)
	}
	uses := []Module{esm("main.js", `export default { fetch() { return Buffer.from(process.env.X ?? "") } }`)}
	compat, err := BundleWith("main.js", uses, Config{NodeCompat: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hello: %d bytes; naming Buffer and process, with nodejs_compat: %d", len(plain.Script), len(compat.Script))
	vm, _, err := runScript(compat.Script)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Buffer", "process"} {
		d, err := vm.RunString(`Object.getOwnPropertyDescriptor(globalThis, "` + name + `")`)
		if err != nil || goja.IsUndefined(d) {
			t.Fatalf("%s: %v %v", name, d, err)
		}
		if get := d.ToObject(vm).Get("get"); get == nil || goja.IsUndefined(get) {
			t.Errorf("%s was evaluated by a Worker that never read it", name)
		}
	}
	if v, err := vm.RunString(`Buffer === Buffer && Object.getOwnPropertyDescriptor(globalThis, "Buffer").writable`); err != nil || !v.ToBoolean() {
		t.Errorf("Buffer after first read: %v %v, want a plain writable property", v, err)
	}
	// Naming one global brings only its module.
	only, err := BundleWith("main.js", []Module{esm("main.js", `export default typeof process`)}, Config{NodeCompat: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(only.Script, "require_buffer") || !strings.Contains(only.Script, "require_process") {
		t.Errorf("a Worker naming only process bundles node:buffer, or not node:process")
	}
}

func TestNamesGlobal(t *testing.T) {
	for src, want := range map[string]bool{
		"Buffer.from(x)": true, "x = typeof Buffer": true, "globalThis.Buffer": true, "new ArrayBuffer(1)": false,
		"SharedArrayBuffer": false, "Buffers": false, "myBuffer": false, "": false, "ArrayBuffer; Buffer": true,
	} {
		if got := namesGlobal(src, "Buffer"); got != want {
			t.Errorf("namesGlobal(%q) = %v", src, got)
		}
	}
}

// TestNodeSourceNames: a stack through a node module names it as node:NAME.
func TestNodeSourceNames(t *testing.T) {
	res, err := BundleWith("main.js", []Module{esm("main.js", `import { Buffer } from "node:buffer";
export default (() => { try { Buffer.alloc(4).readUInt32LE(2); } catch (e) { return e.stack; } })()`)}, Config{NodeCompat: true})
	if err != nil {
		t.Fatal(err)
	}
	_, ns, err := runScript(res.Script)
	if err != nil {
		t.Fatal(err)
	}
	if s := ns.Get("default").String(); !strings.Contains(s, "node:vendor/buffer/index") || !strings.Contains(s, "main.js:2") {
		t.Errorf("stack %q does not name node:vendor/buffer/index and main.js:2", s)
	}
}
