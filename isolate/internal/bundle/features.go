package bundle

import "strings"

// gojaUnsupported is esbuild's "supported" table for goja: each feature set
// to false is lowered by esbuild (or, where esbuild cannot lower it, reported
// as a build error, e.g. top-level await in an IIFE). Everything else is
// passed through as ESNext. TestGojaFeatureProbe keeps this honest: it runs
// every feature in goja both raw and through Bundle, and fails if a feature
// listed here now works raw, or one not listed fails raw.
var gojaUnsupported = map[string]bool{
	"async-generator": false, // SyntaxError: "Async generators are not supported yet"
	"for-await":       false,
	"top-level-await": false, // cannot be lowered into an IIFE: build error
	"dynamic-import":  false, // import() of a bundled module becomes a resolved promise
	"decorators":      false, // JS (TC39) decorators and `accessor` fields
	"using":           false, // `using` / `await using` (needs knownSymbols below)
	"import-meta":     false, // a classic script has no import.meta: it becomes {} (with a warning)

	// esbuild cannot lower these regexp flags; marking them unsupported turns
	// the literal into `new RegExp(...)`, so only the code that uses the regexp
	// fails (at run time) instead of the whole script at compile time.
	"regexp-match-indices": false, // flag d
	"regexp-set-notation":  false, // flag v
}

// gojaUnsupportedFields is gojaUnsupported plus class fields, for bundles
// that may use `super.x` in a class field initializer: goja's compiler
// rejects that ("'super' keyword unexpected here"). Lowering fields also
// lowers #private members to WeakMaps, which is slower, so it is only done
// when some module's source has hasSuperProperty.
var gojaUnsupportedFields = func() map[string]bool {
	m := map[string]bool{"class-field": false, "class-static-field": false}
	for k, v := range gojaUnsupported {
		m[k] = v
	}
	return m
}()

// hasSuperProperty reports whether src has `super.x` or `super[x]` anywhere
// (comments and strings included: a false positive only costs speed).
func hasSuperProperty(src string) bool {
	for i := 0; ; {
		j := strings.Index(src[i:], "super")
		if j < 0 {
			return false
		}
		j += i
		i = j + len("super")
		if j > 0 && (isIdentByte(src[j-1]) || src[j-1] == '.') {
			continue
		}
		k := i
		for k < len(src) && (src[k] == ' ' || src[k] == '\t' || src[k] == '\n' || src[k] == '\r') {
			k++
		}
		if k < len(src) && (src[k] == '.' || src[k] == '[') {
			return true
		}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// knownSymbols runs before the bundle: goja has no Symbol.asyncIterator,
// Symbol.dispose or Symbol.asyncDispose, and esbuild's lowered for-await,
// async generators and `using` fall back to Symbol.for("Symbol.<name>") when
// Symbol[name] is missing. Defining the missing ones as exactly those symbols
// makes author code that names them (`[Symbol.asyncIterator]() {...}`) agree
// with the lowered helpers. A host that defines them first keeps its own.
//
// It runs only when some module names one of them (see needsKnownSymbols):
// touching Symbol and iterating an array materialise goja's lazy built-ins,
// ~40 µs per fresh runtime, most of a hello-world call.
const knownSymbols = `for (const n of ["asyncIterator", "dispose", "asyncDispose"]) Symbol[n] ??= Symbol.for("Symbol." + n);`

// needsKnownSymbols reports whether src names a symbol knownSymbols defines.
func needsKnownSymbols(src string) bool {
	return strings.Contains(src, "Symbol.asyncIterator") || strings.Contains(src, "Symbol.dispose") || strings.Contains(src, "Symbol.asyncDispose")
}
