package bundle

import (
	"strings"
	"testing"
)

func TestCheckNesting(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, src string
		line, col int // 0: no error
	}{
		{"flat", "let a = [1, 2, {b: (3)}];", 0, 0},
		{"arrays at the limit", "x = " + deep("[", "]", MaxNesting) + ";", 0, 0},
		{"arrays past the limit", "x = " + deep("[", "]", MaxNesting+1) + ";", 1, 5 + MaxNesting},
		{"objects", "x = " + deep("{a:", "}", MaxNesting+1), 1, 5 + 3*MaxNesting},
		{"parentheses", "x = " + deep("(", ")", 5000), 1, 5 + MaxNesting},
		{"blocks on line 2", "\n" + deep("if(1){", "}", 1200), 2, 6*MaxNesting + 3}, // the ( of the 1001st if
		{"template substitutions", "x = " + deep("`${", "}`", MaxNesting+1), 1, 5 + 3*MaxNesting + 2},
		{"brackets in strings", `x = "` + strings.Repeat("[", 5000) + `" + '` + strings.Repeat("(", 5000) + `';`, 0, 0},
		{"brackets in comments", "// " + strings.Repeat("[", 5000) + "\n/* " + strings.Repeat("{", 5000) + " */ x = 1", 0, 0},
		{"brackets in template text", "x = `" + strings.Repeat("{[(", 5000) + "${a}" + strings.Repeat("(", 5000) + "`", 0, 0},
		{"brackets in a regexp", "x = /" + strings.Repeat(`\(`, 5000) + "[(/]/g.test(s)", 0, 0},
		{"division is not a regexp", "x = (a) / 2; y = [" + deep("[", "]", 10) + "] / 3 / 4", 0, 0},
		{"regexp after return", "function f(){ return /[(/+/.test(x) }", 0, 0},
		{"unbalanced closers do not go negative", ")))]]]}}} x = " + deep("[", "]", MaxNesting), 0, 0},
	} {
		err := checkNesting("m.js", tc.src, MaxNesting)
		if tc.line == 0 {
			if err != nil {
				t.Errorf("%s: unexpected %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if err.File != "m.js" || err.Line != tc.line || err.Column != tc.col {
			t.Errorf("%s: at %s:%d:%d, want m.js:%d:%d (%s)", tc.name, err.File, err.Line, err.Column, tc.line, tc.col, err.Text)
		}
	}
}

// The scanner accepts every program the bundle tests build.
func TestCheckNestingAcceptsRealCode(t *testing.T) {
	for _, size := range []int{1 << 10, 50 << 10} {
		for _, m := range tsProgram(size) {
			if err := checkNesting(m.Name, m.Source, 20); err != nil {
				t.Errorf("tsProgram(%d): %v", size, err)
			}
		}
	}
}

func TestBundleRejectsDeepNesting(t *testing.T) {
	src := "export default { fetch() { return " + strings.Repeat("[", 250000) + strings.Repeat("]", 250000) + " } }"
	_, err := Bundle("main.js", []Module{esm("main.js", src)})
	be, ok := err.(*Error)
	if !ok || !strings.Contains(be.Text, "nests deeper than") || be.File != "main.js" {
		t.Fatalf("err = %v, want a nesting error in main.js", err)
	}
	_, err = Bundle("main.js", []Module{esm("main.js", "import d from './d.json'; export default {}"),
		{Name: "d.json", Kind: JSON, JSON: []byte(strings.Repeat("[", 2000) + strings.Repeat("]", 2000))}})
	if be, ok := err.(*Error); !ok || be.File != "d.json" {
		t.Fatalf("err = %v, want a nesting error in d.json", err)
	}
}
