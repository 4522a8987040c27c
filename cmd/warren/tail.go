package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

func newTailCmd() *cobra.Command {
	var (
		url, worker, outcome string
		asJSON, nodeOnly     bool
		a                    auth
	)
	c := &cobra.Command{
		Use:   "tail [flags]",
		Short: "Stream every invocation of the mesh as it finishes",
		Long: `Stream every invocation that finishes anywhere in the mesh, through one
node (GET /v1/tail?scope=mesh; an admin token): one line per invocation
(time, the node it entered through, its route, outcome, CPU and wall time,
the Worker) followed by its logs and exceptions. Invocations entered
through POST /v1/run, a deployed Worker's /w/ call, a cron trigger, and
Durable Object events each show once. --worker and --outcome filter;
--node-only shows what that one node saw. A tail that reads too slowly
never slows invocations: it loses some, and says how many. Ctrl-C ends it.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			return cl.Tail(ctx, node.TailOptions{NodeOnly: nodeOnly, Worker: worker, Outcome: outcome}, func(e node.TailEvent) {
				if asJSON {
					_ = enc.Encode(&e)
					return
				}
				printTail(e)
			})
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().StringVar(&worker, "worker", "", "only this deployed Worker's invocations")
	c.Flags().StringVar(&outcome, "outcome", "", "only invocations with this outcome (ok, exception, exceededCpu, ...)")
	c.Flags().BoolVar(&asJSON, "json", false, "print each invocation as a JSON line (the events of GET /v1/tail)")
	c.Flags().BoolVar(&nodeOnly, "node-only", false, "only what this node saw, not the whole mesh")
	a.flags(c)
	return c
}

// printTail prints one finished invocation for a person.
func printTail(e node.TailEvent) {
	if e.Dropped > 0 {
		fmt.Printf("[warren] %d invocations were dropped: this tail read too slowly\n", e.Dropped)
	}
	what := e.Entry
	if e.Worker != "" {
		what += " " + e.Worker
	}
	fmt.Printf("%s %-6s %-24s %-16s cpu %.1f ms, wall %.1f ms  %s\n", e.Time.Local().Format("15:04:05.000"), e.Node,
		strings.Join(e.Hops, " -> "), e.Outcome, e.CPUMs, e.WallMs, what)
	for _, l := range e.Logs {
		fmt.Printf("    [%s] %s\n", l.Level, l.Message)
	}
	for _, x := range e.Exceptions {
		fmt.Printf("    %s: %s\n", x.Name, x.Message)
	}
	if e.Error != "" && e.Outcome != "ok" {
		fmt.Printf("    %s\n", e.Error)
	}
}
