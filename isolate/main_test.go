package isolate

import (
	"fmt"
	"os"
	"testing"

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
	goleak.VerifyTestMain(m,
		// wazero and regexp2 keep process-wide helpers.
		goleak.IgnoreTopFunction("github.com/dlclark/regexp2/v2.runFastClock"),
		goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runFastClock"),
	)
}
