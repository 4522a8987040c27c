package pyrun

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testArtifacts finds the artifacts of `make python`: $WARREN_PYTHON_DIR,
// else build/python at the repository's root. Without them a test skips,
// or fails when WARREN_REQUIRE_PYTHON=1 (make test, CI).
func testArtifacts(t testing.TB) *Artifacts {
	t.Helper()
	if a, err := Find(); err == nil {
		return a
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "build", "python")
	}
	a, err := Load(dir)
	if err != nil {
		if os.Getenv("WARREN_REQUIRE_PYTHON") == "1" {
			t.Fatalf("WARREN_REQUIRE_PYTHON=1 but the Python artifacts are missing (run `make python`): %v", err)
		}
		t.Skipf("no Python artifacts (run `make python`): %v", err)
	}
	return a
}

var (
	engineOnce sync.Once
	testEng    *Engine
	testEngErr error
)

// testEngine is one Engine for the package's tests (compiling python.wasm
// costs seconds without the disk cache).
func testEngine(t testing.TB) *Engine {
	t.Helper()
	a := testArtifacts(t)
	engineOnce.Do(func() {
		dir, err := os.UserCacheDir()
		if err == nil {
			dir = filepath.Join(dir, "warren", "python") // as isolate's runtimes

		}
		testEng, testEngErr = NewEngine(context.Background(), Options{CacheDir: dir, Artifacts: a})
	})
	if testEngErr != nil {
		t.Fatal(testEngErr)
	}
	return testEng
}
