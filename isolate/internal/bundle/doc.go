// Package bundle turns the modules of a code object (docs/code-object.md)
// into one classic script that goja can run, with esbuild's Go API.
//
// # Resolution
//
// Bundle never touches the filesystem or the network: an esbuild plugin
// resolves every import by module name within the code object, and esbuild's
// working directory is a path no system call accepts (checked with strace:
// no file system calls during Bundle). Relative specifiers ("./x", "../x")
// resolve against the importer's name and "/x" against the root; they try
// the name as is, then with each of ProbeExtensions appended, then the
// TypeScript source of a ".js"-style name ("./u.js" finds "u.ts", ".mjs"
// finds ".mts"), then the name as a directory (the "module" or "main" of its
// package.json module, else its index). A bare specifier that matches a
// module name exactly is that module; any other is an npm package, found
// node_modules-style over the module names (resolve.go): "#name" through
// the nearest package.json's "imports", self-reference by name, then
// <dir>/node_modules/<pkg> from the importer's directory up, then the
// package's "exports" with the conditions Conditions plus "import" (or
// "require" for require()) and "default", else MainFields, else index.
// package.json modules are parsed keeping key order, since conditions are
// tried in the order an object lists them. Resolver exposes the same
// resolution to tools. Anything else is an *Error naming the importer and
// specifier, as are "cloudflare:*" other than "cloudflare:workers".
// A Wasm module imported from JS is a WebAssembly.Module (see Module kinds).
//
// # Node.js modules
//
// With Config.NodeCompat (the nodejs_compat compatibility flag),
// "node:buffer", "node:events", "node:util", "node:path", "node:assert",
// "node:string_decoder", "node:process" and "node:crypto" (and their
// subpaths, see nodeProvided) resolve to the files of the embedded nodejs
// directory, by "node:" or bare name; a bare name resolves there before a
// module of the code object. They are CommonJS, so esbuild wraps each in a
// function that runs on first require: a bundle carries what it may use
// and runs only what it does. When a module's source names Buffer or
// process (namesGlobal), a small module is injected (esbuild's Inject: it
// runs before every module) that defines those globals as getters that
// load their module on first read. The vendored
// npm packages are in nodejs/vendor, each with its LICENSE; the files
// there say which version and what warren changed ("warren:" comments).
// What needs Go (hashes, HMAC, util.inspect and util.format) the modules
// reach through the hidden global NodeSupportGlobal that the engine
// installs (webapi's NodeSupport).
//
// Without the flag, an import of those modules is an *Error naming the
// flag; any other of Node's built-in modules (NodeBuiltins: "node:fs",
// "fs", ...) is an *Error saying warren does not support it, flag or not,
// unless a bare name matches a module of the code object.
//
// # Module kinds
//
//   - ESM: JavaScript, or TypeScript when the name ends in .ts/.mts/.cts
//     (.tsx and .jsx are accepted too; JSX uses React.createElement).
//   - CommonJS: require/module.exports, with esbuild's interop both ways
//     (importing a CommonJS module's default gives module.exports unless it
//     sets __esModule). A CommonJS main is re-exported: the default export is
//     module.exports and its properties are named exports.
//   - Text: the default export is the string. Data: an ArrayBuffer.
//     JSON: the parsed value (top-level keys are also named exports).
//     Wasm: a WebAssembly.Module, as on Cloudflare (the module's bytes go
//     into the script as base64 and the runtime's WasmModuleGlobal
//     function compiles them, once per process for each distinct module).
//
// "cloudflare:workers" is built in: DurableObject, WorkerEntrypoint and
// WorkflowEntrypoint (constructor(ctx, env) stores this.ctx and this.env),
// RpcTarget (no constructor arguments, as on Cloudflare), and env, a
// read-only Proxy over globalThis[EnvGlobal] read at each access, so the host
// may set the global before or after running the script. Each base class has
// a static Symbol.for(EntrypointKey) property naming it, inherited by
// subclasses: the host can tell `export default class extends
// WorkerEntrypoint` from a plain object.
//
// # Output
//
// The script is an IIFE assigning the main module's namespace to the global
// GlobalName: GlobalName.default is the default export, named exports (e.g.
// Durable Object classes) are its properties. It is strict mode unless the
// code object has a CommonJS module (Result.Strict). Before the bundle it
// defines Symbol.asyncIterator, Symbol.dispose and Symbol.asyncDispose when
// missing (goja has none) as Symbol.for("Symbol.<name>"), which is what
// esbuild's lowered for-await, async generators and `using` look up.
//
// Language features goja lacks are lowered by esbuild (see gojaUnsupported,
// kept honest by TestGojaFeatureProbe): async generators, for await, `using`,
// decorators and `accessor`, dynamic import() (of bundled modules only), and
// the regexp flags d and v (turned into `new RegExp(...)` calls, so only code
// using them fails, at run time). Top-level await cannot be lowered into a
// script: it is a build error. goja rejects `super.x` in class field
// initializers, so when any module contains `super.` or `super[`, class
// fields are lowered too (which also turns #private members into WeakMaps).
// goja silently mismatches regexp Unicode property escapes (/\p{L}/u matches
// nothing); nothing can be done here.
//
// # Source maps
//
// The script ends with an inline source map (no sourcesContent) whose
// sources are the author's module names ("main.ts", "lib/util.ts"). Compile
// it with goja.Compile(ScriptName, script, false): any relative name without
// a directory keeps the names unchanged, an absolute one ("/bundle.js")
// would turn them into "/main.ts", a name with a scheme would hide them.
// goja then reports stack positions such as "at check (lib/util.ts:7:11)".
// The map is tuned for goja: goja looks mappings up with 1-based generated
// columns and prints original columns as stored, so every column in the map
// is one greater than the standard says. Do not feed it to another consumer.
//
// # Errors
//
// Build failures are *Error: File, Line (1-based) and Column (1-based, in
// UTF-16 code units) of the first esbuild message, its Text, and up to 20
// messages formatted "file:line:col: text".
package bundle
