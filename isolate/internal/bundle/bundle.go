package bundle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/evanw/esbuild/pkg/api"
)

// Kind is the kind of a module in a code object.
type Kind int

const (
	// ESM is ES module source. The language follows the name's extension:
	// TypeScript for .ts/.mts/.cts, TSX for .tsx, JSX for .jsx, else JavaScript.
	ESM Kind = iota
	// CommonJS is a module using require/module.exports (language by extension too).
	CommonJS
	// Text is a string module: its default export is Source.
	Text
	// Data is a binary module: its default export is an ArrayBuffer holding Data.
	Data
	// JSON is a JSON module: its default export is the parsed value of JSON.
	JSON
	// Wasm is a WebAssembly module; imported from JavaScript, its default
	// export is a WebAssembly.Module (made by WasmModuleGlobal).
	Wasm
)

func (k Kind) String() string {
	switch k {
	case ESM:
		return "esm"
	case CommonJS:
		return "cjs"
	case Text:
		return "text"
	case Data:
		return "data"
	case JSON:
		return "json"
	case Wasm:
		return "wasm"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Module is one module of a code object.
type Module struct {
	Name   string // as in the code object, e.g. "main.ts", "lib/util.js"
	Kind   Kind
	Source string // ESM, CommonJS, Text
	Data   []byte // Data, Wasm
	JSON   []byte // JSON (raw JSON text, already validated by the caller)
}

// Result is a bundled classic script.
type Result struct {
	// Script is the classic script. Running it defines the global GlobalName
	// (the main module's namespace object). It ends with an inline source map
	// whose sources are the author's module names.
	Script string
	// Strict reports whether Script starts with a "use strict" directive
	// (true unless the code object contains a CommonJS module).
	Strict bool
	// Warnings are esbuild's warnings, formatted "file:line:col: text".
	Warnings []string
}

// Names shared with the isolate.
const (
	// GlobalName is the global variable the script assigns the main module's
	// namespace to: GlobalName.default is the default export.
	GlobalName = "__warrenMain"
	// EnvGlobal is the global the `env` export of "cloudflare:workers" reads,
	// at the time of each property access (it is a Proxy, so the host may set
	// the global before or after running the script).
	EnvGlobal = "__warrenEnv"
	// WasmModuleGlobal is the global function a bundled Wasm module calls
	// with its bytes in base64; it returns a WebAssembly.Module.
	WasmModuleGlobal = "__warrenWasmModule"
	// EntrypointKey is Symbol.for(EntrypointKey): a static property that the
	// base classes of "cloudflare:workers" carry (and their subclasses
	// inherit), whose value is the base class name, e.g. "DurableObject".
	EntrypointKey = "warren.entrypoint"
	// ScriptName is the name to compile Result.Script under (goja.Compile):
	// a relative name without a directory, so that goja reports source-mapped
	// positions with the module names unchanged.
	ScriptName = "bundle.js"
)

// maxMessages bounds Error.Messages and Result.Warnings.
const maxMessages = 20

// Error is a build error: a syntax or type error in a module, an import that
// cannot be resolved, or a feature that cannot be lowered for goja.
// File, Line and Column locate the first message (Line and Column are
// 1-based; the column counts UTF-16 code units, like JavaScript and source
// maps). File is empty when the error has no location.
type Error struct {
	File         string
	Line, Column int
	Text         string
	// Messages holds every error message (at most 20), each formatted like
	// Error().
	Messages []string
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Text
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Text)
}

const (
	nsModule  = "warren"         // modules of the code object, path = module name
	nsVirtual = "warren-virtual" // "cloudflare:workers"
	nsRaw     = "warren-raw"     // bytes of a Data module (binary loader)
	nsEntry   = "warren-entry"   // synthetic entry re-exporting a CommonJS main
)

// noFS is esbuild's working directory: an absolute path that no file system
// call can use (Go refuses paths containing NUL before making the system
// call), so esbuild neither calls os.Getwd nor lists the directory of the
// entry point (which it does to see whether it is a real file).
const noFS = "/\x00warren-bundle-has-no-file-system"

// pluginData values passed from onLoad to onResolve of that module's imports.
type rawImporter struct{ name string } // a Data module wrapper importing its bytes
type entryImporter struct{}            // the synthetic CommonJS entry

// Bundle builds main (a name in mods) and what it imports into one classic
// script. It never touches the filesystem or network: every import resolves
// by module name within mods.
func Bundle(main string, mods []Module) (*Result, error) {
	return bundle(main, mods, options{})
}

// BundleWith is Bundle for a code object whose compatibility flags shape
// its bundle (cfg).
func BundleWith(main string, mods []Module, cfg Config) (*Result, error) {
	return bundle(main, mods, options{Config: cfg})
}

// options are knobs for tests and benchmarks.
type options struct {
	Config
	lowerFields bool // lower class fields even without super property access
	keepNames   bool // esbuild KeepNames
}

func bundle(main string, mods []Module, o options) (*Result, error) {
	lowerFields := o.lowerFields
	byName := make(map[string]*Module, len(mods))
	hasCJS := false
	symbols := false // whether the knownSymbols banner is needed
	for i := range mods {
		m := &mods[i]
		if m.Name == "" {
			return nil, plainError("module with an empty name")
		}
		if _, dup := byName[m.Name]; dup {
			return nil, plainError(fmt.Sprintf("duplicate module %q", m.Name))
		}
		if m.Kind < ESM || m.Kind > Wasm {
			return nil, plainError(fmt.Sprintf("module %q has unknown kind %d", m.Name, int(m.Kind)))
		}
		if m.Kind == CommonJS {
			hasCJS = true
		}
		switch m.Kind {
		case ESM, CommonJS:
			if err := checkNesting(m.Name, m.Source, MaxNesting); err != nil {
				return nil, err
			}
		case JSON:
			if err := checkNesting(m.Name, string(m.JSON), MaxNesting); err != nil {
				return nil, err
			}
		}
		if (m.Kind == ESM || m.Kind == CommonJS) && !symbols && needsKnownSymbols(m.Source) {
			symbols = true
		}
		if (m.Kind == ESM || m.Kind == CommonJS) && !lowerFields && hasSuperProperty(m.Source) {
			lowerFields = true
		}
		byName[m.Name] = m
	}
	mm, ok := byName[main]
	if !ok {
		return nil, plainError(fmt.Sprintf("main module %q is not in the code object", main))
	}
	if mm.Kind != ESM && mm.Kind != CommonJS {
		return nil, plainError(fmt.Sprintf("main module %q is a %s module; it must be JavaScript or TypeScript", main, mm.Kind))
	}

	b := &builder{mods: byName, main: mm, res: newResolver(byName), cfg: o.Config}
	if o.NodeCompat {
		for _, m := range byName {
			if m.Kind == ESM || m.Kind == CommonJS {
				b.nodeBuffer = b.nodeBuffer || namesGlobal(m.Source, "Buffer")
				b.nodeProcess = b.nodeProcess || namesGlobal(m.Source, "process")
			}
		}
	}
	supported := gojaUnsupported
	if lowerFields {
		supported = gojaUnsupportedFields
	}
	// A bundle of ES modules is emitted as an ES module and wrapped by hand
	// (see esmToScript): esbuild's IIFE form builds the namespace with
	// __export/__toCommonJS helpers whose run costs ~80 µs per fresh
	// runtime, more than the rest of a hello-world invocation.
	format, globalName := api.FormatESModule, ""
	if hasCJS {
		format, globalName = api.FormatIIFE, GlobalName
	}
	opts := api.BuildOptions{
		// The entry point resolves to main whatever its spelling (see
		// resolve); a fixed one keeps esbuild's glob and path logic away from
		// module names.
		EntryPoints:   []string{"main"},
		Bundle:        true,
		Write:         false,
		Outfile:       "bundle.js",
		AbsWorkingDir: noFS,
		Format:        format,
		GlobalName:    globalName,
		Platform:      api.PlatformNeutral,
		Target:        api.ESNext,
		Supported:     supported,
		// External so that we can rewrite "sources" before inlining it.
		Sourcemap:      api.SourceMapExternal,
		SourcesContent: api.SourcesContentExclude,
		Charset:        api.CharsetUTF8,
		LegalComments:  api.LegalCommentsNone,
		LogLevel:       api.LogLevelSilent,
		// No tsconfig.json lookups (there are none outside the "file"
		// namespace anyway); pin the defaults.
		TsconfigRaw: `{"compilerOptions":{}}`,
		Plugins:     []api.Plugin{{Name: "warren", Setup: b.setup}},
		KeepNames:   o.keepNames,
	}
	if b.nodeBuffer || b.nodeProcess {
		opts.Inject = []string{nodeInject}
	}
	banner := ""
	if symbols {
		banner = knownSymbols
	}
	if hasCJS {
		opts.Banner = map[string]string{"js": banner}
	} else {
		opts.Banner = map[string]string{"js": `"use strict";` + banner + esmOpen}
		opts.Footer = map[string]string{"js": esmClose}
	}
	res := api.Build(opts)
	if len(res.Errors) > 0 {
		return nil, toError(res.Errors)
	}
	var js, sm []byte
	var err error
	for _, f := range res.OutputFiles {
		switch {
		case strings.HasSuffix(f.Path, ".js.map"):
			sm = f.Contents
		case strings.HasSuffix(f.Path, ".js"):
			js = f.Contents
		}
	}
	if js == nil || sm == nil {
		return nil, plainError("esbuild produced no output")
	}
	if !hasCJS {
		if js, err = esmToScript(js); err != nil {
			return nil, err
		}
	}
	js = b.expandWasm(js)
	script, err := inlineSourceMap(js, sm)
	if err != nil {
		return nil, err
	}
	out := &Result{Script: script, Strict: !hasCJS}
	for i, w := range res.Warnings {
		if i == maxMessages {
			break
		}
		out.Warnings = append(out.Warnings, formatMessage(w))
	}
	return out, nil
}

type builder struct {
	mods map[string]*Module
	main *Module
	res  *resolver
	cfg  Config
	// nodeBuffer and nodeProcess: with NodeCompat, whether some module
	// names the global Buffer or process.
	nodeBuffer, nodeProcess bool

	mu   sync.Mutex         // esbuild calls the plugin from several goroutines
	wasm map[string]*Module // by wasmToken
}

// wasmToken names a Wasm module's bytes in esbuild's input; expandWasm puts
// the bytes (base64) in their place in the output.
func (b *builder) wasmToken(m *Module) string {
	sum := sha256.Sum256(m.Data)
	t := "__warren_wasm_" + hex.EncodeToString(sum[:16]) + "__"
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wasm == nil {
		b.wasm = map[string]*Module{}
	}
	b.wasm[t] = m
	return t
}

func (b *builder) expandWasm(js []byte) []byte {
	if len(b.wasm) == 0 {
		return js
	}
	pairs := make([]string, 0, 2*len(b.wasm))
	for t, m := range b.wasm {
		pairs = append(pairs, `"`+t+`"`, `"`+base64.StdEncoding.EncodeToString(m.Data)+`"`)
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(js)))
}

func (b *builder) setup(pb api.PluginBuild) {
	pb.OnResolve(api.OnResolveOptions{Filter: ".*"}, b.resolve)
	pb.OnLoad(api.OnLoadOptions{Filter: ".*"}, b.load)
}

func resolveErr(format string, a ...any) (api.OnResolveResult, error) {
	return api.OnResolveResult{Errors: []api.Message{{Text: fmt.Sprintf(format, a...)}}}, nil
}

func (b *builder) resolve(args api.OnResolveArgs) (api.OnResolveResult, error) {
	spec := args.Path
	if spec == nodeInject && b.cfg.NodeCompat {
		return api.OnResolveResult{Path: nodeGlobalsFile, Namespace: nsNode}, nil
	}
	if args.Namespace == nsNode {
		return resolveInNode(args.Importer, spec)
	}
	if args.Kind == api.ResolveEntryPoint {
		if b.main.Kind == CommonJS {
			return api.OnResolveResult{Path: b.main.Name, Namespace: nsEntry}, nil
		}
		return api.OnResolveResult{Path: b.main.Name, Namespace: nsModule}, nil
	}
	switch d := args.PluginData.(type) {
	case entryImporter:
		return api.OnResolveResult{Path: b.main.Name, Namespace: nsModule}, nil
	case rawImporter:
		return api.OnResolveResult{Path: d.name, Namespace: nsRaw}, nil
	}
	importer := args.Importer
	if args.Namespace != nsModule {
		importer = args.Namespace + ":" + args.Importer
	}
	if spec == "cloudflare:workers" {
		return api.OnResolveResult{Path: spec, Namespace: nsVirtual}, nil
	}
	if res, ok := b.resolveNode(spec, importer); ok {
		return res, nil
	}
	if strings.HasPrefix(spec, "cloudflare:") {
		return resolveErr("module %q (imported by %q) is not available in warren", spec, importer)
	}
	require := args.Kind == api.ResolveJSRequireCall || args.Kind == api.ResolveJSRequireResolve
	m, err := b.res.lookup(args.Importer, spec, require)
	if err != nil {
		var re *ResolveError
		if errors.As(err, &re) {
			re.Importer = importer
		}
		if msg := b.builtinMiss(spec, importer); msg != "" {
			return resolveErr("%s", msg)
		}
		return resolveErr("%s", err.Error())
	}
	return api.OnResolveResult{Path: m.Name, Namespace: nsModule}, nil
}

// ProbeExtensions are the extensions an import without one tries, in
// order (after the name as is).
var ProbeExtensions = []string{".ts", ".tsx", ".mts", ".js", ".jsx", ".mjs", ".cjs", ".json"}

var jsToTS = []struct {
	js string
	ts []string
}{
	{".js", []string{".ts", ".tsx"}},
	{".jsx", []string{".tsx"}},
	{".mjs", []string{".mts"}},
	{".cjs", []string{".cts"}},
}

func languageLoader(name string) api.Loader {
	switch path.Ext(name) {
	case ".ts", ".mts", ".cts":
		return api.LoaderTS
	case ".tsx":
		return api.LoaderTSX
	case ".jsx":
		return api.LoaderJSX
	}
	return api.LoaderJS
}

func (b *builder) load(args api.OnLoadArgs) (api.OnLoadResult, error) {
	switch args.Namespace {
	case nsNode:
		return b.loadNode(args.Path)
	case nsVirtual:
		s := cloudflareWorkers
		return api.OnLoadResult{Contents: &s, Loader: api.LoaderJS}, nil
	case nsEntry:
		q, _ := json.Marshal(args.Path)
		s := fmt.Sprintf("export * from %s;\nexport { default } from %s;\n", q, q)
		return api.OnLoadResult{Contents: &s, Loader: api.LoaderJS, PluginData: entryImporter{}}, nil
	case nsRaw:
		m := b.mods[args.Path]
		if m == nil {
			break
		}
		s := string(m.Data)
		return api.OnLoadResult{Contents: &s, Loader: api.LoaderBinary}, nil
	case nsModule:
		m := b.mods[args.Path]
		if m == nil {
			break
		}
		var s string
		loader := api.LoaderJS
		var pd any
		switch m.Kind {
		case ESM, CommonJS:
			s, loader = m.Source, languageLoader(m.Name)
		case Text:
			s, loader = m.Source, api.LoaderText
		case JSON:
			s, loader = string(m.JSON), api.LoaderJSON
		case Data:
			// The binary loader yields a fresh, exactly sized Uint8Array.
			s = "import bytes from \"raw\";\nexport default bytes.buffer;\n"
			pd = rawImporter{name: m.Name}
		case Wasm:
			// A WebAssembly.Module, as on Cloudflare. The bytes travel in
			// the script as base64, decoded natively (not by JS) when the
			// module is first evaluated; the runtime compiles each distinct
			// module once per process. esbuild sees a short token, replaced
			// by the base64 text in its output (parsing and printing
			// megabytes of string is its slowest work).
			s = "export default " + WasmModuleGlobal + "(\"" + b.wasmToken(m) + "\");\n"
		}
		return api.OnLoadResult{Contents: &s, Loader: loader, PluginData: pd}, nil
	}
	return api.OnLoadResult{Errors: []api.Message{{Text: fmt.Sprintf("internal error: cannot load %s:%s", args.Namespace, args.Path)}}}, nil
}

// cloudflareWorkers is the virtual module "cloudflare:workers".
const cloudflareWorkers = `const kind = Symbol.for("` + EntrypointKey + `");
export class DurableObject {
  static [kind] = "DurableObject";
  constructor(ctx, env) { this.ctx = ctx; this.env = env; }
}
export class WorkerEntrypoint {
  static [kind] = "WorkerEntrypoint";
  constructor(ctx, env) { this.ctx = ctx; this.env = env; }
}
export class WorkflowEntrypoint {
  static [kind] = "WorkflowEntrypoint";
  constructor(ctx, env) { this.ctx = ctx; this.env = env; }
}
export class RpcTarget {
  static [kind] = "RpcTarget";
}
const currentEnv = () => {
  const e = globalThis.` + EnvGlobal + `;
  return e !== null && (typeof e === "object" || typeof e === "function") ? e : {};
};
export const env = new Proxy({}, {
  get: (_, k) => Reflect.get(currentEnv(), k),
  has: (_, k) => Reflect.has(currentEnv(), k),
  ownKeys: () => Reflect.ownKeys(currentEnv()),
  getOwnPropertyDescriptor: (_, k) => {
    const d = Reflect.getOwnPropertyDescriptor(currentEnv(), k);
    if (d) d.configurable = true;
    return d;
  },
  set: () => false,
  defineProperty: () => false,
  deleteProperty: () => false,
});
`

// sourceName maps esbuild's "namespace:path" to the name the author knows.
func sourceName(s string) string {
	for _, ns := range []string{nsModule, nsRaw, nsVirtual} {
		if rest, ok := strings.CutPrefix(s, ns+":"); ok {
			return rest
		}
	}
	if rest, ok := strings.CutPrefix(s, nsNode+":"); ok {
		return "node:" + strings.TrimSuffix(rest, ".js")
	}
	if rest, ok := strings.CutPrefix(s, nsEntry+":"); ok {
		return "<entry of " + rest + ">"
	}
	return s
}

func plainError(text string) *Error {
	return &Error{Text: text, Messages: []string{text}}
}

// clearer replaces esbuild texts that name its configuration.
func clearer(text string) string {
	if strings.HasPrefix(text, "Top-level await is not available") {
		return "Top-level await is not supported: the modules run as one classic script (await inside a function, e.g. the fetch handler)"
	}
	return text
}

func toError(msgs []api.Message) *Error {
	for i := range msgs {
		msgs[i].Text = clearer(msgs[i].Text)
	}
	e := &Error{}
	first := msgs[0]
	e.Text = first.Text
	if l := first.Location; l != nil {
		e.File, e.Line, e.Column = sourceName(locFile(l)), l.Line, column(l)
	}
	for i, m := range msgs {
		if i == maxMessages {
			e.Messages = append(e.Messages, fmt.Sprintf("... and %d more", len(msgs)-maxMessages))
			break
		}
		e.Messages = append(e.Messages, formatMessage(m))
	}
	return e
}

func locFile(l *api.Location) string {
	if l.Namespace != "" && l.Namespace != "file" && !strings.HasPrefix(l.File, l.Namespace+":") {
		return l.Namespace + ":" + l.File
	}
	return l.File
}

// column converts esbuild's 0-based byte column to a 1-based UTF-16 column.
func column(l *api.Location) int {
	c := l.Column
	if c < 0 {
		c = 0
	}
	if c > len(l.LineText) {
		return c + 1
	}
	n := 0
	for _, r := range l.LineText[:c] {
		if r == utf8.RuneError {
			n++
			continue
		}
		n += utf16.RuneLen(r)
	}
	return n + 1
}

func formatMessage(m api.Message) string {
	if l := m.Location; l != nil {
		return fmt.Sprintf("%s:%d:%d: %s", sourceName(locFile(l)), l.Line, column(l), m.Text)
	}
	return m.Text
}
