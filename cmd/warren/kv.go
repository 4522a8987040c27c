package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// kvTimeout bounds a KV command's call (a put's upload included).
const kvTimeout = 5 * time.Minute

// kvContext is the context of a client command: canceled by Ctrl-C, and
// bounded.
func kvContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, func() { cancel(); stop() }
}

// nArgs checks a command's arguments: between least and most, named by
// what for the message.
func nArgs(least, most int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < least || len(args) > most {
			return usageError{fmt.Errorf("%s takes %s\n%s", c.CommandPath(), what, c.UsageString())}
		}
		return nil
	}
}

// checkNamespace makes a malformed namespace a usage error.
func checkNamespace(ns string) error {
	if err := node.ValidateKVNamespace(ns); err != nil {
		return usageError{fmt.Errorf("namespace %q: %w", ns, err)}
	}
	return nil
}

// eventual reads --consistency.
func eventual(consistency string) (bool, error) {
	switch consistency {
	case "", "strong":
		return false, nil
	case "eventual":
		return true, nil
	}
	return false, usageError{fmt.Errorf("--consistency %q: want strong or eventual", consistency)}
}

func newKVCmd() *cobra.Command {
	var url string
	c := &cobra.Command{
		Use:   "kv",
		Short: "Read and write a node's KV namespaces: get, put, delete, list",
		Long: `Read and write the KV namespaces of a node's store (GET, PUT, DELETE
/v1/kv/...): the same namespaces Workers reach through KV bindings.`,
	}
	c.PersistentFlags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	var a auth
	a.flags(c)
	client := func() (*node.Client, error) { return a.client(url) }
	c.AddCommand(newKVGetCmd(client), newKVPutCmd(client), newKVDeleteCmd(client), newKVListCmd(client))
	return c
}

func newKVGetCmd(client func() (*node.Client, error)) *cobra.Command {
	var (
		consistency      string
		metadata, asJSON bool
	)
	c := &cobra.Command{
		Use:   "get [flags] NAMESPACE KEY",
		Short: "Print a key's value",
		Long: `Print a key's value to stdout, as it is stored (no newline is added).
A missing key is an error (exit 1).`,
		Args: nArgs(2, 2, "NAMESPACE KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamespace(args[0]); err != nil {
				return err
			}
			ev, err := eventual(consistency)
			if err != nil {
				return err
			}
			ctx, cancel := kvContext(kvTimeout)
			defer cancel()
			cl, err := client()
			if err != nil {
				return err
			}
			v, err := cl.KVGet(ctx, args[0], args[1], ev)
			if err != nil {
				return err
			}
			if asJSON {
				out := map[string]any{}
				if utf8.Valid(v.Value) {
					out["value"] = string(v.Value)
				} else {
					out["valueBase64"] = base64.StdEncoding.EncodeToString(v.Value)
				}
				if v.Metadata != nil {
					out["metadata"] = v.Metadata
				}
				if v.Expiration != 0 {
					out["expiration"] = v.Expiration
				}
				return printJSON(out)
			}
			if metadata && v.Metadata != nil {
				fmt.Fprintf(os.Stderr, "%s\n", v.Metadata)
			}
			_, err = os.Stdout.Write(v.Value)
			return err
		},
	}
	c.Flags().StringVar(&consistency, "consistency", "", "strong (default) or eventual: read from the nearest replica")
	c.Flags().BoolVar(&metadata, "metadata", false, "print the key's metadata (JSON) to stderr")
	c.Flags().BoolVar(&asJSON, "json", false, `print {"value" (or "valueBase64"), "metadata", "expiration"} as JSON`)
	return c
}

func newKVPutCmd(client func() (*node.Client, error)) *cobra.Command {
	var (
		file, metadata string
		ttl, expires   int64
	)
	c := &cobra.Command{
		Use:   "put [flags] NAMESPACE KEY [VALUE|-]",
		Short: "Store a value under a key",
		Long: `Store VALUE under KEY, or the contents of --file, or standard input when
VALUE is "-". Values are at most 25 MiB.`,
		Args: nArgs(2, 3, "NAMESPACE KEY and a VALUE (or - for standard input, or --file)"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamespace(args[0]); err != nil {
				return err
			}
			if (len(args) == 3) == (file != "") {
				return usageError{fmt.Errorf("kv put takes a VALUE (- for standard input) or --file, one of them\n%s", c.UsageString())}
			}
			if metadata != "" && !json.Valid([]byte(metadata)) {
				return usageError{fmt.Errorf("--metadata %q: not JSON", metadata)}
			}
			var value io.Reader
			switch {
			case file != "":
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				value = f
			case args[2] == "-":
				value = os.Stdin
			default:
				value = strings.NewReader(args[2])
			}
			ctx, cancel := kvContext(kvTimeout)
			defer cancel()
			opts := node.KVPutOptions{Expiration: expires, ExpirationTTL: ttl}
			if metadata != "" {
				opts.Metadata = json.RawMessage(metadata)
			}
			cl, err := client()
			if err != nil {
				return err
			}
			return cl.KVPut(ctx, args[0], args[1], value, opts)
		},
	}
	c.Flags().StringVar(&file, "file", "", "read the value from this file")
	c.Flags().Int64Var(&ttl, "ttl", 0, "expire the key this many seconds from now (at least 60)")
	c.Flags().Int64Var(&expires, "expiration", 0, "expire the key at this time, unix seconds (at least 60 s ahead)")
	c.Flags().StringVar(&metadata, "metadata", "", "the key's metadata, JSON of at most 1024 bytes")
	return c
}

func newKVDeleteCmd(client func() (*node.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "delete [flags] NAMESPACE KEY",
		Short: "Remove a key (a missing key is not an error)",
		Args:  nArgs(2, 2, "NAMESPACE KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamespace(args[0]); err != nil {
				return err
			}
			ctx, cancel := kvContext(kvTimeout)
			defer cancel()
			cl, err := client()
			if err != nil {
				return err
			}
			return cl.KVDelete(ctx, args[0], args[1])
		},
	}
}

func newKVListCmd(client func() (*node.Client, error)) *cobra.Command {
	var (
		consistency string
		opts        node.KVListOptions
		asJSON      bool
	)
	c := &cobra.Command{
		Use:   "list [flags] NAMESPACE",
		Short: "List a page of keys",
		Long: `Print the names of a page of keys, one per line, in byte order. When
there are more, it says on stderr which --cursor reads the next page.`,
		Args: nArgs(1, 1, "exactly one NAMESPACE"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamespace(args[0]); err != nil {
				return err
			}
			var err error
			if opts.Eventual, err = eventual(consistency); err != nil {
				return err
			}
			ctx, cancel := kvContext(kvTimeout)
			defer cancel()
			cl, err := client()
			if err != nil {
				return err
			}
			page, err := cl.KVList(ctx, args[0], opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(page)
			}
			for _, k := range page.Keys {
				fmt.Println(k.Name)
			}
			if !page.ListComplete {
				fmt.Fprintf(os.Stderr, "[warren] more keys: --cursor %s\n", page.Cursor)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opts.Prefix, "prefix", "", "only keys that start with this")
	c.Flags().IntVar(&opts.Limit, "limit", 0, "the most keys on the page, 1 to 1000 (default 1000)")
	c.Flags().StringVar(&opts.Cursor, "cursor", "", "the cursor of the previous page, for the next one")
	c.Flags().StringVar(&consistency, "consistency", "", "strong (default) or eventual: read from the nearest replica")
	c.Flags().BoolVar(&asJSON, "json", false, `print the page as JSON: {"keys", "list_complete", "cursor"}`)
	return c
}

func newGroupsCmd() *cobra.Command {
	var (
		url    string
		asJSON bool
		a      auth
	)
	c := &cobra.Command{
		Use:   "groups",
		Short: "List the Raft groups of a node's KV store: leader, term, commit, replicas",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := kvContext(30 * time.Second)
			defer cancel()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			gs, err := cl.Groups(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(gs)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tLEADER\tTERM\tCOMMIT\tREPLICAS\tSTATUS")
			for _, g := range gs {
				leader := g.Leader
				if leader == "" {
					leader = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", g.ID, leader, g.Term, g.CommitIndex, replicas(g.Replicas), groupStatus(g))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().BoolVar(&asJSON, "json", false, "print the groups array of GET /v1/groups as JSON")
	a.flags(c)
	return c
}

// replicas shows a group's replicas: name, * for the leader, and the lag
// (or unreachable, or stopped; a learner is marked so).
func replicas(rs []node.ReplicaInfo) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		s := r.Node
		if r.Leader {
			s += "*"
		}
		var notes []string
		if !r.Voter {
			notes = append(notes, "learner")
		}
		switch {
		case r.Unreachable:
			notes = append(notes, "unreachable")
		case r.Stopped:
			notes = append(notes, "stopped, being replaced")
		default:
			notes = append(notes, fmt.Sprintf("lag %d", r.Lag))
		}
		parts[i] = s + " (" + strings.Join(notes, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// groupStatus sums up a group's health.
func groupStatus(g node.GroupInfo) string {
	var s []string
	if g.Unavailable {
		s = append(s, "unavailable")
	}
	if g.Degraded {
		s = append(s, fmt.Sprintf("degraded (%d of 3 voters)", g.Wanted))
	}
	if g.Error != "" {
		s = append(s, "error: "+g.Error)
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, "; ")
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
