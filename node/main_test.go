package node

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain doubles as the sandbox worker of the nodes the tests start.
func TestMain(m *testing.M) {
	if IsSandboxWorker() {
		if err := ServeSandboxWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Every test stops its nodes: nothing of theirs may outlive the tests.
	// (net/http lingers half a second on a connection whose request body
	// it refused to read, by design.)
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}
