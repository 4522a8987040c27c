package bundle

import (
	"errors"
	"strings"
	"testing"
)

func pkg(name, json string) Module { return Module{Name: name, Kind: JSON, JSON: []byte(json)} }
func cjs(name, src string) Module  { return Module{Name: name, Kind: CommonJS, Source: src} }

// resolveFixture is a code object laid out as npm installs packages, with
// the package.json tricks resolution must handle.
var resolveFixture = []Module{
	esm("src/index.js", ``),
	esm("src/lib/x.js", ``),
	// Sugar: "exports" is a string.
	pkg("node_modules/sugar/package.json", `{"name":"sugar","exports":"./lib/main.js","main":"./wrong.js"}`),
	esm("node_modules/sugar/lib/main.js", ``),
	esm("node_modules/sugar/wrong.js", ``),
	// Conditions (sugar: an object of conditions), nested, in the order
	// the object lists them.
	pkg("node_modules/cond/package.json", `{"name":"cond","exports":{
		"types":"./types.d.ts",
		"node":{"import":"./node.mjs","default":"./node.cjs"},
		"worker":{"require":"./worker.cjs","import":{"browser":"./worker-browser.mjs","default":"./worker.mjs"}},
		"import":"./import.mjs",
		"default":"./default.cjs"}}`),
	esm("node_modules/cond/worker-browser.mjs", ``),
	esm("node_modules/cond/worker.mjs", ``),
	cjs("node_modules/cond/worker.cjs", ``),
	esm("node_modules/cond/node.mjs", ``),
	// Subpaths, patterns, null exclusions, array fallbacks.
	pkg("node_modules/subs/package.json", `{"name":"subs","exports":{
		".":{"workerd":"./dist/workerd.js","default":"./dist/index.js"},
		"./feature":"./dist/feature.js",
		"./utils/*":"./dist/utils/*.js",
		"./utils/internal/*":null,
		"./utils/special/*.js":"./dist/special/*.js",
		"./fallback":["bad-target","./dist/feature.js"],
		"./escape":"./../outside.js",
		"./package.json":"./package.json",
		"./data/*":"./data/*"}}`),
	esm("node_modules/subs/dist/workerd.js", ``),
	esm("node_modules/subs/dist/index.js", ``),
	esm("node_modules/subs/dist/feature.js", ``),
	esm("node_modules/subs/dist/utils/a.js", ``),
	esm("node_modules/subs/dist/utils/deep/b.js", ``),
	esm("node_modules/subs/dist/utils/internal/c.js", ``),
	esm("node_modules/subs/dist/special/s.js", ``),
	esm("node_modules/subs/hidden.js", ``),
	pkg("node_modules/subs/data/x.json", `{}`),
	// No exports: module, then main, then index; subpaths are files.
	pkg("node_modules/legacy/package.json", `{"name":"legacy","main":"lib/main","module":"esm/index.mjs"}`),
	esm("node_modules/legacy/esm/index.mjs", ``),
	cjs("node_modules/legacy/lib/main.js", ``),
	cjs("node_modules/legacy/lib/other.js", ``),
	pkg("node_modules/mainonly/package.json", `{"main":"./lib"}`),
	cjs("node_modules/mainonly/lib/index.js", ``),
	cjs("node_modules/nopkg/index.js", ``),
	// Scoped, with a nested dependency of its own and "imports".
	pkg("node_modules/@scope/pkg/package.json", `{"name":"@scope/pkg","exports":{".":"./index.js","./sub":"./sub/index.js"},
		"imports":{"#internal":{"worker":"./internal-worker.js","default":"./internal.js"},"#dep":"dep","#star/*":"./star/*.js",
		"#self":"#self","#up":"../x.js","#abs":"/etc/passwd","#url":"data:text/javascript,1"}}`),
	esm("node_modules/@scope/pkg/index.js", ``),
	esm("node_modules/@scope/pkg/sub/index.js", ``),
	esm("node_modules/@scope/pkg/internal-worker.js", ``),
	esm("node_modules/@scope/pkg/star/s.js", ``),
	pkg("node_modules/@scope/pkg/node_modules/dep/package.json", `{"name":"dep","exports":"./nested.js"}`),
	esm("node_modules/@scope/pkg/node_modules/dep/nested.js", ``),
	pkg("node_modules/dep/package.json", `{"name":"dep","exports":"./top.js"}`),
	esm("node_modules/dep/top.js", ``),
	// Invalid configurations.
	pkg("node_modules/mixed/package.json", `{"exports":{".":"./a.js","import":"./b.js"}}`),
	esm("node_modules/mixed/a.js", ``),
	pkg("node_modules/missing/package.json", `{"exports":"./gone.js"}`),
	// A bare name matching a module exactly (the code object's own form).
	esm("lib/util.js", ``),
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		importer, spec string
		require        bool
		want           string // module name, or "!" + part of the error
	}{
		{"src/index.js", "./lib/x", false, "src/lib/x.js"},
		{"src/index.js", "lib/util.js", false, "lib/util.js"},
		{"src/index.js", "sugar", false, "node_modules/sugar/lib/main.js"},
		{"src/index.js", "sugar/lib/main.js", false, "!does not export \"./lib/main.js\""},
		{"src/index.js", "cond", false, "node_modules/cond/worker-browser.mjs"},
		{"src/index.js", "cond", true, "node_modules/cond/worker.cjs"},
		{"src/index.js", "subs", false, "node_modules/subs/dist/workerd.js"},
		{"src/index.js", "subs/feature", false, "node_modules/subs/dist/feature.js"},
		{"src/index.js", "subs/utils/a", false, "node_modules/subs/dist/utils/a.js"},
		{"src/index.js", "subs/utils/deep/b", false, "node_modules/subs/dist/utils/deep/b.js"},
		{"src/index.js", "subs/utils/internal/c", false, "!does not export \"./utils/internal/c\""},
		{"src/index.js", "subs/utils/special/s.js", false, "node_modules/subs/dist/special/s.js"},
		{"src/index.js", "subs/fallback", false, "node_modules/subs/dist/feature.js"},
		{"src/index.js", "subs/escape", false, "!invalid target \"./../outside.js\""},
		{"src/index.js", "subs/data/../hidden.js", false, "!invalid subpath"},
		{"src/index.js", "subs/data/x.json", false, "node_modules/subs/data/x.json"},
		{"src/index.js", "subs/package.json", false, "node_modules/subs/package.json"},
		{"src/index.js", "subs/hidden.js", false, "!does not export \"./hidden.js\""},
		{"src/index.js", "legacy", false, "node_modules/legacy/esm/index.mjs"},
		{"src/index.js", "legacy", true, "node_modules/legacy/esm/index.mjs"},
		{"src/index.js", "legacy/lib/other", false, "node_modules/legacy/lib/other.js"},
		{"src/index.js", "mainonly", false, "node_modules/mainonly/lib/index.js"},
		{"src/index.js", "nopkg", false, "node_modules/nopkg/index.js"},
		{"src/index.js", "@scope/pkg", false, "node_modules/@scope/pkg/index.js"},
		{"src/index.js", "@scope/pkg/sub", false, "node_modules/@scope/pkg/sub/index.js"},
		{"src/index.js", "@scope", false, "!not a valid package name"},
		{"src/index.js", "dep", false, "node_modules/dep/top.js"},
		{"node_modules/@scope/pkg/sub/index.js", "dep", false, "node_modules/@scope/pkg/node_modules/dep/nested.js"},
		{"node_modules/@scope/pkg/sub/index.js", "#internal", false, "node_modules/@scope/pkg/internal-worker.js"},
		{"node_modules/@scope/pkg/sub/index.js", "#dep", false, "node_modules/@scope/pkg/node_modules/dep/nested.js"},
		{"node_modules/@scope/pkg/sub/index.js", "#star/s", false, "node_modules/@scope/pkg/star/s.js"},
		{"node_modules/@scope/pkg/sub/index.js", "#self", false, "!invalid target \"#self\""},
		{"node_modules/@scope/pkg/sub/index.js", "#up", false, "!invalid target \"../x.js\""},
		{"node_modules/@scope/pkg/sub/index.js", "#abs", false, "!invalid target \"/etc/passwd\""},
		{"node_modules/@scope/pkg/sub/index.js", "#url", false, "!invalid target"},
		{"node_modules/@scope/pkg/sub/index.js", "#nope", false, "!\"#nope\" is not defined by \"imports\""},
		{"node_modules/@scope/pkg/sub/index.js", "@scope/pkg/sub", false, "node_modules/@scope/pkg/sub/index.js"}, // self-reference
		{"src/index.js", "#internal", false, "!no package.json with \"imports\""},
		{"src/index.js", "mixed", false, "!mixes subpath keys"},
		{"src/index.js", "missing", false, "!maps it to \"node_modules/missing/gone.js\", which is not in the code object"},
		{"src/index.js", "absent", false, "!no package \"absent\" in a node_modules directory"},
		{"src/index.js", "../../x", false, "!no such module"},
	} {
		got, err := Resolve(resolveFixture, tc.importer, tc.spec, tc.require)
		if want, isErr := strings.CutPrefix(tc.want, "!"); isErr {
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.importer) || !strings.Contains(err.Error(), tc.spec) {
				t.Errorf("%s imports %q: got %q, %v; want an error naming both saying %q", tc.importer, tc.spec, got, err, want)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s imports %q (require %v): got %q, %v; want %q", tc.importer, tc.spec, tc.require, got, err, tc.want)
		}
	}
}

// FuzzResolve feeds an arbitrary package.json and specifier: resolution
// returns a module of the code object or a *ResolveError, never panics.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{`{"exports":"./a.js"}`, "p"},
		{`{"exports":{".":{"worker":["./x.js","./a.js"]},"./*":"./*.js","./n/*":null}}`, "p/a"},
		{`{"exports":{"./*/x":"./*/../../a.js"}}`, "p/q/x"},
		{`{"imports":{"#a":"p","#b/*":"./*"},"name":"p","exports":{"./a":"./a.js"}}`, "#a"},
		{`{"main":"../outside.js","module":"./a"}`, "p"},
		{`{"exports":{"a":{"b":{"c":{"worker":"./a.js"}}}}}`, "p"},
		{`[1,2]`, "p/a.js"},
		{`{"exports":{".":"./a.js","import":"./b.js"}}`, "p"},
		{`{"exports":{"./x*y*z":"./a.js"}}`, "p/xqyqz"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pkgJSON, spec string) {
		mods := []Module{
			esm("src/index.js", ""),
			{Name: "node_modules/p/package.json", Kind: JSON, JSON: []byte(pkgJSON)},
			esm("node_modules/p/a.js", ""),
			esm("node_modules/p/sub/a.js", ""),
			esm("outside.js", ""),
		}
		for _, importer := range []string{"src/index.js", "node_modules/p/sub/a.js"} {
			for _, req := range []bool{false, true} {
				got, err := Resolve(mods, importer, spec, req)
				if err != nil {
					var re *ResolveError
					if !errors.As(err, &re) {
						t.Fatalf("%q: %T %v", spec, err, err)
					}
					continue
				}
				if got == "" {
					t.Fatalf("%q resolved to no module", spec)
				}
			}
		}
	})
}

// TestResolveDeepImporterIsCheap: walking up from an importer 500
// directories deep to the package at the root costs map lookups, not a
// path built per level: allocations do not grow with the depth.
func TestResolveDeepImporterIsCheap(t *testing.T) {
	deep := strings.Repeat("d/", 500) + "m.js"
	r := NewResolver([]Module{
		esm(deep, ""),
		esm("x/"+strings.Repeat("e/", 500)+"n.js", ""),
		pkg("node_modules/p/package.json", `{"exports":{"./*":"./lib/*.js"}}`),
		esm("node_modules/p/lib/a.js", ""),
	})
	if got, err := r.Resolve(deep, "p/a", false); err != nil || got != "node_modules/p/lib/a.js" {
		t.Fatalf("resolve: %q %v", got, err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Resolve(deep, "p/a", false); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%v allocations per lookup", allocs)
	if allocs > 30 {
		t.Errorf("%v allocations per lookup from 500 levels deep", allocs)
	}
}
