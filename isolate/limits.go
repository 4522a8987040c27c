package isolate

import (
	"fmt"
	"time"
)

// Limits bound one invocation (docs/code-object.md). A zero field means "the default".
type Limits struct {
	// CPUMs is the CPU time the guest may use, in milliseconds (default 1000).
	CPUMs int64 `json:"cpuMs,omitempty"`
	// MemoryMB caps the guest's heap, in MiB (default 128).
	MemoryMB int64 `json:"memoryMb,omitempty"`
	// SubRequests caps the number of fetch and binding calls (default 50).
	SubRequests int64 `json:"subRequests,omitempty"`
	// WallMs caps the invocation's duration, in milliseconds (default 30000).
	WallMs int64 `json:"wallMs,omitempty"`
}

// DefaultLimits are applied to every field a caller leaves at zero.
var DefaultLimits = Limits{CPUMs: 1000, MemoryMB: 128, SubRequests: 50, WallMs: 30_000}

// MaxLimits are the largest values the runtime itself accepts; policy may
// set lower ceilings.
var MaxLimits = Limits{CPUMs: 300_000, MemoryMB: 4096, SubRequests: 10_000, WallMs: 900_000}

func (l *Limits) validate() error {
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

// withDefaults returns l with zero fields taken from d.
func (l Limits) withDefaults(d Limits) Limits {
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

func (l Limits) cpu() time.Duration  { return time.Duration(l.CPUMs) * time.Millisecond }
func (l Limits) wall() time.Duration { return time.Duration(l.WallMs) * time.Millisecond }
func (l Limits) memoryBytes() int64  { return l.MemoryMB << 20 }
