package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

func newDecommissionCmd() *cobra.Command {
	var (
		url            string
		cancelIt, stat bool
		wait           time.Duration
		a              auth
	)
	c := &cobra.Command{
		Use:   "decommission [flags]",
		Short: "Move a node's replicas to other nodes before it is stopped for good",
		Long: `Ask the node (--node) to retire: the meta leader moves each of its
replicas to another node (added there, caught up and promoted before the
node's own is removed, so no group runs a replica short). Once it holds
none, stopping the node moves nothing and loses no redundancy; a node
stopped without it keeps its replicas for --replica-grace, then they are
rebuilt from the others.

With --wait D it waits up to D until the node holds no replica, printing
its progress. --status only reports; --cancel lets the node hold replicas
again. The mark outlives the node's restarts (until --cancel). A mesh without three
other live nodes keeps the node's replicas (a group needs 3 distinct
nodes): the command says so. Needs an admin token (or --secret).`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if cancelIt && stat {
				return usageError{fmt.Errorf("--cancel and --status are two different requests: give one\n%s", c.UsageString())}
			}
			deadline := time.Now().Add(wait)
			for first := true; ; first = false {
				// A client each poll: a token minted from the secret
				// lasts 5 minutes, and a wait may be longer.
				cl, err := a.client(url)
				if err != nil {
					return err
				}
				ctx, cancel := kvContext(30 * time.Second)
				d, err := cl.Decommission(ctx, cancelIt, stat || !first)
				cancel()
				if err != nil && (first || time.Now().After(deadline)) {
					return err
				}
				if err != nil {
					// Waiting: the meta group may be between leaders (its
					// leader may be the node retiring).
					time.Sleep(500 * time.Millisecond)
					continue
				}
				switch {
				case cancelIt:
					fmt.Fprintf(c.OutOrStdout(), "%s: decommissioning canceled; it holds %d replicas\n", d.Node, len(d.Groups))
					return nil
				case d.Done:
					fmt.Fprintf(c.OutOrStdout(), "%s holds no replica: it may be stopped\n", d.Node)
					return nil
				case !d.Retiring:
					fmt.Fprintf(c.OutOrStdout(), "%s is not being decommissioned; it holds %d replicas\n", d.Node, len(d.Groups))
					return nil
				}
				if first || wait == 0 || time.Now().After(deadline) {
					fmt.Fprintf(c.OutOrStdout(), "%s is retiring; it still holds %d replicas: %s\n", d.Node, len(d.Groups), strings.Join(d.Groups, " "))
					if d.Note != "" {
						fmt.Fprintf(c.OutOrStdout(), "  %s\n", d.Note)
					}
				}
				if wait == 0 || stat {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s still holds %d replicas after %v", d.Node, len(d.Groups), wait)
				}
				time.Sleep(500 * time.Millisecond) // polling the node, at a human's pace
			}
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node to decommission, by its API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().BoolVar(&cancelIt, "cancel", false, "cancel: the node may hold replicas again")
	c.Flags().BoolVar(&stat, "status", false, "only report how far the node is")
	c.Flags().DurationVar(&wait, "wait", 0, "wait up to this long until the node holds no replica")
	a.flags(c)
	return c
}
