package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
func LoadCode(file string) (*isolate.Code, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
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
		EntryPoints:   []string{abs},
		AbsWorkingDir: dir,
		Bundle:        true,
		Write:         false,
		Metafile:      true,
		Platform:      api.PlatformNeutral,
		Format:        api.FormatESModule,
		LogLevel:      api.LogLevelSilent,
		External:      loadExternals,
		Loader: map[string]api.Loader{
			".txt": api.LoaderText, ".html": api.LoaderText, ".md": api.LoaderText, ".csv": api.LoaderText,
			".bin": api.LoaderBinary, ".wasm": api.LoaderBinary, ".json": api.LoaderJSON,
		},
	})
	if len(res.Errors) > 0 {
		m := res.Errors[0]
		if m.Location != nil {
			return nil, fmt.Errorf("%s:%d:%d: %s", m.Location.File, m.Location.Line, m.Location.Column, m.Text)
		}
		return nil, errors.New(m.Text)
	}
	var meta struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, fmt.Errorf("load %s: reading esbuild's metafile: %w", file, err)
	}
	paths := []string{abs}
	for in := range meta.Inputs {
		p := in
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if p != abs {
			paths = append(paths, filepath.Clean(p))
		}
	}
	sort.Strings(paths[1:])
	base := dir
	for _, p := range paths {
		for !strings.HasPrefix(p, base+string(filepath.Separator)) && base != filepath.Dir(base) {
			base = filepath.Dir(base)
		}
	}
	code := &isolate.Code{Modules: map[string]*isolate.Module{}}
	for _, p := range paths {
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return nil, err
		}
		name := filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", p, err)
		}
		code.Modules[name] = moduleFor(name, b)
		if p == abs {
			code.MainModule = name
		}
	}
	return code, code.Validate()
}

// loadExternals are the imports LoadCode leaves to the isolate: the
// built-in "cloudflare:" and "node:" modules, and Node.js's built-in
// modules by their bare names ("buffer", "events"), which the isolate
// provides (or explains) as Cloudflare does: with the nodejs_compat
// compatibility flag they are node:buffer and the rest, without it an
// error naming the flag.
var loadExternals = append([]string{"cloudflare:*", "node:*"}, isolate.NodeBuiltins...)

func moduleFor(name string, b []byte) *isolate.Module {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".js", ".mjs", ".ts", ".mts", ".tsx", ".jsx":
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
