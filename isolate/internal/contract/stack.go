package contract

import (
	"regexp"
	"strings"
)

// pcSuffix matches goja's bytecode offset after a frame's position:
// "main.ts:3:9(12)".
var pcSuffix = regexp.MustCompile(`(:\d+:\d+)\(\d+\)`)

// FrameIndent starts each frame line of a stack, as in V8.
const FrameIndent = "    at "

// FormatStack rewrites a stack as goja writes it ("TypeError: m\n\tat f
// (main.ts:3:9(12))\n\tat main.ts:7:1(40)\n") the way V8 prints one
// ("TypeError: m\n    at f (main.ts:3:9)\n    at main.ts:7:1"): frames
// indented by four spaces instead of a tab, without goja's bytecode offsets,
// no trailing newline. Lines that are not frames (the "Name: message"
// head, a multi-line message) are kept as they are. Positions are whatever
// goja reported, so source-mapped ones stay mapped.
func FormatStack(s string) string {
	lines := strings.Split(strings.TrimRight(s, " \t\r\n"), "\n")
	for i, ln := range lines {
		switch {
		case strings.HasPrefix(ln, "\tat "):
			lines[i] = FrameIndent + pcSuffix.ReplaceAllString(ln[len("\tat "):], "$1")
		case strings.HasPrefix(ln, "\t... "):
			lines[i] = "    " + ln[1:]
		}
	}
	return strings.Join(lines, "\n")
}
