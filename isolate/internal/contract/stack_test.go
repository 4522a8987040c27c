package contract

import "testing"

func TestFormatStack(t *testing.T) {
	for in, want := range map[string]string{
		"TypeError: boom\n\tat explode (util.ts:3:9(12))\n\tat main.ts:7:1(40)\n\tat parse (native)\n": "TypeError: boom\n    at explode (util.ts:3:9)\n    at main.ts:7:1\n    at parse (native)",
		"Error: two\nlines (1)\n\tat f (a.js:1:2(3))":                                                  "Error: two\nlines (1)\n    at f (a.js:1:2)",
		"RangeError: x\n\tat f (a.js:1:2(3))\n\t... 7 more frames\n\tat g (a.js:2:2(0))":               "RangeError: x\n    at f (a.js:1:2)\n    ... 7 more frames\n    at g (a.js:2:2)",
		"Error: kept (a.js:1:2(3))":    "Error: kept (a.js:1:2(3))",
		"":                             "",
		"already\n    at f (a.js:1:2)": "already\n    at f (a.js:1:2)",
	} {
		if got := FormatStack(in); got != want {
			t.Errorf("FormatStack(%q) = %q, want %q", in, got, want)
		}
	}
}
