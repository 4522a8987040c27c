package jsengine

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestOverflowStack: a stack of more than OverflowHead+OverflowTail frames
// keeps those, with one line between saying how many more there were.
func TestOverflowStack(t *testing.T) {
	for n, want := range map[int]string{OverflowHead + OverflowTail: "", OverflowHead + OverflowTail + 1: "\n    ... 1 more frame\n"} {
		if s := overflowStack(make([]goja.StackFrame, n)); strings.Count(s, "\n") != min(n, OverflowHead+OverflowTail+1) || !strings.Contains(s, want) {
			t.Errorf("%d frames: %q", n, s)
		}
	}
}
