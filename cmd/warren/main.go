// Command warren is the single binary of the warren mesh: a node, its
// client commands, and (hidden) the sandbox worker mode.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// usageError marks errors that exit with status 2.
type usageError struct{ error }

// exitError carries an exit status without printing anything more.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	if node.IsSandboxWorker() {
		if err := node.ServeSandboxWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "warren worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	var ee *exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "warren:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "warren:", err)
		return 1
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "warren",
		Short:         "warren runs code written at run time, in fresh isolates, on a private mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\n%s", err, c.UsageString())}
	})
	root.AddCommand(newRunCmd(), newNodeCmd(), newSecretCmd(), newMembersCmd(), newTestnetCmd())
	return root
}
