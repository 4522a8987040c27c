package bundle

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// NodeCompatFlag is the compatibility flag that gives a Worker the Node.js
// built-in modules of the nodejs directory, and the globals Buffer and
// process, as Cloudflare's flag of that name does.
const NodeCompatFlag = "nodejs_compat"

// NodeSupportGlobal is the hidden global through which the nodejs modules
// reach Go (util.inspect, util.format, the hashes of node:crypto). The
// engine installs it lazily; see webapi's NodeSupport.
const NodeSupportGlobal = "__warrenNode"

// Config is what, besides its modules, shapes a code object's bundle.
type Config struct {
	// NodeCompat provides the Node.js built-in modules ("node:buffer",
	// "buffer", ...) and the globals Buffer and process.
	NodeCompat bool
}

//go:embed nodejs
var nodeFS embed.FS

const (
	nsNode = "warren-node" // a file of the nodejs directory, path relative to it
	// nodeInject is injected into a nodejs_compat bundle whose code names
	// Buffer or process (esbuild's Inject: it runs before every module); it
	// loads as nodeGlobals.
	nodeInject = "\x00warren-node-globals"
	// nodeGlobalsFile is its name in the nsNode namespace (and, as
	// "node:globals", in stacks).
	nodeGlobalsFile = "globals.js"
)

// nodeProvided maps the Node.js built-in modules nodejs_compat provides
// (without the "node:" prefix) to their file in the nodejs directory.
var nodeProvided = map[string]string{
	"assert":         "assert.js",
	"assert/strict":  "assert_strict.js",
	"buffer":         "buffer.js",
	"crypto":         "crypto.js",
	"events":         "events.js",
	"path":           "path.js",
	"path/posix":     "path.js",
	"process":        "process.js",
	"string_decoder": "string_decoder.js",
	"util":           "util.js",
	"util/types":     "util_types.js",
}

// nodeVendorNames are the bare names the vendored packages require.
var nodeVendorNames = map[string]string{
	"base64-js":   "vendor/base64-js/index.js",
	"ieee754":     "vendor/ieee754/index.js",
	"safe-buffer": "buffer.js",
}

// NodeBuiltins are the names of Node.js's built-in modules (Node 20's
// module.builtinModules, without the internal "_" ones): those warren
// provides and those it refuses by name.
var NodeBuiltins = []string{
	"assert", "assert/strict", "async_hooks", "buffer", "child_process", "cluster", "console", "constants",
	"crypto", "dgram", "diagnostics_channel", "dns", "dns/promises", "domain", "events", "fs", "fs/promises",
	"http", "http2", "https", "inspector", "inspector/promises", "module", "net", "os", "path", "path/posix",
	"path/win32", "perf_hooks", "process", "punycode", "querystring", "readline", "readline/promises", "repl",
	"stream", "stream/consumers", "stream/promises", "stream/web", "string_decoder", "sys", "timers",
	"timers/promises", "tls", "trace_events", "tty", "url", "util", "util/types", "v8", "vm", "wasi",
	"worker_threads", "zlib",
}

var nodeBuiltinSet = func() map[string]bool {
	m := make(map[string]bool, len(NodeBuiltins))
	for _, n := range NodeBuiltins {
		m[n] = true
	}
	return m
}()

// nodeProvidedList is "node:assert, node:assert/strict, ..." for messages.
var nodeProvidedList = func() string {
	names := make([]string, 0, len(nodeProvided))
	for n := range nodeProvided {
		names = append(names, "node:"+n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}()

// nodeGlobals is the source of the injected module that defines the
// globals Buffer and process, as Cloudflare's nodejs_compat has them, for
// those of them that the code names. Each is a getter until first read, so
// a Worker that never reads it does not run node:buffer or node:process;
// assigning one replaces it.
func nodeGlobals(buffer, process bool) string {
	var b strings.Builder
	b.WriteString(`const lazy = (name, get) => {
  const set = (v) => Object.defineProperty(globalThis, name, { value: v, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, name, {
    configurable: true,
    enumerable: false,
    get() {
      const v = get();
      set(v);
      return v;
    },
    set,
  });
};
`)
	if buffer {
		b.WriteString("lazy(\"Buffer\", () => require(\"buffer\").Buffer);\n")
	}
	if process {
		b.WriteString("lazy(\"process\", () => require(\"process\"));\n")
	}
	return b.String()
}

// namesGlobal reports whether src has name as a whole word (in code,
// comments or strings: a false positive only costs the bundle a getter).
// A Worker reaches the globals Buffer and process only by naming them.
func namesGlobal(src, name string) bool {
	for i := 0; ; {
		j := strings.Index(src[i:], name)
		if j < 0 {
			return false
		}
		j += i
		i = j + len(name)
		if (j == 0 || !isIdentByte(src[j-1])) && (i == len(src) || !isIdentByte(src[i])) {
			return true
		}
	}
}

// resolveNode resolves spec when it names a Node.js built-in module; ok is
// false when it does not (a bare name the code object may hold).
func (b *builder) resolveNode(spec, importer string) (res api.OnResolveResult, ok bool) {
	name, prefixed := strings.CutPrefix(spec, "node:")
	file, provided := nodeProvided[name]
	switch {
	case prefixed && !provided:
		res, _ = resolveErr("import %q (imported by %q): warren's nodejs_compat does not support this module; it has %s", spec, importer, nodeProvidedList)
	case prefixed && !b.cfg.NodeCompat:
		res, _ = resolveErr("import %q: add %q to compatibilityFlags (warren run --compat %s)", spec, NodeCompatFlag, NodeCompatFlag)
	case prefixed || provided && b.cfg.NodeCompat:
		res = api.OnResolveResult{Path: file, Namespace: nsNode}
	default:
		return res, false
	}
	return res, true
}

// builtinMiss explains a bare import that names a Node.js built-in module
// and is not in the code object ("" when it names none).
func (b *builder) builtinMiss(spec, importer string) string {
	name := spec
	if i := strings.IndexByte(name, '/'); i > 0 && !nodeBuiltinSet[name] {
		name = name[:i]
	}
	_, provided := nodeProvided[spec]
	switch {
	case provided && !b.cfg.NodeCompat:
		return fmt.Sprintf("import %q: it is the Node.js built-in module node:%s; add %q to compatibilityFlags (warren run --compat %s)", spec, spec, NodeCompatFlag, NodeCompatFlag)
	case nodeBuiltinSet[name]:
		return fmt.Sprintf("import %q (imported by %q): the Node.js built-in module node:%s is not supported by warren; its nodejs_compat has %s", spec, importer, spec, nodeProvidedList)
	}
	return ""
}

// resolveInNode resolves an import made by a file of the nodejs directory.
func resolveInNode(importer, spec string) (api.OnResolveResult, error) {
	var file string
	switch {
	case strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../"):
		file = path.Join(path.Dir(importer), spec)
	case strings.HasPrefix(spec, "node:"):
		file = nodeProvided[spec[len("node:"):]]
	default:
		file = nodeProvided[spec]
		if file == "" {
			file = nodeVendorNames[spec]
		}
	}
	if file == "" {
		return resolveErr("internal error: %q imported by node module %q", spec, importer)
	}
	return api.OnResolveResult{Path: file, Namespace: nsNode}, nil
}

// loadNode loads a file of the nodejs directory, or the injected globals.
func (b *builder) loadNode(file string) (api.OnLoadResult, error) {
	if file == nodeGlobalsFile {
		s := nodeGlobals(b.nodeBuffer, b.nodeProcess)
		return api.OnLoadResult{Contents: &s, Loader: api.LoaderJS}, nil
	}
	src, err := nodeFS.ReadFile("nodejs/" + file)
	if err != nil {
		return api.OnLoadResult{Errors: []api.Message{{Text: fmt.Sprintf("internal error: no node module %q", file)}}}, nil
	}
	s := string(src)
	return api.OnLoadResult{Contents: &s, Loader: api.LoaderJS}, nil
}
