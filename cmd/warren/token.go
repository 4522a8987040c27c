package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// mintedTTL is how long a token the CLI mints for one command lasts.
var mintedTTL = 5 * time.Minute

// auth holds the flags with which a command proves itself to a node.
type auth struct{ token, secret string }

// flags adds --token and --secret to c (persistent: for its subcommands too).
func (a *auth) flags(c *cobra.Command) {
	c.PersistentFlags().StringVar(&a.token, "token", "", "the token to call the node with (default $WARREN_TOKEN)")
	c.PersistentFlags().StringVar(&a.secret, "secret", "", "without a token, mint a 5-minute admin token from this mesh secret file (default $WARREN_SECRET)")
}

// client is a client of the node at url with the token: --token, else
// $WARREN_TOKEN, else one minted from --secret or $WARREN_SECRET (a
// 5-minute admin token), else none.
func (a *auth) client(url string) (*node.Client, error) {
	cl := node.NewClient(nodeURL(url))
	switch {
	case a.token != "":
		cl.Token = a.token
	case a.secret != "":
		tok, err := mintAdmin(a.secret)
		if err != nil {
			return nil, err
		}
		cl.Token = tok
	case os.Getenv("WARREN_TOKEN") != "":
		cl.Token = os.Getenv("WARREN_TOKEN")
	case os.Getenv("WARREN_SECRET") != "":
		tok, err := mintAdmin(os.Getenv("WARREN_SECRET"))
		if err != nil {
			return nil, err
		}
		cl.Token = tok
	}
	return cl, nil
}

func mintAdmin(secret string) (string, error) {
	who := "cli"
	if u := os.Getenv("USER"); u != "" {
		who = "cli " + u
	}
	tok, err := node.MintTokenFile(secret, who, node.Grants{Admin: true}, mintedTTL)
	if err != nil {
		return "", fmt.Errorf("minting a token from %s: %w", secret, err)
	}
	return tok, nil
}

func newTokenCmd() *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Manage API tokens: create, revoke, revoked"}
	var (
		secret, name           string
		kvs, allowNet, dos     []string
		cpuMs, memoryMb, subrq int64
		ttl                    time.Duration
		admin                  bool
	)
	create := &cobra.Command{
		Use:   "create --secret FILE [flags]",
		Short: "Print a new token signed with the mesh secret",
		Long: `Print a token for the API of any node of the mesh whose secret is FILE.
With no grant flags it may run code with the nodes' default limits and no
bindings, and list members and groups. --kv ns:r grants reading namespace ns
(API and bindings), --kv ns:rw reading and writing. --cpu-ms, --memory-mb and
--subrequests are ceilings: a call asking for more is denied, and a call
asking for nothing gets the ceiling where it is below the default. --admin
grants everything.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("WARREN_SECRET")
			}
			if secret == "" {
				return usageError{fmt.Errorf("token create needs --secret FILE (or $WARREN_SECRET)\n%s", c.UsageString())}
			}
			if ttl <= 0 {
				return usageError{fmt.Errorf("--ttl %v: want a positive duration", ttl)}
			}
			g := node.Grants{Admin: admin, AllowNet: allowNet, DO: dos, CPUMs: cpuMs, MemoryMB: memoryMb, Subrequests: subrq}
			for _, kv := range kvs {
				ns, access, ok := strings.Cut(kv, ":")
				if !ok || (access != "r" && access != "rw") {
					return usageError{fmt.Errorf("--kv %q: want namespace:r or namespace:rw", kv)}
				}
				if err := node.ValidateKVNamespace(ns); err != nil {
					return usageError{fmt.Errorf("--kv %q: %w", kv, err)}
				}
				if g.KV == nil {
					g.KV = map[string]string{}
				}
				g.KV[ns] = access
			}
			if cpuMs < 0 || memoryMb < 0 || subrq < 0 {
				return usageError{fmt.Errorf("--cpu-ms, --memory-mb and --subrequests cannot be negative")}
			}
			tok, err := node.MintRevocableTokenFile(secret, name, g, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), tok)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&secret, "secret", "", "mesh secret file (default $WARREN_SECRET)")
	f.StringVar(&name, "name", "", "who the token is for (shown in logs)")
	f.StringArrayVar(&kvs, "kv", nil, "grant a KV namespace, ns:r or ns:rw (repeatable)")
	f.StringArrayVar(&allowNet, "allow-net", nil, "grant egress to a host: name, *.domain, *, address or prefix, optional :port (repeatable); private addresses only when granted by address")
	f.StringArrayVar(&dos, "do", nil, "grant binding the Durable Object namespace worker.Class (or worker.* for all of its classes)")
	f.Int64Var(&cpuMs, "cpu-ms", 0, "ceiling on limits.cpuMs (0: the node's)")
	f.Int64Var(&memoryMb, "memory-mb", 0, "ceiling on limits.memoryMb (0: the node's)")
	f.Int64Var(&subrq, "subrequests", 0, "ceiling on limits.subRequests (0: the node's)")
	f.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	f.BoolVar(&admin, "admin", false, "grant everything")
	c.AddCommand(create, newTokenRevokeCmd(), newTokenRevokedCmd())
	return c
}

// tokenClient adds --node, --token and --secret to c and returns its client.
func tokenClient(c *cobra.Command) func() (*node.Client, error) {
	var url string
	var a auth
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().StringVar(&a.token, "token", "", "an admin token to call the node with (default $WARREN_TOKEN)")
	c.Flags().StringVar(&a.secret, "secret", "", "without --token, mint a 5-minute admin token from this mesh secret file (default $WARREN_SECRET)")
	return func() (*node.Client, error) { return a.client(url) }
}

func newTokenRevokeCmd() *cobra.Command {
	var id string
	c := &cobra.Command{
		Use:   "revoke [TOKEN | --id ID]",
		Short: "Revoke a token before it expires",
		Long: `Revoke a token on every node of the mesh: its ID goes to the mesh's
revocation list (in the replicated KV store), which every node checks on
every call, forwarded ones included. The node asked refuses the token at
once, the others within about two seconds. The entry goes when the token
would have expired. Give the token itself (its ID and expiry are read from
it), or --id ID (from warren token revoked, or an audit log); an entry
revoked by ID alone is kept for ever. The Workers the token deployed are
suspended with it, and stay so until deployed again: the entry of such a
token is kept past its expiry. Tokens without an ID (minted before
revocation existed, or the 5-minute ones the commands mint from --secret)
cannot be revoked: rotate the mesh secret.
Needs an admin token (or --secret).`,
		Args: cobra.MaximumNArgs(1),
	}
	client := tokenClient(c)
	c.Flags().StringVar(&id, "id", "", "the ID of the token to revoke, instead of the token")
	c.RunE = func(c *cobra.Command, args []string) error {
		if (len(args) == 1) == (id != "") {
			return usageError{fmt.Errorf("token revoke takes the token or --id ID (one of them)\n%s", c.UsageString())}
		}
		cl, err := client()
		if err != nil {
			return err
		}
		ctx, cancel := kvContext(30 * time.Second)
		defer cancel()
		var r *node.Revocation
		if id != "" {
			r, err = cl.RevokeTokenID(ctx, id, 0)
		} else {
			r, err = cl.RevokeToken(ctx, strings.TrimSpace(args[0]))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.OutOrStdout(), "revoked %s%s\n", r.ID, describeRevocation(r))
		if len(r.Workers) > 0 {
			fmt.Fprintf(c.OutOrStdout(), "suspended the Workers it deployed, until they are deployed again: %s\n", strings.Join(r.Workers, ", "))
		}
		return nil
	}
	return c
}

// describeRevocation is the name and expiry of a revocation, for a line.
func describeRevocation(r *node.Revocation) string {
	s := ""
	if r.Name != "" {
		s += fmt.Sprintf(" (%q)", r.Name)
	}
	if r.Expiry > 0 {
		s += ", which expires " + time.Unix(r.Expiry, 0).UTC().Format(time.RFC3339)
	}
	if r.Pinned {
		s += " (kept past its expiry: Workers it deployed stay suspended)"
	}
	return s
}

func newTokenRevokedCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoked",
		Short: "List the revoked tokens that have not expired yet",
		Args:  noArgs,
	}
	client := tokenClient(c)
	c.RunE = func(c *cobra.Command, _ []string) error {
		cl, err := client()
		if err != nil {
			return err
		}
		ctx, cancel := kvContext(30 * time.Second)
		defer cancel()
		list, err := cl.RevokedTokens(ctx)
		if err != nil {
			return err
		}
		for _, r := range list {
			fmt.Fprintf(c.OutOrStdout(), "%s%s, revoked %s by %q\n", r.ID, describeRevocation(&r),
				time.Unix(r.RevokedAt, 0).UTC().Format(time.RFC3339), r.RevokedBy)
		}
		return nil
	}
	return c
}
