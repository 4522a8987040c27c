package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// compatHelp is the --compat paragraph of run's and deploy's help.
const compatHelp = `--compat FLAG sets a compatibility flag of the code object, as wrangler's
compatibility_flags does (repeatable): --compat nodejs_compat gives the
Worker node:buffer, node:crypto, node:events and the other Node.js modules
of docs/workers-api.md, and the globals Buffer and process.`

// compatFlag adds --compat to c.
func compatFlag(c *cobra.Command, flags *[]string) {
	c.Flags().StringArrayVar(flags, "compat", nil, "set a compatibility flag, e.g. nodejs_compat (repeatable)")
}

// withCompat adds the --compat flags to code's compatibilityFlags, once
// each, and checks them as a node would.
func withCompat(code *node.Code, flags []string) error {
	for _, f := range flags {
		if !slices.Contains(code.CompatibilityFlags, f) {
			code.CompatibilityFlags = append(code.CompatibilityFlags, f)
		}
	}
	if err := code.Validate(); err != nil {
		return usageError{fmt.Errorf("--compat: %w", err)}
	}
	return nil
}
