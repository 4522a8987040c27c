//go:build !warren_stages

package stagetime

import "time"

// On reports whether stages are recorded: never in this build.
const On = false

// Now is the start of a stage: the zero time in this build.
func Now() time.Time { return time.Time{} }

// Since records the stage that began at t.
func Since(stage string, t time.Time) {}

// Add records a stage that took d.
func Add(stage string, d time.Duration) {}
