package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// deployTimeout bounds a deploy (its upload included) or a listing.
const deployTimeout = 5 * time.Minute

// checkWorkerName makes a malformed Worker name a usage error.
func checkWorkerName(name string) error {
	if err := node.ValidateWorkerName(name); err != nil {
		return usageError{fmt.Errorf("the Worker name %q: %w", name, err)}
	}
	return nil
}

func newDeployCmd() *cobra.Command {
	var (
		url    string
		kvs    []string
		vars   []string
		dos    []string
		crons  []string
		compat []string
		a      auth
	)
	c := &cobra.Command{
		Use:   "deploy [flags] NAME FILE",
		Short: "Deploy FILE as the Worker NAME, served at NODE/w/NAME/",
		Long: `Bundle FILE (and the files it imports) as warren run does, and store it
with its bindings as the next version of the Worker NAME (PUT
/v1/workers/NAME), replicated in the mesh's KV store. Every node serves it
at /w/NAME/ without a token, with the grants of the token that deployed it
(an admin's). It prints the name, the version and the URL.

NAME has 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'.
--var NAME=VALUE sets env.NAME to the string VALUE (repeatable).
--kv NAME=namespace binds env.NAME to a KV namespace (repeatable).
--do NAME=Class binds env.NAME to the Durable Object namespace of the class
Class that this Worker exports; --do NAME=worker.Class to one another
deployed Worker exports (repeatable).
--cron EXPR runs the Worker's scheduled(controller, env, ctx) handler at
each tick of EXPR, once in the mesh (repeatable): five fields (minute hour
day-of-month month day-of-week), an optional sixth in front for seconds,
or a descriptor such as @hourly or "@every 30s". GET /v1/workers/NAME
shows the last runs.
` + compatHelp + `
warren undeploy NAME removes it.`,
		Args: nArgs(2, 2, "NAME FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			if err := checkWorkerName(name); err != nil {
				return err
			}
			bindings, err := parseKV(kvs)
			if err != nil {
				return err
			}
			if bindings, err = parseDO(bindings, dos, name); err != nil {
				return err
			}
			env, err := parseVars(vars, bindings)
			if err != nil {
				return err
			}
			code, err := node.LoadCode(file)
			if err != nil {
				return err
			}
			code.Env = env
			if err := withCompat(code, compat); err != nil {
				return err
			}
			ctx, cancel := kvContext(deployTimeout)
			defer cancel()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			var triggers *node.Triggers
			if len(crons) > 0 {
				triggers = &node.Triggers{Crons: crons}
			}
			v, err := cl.DeployWith(ctx, name, code, bindings, triggers)
			if err != nil {
				return err
			}
			fmt.Printf("deployed %s version %d\n%s/w/%s/\n", name, v, cl.URL, name)
			return nil
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().StringArrayVar(&vars, "var", nil, "set env.NAME to the string VALUE, NAME=VALUE or NAME:VALUE (repeatable)")
	c.Flags().StringArrayVar(&kvs, "kv", nil, "bind env.NAME to a KV namespace, NAME=namespace (repeatable)")
	c.Flags().StringArrayVar(&crons, "cron", nil, "run the scheduled handler at each tick of this cron expression (repeatable)")
	compatFlag(c, &compat)
	c.Flags().StringArrayVar(&dos, "do", nil, "bind env.NAME to a Durable Object namespace, NAME=Class or NAME=worker.Class (repeatable)")
	a.flags(c)
	return c
}

// parseDO adds --do bindings to bindings: NAME=Class names a class of the
// Worker self, NAME=worker.Class one of another Worker.
func parseDO(bindings map[string]node.Binding, dos []string, self string) (map[string]node.Binding, error) {
	for _, d := range dos {
		name, target, ok := strings.Cut(d, "=")
		if !ok || name == "" || target == "" {
			return nil, usageError{fmt.Errorf("--do %q: want NAME=Class or NAME=worker.Class", d)}
		}
		worker, class, dotted := strings.Cut(target, ".")
		if !dotted {
			worker, class = self, target
		}
		if err := node.ValidateWorkerName(worker); err != nil || class == "" {
			return nil, usageError{fmt.Errorf("--do %q: want NAME=Class or NAME=worker.Class", d)}
		}
		if bindings == nil {
			bindings = map[string]node.Binding{}
		}
		if _, dup := bindings[name]; dup {
			return nil, usageError{fmt.Errorf("--do %q: %s is bound twice", d, name)}
		}
		bindings[name] = node.Binding{DurableObject: &node.DurableObjectBinding{Worker: worker, Class: class}}
	}
	return bindings, nil
}

func newWorkersCmd() *cobra.Command {
	var (
		url    string
		asJSON bool
		a      auth
	)
	c := &cobra.Command{
		Use:   "workers [flags]",
		Short: "List the deployed Workers",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := kvContext(deployTimeout)
			defer cancel()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			ws, err := cl.Workers(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				if ws == nil {
					ws = []node.WorkerInfo{}
				}
				return printJSON(ws)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tDEPLOYED\tBY\tBINDINGS\tCRONS")
			for _, w := range ws {
				var bs []string
				for name, b := range w.Bindings {
					if d := b.DurableObject; d != nil {
						bs = append(bs, name+"=do:"+d.Worker+"."+d.Class)
					} else {
						bs = append(bs, name+"=kv:"+b.KV)
					}
				}
				sort.Strings(bs)
				var crons []string
				if w.Triggers != nil {
					crons = w.Triggers.Crons
				}
				by := w.DeployedBy
				if w.Suspended != "" {
					by += " (revoked: suspended)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", w.Name, w.Version, w.DeployedAt.Local().Format(time.DateTime), by, strings.Join(bs, " "), strings.Join(crons, ", "))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	c.Flags().BoolVar(&asJSON, "json", false, `print the list as JSON: [{"name", "version", "deployedAt", "deployedBy", "bindings"}]`)
	a.flags(c)
	return c
}

func newUndeployCmd() *cobra.Command {
	var (
		url string
		a   auth
	)
	c := &cobra.Command{
		Use:   "undeploy [flags] NAME",
		Short: "Remove the deployed Worker NAME (a missing one is an error)",
		Args:  nArgs(1, 1, "exactly one NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkWorkerName(args[0]); err != nil {
				return err
			}
			ctx, cancel := kvContext(deployTimeout)
			defer cancel()
			cl, err := a.client(url)
			if err != nil {
				return err
			}
			if err := cl.Undeploy(ctx, args[0]); err != nil {
				return err
			}
			fmt.Printf("removed %s\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&url, "node", "", "the node's API URL (default $WARREN_NODE, else "+node.DefaultAPI+")")
	a.flags(c)
	return c
}
