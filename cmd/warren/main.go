// Command warren is the single binary of the warren mesh: a node, its
// client commands, and (hidden) the sandbox worker mode.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

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
	pythonDirFlag(root)
	root.AddCommand(newRunCmd(), newNodeCmd(), newSecretCmd(), newMembersCmd(), newKVCmd(), newGroupsCmd(), newDeployCmd(), newWorkersCmd(), newUndeployCmd(), newTestnetCmd(), newTokenCmd(), newTailCmd(), newDecommissionCmd())
	// Cobra adds these when it executes; added now, they get the same
	// treatment of their arguments as the others.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	usageErrors(root)
	return root
}

// usageErrors makes every misuse of the arguments of c and the commands
// under it a usage error (exit 2), as flag errors are: cobra's own
// argument checks return plain errors, it answers an unknown command
// with one, and a command that only groups others prints its help and
// succeeds whatever follows it.
func usageErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
	switch {
	case c.Name() == "help":
		c.Args = helpTopic
	case c.HasSubCommands():
		c.Args = unknownCommand
		if !c.Runnable() {
			c.RunE = needsSubcommand
		}
	}
	if validate := c.Args; validate != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			err := validate(c, args)
			var ue usageError
			if err == nil || errors.As(err, &ue) {
				return err
			}
			return usageError{fmt.Errorf("%w\n%s", err, c.UsageString())}
		}
	}
}

// unknownCommand refuses arguments to a command that has subcommands: the
// first is not one of them.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default for its own message
	}
	switch s := c.SuggestionsFor(args[0]); len(s) {
	case 0:
	case 1:
		msg += fmt.Sprintf(" (did you mean %s?)", s[0])
	default:
		msg += fmt.Sprintf(" (did you mean one of %s?)", strings.Join(s, ", "))
	}
	return usageError{fmt.Errorf("%s\n%s", msg, c.UsageString())}
}

// needsSubcommand runs a command that only groups others: alone, the root
// prints its help; any other is a usage error naming its subcommands.
func needsSubcommand(c *cobra.Command, _ []string) error {
	if !c.HasParent() {
		return c.Help()
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageError{fmt.Errorf("%s needs a subcommand: %s\n%s", c.CommandPath(), strings.Join(names, ", "), c.UsageString())}
}

// helpTopic checks that warren help names a command.
func helpTopic(c *cobra.Command, args []string) error {
	if cmd, rest, err := c.Root().Find(args); err != nil || cmd == nil || len(rest) > 0 {
		return usageError{fmt.Errorf("unknown help topic %q\n%s", strings.Join(args, " "), c.Root().UsageString())}
	}
	return nil
}
