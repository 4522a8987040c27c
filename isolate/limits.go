package isolate

import "fmt"

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
