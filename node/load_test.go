package node

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate"
)

// TestLoadCodeNPM: LoadCode gathers the npm packages a Worker imports from
// node_modules (nanoid as published, and hand-made packages for CommonJS,
// scoped names, nested conditions, "imports" and nested node_modules), and
// the code object runs on its own: the node resolves every import to the
// module esbuild found on disk.
func TestLoadCodeNPM(t *testing.T) {
	code, err := LoadCode(filepath.Join("testdata", "npm", "worker.js"))
	if err != nil {
		t.Fatal(err)
	}
	if code.MainModule != "worker.js" {
		t.Errorf("main module %q", code.MainModule)
	}
	want := map[string]isolate.ModuleKind{
		"node_modules/nanoid/index.browser.js":                 isolate.ModuleESM,
		"node_modules/nanoid/url-alphabet/index.js":            isolate.ModuleESM,
		"node_modules/nanoid/non-secure/index.js":              isolate.ModuleESM,
		"node_modules/nanoid/package.json":                     isolate.ModuleJSON,
		"node_modules/cjs-greet/lib/index.js":                  isolate.ModuleCommonJS,
		"node_modules/cjs-greet/lib/util.js":                   isolate.ModuleCommonJS,
		"node_modules/cjs-greet/package.json":                  isolate.ModuleJSON,
		"node_modules/cjs-greet/node_modules/pad/pad.js":       isolate.ModuleCommonJS,
		"node_modules/pad/index.js":                            isolate.ModuleCommonJS,
		"node_modules/@acme/strings/esm/workerd.js":            isolate.ModuleESM,
		"node_modules/@acme/strings/esm/shout.js":              isolate.ModuleESM,
		"node_modules/@acme/strings/esm/case.js":               isolate.ModuleESM,
		"node_modules/@acme/strings/cjs/index.cjs":             isolate.ModuleCommonJS,
		"node_modules/@acme/strings/package.json":              isolate.ModuleJSON,
		"node_modules/cjs-greet/node_modules/pad/package.json": isolate.ModuleJSON,
	}
	for name, kind := range want {
		if m := code.Modules[name]; m == nil || m.Kind != kind {
			t.Errorf("module %s: %+v, want kind %s", name, m, kind)
		}
	}
	for _, name := range []string{"node_modules/nanoid/index.js", "node_modules/@acme/strings/esm/node.js", "node_modules/nanoid/README.md"} {
		if code.Modules[name] != nil {
			t.Errorf("module %s is in the code object; no import resolves to it", name)
		}
	}
	// Through JSON, as it travels to a node.
	b, err := json.Marshal(code)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := isolate.DecodeCode(b)
	if err != nil {
		t.Fatal(err)
	}
	rt := newLocal(t, LocalOptions{})
	defer rt.Close()
	res := rt.Run(context.Background(), &isolate.Invocation{Code: decoded})
	if !res.OK() || res.Response == nil {
		t.Fatalf("run: %s %s %+v", res.Outcome, res.Error, res.Exceptions)
	}
	const body = `{"id":true,"custom":true,"insecure":10,"alphabet":64,"greet":"hello, ADA nested-pad:y","pad":"top-pad:x","flavor":"workerd","shout":"HI!","version":"3.1.4"}`
	if got := string(res.Response.Body); got != body {
		t.Errorf("body %s\nwant %s", got, body)
	}
}

// TestLoadCodeNPMErrors: an import that does not resolve names the
// importer and the specifier; a package.json trick that esbuild and the
// code object would resolve differently is refused, not shipped.
func TestLoadCodeNPMErrors(t *testing.T) {
	write := func(t *testing.T, dir string, files map[string]string) {
		t.Helper()
		for name, src := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing package", map[string]string{"w.js": `import x from "nope"; export default x;`}, []string{"w.js:1:", `"nope"`}},
		{"not exported", map[string]string{
			"w.js":                        `import x from "p/hidden"; export default x;`,
			"node_modules/p/package.json": `{"exports":{".":"./i.js"}}`,
			"node_modules/p/i.js":         `export default 1`,
			"node_modules/p/hidden.js":    `export default 2`,
		}, []string{"w.js:1:", `"p/hidden"`, `node_modules/p/package.json:1:`, `The path "./hidden" is not exported by package "p"`}},
		{"only a node export", map[string]string{
			"w.js":                        `import x from "p"; export default x;`,
			"node_modules/p/package.json": `{"exports":{"node":"./i.js"}}`,
			"node_modules/p/i.js":         `export default 1`,
		}, []string{"w.js:1:", `"p"`, `None of the conditions in the package definition ("node") match`}},
		// esbuild follows tsconfig.json "paths"; a code object has none.
		{"tsconfig paths", map[string]string{
			"w.ts":          `import x from "@lib/x"; export default x;`,
			"lib/x.ts":      `export default 1`,
			"tsconfig.json": `{"compilerOptions":{"paths":{"@lib/*":["./lib/*"]}}}`,
		}, []string{`on disk "@lib/x" imported by "w.ts" is lib/x.ts, but in the code object: cannot resolve "@lib/x" imported by "w.ts"`}},
		// Both try .js before .jsx.
		{"extension order", map[string]string{
			"w.js":  `import x from "./x"; export default x;`,
			"x.jsx": `export default 1`,
			"x.js":  `syntax error here`,
		}, []string{"x.js:1:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tc.files)
			main := "w.js"
			if _, ok := tc.files["w.ts"]; ok {
				main = "w.ts"
			}
			_, err := LoadCode(filepath.Join(dir, main))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// esbuild's advice on its own options does not apply.
			if strings.Contains(err.Error(), "as external") || strings.Contains(err.Error(), "[]string") {
				t.Errorf("error %q gives esbuild's advice", err)
			}
		})
	}
}

// TestLoadCodeSymlinkCycle: a package that is a symlink to a directory
// above it (so that its imports of itself nest without end) ends in an
// error, at once.
func TestLoadCodeSymlinkCycle(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.js"), []byte(`import "loop"; export default {};`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"loop","main":"w.js"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "node_modules", "loop")); err != nil {
		t.Skip(err)
	}
	if _, err := LoadCode(filepath.Join(dir, "w.js")); err == nil || !strings.Contains(err.Error(), "node_modules/loop/node_modules/loop") {
		t.Errorf("LoadCode: %v, want an error about the nested node_modules/loop", err)
	}
}

// TestLoadCodeOwnPackage: a project's own package.json ships when its code
// uses "#name" imports or imports the package by its own name.
func TestLoadCodeOwnPackage(t *testing.T) {
	for _, tc := range []struct{ name, index, want string }{
		{"imports and self-reference", `import { u } from "#util"; import { g } from "app/greet"; export default { fetch() { return new Response(u + g); } };`, "util+greet"},
		{"self-reference only", `import { g } from "app/greet"; export default { fetch() { return new Response(g); } };`, "greet"},
		{"imports only", `import { u } from "#util"; export default { fetch() { return new Response(u); } };`, "util+"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range map[string]string{
				"package.json": `{"name":"app","imports":{"#util":"./src/util.js"},"exports":{"./greet":"./src/greet.js"}}`,
				"src/index.js": tc.index,
				"src/util.js":  `export const u = "util+";`,
				"src/greet.js": `export const g = "greet";`,
				"src/other.js": `export const unused = 1;`,
			} {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, err := LoadCode(filepath.Join(dir, "src", "index.js"))
			if err != nil {
				t.Fatal(err)
			}
			if code.MainModule != "src/index.js" || code.Modules["package.json"] == nil || code.Modules["src/other.js"] != nil {
				t.Fatalf("main %q, modules %v", code.MainModule, slices.Collect(maps.Keys(code.Modules)))
			}
			rt := newLocal(t, LocalOptions{})
			defer rt.Close()
			res := rt.Run(context.Background(), &isolate.Invocation{Code: code})
			if !res.OK() || res.Response == nil || string(res.Response.Body) != tc.want {
				t.Fatalf("run: %s %s %+v %v", res.Outcome, res.Error, res.Exceptions, res.Response)
			}
		})
	}
}
