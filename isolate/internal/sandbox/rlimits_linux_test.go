package sandbox

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestWorkerRlimits: a worker writes no core file and holds at most
// maxWorkerFiles open files, and the pool lists the layer.
func TestWorkerRlimits(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	pid := call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, rlimitsLayer) {
		t.Fatalf("layers %v lack %q", p.Stats().Layers, rlimitsLayer)
	}
	b, err := os.ReadFile("/proc/" + pid + "/limits")
	if err != nil {
		t.Skipf("no /proc/%s/limits: %v", pid, err)
	}
	var core, files []string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "Max core file size"):
			core = strings.Fields(strings.TrimPrefix(line, "Max core file size"))
		case strings.HasPrefix(line, "Max open files"):
			files = strings.Fields(strings.TrimPrefix(line, "Max open files"))
		}
	}
	if len(core) < 2 || core[0] != "0" || core[1] != "0" {
		t.Errorf("core file size limits %v, want 0 0", core)
	}
	if len(files) < 2 {
		t.Fatalf("no open files limits in %s", b)
	}
	for _, f := range files[:2] {
		if n, err := strconv.Atoi(f); err != nil || n > maxWorkerFiles {
			t.Errorf("open files limits %v, want at most %d", files[:2], maxWorkerFiles)
		}
	}
}
