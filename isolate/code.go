package isolate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/warrenmesh/warren/isolate/internal/bundle"
	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// Size limits of a code object (docs/code-object.md).
const (
	// MaxCodeBytes caps the summed size of all modules.
	MaxCodeBytes = 64 << 20
	// MaxScriptBytes caps the summed source of the JavaScript and
	// TypeScript modules: they are bundled before they run, and bundling
	// (about 4 MB/s of real code here) has a deadline of its own
	// (DefaultPrepareTimeout). Text, JSON, data and wasm modules count
	// towards MaxCodeBytes only.
	MaxScriptBytes = 8 << 20
	// MaxEnvBytes caps the JSON size of env.
	MaxEnvBytes = 1 << 20
	// MaxModules caps the number of modules in one code object.
	MaxModules = 4096
)

// ModuleKind says how a module's content is interpreted.
type ModuleKind int

// Module kinds, as in Cloudflare's WorkerCode.
const (
	// ModuleESM is ES module source; TypeScript when the name ends in .ts, .mts or .tsx.
	ModuleESM ModuleKind = iota
	// ModuleCommonJS is CommonJS source (require / module.exports).
	ModuleCommonJS
	// ModuleText is imported as a string.
	ModuleText
	// ModuleData is imported as an ArrayBuffer.
	ModuleData
	// ModuleJSON is imported as the parsed value.
	ModuleJSON
	// ModuleWasm is a WebAssembly module; as the main module it runs as a WASI command.
	ModuleWasm
	// ModulePython is Python source (docs/python.md); as the main module it
	// runs in CPython on WASI. A string module whose name ends in .py is one.
	ModulePython
)

var kindNames = [...]string{"js", "cjs", "text", "data", "json", "wasm", "py"}

func (k ModuleKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("ModuleKind(%d)", int(k))
}

// Module is one module of a code object. Exactly one of Source, Data or JSON
// carries its content, according to Kind.
type Module struct {
	Kind   ModuleKind
	Source string          // ModuleESM, ModuleCommonJS, ModuleText, ModulePython
	Data   []byte          // ModuleData, ModuleWasm
	JSON   json.RawMessage // ModuleJSON
}

func (m *Module) size() int { return len(m.Source) + len(m.Data) + len(m.JSON) }

// UnmarshalJSON accepts a string (ES module or TypeScript source; Python
// source when DecodeCode finds it under a name ending in .py) or an object
// with exactly one of js, cjs, text, data (base64), json, wasm (base64), py.
func (m *Module) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*m = Module{Kind: ModuleESM}
		return json.Unmarshal(b, &m.Source)
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("a module is a source string or an object with one of js, cjs, text, data, json, wasm, py")
	}
	raw, err := moduleObject(b)
	if err != nil {
		return err
	}
	for k, v := range raw {
		switch k {
		case "js", "cjs", "text", "py":
			kind := map[string]ModuleKind{"js": ModuleESM, "cjs": ModuleCommonJS, "text": ModuleText, "py": ModulePython}[k]
			*m = Module{Kind: kind}
			if err := json.Unmarshal(v, &m.Source); err != nil {
				return fmt.Errorf("%s: must be a string", k)
			}
		case "data", "wasm":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("%s: must be a base64 string", k)
			}
			d, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return fmt.Errorf("%s: invalid base64: %w", k, err)
			}
			*m = Module{Kind: ModuleData, Data: d}
			if k == "wasm" {
				m.Kind = ModuleWasm
			}
		case "json":
			if !json.Valid(v) {
				return errors.New("json: invalid JSON")
			}
			*m = Module{Kind: ModuleJSON, JSON: append(json.RawMessage(nil), v...)}
		default:
			return fmt.Errorf("unknown module type %q (want js, cjs, text, data, json, wasm or py)", k)
		}
	}
	return nil
}

// moduleObject reads a module object, b, whose one key it answers with
// its value (a repeated key's last value, as encoding/json reads it). Its
// keys are read one at a time, up to a second one: a map of them all
// (and an error quoting them all) cost a run request's module of 90 MiB
// of keys gigabytes.
func moduleObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // the '{'
		return nil, err
	}
	var keys []string // distinct, at most two
	var val json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		if len(keys) == 0 || keys[0] != k {
			keys = append(keys, k)
		}
		if len(keys) == 2 {
			sort.Strings(keys)
			more := ""
			if dec.More() {
				more = " and more"
			}
			return nil, fmt.Errorf("a module object has exactly one of js, cjs, text, data, json, wasm, py; got %q%s", keys, more)
		}
	}
	if _, err := dec.Token(); err != nil { // the '}'
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("a module object has exactly one of js, cjs, text, data, json, wasm, py; got %q", keys)
	}
	return map[string]json.RawMessage{keys[0]: val}, nil
}

// MarshalJSON writes the object form of the module.
func (m Module) MarshalJSON() ([]byte, error) {
	switch m.Kind {
	case ModuleESM, ModuleCommonJS, ModuleText, ModulePython:
		return json.Marshal(map[string]string{m.Kind.String(): m.Source})
	case ModuleData, ModuleWasm:
		return json.Marshal(map[string]string{m.Kind.String(): base64.StdEncoding.EncodeToString(m.Data)})
	case ModuleJSON:
		return json.Marshal(map[string]json.RawMessage{"json": m.JSON})
	}
	return nil, fmt.Errorf("unknown module kind %d", m.Kind)
}

// Code is the code object of docs/code-object.md: the same shape as Cloudflare's WorkerCode.
// A Code returned by DecodeCode is validated and remembers its hash: treat it
// as read-only (it may be shared between concurrent invocations).
type Code struct {
	CompatibilityDate  string             `json:"compatibilityDate,omitempty"`
	CompatibilityFlags []string           `json:"compatibilityFlags,omitempty"`
	MainModule         string             `json:"mainModule"`
	Modules            map[string]*Module `json:"modules"`
	// Env holds plain values exposed on the handler's env argument.
	Env map[string]json.RawMessage `json:"env,omitempty"`
	// GlobalOutbound must be null or absent: egress is granted by policy, never by the code.
	GlobalOutbound json.RawMessage `json:"globalOutbound,omitempty"`
	Limits         *Limits         `json:"limits,omitempty"`

	// sealed is the hash of a code object DecodeCode validated: such a Code
	// is read-only, and the runtime neither validates nor hashes it again.
	sealed string
}

// CodeError reports an invalid code object; Field names the offending field.
type CodeError struct {
	Field string
	Err   error
}

func (e *CodeError) Error() string { return fmt.Sprintf("code.%s: %v", e.Field, e.Err) }
func (e *CodeError) Unwrap() error { return e.Err }

// ErrInvalidCode is matched by every error DecodeCode and Validate return.
var ErrInvalidCode = errors.New("invalid code object")

// Is makes errors.Is(err, ErrInvalidCode) true for a *CodeError.
func (e *CodeError) Is(target error) bool { return target == ErrInvalidCode }

// DecodeCode decodes and validates a JSON code object. Unknown fields are errors.
func DecodeCode(b []byte) (*Code, error) {
	if len(b) > MaxCodeBytes*2 {
		return nil, &CodeError{Field: "modules", Err: fmt.Errorf("code object of %d bytes exceeds the limit", len(b))}
	}
	// Modules decode one by one so that an error names its module.
	type codeJSON struct {
		Code
		Modules map[string]json.RawMessage `json:"modules"`
		Limits  json.RawMessage            `json:"limits,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cj codeJSON
	if err := dec.Decode(&cj); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, &CodeError{Field: "", Err: errors.New("trailing data after the code object")}
	}
	c := cj.Code
	c.Modules = make(map[string]*Module, len(cj.Modules))
	for name, raw := range cj.Modules {
		m := new(Module)
		if err := m.UnmarshalJSON(raw); err != nil {
			return nil, &CodeError{Field: fmt.Sprintf("modules[%q]", name), Err: err}
		}
		if m.Kind == ModuleESM && path.Ext(name) == ".py" && bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
			m.Kind = ModulePython // a source string named *.py
		}
		c.Modules[name] = m
	}
	if l := bytes.TrimSpace(cj.Limits); len(l) > 0 && string(l) != "null" {
		c.Limits = new(Limits)
		if err := contract.StrictUnmarshal(l, c.Limits); err != nil {
			if ce, ok := decodeError(err).(*CodeError); ok {
				ce.Field = "limits." + ce.Field
				return nil, ce
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.sealed = c.Hash()
	return &c, nil
}

// decodeError turns an encoding/json error into a CodeError naming the field.
func decodeError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return &CodeError{Field: strings.TrimPrefix(ute.Field, "Code."), Err: fmt.Errorf("must be %s, not %s", ute.Type, ute.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &CodeError{Field: strings.Trim(f, `"`), Err: errors.New("unknown field")}
	}
	return &CodeError{Field: "", Err: err}
}

// Validate checks a code object: a main module that exists, module names and
// kinds that make sense, and the size caps.
func (c *Code) Validate() error {
	if c.MainModule == "" {
		return &CodeError{Field: "mainModule", Err: errors.New("missing")}
	}
	if len(c.Modules) == 0 {
		return &CodeError{Field: "modules", Err: errors.New("missing: at least the main module is required")}
	}
	if len(c.Modules) > MaxModules {
		return &CodeError{Field: "modules", Err: fmt.Errorf("%d modules exceed the limit of %d", len(c.Modules), MaxModules)}
	}
	total, script := 0, 0
	for name, m := range c.Modules {
		// The field is named only for an error: every call validates its code.
		field := func() string { return fmt.Sprintf("modules[%q]", name) }
		if m == nil {
			return &CodeError{Field: field(), Err: errors.New("null module")}
		}
		if err := checkModuleName(name); err != nil {
			return &CodeError{Field: field(), Err: err}
		}
		total += m.size()
		if m.Kind == ModuleESM || m.Kind == ModuleCommonJS {
			script += len(m.Source)
			switch ext := path.Ext(name); ext {
			case ".wasm":
				return &CodeError{Field: field(), Err: errors.New("a .wasm module must be given as {\"wasm\": <base64>}")}
			}
		}
	}
	if total > MaxCodeBytes {
		return &CodeError{Field: "modules", Err: fmt.Errorf("code of %d bytes exceeds the limit of %d bytes (64 MiB)", total, MaxCodeBytes)}
	}
	if script > MaxScriptBytes {
		return &CodeError{Field: "modules", Err: fmt.Errorf("JavaScript and TypeScript source of %d bytes exceeds the limit of %d bytes (8 MiB)", script, MaxScriptBytes)}
	}
	main, ok := c.Modules[c.MainModule]
	if !ok {
		return &CodeError{Field: "mainModule", Err: fmt.Errorf("%q is not in modules", c.MainModule)}
	}
	if main.Kind != ModulePython {
		for name, m := range c.Modules {
			if m.Kind == ModulePython {
				return &CodeError{Field: fmt.Sprintf("modules[%q]", name), Err: errors.New("a Python module needs a Python main module (a .py mainModule)")}
			}
		}
	}
	switch main.Kind {
	case ModuleESM, ModuleCommonJS, ModuleWasm, ModulePython:
	default:
		return &CodeError{Field: "mainModule", Err: fmt.Errorf("%q is a %s module; the main module must be js, cjs, wasm or py", c.MainModule, main.Kind)}
	}
	envSize := 0
	for k, v := range c.Env {
		envSize += len(k) + len(v) + 4
		if !json.Valid(v) {
			return &CodeError{Field: fmt.Sprintf("env[%q]", k), Err: errors.New("invalid JSON")}
		}
	}
	if envSize > MaxEnvBytes {
		return &CodeError{Field: "env", Err: fmt.Errorf("env of %d bytes exceeds the limit of %d bytes (1 MiB)", envSize, MaxEnvBytes)}
	}
	if g := bytes.TrimSpace(c.GlobalOutbound); len(g) > 0 && string(g) != "null" {
		return &CodeError{Field: "globalOutbound", Err: errors.New("must be null: egress is granted by policy (warren run --allow-net), never by the code")}
	}
	if err := checkFlags(c.CompatibilityFlags); err != nil {
		return &CodeError{Field: "compatibilityFlags", Err: err}
	}
	if c.Limits != nil {
		if err := validateLimits(c.Limits); err != nil {
			return &CodeError{Field: "limits", Err: err}
		}
	}
	return nil
}

// NodeCompatFlag is the compatibility flag that gives a JavaScript Worker
// Node.js's built-in modules (node:buffer, node:crypto, ...) and the
// globals Buffer and process (docs/workers-api.md, "Node.js
// compatibility").
const NodeCompatFlag = bundle.NodeCompatFlag

// NodeBuiltins are the names of Node.js's built-in modules ("buffer",
// "fs/promises", ...): those NodeCompatFlag provides and those a Worker
// is told warren does not. A loader that bundles from disk leaves them
// (and "node:*") to the isolate.
var NodeBuiltins = slices.Clone(bundle.NodeBuiltins)

// bundleFlags are the compatibility flags of c that change its bundle,
// sorted and without repeats. nodejs_compat_v2 counts as nodejs_compat.
func bundleFlags(c *Code) []string {
	if slices.Contains(c.CompatibilityFlags, NodeCompatFlag) || slices.Contains(c.CompatibilityFlags, NodeCompatFlag+"_v2") {
		return []string{NodeCompatFlag}
	}
	return nil
}

// Bounds of compatibilityFlags.
const (
	maxFlags     = 64
	maxFlagBytes = 128
)

func checkFlags(flags []string) error {
	if len(flags) > maxFlags {
		return fmt.Errorf("%d flags exceed the limit of %d", len(flags), maxFlags)
	}
	for _, f := range flags {
		if f == "" || len(f) > maxFlagBytes || strings.Trim(f, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
			return fmt.Errorf("%q is not a compatibility flag (lower-case letters, digits and _ . -, at most %d bytes)", f, maxFlagBytes)
		}
	}
	return nil
}

func checkModuleName(name string) error {
	switch {
	case name == "":
		return errors.New("empty module name")
	case len(name) > 1024:
		return errors.New("module name longer than 1024 bytes")
	case strings.ContainsAny(name, "\x00\\"):
		return errors.New("module name contains NUL or backslash")
	case strings.HasPrefix(name, "/"):
		return errors.New("module name must be relative")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("module name %q has an empty, . or .. segment", name)
		}
	}
	return nil
}

// Hash identifies the program of a code object: the main module, every
// module's name, kind and content, and the compatibility flags that change
// how it is bundled (nodejs_compat). Env, limits and the other flags are
// not part of it: they are per-call data. A code object without such flags
// hashes as it did before flags counted.
//
// The hash of a Code returned by DecodeCode is computed once.
func (c *Code) Hash() string {
	if c.sealed != "" {
		return c.sealed
	}
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte(c.MainModule))
	names := make([]string, 0, len(c.Modules))
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Modules[name]
		put([]byte(name))
		put([]byte{byte(m.Kind)})
		put([]byte(m.Source))
		put(m.Data)
		put(m.JSON)
	}
	if flags := bundleFlags(c); len(flags) > 0 {
		put([]byte("compatibilityFlags"))
		for _, f := range flags {
			put([]byte(f))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
