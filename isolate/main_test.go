package isolate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/pyrun"

	"go.uber.org/goleak"
)

// TestMain doubles as the sandbox worker: the pool re-executes this test
// binary, which then serves invocations instead of running tests.
func TestMain(m *testing.M) {
	if IsWorker() {
		if err := ServeWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The Python artifacts of `make python`, for the Python tests and the
	// sandbox workers they start (which inherit the environment).
	if os.Getenv(pyrun.DirEnv) == "" {
		if dir, err := filepath.Abs(filepath.Join("..", "build", "python")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "python.wasm")); err == nil {
				os.Setenv(pyrun.DirEnv, dir)
			}
		}
	}
	// Compile python.wasm into the disk cache the tests' runtimes use, once:
	// otherwise the first Python call of each runtime and worker compiles
	// it at once (seconds; half a minute under -race).
	_ = PrecompilePython("")
	sandboxPythonCache = copyPythonCache()
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(int) {
			if sandboxPythonCache != "" {
				os.RemoveAll(sandboxPythonCache)
			}
		}),
		// wazero and regexp2 keep process-wide helpers.
		goleak.IgnoreTopFunction("github.com/dlclark/regexp2/v2.runFastClock"),
		goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runFastClock"),
	)
}

// sandboxPythonCache is the wasm cache of the tests' sandboxed Python
// runtimes ("" for none): a copy of the compilation PrecompilePython left
// in the user's cache. A sandbox worker runs as another user, who cannot
// read that one, and would compile python.wasm again for each runtime of
// each test (ten seconds; over a minute under -race), where a node's
// workers share the node's cache.
var sandboxPythonCache string

func copyPythonCache() string {
	from := pythonCacheDir("")
	if from == "" {
		return ""
	}
	dir, err := os.MkdirTemp("", "warren-test-wasm-cache")
	if err != nil {
		return ""
	}
	if err := os.CopyFS(filepath.Join(dir, "python"), os.DirFS(from)); err != nil {
		os.RemoveAll(dir)
		return ""
	}
	return dir
}
