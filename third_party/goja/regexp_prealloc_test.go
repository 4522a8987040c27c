package goja

import (
	"runtime"
	"strings"
	"testing"
)

// A global search allocates for the matches it finds, not for every
// position of the string: one match in ten million characters (ASCII,
// where the search runs on regexp2 past 1 MiB, and UTF-16) allocated
// half a gigabyte at once, which no interrupt or memory limit could stop.
func TestGlobalSearchAllocatesForItsMatches(t *testing.T) {
	for _, tc := range []struct{ name, s string }{
		{"ascii", strings.Repeat("x", 10<<20) + "a"},
		{"utf16", strings.Repeat("é", 5<<20) + "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			_ = r.Set("s", tc.s)
			prg := MustCompile("", `s.replace(/a/g, "b").length`, false)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			v, err := r.RunProgram(prg)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.ToInteger(); got != int64(len([]rune(tc.s))) {
				t.Errorf("length %d, want %d", got, len([]rune(tc.s)))
			}
			// The string itself and its copies are tens of megabytes.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
				t.Errorf("one match allocated %d MiB", alloc>>20)
			}
		})
	}
}
