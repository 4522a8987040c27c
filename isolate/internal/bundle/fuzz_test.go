package bundle

import (
	"errors"
	"strings"
	"testing"
)

// FuzzBundle feeds arbitrary source as main.js (next to a few other modules
// it may import): Bundle must return a script or an *Error, never panic.
func FuzzBundle(f *testing.F) {
	for _, s := range []string{
		"",
		"export default 1",
		`import { x } from "./lib"; export default x`,
		`import t from "./t.txt"; import d from "d.json"; export default t + d.a`,
		`import b from "./b.bin"; import w from "./m.wasm"; export default b`,
		`const m = require("./c.cjs"); module.exports = m`,
		`export default await 1`,
		`import("./lib").then(m => m.x)`,
		"let x = 1 2",
		"class A { #x; static { super.y } accessor z = 1 }",
		"async function* g() { for await (const x of y) yield x }",
		"/[\\p{L}--[a-z]]/v; /x/d; /\\p{Lu}/u",
		"#!/usr/bin/env node\nexport {}",
		`import "cloudflare:workers"; import "node:fs"; import "../../up"`,
		"\x00\xff\xfe`${",
		"export { default } from './main.js'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		mods := []Module{
			esm("main.js", src),
			esm("lib.ts", "export const x: number = 1"),
			{Name: "t.txt", Kind: Text, Source: "t"},
			{Name: "d.json", Kind: JSON, JSON: []byte(`{"a":1}`)},
			{Name: "b.bin", Kind: Data, Data: []byte{1}},
			{Name: "m.wasm", Kind: Wasm, Data: []byte("\x00asm")},
			{Name: "c.cjs", Kind: CommonJS, Source: "exports.a = 1"},
		}
		res, err := Bundle("main.js", mods)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Text == "" || len(e.Messages) == 0 {
				t.Fatalf("empty error: %#v", e)
			}
			return
		}
		if !strings.Contains(res.Script, GlobalName) || !strings.Contains(res.Script, "//# sourceMappingURL=data:application/json;base64,") {
			t.Fatalf("odd script:\n%s", res.Script)
		}
	})
}
