package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/testnet"
)

// newTestnetCmd is `warren testnet`: a mesh of node processes on loopback
// for demos and tests, described by DIR/testnet.json.
func newTestnetCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "testnet",
		Short: "Run a local mesh of node processes on loopback (up, down, status, url, stop, start, pause, resume)",
		Long: `Run a mesh of warren node processes on this machine, on loopback with free
ports and a fresh secret. The nodes run detached: they outlive this command
until 'warren testnet down'. DIR holds testnet.json (names, API URLs, UDP
addresses, pids), the secret, each node's data directory DIR/<name>/ and its
log DIR/<name>.log.`,
		RunE: func(c *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("testnet needs a subcommand: up, down, status, url, stop, start, pause or resume\n%s", c.UsageString())}
		},
	}
	c.PersistentFlags().StringVar(&dir, "dir", ".testnet", "testnet directory (testnet.json, secret, node data and logs)")
	c.AddCommand(newTestnetUpCmd(&dir), newTestnetDownCmd(&dir), newTestnetStatusCmd(&dir),
		newTestnetURLCmd(&dir), newTestnetStopCmd(&dir), newTestnetStartCmd(&dir),
		newTestnetPauseCmd(&dir, false), newTestnetPauseCmd(&dir, true))
	return c
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments\n%s", c.CommandPath(), c.UsageString())}
	}
	return nil
}

func oneName(c *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s takes exactly one node NAME\n%s", c.CommandPath(), c.UsageString())}
	}
	return nil
}

// interruptible returns ctx canceled by Ctrl-C or SIGTERM, so that an
// interrupted up or start cleans up after itself.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newTestnetUpCmd(dir *string) *cobra.Command {
	var (
		n       int
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "up -n N [--dir DIR] [-- NODE FLAGS...]",
		Short: "Start N nodes n1..nN and wait until they all see each other",
		Long: `Start N warren node processes (n1..nN) on 127.0.0.1 with free ports and a
fresh secret, each joining the ones already up, and wait until every node
lists all N alive. Flags after -- are passed to every node, e.g.
  warren testnet up -n 3 -- --slots 2
A stale DIR (its nodes no longer running) is replaced; a running one is an
error. On failure the nodes are killed and the failing node's log is shown.`,
		Args: func(c *cobra.Command, args []string) error {
			if dash := c.ArgsLenAtDash(); (dash == -1 && len(args) > 0) || dash > 0 {
				return usageError{fmt.Errorf("up takes node flags only after --\n%s", c.UsageString())}
			}
			if n < 1 {
				return usageError{fmt.Errorf("-n must be at least 1\n%s", c.UsageString())}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := interruptible(c.Context())
			defer stop()
			fmt.Fprintf(c.ErrOrStderr(), "starting %d nodes in %s ...\n", n, *dir)
			t0 := time.Now()
			st, err := testnet.Up(ctx, testnet.Options{Dir: *dir, N: n, NodeArgs: args, Timeout: timeout})
			if err != nil {
				return err
			}
			printUp(c.OutOrStdout(), st, *dir, time.Since(t0))
			return nil
		},
	}
	c.Flags().IntVarP(&n, "nodes", "n", 3, "number of nodes")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the nodes to start and see each other")
	return c
}

func printUp(w io.Writer, st *testnet.State, dir string, took time.Duration) {
	prog := os.Args[0]
	if !strings.ContainsRune(prog, os.PathSeparator) {
		prog = "warren"
	}
	d := ""
	if dir != ".testnet" {
		d = " --dir " + dir
	}
	fmt.Fprintf(w, "testnet of %d nodes up in %s (converged in %v); secret %s\n\n",
		len(st.Nodes), dir, took.Round(time.Millisecond), st.Secret)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tAPI\tUDP\tPID\tLOG")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", n.Name, n.API, n.Listen, n.PID, n.Log)
	}
	tw.Flush()
	first, last := st.Nodes[0], st.Nodes[len(st.Nodes)-1]
	fmt.Fprintf(w, `
The API needs a token; client commands mint one from the secret:
  export WARREN_SECRET=%[6]s
Next:
  %[1]s members --node %[2]s
  %[1]s run --node %[3]s examples/hello.ts
  %[1]s testnet status%[4]s
  %[1]s testnet stop%[4]s %[5]s       # kill -9 one node
  %[1]s testnet start%[4]s %[5]s      # restart it on its data and ports
  %[1]s testnet pause%[4]s %[5]s      # SIGSTOP it (a wedged host); resume continues it
  %[1]s testnet down%[4]s             # stop them all
`, prog, first.API, last.API, d, last.Name, st.Secret)
}

func newTestnetDownCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down [--dir DIR]",
		Short: "Stop every node (SIGTERM, then SIGKILL after 5s); data and logs stay",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			st, err := testnet.Load(*dir)
			if err != nil {
				return err
			}
			if err := testnet.Down(*dir); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "stopped %d nodes in %s (data and logs kept)\n", len(st.Nodes), *dir)
			return nil
		},
	}
}

func newTestnetStopCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "stop [--dir DIR] NAME",
		Short: "Kill one node (SIGKILL); it keeps its ports and data for start",
		Args:  oneName,
		RunE: func(c *cobra.Command, args []string) error {
			if err := testnet.Stop(*dir, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "killed %s\n", args[0])
			return nil
		},
	}
}

func newTestnetPauseCmd(dir *string, resume bool) *cobra.Command {
	use, short, done, f := "pause", "Stop one node with SIGSTOP: a wedged host (it answers nothing)", "paused", testnet.Pause
	if resume {
		use, short, done, f = "resume", "Continue a paused node (SIGCONT); it rejoins by itself", "resumed", testnet.Resume
	}
	return &cobra.Command{
		Use:   use + " [--dir DIR] NAME",
		Short: short,
		Args:  oneName,
		RunE: func(c *cobra.Command, args []string) error {
			if err := f(*dir, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%s %s\n", done, args[0])
			return nil
		},
	}
}

func newTestnetStartCmd(dir *string) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "start [--dir DIR] NAME",
		Short: "Restart a stopped node on its data and ports, and wait until it rejoins",
		Args:  oneName,
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := interruptible(c.Context())
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			t0 := time.Now()
			if err := testnet.Start(ctx, *dir, args[0]); err != nil {
				return err
			}
			st, err := testnet.Load(*dir)
			if err != nil {
				return err
			}
			n, _ := st.Node(args[0])
			fmt.Fprintf(c.OutOrStdout(), "started %s (pid %d, api %s, udp %s); mesh converged in %v\n",
				n.Name, n.PID, n.API, n.Listen, time.Since(t0).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the node to rejoin")
	return c
}

func newTestnetURLCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "url [--dir DIR] NAME",
		Short: "Print a node's API URL (for --node)",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("testnet url takes exactly one NAME")}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			st, err := testnet.Load(*dir)
			if err != nil {
				return err
			}
			n, ok := st.Node(args[0])
			if !ok {
				return fmt.Errorf("no node %q in %s", args[0], *dir)
			}
			fmt.Fprintln(c.OutOrStdout(), n.API)
			return nil
		},
	}
}

func newTestnetStatusCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status [--dir DIR]",
		Short: "List the nodes: pid, process running, /healthz, members seen alive",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(c.Context(), 10*time.Second)
			defer cancel()
			sts, err := testnet.Status(ctx, *dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPID\tPROCESS\tHEALTHZ\tSEES ALIVE\tAPI\tUDP")
			for _, s := range sts {
				proc, health, sees := "stopped", "-", "-"
				switch {
				case s.Paused:
					proc = "paused"
				case s.Live:
					proc, health = "running", "down"
					if s.Healthy {
						health = "ok"
					}
					if s.Alive != nil {
						sees = fmt.Sprint(len(s.Alive))
						if len(s.Alive) <= 5 {
							sees += " (" + strings.Join(s.Alive, ",") + ")"
						}
					}
				case s.PID != 0:
					proc = "gone" // stale pid: exited or killed outside the harness
				}
				pid := "-"
				if s.PID != 0 {
					pid = fmt.Sprint(s.PID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, pid, proc, health, sees, s.API, s.Listen)
			}
			return tw.Flush()
		},
	}
}
