package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLoadCodeNodeBuiltins: LoadCode leaves Node.js's built-in modules,
// by node: and by bare name, to the isolate, even when node_modules has a
// package of that name: the code object holds the Worker's own files.
func TestLoadCodeNodeBuiltins(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("node_modules/buffer/index.js", `export const Buffer = "the npm package";`)
	write("node_modules/buffer/package.json", `{"name":"buffer","main":"index.js"}`)
	write("util.js", `export const x = 1;`)
	write("main.js", `import { Buffer } from "buffer";
import { EventEmitter } from "node:events";
import { readFile } from "fs/promises";
import { x } from "./util.js";
export default { fetch() { return new Response(String([Buffer, EventEmitter, readFile, x])); } };`)
	code, err := LoadCode(filepath.Join(dir, "main.js"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range code.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"main.js", "util.js"}) {
		t.Errorf("modules %q, want main.js and util.js", names)
	}
}
