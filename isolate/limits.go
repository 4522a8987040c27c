package isolate

import (
	"fmt"

	"github.com/warrenmesh/warren/isolate/internal/jsengine"
)

// HeapRatio is how many bytes of the JavaScript engine's heap count as one
// byte of memoryMb. memoryMb means what it means on Cloudflare, memory as
// V8 would count it: goja holds the same data in up to 7.7 times as much
// (measured on the Workers of testdata/memory against Node's V8), so a
// call's heap growth counts divided by HeapRatio against memoryMb, and in
// telemetry.memoryBytes; the bytes of its ArrayBuffers, which goja holds
// as V8 does, count byte for byte (docs/code-object.md, "How memory is
// counted"). A call may thus grow its worker's live heap by at most
// HeapRatio × memoryMb MiB before it ends with exceededMemory.
// WebAssembly linear memory counts byte for byte, as in V8.
const HeapRatio = jsengine.HeapRatio

// DefaultLimits are applied to every field a caller leaves at zero.
var DefaultLimits = Limits{CPUMs: 1000, MemoryMB: 128, SubRequests: 50, WallMs: 30_000}

// MaxLimits are the largest values the runtime itself accepts; policy may
// set lower ceilings.
var MaxLimits = Limits{CPUMs: 300_000, MemoryMB: 4096, SubRequests: 10_000, WallMs: 900_000}

// validateLimits checks l against MaxLimits.
func validateLimits(l *Limits) error {
	for _, f := range []struct {
		name   string
		v, max int64
	}{
		{"cpuMs", l.CPUMs, MaxLimits.CPUMs},
		{"memoryMb", l.MemoryMB, MaxLimits.MemoryMB},
		{"subRequests", l.SubRequests, MaxLimits.SubRequests},
		{"wallMs", l.WallMs, MaxLimits.WallMs},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s: %d is negative", f.name, f.v)
		}
		if f.v > f.max {
			return fmt.Errorf("%s: %d exceeds the maximum of %d", f.name, f.v, f.max)
		}
	}
	return nil
}

// limitsWithDefaults returns l with zero fields taken from d.
func limitsWithDefaults(l, d Limits) Limits {
	if l.CPUMs == 0 {
		l.CPUMs = d.CPUMs
	}
	if l.MemoryMB == 0 {
		l.MemoryMB = d.MemoryMB
	}
	if l.SubRequests == 0 {
		l.SubRequests = d.SubRequests
	}
	if l.WallMs == 0 {
		l.WallMs = d.WallMs
	}
	return l
}
