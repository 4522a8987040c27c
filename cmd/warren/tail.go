package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"unicode/utf8"

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
				printTail(os.Stdout, e)
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

// printTail prints one finished invocation for a person. Everything in
// it may come from a Worker (its logs, its exceptions, what its callers
// sent it): each field is printed as terminalText.
func printTail(w io.Writer, e node.TailEvent) {
	if e.Dropped > 0 {
		fmt.Fprintf(w, "[warren] %d invocations were dropped: this tail read too slowly\n", e.Dropped)
	}
	what := e.Entry
	if e.Worker != "" {
		what += " " + e.Worker
	}
	fmt.Fprintf(w, "%s %-6s %-24s %-16s cpu %.1f ms, wall %.1f ms  %s\n", e.Time.Local().Format("15:04:05.000"), terminalText(e.Node, ""),
		terminalText(strings.Join(e.Hops, " -> "), ""), terminalText(string(e.Outcome), ""), e.CPUMs, e.WallMs, terminalText(what, ""))
	const indent = "    "
	for _, l := range e.Logs {
		fmt.Fprintf(w, "%s[%s] %s\n", indent, terminalText(l.Level, ""), terminalText(l.Message, indent+"  "))
	}
	for _, x := range e.Exceptions {
		fmt.Fprintf(w, "%s%s: %s\n", indent, terminalText(x.Name, ""), terminalText(x.Message, indent+"  "))
	}
	if e.Error != "" && e.Outcome != "ok" {
		fmt.Fprintf(w, "%s%s\n", indent, terminalText(e.Error, indent+"  "))
	}
}

// terminalText is s as a terminal shows it plainly: each line after the
// first indented by indent (nl: no line breaks, they are escaped too),
// and every control character (C0 but tab, DEL, C1), bidirectional
// override and invalid byte escaped as Go does (\x1b, \u202e), so that
// no escape sequence reaches the terminal.
func terminalText(s, indent string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && indent != "":
			b.WriteString("\n" + indent)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
