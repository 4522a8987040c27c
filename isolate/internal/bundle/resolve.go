package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
)

// Conditions are the package.json "exports" and "imports" conditions a
// bare import matches besides "import" (or "require", for require()) and
// "default": wrangler's. warren's CLI gives the same ones to esbuild when
// it gathers a Worker's files from disk.
var Conditions = []string{"workerd", "worker", "browser"}

// MainFields are the package.json fields that name a package's entry when
// it has no "exports", tried in this order (then index.js and the like).
var MainFields = []string{"module", "main"}

// maxResolveDepth bounds the chain of package lookups one import may
// cause: an "imports" target naming another package is the only step that
// resolves again, so 4 is generous.
const maxResolveDepth = 4

// resolver resolves imports by module name within a code object.
type resolver struct {
	// mu serialises lookups: esbuild calls plugins from several
	// goroutines, and the indexes below are built lazily.
	mu   sync.Mutex
	mods map[string]*Module
	// Found by scan on the first lookup that needs them (code without
	// packages never pays), keyed by substrings of module names:
	pkgDirs   map[string]bool // directories holding a package.json json module ("." for the root)
	nmParents map[string]bool // directories holding a node_modules directory
	pkgRoots  map[string]bool // package directories: d/node_modules/name, d/node_modules/@scope/name
	// pkgs caches parsed package.json modules by their directory (nil: not
	// a JSON object).
	pkgs map[string]*pkgJSON
}

func newResolver(mods map[string]*Module) *resolver {
	return &resolver{mods: mods}
}

// scan indexes the directories resolution asks about, so that walking up
// from an importer costs map lookups of substrings, not a path built and
// probed per level: a hostile code object with deep names and many imports
// stays cheap.
func (r *resolver) scan() {
	if r.pkgDirs != nil {
		return
	}
	r.pkgDirs, r.nmParents, r.pkgRoots, r.pkgs = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]*pkgJSON{}
	const nm = "node_modules/"
	for name, m := range r.mods {
		if (name == "package.json" || strings.HasSuffix(name, "/package.json")) && m.Kind == JSON {
			r.pkgDirs[path.Dir(name)] = true
		}
		for i := 0; ; {
			j := strings.Index(name[i:], nm)
			if j < 0 {
				break
			}
			j += i
			i = j + len(nm)
			if j > 0 && name[j-1] != '/' {
				continue
			}
			parent := "."
			if j > 0 {
				parent = name[:j-1]
			}
			r.nmParents[parent] = true
			rest := name[i:]
			n := strings.IndexByte(rest, '/')
			if n > 0 && rest[0] == '@' {
				if k := strings.IndexByte(rest[n+1:], '/'); k >= 0 {
					n += 1 + k
				} else {
					n = -1
				}
			}
			if n > 0 {
				r.pkgRoots[name[:i+n]] = true
			}
		}
	}
}

// pkgJSON is what resolution reads of a package.json.
type pkgJSON struct {
	file    string // its module name
	name    string
	exports *jval // nil when absent
	imports *jval
	mains   map[string]string // MainFields present as strings
	// importsChecked: 0 not yet, 1 every key of imports starts with "#", 2 not.
	importsChecked int
}

// ResolveError is an import that does not resolve.
type ResolveError struct {
	Importer, Specifier string
	Reason              string
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("cannot resolve %q imported by %q: %s", e.Specifier, e.Importer, e.Reason)
}

// Resolver resolves imports as Bundle does, for tools that check a code
// object before sending it (warren's CLI compares it with esbuild's
// resolution on disk).
type Resolver struct{ r *resolver }

// NewResolver makes a Resolver over mods (names must be unique).
func NewResolver(mods []Module) *Resolver {
	byName := make(map[string]*Module, len(mods))
	for i := range mods {
		byName[mods[i].Name] = &mods[i]
	}
	return &Resolver{newResolver(byName)}
}

// Resolve returns the name of the module that spec, imported by the module
// named importer, refers to (require: by require() or require.resolve(),
// which selects the "require" condition instead of "import"). It fails with
// a *ResolveError. It does not know the built-in "cloudflare:workers".
func (r *Resolver) Resolve(importer, spec string, require bool) (string, error) {
	m, err := r.r.lookup(importer, spec, require)
	if err != nil {
		return "", err
	}
	return m.Name, nil
}

// Resolve is NewResolver(mods).Resolve(importer, spec, require).
func Resolve(mods []Module, importer, spec string, require bool) (string, error) {
	return NewResolver(mods).Resolve(importer, spec, require)
}

func (r *resolver) fail(importer, spec, format string, a ...any) error {
	return &ResolveError{Importer: importer, Specifier: spec, Reason: fmt.Sprintf(format, a...)}
}

func isRelative(spec string) bool {
	return spec == "." || spec == ".." || strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../") || strings.HasPrefix(spec, "/")
}

// lookup is resolve for one import, holding mu.
func (r *resolver) lookup(importer, spec string, require bool) (*Module, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolve(importer, spec, require, 0)
}

// resolve finds the module spec names, imported by importer.
func (r *resolver) resolve(importer, spec string, require bool, depth int) (*Module, error) {
	if depth > maxResolveDepth {
		return nil, r.fail(importer, spec, "too many package lookups (more than %d)", maxResolveDepth)
	}
	if isRelative(spec) {
		if m := r.lookupRelative(importer, spec); m != nil {
			return m, nil
		}
		return nil, r.fail(importer, spec, "no such module in the code object")
	}
	if m := r.mods[spec]; m != nil {
		return m, nil // a bare name matching a module exactly
	}
	if strings.HasPrefix(spec, "#") {
		return r.resolveImports(importer, spec, require, depth)
	}
	name, sub, ok := splitPackage(spec)
	if !ok {
		return nil, r.fail(importer, spec, "no such module in the code object, and it is not a valid package name")
	}
	// A package may import itself by its name.
	if p := r.nearestPackage(importer); p != nil && p.name == name && p.exports != nil {
		return r.resolvePackage(importer, spec, path.Dir(p.file), p, sub, require, depth)
	}
	r.scan()
	for d := path.Dir(importer); ; d = parentDir(d) {
		if r.nmParents[d] {
			dir := path.Join(d, "node_modules", name)
			if r.pkgRoots[dir] {
				return r.resolvePackage(importer, spec, dir, r.packageJSON(dir), sub, require, depth)
			}
		}
		if d == "." {
			break
		}
	}
	return nil, r.fail(importer, spec, "no such module in the code object, and no package %q in a node_modules directory above it", name)
}

// splitPackage splits a bare specifier into the package name ("pkg",
// "@scope/pkg") and the subpath ("." or "./rest").
func splitPackage(spec string) (name, sub string, ok bool) {
	n := strings.IndexByte(spec, '/')
	if strings.HasPrefix(spec, "@") {
		if n < 0 {
			return "", "", false
		}
		m := strings.IndexByte(spec[n+1:], '/')
		if m >= 0 {
			n += 1 + m
		} else {
			n = -1
		}
	}
	name, sub = spec, "."
	if n >= 0 {
		name, sub = spec[:n], "."+spec[n:]
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") || strings.ContainsAny(seg, "\\%") {
			return "", "", false
		}
	}
	if strings.HasPrefix(name, "@") && len(name) < 3 {
		return "", "", false
	}
	return name, sub, true
}

// resolvePackage resolves subpath ("." or "./x") of the package in dir
// (p: its package.json, or nil).
func (r *resolver) resolvePackage(importer, spec, dir string, p *pkgJSON, sub string, require bool, depth int) (*Module, error) {
	if p != nil && p.exports != nil {
		target, err := exportsResolve(p.exports, sub, require)
		if err != nil {
			return nil, r.fail(importer, spec, "%s: %v", p.file, err)
		}
		return r.exactTarget(importer, spec, dir, target, p.file)
	}
	if sub == "." {
		if m := r.loadDirectory(dir, p); m != nil {
			return m, nil
		}
		return nil, r.fail(importer, spec, "package %q has no entry module (%s, index.js, ...)", dir, strings.Join(MainFields, ", "))
	}
	base := path.Join(dir, sub)
	if m := r.loadFile(base); m != nil {
		return m, nil
	}
	if m := r.loadDirectory(base, r.packageJSON(base)); m != nil {
		return m, nil
	}
	return nil, r.fail(importer, spec, "no module %q in the code object", base)
}

// exactTarget is the module an "exports" or "imports" target ("./x",
// already checked) names in dir: the name exactly, as esbuild and Node do.
func (r *resolver) exactTarget(importer, spec, dir, target, pkgFile string) (*Module, error) {
	name := path.Join(dir, target)
	if m := r.mods[name]; m != nil {
		return m, nil
	}
	return nil, r.fail(importer, spec, "%s maps it to %q, which is not in the code object", pkgFile, name)
}

// resolveImports resolves a "#name" specifier by the "imports" of the
// package.json nearest to importer.
func (r *resolver) resolveImports(importer, spec string, require bool, depth int) (*Module, error) {
	p := r.nearestPackage(importer)
	if p == nil || p.imports == nil {
		return nil, r.fail(importer, spec, "no package.json with \"imports\" above it in the code object")
	}
	if spec == "#" || strings.HasPrefix(spec, "#/") {
		return nil, r.fail(importer, spec, "not a valid imports specifier")
	}
	if p.imports.kind != jObject || !p.importsValid() {
		return nil, r.fail(importer, spec, "%s: \"imports\" must be an object of \"#\" keys", p.file)
	}
	t, err := matchKeys(p.imports, spec, true, require)
	if err == nil && t.state != found {
		err = fmt.Errorf("%q is not defined by \"imports\"", spec)
	}
	if err != nil {
		return nil, r.fail(importer, spec, "%s: %v", p.file, err)
	}
	if t.bare {
		// "#dep": "other-package": resolved from the package's directory.
		m, err := r.resolve(p.file, t.path, require, depth+1)
		if err != nil {
			return nil, r.fail(importer, spec, "%s maps it to %q: %v", p.file, t.path, err)
		}
		return m, nil
	}
	return r.exactTarget(importer, spec, path.Dir(p.file), t.path, p.file)
}

// parentDir is path.Dir for a clean module name or directory, in constant
// time (path.Dir cleans the whole path at each step of a walk up).
func parentDir(d string) string {
	if i := strings.LastIndexByte(d, '/'); i >= 0 {
		return d[:i]
	}
	return "."
}

// nearestPackage is the package.json module nearest above name.
func (r *resolver) nearestPackage(name string) *pkgJSON {
	for d := path.Dir(name); ; d = parentDir(d) {
		if p := r.packageJSON(d); p != nil {
			return p
		}
		if d == "." {
			return nil
		}
	}
}

// packageJSON reads the package.json module in dir ("." for the root).
func (r *resolver) packageJSON(dir string) *pkgJSON {
	r.scan()
	if !r.pkgDirs[dir] {
		return nil
	}
	if p, ok := r.pkgs[dir]; ok {
		return p
	}
	file := path.Join(dir, "package.json")
	var p *pkgJSON
	if m := r.mods[file]; m != nil && m.Kind == JSON {
		p = parsePackageJSON(file, m.JSON)
	}
	r.pkgs[dir] = p
	return p
}

func parsePackageJSON(file string, b []byte) *pkgJSON {
	v, err := parseJSON(b)
	if err != nil || v.kind != jObject {
		return nil
	}
	p := &pkgJSON{file: file, mains: map[string]string{}}
	for _, kv := range v.obj {
		switch kv.key {
		case "name":
			if kv.val.kind == jString {
				p.name = kv.val.str
			}
		case "exports":
			if kv.val.kind != jNull {
				val := kv.val
				p.exports = &val
			}
		case "imports":
			val := kv.val
			p.imports = &val
		}
		for _, f := range MainFields {
			if kv.key == f && kv.val.kind == jString && kv.val.str != "" {
				p.mains[f] = kv.val.str
			}
		}
	}
	return p
}

// lookupRelative finds the module a relative specifier ("./x", "../x")
// or a root one ("/x") names: base is resolved against the importer's name
// (or the root), then found as a file (loadFile) or a directory
// (loadDirectory).
func (r *resolver) lookupRelative(importer, spec string) *Module {
	var base string
	if strings.HasPrefix(spec, "/") {
		base = strings.TrimPrefix(path.Clean(spec), "/")
		if base == "" {
			base = "."
		}
	} else {
		base = path.Join(path.Dir(importer), spec)
	}
	if base == ".." || strings.HasPrefix(base, "../") {
		return nil
	}
	if m := r.loadFile(base); m != nil {
		return m
	}
	return r.loadDirectory(base, r.packageJSON(base))
}

// loadFile finds base as a file: as is, with an extension, or as the
// TypeScript source of a ".js"-style name.
func (r *resolver) loadFile(base string) *Module {
	if m := r.mods[base]; m != nil {
		return m
	}
	for _, ext := range ProbeExtensions {
		if m := r.mods[base+ext]; m != nil {
			return m
		}
	}
	for _, alt := range jsToTS {
		if stem, ok := strings.CutSuffix(base, alt.js); ok {
			for _, ts := range alt.ts {
				if m := r.mods[stem+ts]; m != nil {
					return m
				}
			}
		}
	}
	return nil
}

// loadIndex finds dir's index module.
func (r *resolver) loadIndex(dir string) *Module {
	for _, ext := range ProbeExtensions {
		if m := r.mods[path.Join(dir, "index"+ext)]; m != nil {
			return m
		}
	}
	return nil
}

// loadDirectory finds the entry of the directory dir: the first of
// MainFields in its package.json p that names a file or a directory with
// an index, else its index.
func (r *resolver) loadDirectory(dir string, p *pkgJSON) *Module {
	if p != nil {
		for _, f := range MainFields {
			v, ok := p.mains[f]
			if !ok {
				continue
			}
			base := path.Join(dir, v)
			if m := r.loadFile(base); m != nil {
				return m
			}
			if m := r.loadIndex(base); m != nil {
				return m
			}
		}
	}
	return r.loadIndex(dir)
}

// Package exports and imports (Node's PACKAGE_EXPORTS_RESOLVE and
// PACKAGE_IMPORTS_RESOLVE, which esbuild implements too).

type targetState int

const (
	undefinedTarget targetState = iota // no condition matched: try the next
	nullTarget                         // explicitly excluded
	found
)

type target struct {
	state targetState
	path  string // "./x", or a package specifier when bare
	bare  bool
}

// keyIndex indexes an "exports" or "imports" object once per package, so
// that each import costs a map lookup and a walk over the pattern keys,
// not a scan and a sort of every key.
type keyIndex struct {
	exact    map[string]int // key without "*" -> index in obj
	patterns []int          // keys with one "*", most specific first
	dotKeys  bool           // the first key starts with "."
	mixed    bool           // some keys start with "." and some do not
	main     int            // index of ".", or -1
}

func (v *jval) index() *keyIndex {
	if v.idx != nil {
		return v.idx
	}
	x := &keyIndex{exact: make(map[string]int, len(v.obj)), main: -1}
	x.dotKeys = len(v.obj) > 0 && strings.HasPrefix(v.obj[0].key, ".")
	for i, kv := range v.obj {
		if strings.HasPrefix(kv.key, ".") != x.dotKeys {
			x.mixed = true
		}
		if kv.key == "." {
			x.main = i
		}
		switch strings.Count(kv.key, "*") {
		case 0:
			if _, dup := x.exact[kv.key]; !dup {
				x.exact[kv.key] = i
			}
		case 1:
			x.patterns = append(x.patterns, i)
		}
	}
	sort.SliceStable(x.patterns, func(a, b int) bool { return patternKeyLess(v.obj[x.patterns[b]].key, v.obj[x.patterns[a]].key) })
	v.idx = x
	return x
}

// exportsResolve maps subpath ("." or "./x") through exports.
func exportsResolve(exports *jval, sub string, require bool) (string, error) {
	var x *keyIndex
	if exports.kind == jObject {
		x = exports.index()
		if x.mixed {
			return "", errors.New("\"exports\" mixes subpath keys (\".\", \"./x\") and condition keys")
		}
	}
	dotKeys := x != nil && x.dotKeys
	var t target
	var err error
	switch {
	case sub == ".":
		main := exports
		if dotKeys {
			main = nil
			if x.main >= 0 {
				main = &exports.obj[x.main].val
			}
		}
		if main != nil {
			t, err = targetResolve(*main, "", false, false, require)
		}
	case dotKeys:
		t, err = matchKeys(exports, sub, false, require)
	}
	if err != nil {
		return "", err
	}
	if t.state != found {
		return "", fmt.Errorf("the package does not export %q for the conditions %s", sub, conditionList(require))
	}
	return t.path, nil
}

func conditionList(require bool) string {
	c := append(append([]string(nil), Conditions...), "import", "default")
	if require {
		c[len(Conditions)] = "require"
	}
	return strings.Join(c, ", ")
}

// importsValid reports whether every key of "imports" starts with "#"
// (checked once per package).
func (p *pkgJSON) importsValid() bool {
	if p.importsChecked == 0 {
		p.importsChecked = 1
		for _, kv := range p.imports.obj {
			if !strings.HasPrefix(kv.key, "#") {
				p.importsChecked = 2
			}
		}
	}
	return p.importsChecked == 1
}

// matchKeys is PACKAGE_IMPORTS_EXPORTS_RESOLVE: an exact key, else the
// most specific "*" pattern.
func matchKeys(obj *jval, key string, imports, require bool) (target, error) {
	x := obj.index()
	if !strings.Contains(key, "*") {
		if i, ok := x.exact[key]; ok {
			return targetResolve(obj.obj[i].val, "", imports, false, require)
		}
	}
	for _, i := range x.patterns {
		k := obj.obj[i].key
		base, trailer, _ := strings.Cut(k, "*")
		if strings.HasPrefix(key, base) && key != base && (trailer == "" || strings.HasSuffix(key, trailer) && len(key) >= len(k)) {
			match := key[len(base) : len(key)-len(trailer)]
			return targetResolve(obj.obj[i].val, match, imports, true, require)
		}
	}
	return target{}, nil
}

// patternKeyLess orders pattern keys: a longer prefix before the "*" is
// more specific, then a longer key (PATTERN_KEY_COMPARE).
func patternKeyLess(a, b string) bool {
	ia, ib := strings.IndexByte(a, '*'), strings.IndexByte(b, '*')
	if ia != ib {
		return ia < ib
	}
	return len(a) < len(b)
}

// targetResolve is PACKAGE_TARGET_RESOLVE over conditions (in the order
// the object lists them), arrays (fallbacks) and strings.
func targetResolve(v jval, match string, imports, pattern, require bool) (target, error) {
	switch v.kind {
	case jString:
		s := v.str
		if !strings.HasPrefix(s, "./") {
			if imports && !strings.HasPrefix(s, "../") && !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "#") && !strings.Contains(s, ":") {
				if pattern {
					s = strings.ReplaceAll(s, "*", match)
				}
				return target{state: found, path: s, bare: true}, nil
			}
			return target{}, fmt.Errorf("invalid target %q: it must start with \"./\"", s)
		}
		if badSegments(s[2:]) {
			return target{}, fmt.Errorf("invalid target %q", s)
		}
		if pattern {
			if badSegments(match) {
				return target{}, fmt.Errorf("invalid subpath %q for target %q", match, s)
			}
			s = strings.ReplaceAll(s, "*", match)
		}
		return target{state: found, path: s}, nil
	case jArray:
		var last error
		for _, e := range v.arr {
			t, err := targetResolve(e, match, imports, pattern, require)
			if err != nil {
				last = err
				continue
			}
			if t.state == found {
				return t, nil
			}
		}
		if last != nil {
			return target{}, last
		}
		return target{state: nullTarget}, nil
	case jObject:
		for _, kv := range v.obj {
			if strings.HasPrefix(kv.key, ".") {
				return target{}, fmt.Errorf("a condition object has the subpath key %q", kv.key)
			}
			if !conditionActive(kv.key, require) {
				continue
			}
			t, err := targetResolve(kv.val, match, imports, pattern, require)
			if err != nil || t.state != undefinedTarget {
				return t, err
			}
		}
		return target{}, nil
	case jNull:
		return target{state: nullTarget}, nil
	}
	return target{}, fmt.Errorf("invalid target %s", v.kind)
}

func conditionActive(c string, require bool) bool {
	switch c {
	case "default":
		return true
	case "import":
		return !require
	case "require":
		return require
	}
	for _, k := range Conditions {
		if c == k {
			return true
		}
	}
	return false
}

// badSegments reports whether a target path (after "./") has an empty,
// ".", ".." or "node_modules" segment, which Node refuses: a target stays
// inside its package.
func badSegments(p string) bool {
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch strings.ToLower(seg) {
		case ".", "..", "node_modules":
			return true
		}
	}
	return strings.Contains(p, "//") || strings.Contains(p, "\\")
}

// An ordered JSON value: "exports" conditions are tried in the order the
// object lists them, which encoding/json's maps lose.

type jkind int

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

type jval struct {
	kind jkind
	str  string
	arr  []jval
	obj  []jkv
	idx  *keyIndex // built by index, for "exports" and "imports" objects
}

type jkv struct {
	key string
	val jval
}

// parseJSON parses b keeping object key order. Its depth is bounded by
// the nesting check every JSON module passes before bundling (MaxNesting).
func parseJSON(b []byte) (jval, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := parseValue(d, 0)
	if err != nil {
		return jval{}, err
	}
	if _, err := d.Token(); err == nil {
		return jval{}, errors.New("trailing data")
	}
	return v, nil
}

func parseValue(d *json.Decoder, depth int) (jval, error) {
	if depth > MaxNesting {
		return jval{}, errors.New("nested too deeply")
	}
	tok, err := d.Token()
	if err != nil {
		return jval{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			v := jval{kind: jArray}
			for d.More() {
				e, err := parseValue(d, depth+1)
				if err != nil {
					return jval{}, err
				}
				v.arr = append(v.arr, e)
			}
			_, err := d.Token()
			return v, err
		case '{':
			v := jval{kind: jObject}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return jval{}, err
				}
				k, _ := kt.(string)
				e, err := parseValue(d, depth+1)
				if err != nil {
					return jval{}, err
				}
				v.obj = append(v.obj, jkv{key: k, val: e})
			}
			_, err := d.Token()
			return v, err
		}
		return jval{}, fmt.Errorf("unexpected %v", t)
	case string:
		return jval{kind: jString, str: t}, nil
	case json.Number:
		return jval{kind: jNumber, str: string(t)}, nil
	case bool:
		return jval{kind: jBool}, nil
	case nil:
		return jval{kind: jNull}, nil
	}
	return jval{}, fmt.Errorf("unexpected token %v", tok)
}
