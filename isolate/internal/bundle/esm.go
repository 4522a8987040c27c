package bundle

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// The wrapper that turns esbuild's ES module output into a classic script:
// the banner opens a function whose scope holds the bundle, and the final
// `export { ... }` becomes its return value. Banner and footer go through
// esbuild, so the source map accounts for them.
const (
	esmOpen  = "var " + GlobalName + " = (() => {"
	esmClose = "})();"
)

// exportClause matches the one export statement esbuild emits at the end of
// an ES module bundle.
var exportClause = regexp.MustCompile(`(?s)\nexport\s*\{([^}]*)\};?\s*\n` + regexp.QuoteMeta(esmClose))

// esmToScript rewrites the trailing export statement into a return of the
// namespace object, keeping the line count so the source map stays valid.
func esmToScript(js []byte) ([]byte, error) {
	loc := exportClause.FindSubmatchIndex(js)
	if loc == nil {
		if bytes.Contains(js, []byte("\nexport ")) {
			return nil, plainError("bundle: unexpected export form in esbuild output")
		}
		return js, nil // a main module without exports
	}
	var ret strings.Builder
	ret.WriteString("\nreturn {")
	for _, item := range strings.Split(string(js[loc[2]:loc[3]]), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		local, exported, found := strings.Cut(item, " as ")
		local = strings.TrimSpace(local)
		if !found {
			exported = local
		}
		exported = strings.TrimSpace(exported)
		if !strings.HasPrefix(exported, `"`) && !strings.HasPrefix(exported, `'`) {
			exported = strconv.Quote(exported)
		}
		ret.WriteString(exported + ": " + local + ",")
	}
	ret.WriteString("};")
	// Keep the same number of newlines as the clause had.
	clause := js[loc[0]:loc[1]]
	n := bytes.Count(clause, []byte("\n")) - 1
	ret.WriteString(strings.Repeat("\n", n))
	ret.WriteString("\n" + esmClose)
	out := make([]byte, 0, len(js))
	out = append(out, js[:loc[0]]...)
	out = append(out, ret.String()...)
	out = append(out, js[loc[1]:]...)
	return out, nil
}
