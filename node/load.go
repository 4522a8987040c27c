package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/warrenmesh/warren/isolate"
)

// LoadCode reads a Worker from disk: file and every file it imports
// (resolved by esbuild, so TypeScript, extensionless and index imports work
// as they do for a bundler). Modules are named by their path relative to
// the deepest directory that holds them all, so the imports between them
// resolve inside the code object exactly as on disk.
//
// Bare imports of npm packages resolve from node_modules directories as
// wrangler resolves them: package.json "exports" and "imports" with the
// conditions of isolate.PackageConditions (then "import" or "require", and
// "default"), else the fields of isolate.PackageMainFields, else index
// files. The package files are shipped as modules under their node_modules
// paths, with the package.json files that resolution reads, so the node
// resolves each import to the same module from the code object alone
// (docs/code-object.md). LoadCode checks that: every import esbuild
// resolved must resolve to the same module with isolate.ImportResolver.
// A file esbuild found to be CommonJS becomes a cjs module.
func LoadCode(file string) (*isolate.Code, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	if filepath.Ext(abs) == ".py" {
		return loadPython(abs)
	}
	if strings.EqualFold(filepath.Ext(abs), ".wasm") {
		b, err := os.ReadFile(abs)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(abs)
		return &isolate.Code{MainModule: name, Modules: map[string]*isolate.Module{name: {Kind: isolate.ModuleWasm, Data: b}}}, nil
	}
	dir := filepath.Dir(abs)
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{abs},
		AbsWorkingDir:     dir,
		Bundle:            true,
		Write:             false,
		Metafile:          true,
		Platform:          api.PlatformNeutral,
		Format:            api.FormatESModule,
		LogLevel:          api.LogLevelSilent,
		External:          loadExternals,
		Conditions:        isolate.PackageConditions(),
		MainFields:        isolate.PackageMainFields(),
		ResolveExtensions: isolate.ResolveExtensions(),
		// Module names are the paths as imported: a symlinked package
		// (npm workspaces, pnpm) keeps its node_modules path, from which
		// its own imports resolve in the code object as they did here.
		PreserveSymlinks: true,
		Loader: map[string]api.Loader{
			".txt": api.LoaderText, ".html": api.LoaderText, ".md": api.LoaderText, ".csv": api.LoaderText,
			".bin": api.LoaderBinary, ".wasm": api.LoaderBinary, ".json": api.LoaderJSON,
		},
	})
	if len(res.Errors) > 0 {
		m := res.Errors[0]
		text := m.Text
		// esbuild's notes say why: "The path "./hidden" is not exported
		// by package "p"", "None of the conditions in the package
		// definition ("node") match any of the currently active
		// conditions (...)".
		kept := 0
		for _, n := range m.Notes {
			// Not esbuild's advice on its own options ("external",
			// "conditions"): warren has none such.
			if n.Text == "" || strings.HasPrefix(n.Text, "You can mark the path") || strings.HasPrefix(n.Text, "Consider ") || kept == 3 {
				continue
			}
			kept++
			text += "\n  "
			if l := n.Location; l != nil {
				text += fmt.Sprintf("%s:%d:%d: ", l.File, l.Line, l.Column)
			}
			text += strings.TrimSuffix(n.Text, ":")
		}
		if m.Location != nil {
			return nil, fmt.Errorf("%s:%d:%d: %s", m.Location.File, m.Location.Line, m.Location.Column, text)
		}
		return nil, errors.New(text)
	}
	var meta metafile
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, fmt.Errorf("load %s: reading esbuild's metafile: %w", file, err)
	}
	absOf := func(in string) string {
		if !filepath.IsAbs(in) {
			in = filepath.Join(dir, in)
		}
		return filepath.Clean(in)
	}
	inputs := map[string]bool{abs: true}
	format := map[string]string{}
	for in, m := range meta.Inputs {
		p := absOf(in)
		inputs[p] = true
		format[p] = m.Format
		for _, pj := range packageJSONs(p, m.Imports) {
			inputs[pj] = true
		}
	}
	paths := make([]string, 0, len(inputs))
	for p := range inputs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	base := dir
	for _, p := range paths {
		for !strings.HasPrefix(p, base+string(filepath.Separator)) && base != filepath.Dir(base) {
			base = filepath.Dir(base)
		}
	}
	nameOf := func(p string) (string, error) {
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return "", err
		}
		return filepath.ToSlash(rel), nil
	}
	code := &isolate.Code{Modules: map[string]*isolate.Module{}}
	for _, p := range paths {
		name, err := nameOf(p)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", p, err)
		}
		code.Modules[name] = moduleFor(name, b, format[p] == "cjs")
		if p == abs {
			code.MainModule = name
		}
	}
	if err := code.Validate(); err != nil {
		return nil, err
	}
	// The node resolves every import from the code object alone: it must
	// find what esbuild found on disk.
	resolve := isolate.ImportResolver(code)
	for _, in := range slices.Sorted(maps.Keys(meta.Inputs)) {
		importer, err := nameOf(absOf(in))
		if err != nil {
			return nil, err
		}
		for _, imp := range meta.Inputs[in].Imports {
			if imp.External || imp.Original == "" {
				continue
			}
			switch imp.Kind {
			case "import-statement", "require-call", "dynamic-import":
			default:
				continue
			}
			want, err := nameOf(absOf(imp.Path))
			if err != nil {
				return nil, err
			}
			got, err := resolve(importer, imp.Original, imp.Kind == "require-call")
			if err != nil {
				return nil, fmt.Errorf("load %s: on disk %q imported by %q is %s, but in the code object: %w", file, imp.Original, importer, want, err)
			}
			if got != want {
				return nil, fmt.Errorf("load %s: on disk %q imported by %q is %s, but in the code object it would be %s", file, imp.Original, importer, want, got)
			}
		}
	}
	return code, nil
}

// loadExternals are the imports LoadCode leaves to the isolate: the
// built-in "cloudflare:" and "node:" modules, and Node.js's built-in
// modules by their bare names ("buffer", "events"), which the isolate
// provides (or explains) as Cloudflare does: with the nodejs_compat
// compatibility flag they are node:buffer and the rest, without it an
// error naming the flag.
var loadExternals = append([]string{"cloudflare:*", "node:*"}, isolate.NodeBuiltins...)

// metafile is what LoadCode reads of esbuild's metafile.
type metafile struct {
	Inputs map[string]struct {
		Imports []metaImport `json:"imports"`
		Format  string       `json:"format"` // "esm", "cjs" or empty
	} `json:"inputs"`
}

type metaImport struct {
	Path     string `json:"path"`
	Kind     string `json:"kind"`
	Original string `json:"original"`
	External bool   `json:"external"`
}

// packageJSONs lists the package.json files that resolution reads for the
// file p: for a file in a package under node_modules, every package.json
// from its directory up to the package's root (the root's has "exports"
// and "main"; one further down may name a directory's entry); for any
// other file that imports a "#name" specifier or its own package by name,
// the nearest package.json (its "imports", "name" and "exports").
func packageJSONs(p string, imports []metaImport) []string {
	var out []string
	d := filepath.Dir(p)
	if root := packageRoot(p); root != "" {
		for {
			pj := filepath.Join(d, "package.json")
			if st, err := os.Stat(pj); err == nil && st.Mode().IsRegular() {
				out = append(out, pj)
			}
			if d == root || d == filepath.Dir(d) {
				return out
			}
			d = filepath.Dir(d)
		}
	}
	// "#name" reads "imports"; a bare specifier esbuild found outside any
	// node_modules is the package importing itself by its "name".
	if !slices.ContainsFunc(imports, func(i metaImport) bool {
		bare := i.Original != "" && !i.External && !strings.HasPrefix(i.Original, ".") && !strings.HasPrefix(i.Original, "/")
		return strings.HasPrefix(i.Original, "#") || bare && packageRoot(filepath.FromSlash(i.Path)) == ""
	}) {
		return nil
	}
	for ; d != filepath.Dir(d); d = filepath.Dir(d) {
		pj := filepath.Join(d, "package.json")
		if st, err := os.Stat(pj); err == nil && st.Mode().IsRegular() {
			return []string{pj}
		}
	}
	return nil
}

// packageRoot is the root directory of the package under node_modules
// holding p (node_modules/pkg or node_modules/@scope/pkg, the innermost),
// or "" when p is in no node_modules directory.
func packageRoot(p string) string {
	parts := strings.Split(p, string(filepath.Separator))
	for i := len(parts) - 2; i >= 0; i-- {
		if parts[i] != "node_modules" || i+1 >= len(parts)-1 {
			continue
		}
		n := i + 2
		if strings.HasPrefix(parts[i+1], "@") {
			n = i + 3
		}
		if n > len(parts)-1 {
			return ""
		}
		return strings.Join(parts[:n], string(filepath.Separator))
	}
	return ""
}

// moduleFor is the module of the file name with content b; cjs: esbuild
// found it to be CommonJS.
func moduleFor(name string, b []byte, cjs bool) *isolate.Module {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".js", ".mjs", ".ts", ".mts", ".tsx", ".jsx", ".cts":
		if cjs {
			return &isolate.Module{Kind: isolate.ModuleCommonJS, Source: string(b)}
		}
		return &isolate.Module{Kind: isolate.ModuleESM, Source: string(b)}
	case ".cjs":
		return &isolate.Module{Kind: isolate.ModuleCommonJS, Source: string(b)}
	case ".json":
		return &isolate.Module{Kind: isolate.ModuleJSON, JSON: b}
	case ".txt", ".html", ".md", ".csv":
		return &isolate.Module{Kind: isolate.ModuleText, Source: string(b)}
	case ".wasm":
		return &isolate.Module{Kind: isolate.ModuleWasm, Data: b}
	}
	return &isolate.Module{Kind: isolate.ModuleData, Data: b}
}
