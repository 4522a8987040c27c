package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// nodeURL is the --node flag, else $WARREN_NODE, else the default API.
func nodeURL(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("WARREN_NODE"); env != "" {
		return env
	}
	return node.DefaultAPI
}

func newMembersCmd() *cobra.Command {
	var (
		url    string
		asJSON bool
		a      auth
	)
	c := &cobra.Command{
		Use:   "members",
		Short: "List the members of the mesh as a node sees them",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			ms, err := cl.Members(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ms)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tADDRESS\tRTT\tFREE/SLOTS\tLOAD\tAPI")
			for _, m := range ms {
				rtt := "?"
				switch {
				case m.Local:
					rtt = "(self)"
				case m.RTTMs != nil:
					rtt = fmt.Sprintf("%.2fms (%s)", *m.RTTMs, m.RTTSource)
				}
				state := m.State
				if m.Retiring {
					state += " (retiring)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%.2f\t%s\n", m.Name, state, m.Addr, rtt, m.Free, m.Slots, m.Load, m.API)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	a.flags(c)
	return c
}
