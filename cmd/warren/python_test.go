package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunPython runs the Python examples with the artifacts of make
// python (--python-dir): skipped without them, failed without them under
// WARREN_REQUIRE_PYTHON=1.
func TestRunPython(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := os.Getenv("WARREN_PYTHON_DIR")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", "..", "build", "python"))
	}
	if _, err := os.Stat(filepath.Join(dir, "python.wasm")); err != nil {
		if os.Getenv("WARREN_REQUIRE_PYTHON") == "1" {
			t.Fatalf("WARREN_REQUIRE_PYTHON=1: %v", err)
		}
		t.Skipf("no Python artifacts (make python): %v", err)
	}
	out, errOut, code := warren(t, "--python-dir", dir, "run", "-d", "3 1 4 1 5 9 2 6", "examples/python/stats.py")
	if code != 0 || !strings.Contains(out, "mean    3.875") || !strings.Contains(out, "median  3.5") {
		t.Fatalf("stats.py: exit %d, out %q, err %q", code, out, errOut)
	}
	out, errOut, code = warren(t, "--python-dir", dir, "run", "--var", "GREETING=hi", "-X", "POST", "-d", `{"name": "Ada"}`, "examples/python/worker.py")
	if code != 0 || out != `{"message": "hi, Ada!"}` || !strings.Contains(errOut, "greeting Ada") {
		t.Fatalf("worker.py: exit %d, out %q, err %q", code, out, errOut)
	}
	// Without the artifacts, the binary says so.
	cmd := warrenCmd(t, "run", "examples/python/stats.py")
	cmd.Env = append(cmd.Env, "WARREN_PYTHON_DIR=")
	b, _ := cmd.CombinedOutput()
	if !strings.Contains(string(b), "Python is not available in this build") {
		t.Fatalf("without Python: %s", b)
	}
}
