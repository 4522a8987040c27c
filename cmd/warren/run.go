package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

func newRunCmd() *cobra.Command {
	var (
		nodeURL, method, data, path string
		headers, allowNet, kvs      []string
		compat                      []string
		vars                        []string
		state                       string
		asJSON, inProcess, sched    bool
		cronExpr                    string
		cpuMs, memoryMb, wallMs     int64
		a                           auth
	)
	c := &cobra.Command{
		Use:   "run [flags] FILE",
		Short: "Run a Worker (JS, TS, WASM or Python) once and print its response",
		Long: `Run FILE (and the files it imports) once in a fresh isolate and print the
response body to stdout, logs to stderr. With no --node (and no WARREN_NODE)
it runs in an embedded single-node runtime in sandbox worker processes.

Bare imports of npm packages resolve from node_modules as wrangler resolves
them (package.json "exports" with the conditions workerd, worker, browser,
import or require, default; else "module", then "main"); the package files
are sent with the code.

--scheduled runs the Worker's scheduled(controller, env, ctx) handler
instead of fetch, with controller.cron set to --cron and
controller.scheduledTime to now.

The request goes to http://localhost/ plus --path; -H 'Host: example.com'
sets the host of request.url (http://example.com/...), as workerd does.

--var NAME=VALUE sets env.NAME to the string VALUE, a plain text binding
like a [vars] entry of wrangler.toml (repeatable; wrangler's NAME:VALUE
works too).

` + compatHelp + `

--kv NAME=namespace binds env.NAME to a KV namespace. The embedded runtime
keeps KV in a store on disk, --state DIR/kv (default .warren/state/kv under
the current directory, created on first use; one warren run at a time may
use it). With --node the binding is sent to the node, whose KV store
(the mesh's) the Worker reaches; warren kv reads and writes it too.

Exit status: 0 when the outcome is ok, 1 otherwise, 2 for usage errors.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("run takes exactly one FILE\n%s", c.UsageString())}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if nodeURL == "" {
				nodeURL = os.Getenv("WARREN_NODE")
			}
			if nodeURL != "" {
				// Flags of the embedded runtime would be ignored.
				if inProcess {
					return usageError{fmt.Errorf("--in-process applies to the embedded runtime; it cannot be used with a node (--node or $WARREN_NODE)")}
				}
				if len(allowNet) > 0 {
					return usageError{fmt.Errorf("--allow-net applies to the embedded runtime; a mesh node's egress is granted by its policy")}
				}
				if c.Flags().Changed("state") {
					return usageError{fmt.Errorf("--state applies to the embedded runtime; it cannot be used with a node (--node or $WARREN_NODE)")}
				}
			}
			bindings, err := parseKV(kvs)
			if err != nil {
				return err
			}
			env, err := parseVars(vars, bindings)
			if err != nil {
				return err
			}
			code, err := node.LoadCode(args[0])
			if err != nil {
				return err
			}
			code.Env = env
			if err := withCompat(code, compat); err != nil {
				return err
			}
			if cpuMs != 0 || memoryMb != 0 || wallMs != 0 {
				if code.Limits == nil {
					code.Limits = &node.Limits{}
				}
				code.Limits.CPUMs, code.Limits.MemoryMB, code.Limits.WallMs = pick(cpuMs, code.Limits.CPUMs), pick(memoryMb, code.Limits.MemoryMB), pick(wallMs, code.Limits.WallMs)
			}
			if !strings.HasPrefix(path, "/") {
				path = "/" + path // --path greet means /greet, not http://localhostgreet
			}
			req := &node.Request{Method: strings.ToUpper(method), URL: "http://localhost" + path, Headers: map[string]string{}}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return usageError{fmt.Errorf("-H %q: want 'Name: value'", h)}
				}
				req.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
			// -H 'Host: example.com' makes request.url http://example.com/...
			if err := node.ApplyHost(req); err != nil {
				return usageError{fmt.Errorf("-H: %w", err)}
			}
			if c.Flags().Changed("data") {
				body, err := readData(data)
				if err != nil {
					return err
				}
				req.Body = body
				if !c.Flags().Changed("request") {
					req.Method = "POST"
				}
				// What curl-like tools send with a body; -H overrides it.
				if _, ok := req.Headers["content-type"]; !ok {
					req.Headers["content-type"] = defaultDataType
				}
			}
			var scheduled *node.ScheduledEvent
			if sched {
				scheduled = &node.ScheduledEvent{Cron: cronExpr, ScheduledTime: time.Now().UnixMilli()}
			} else if cronExpr != "" {
				return usageError{fmt.Errorf("--cron goes with --scheduled")}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			var res *node.Result
			if nodeURL != "" {
				cl, err := a.client(nodeURL)
				if err != nil {
					return err
				}
				if asJSON || scheduled != nil {
					res, err = cl.RunWith(ctx, code, req, bindings, scheduled)
				} else {
					res, err = cl.RunStreaming(ctx, code, req, bindings, os.Stdout)
				}
				if err != nil {
					return err
				}
			} else {
				cache := ""
				if d, err := os.UserCacheDir(); err == nil {
					cache = filepath.Join(d, "warren", "wasm")
				}
				opts := node.LocalOptions{InProcess: inProcess, Workers: 1, AllowNet: allowNet, CacheDir: cache}
				if len(bindings) > 0 {
					opts.KVDir = filepath.Join(state, "kv")
				}
				rt, err := node.NewLocal(opts)
				if err != nil {
					return err
				}
				defer rt.Close()
				inv := &node.Invocation{Code: code, Request: req, Bindings: bindings, Scheduled: scheduled}
				if asJSON {
					res = rt.Run(ctx, inv)
				} else {
					res = runStreaming(ctx, rt, inv)
				}
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printResult(res)
				if nodeURL != "" {
					fmt.Fprintf(os.Stderr, "[warren] %s on %s (route %s), %.2f ms\n", res.Outcome, res.Telemetry.Node, strings.Join(res.Telemetry.Hops, " -> "), res.Telemetry.WallTime)
				}
			}
			if !res.OK() {
				return &exitError{1}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&nodeURL, "node", "", "submit to this node's API (default $WARREN_NODE; none: embedded runtime)")
	f.BoolVar(&asJSON, "json", false, "print the whole result (docs/result.md) as JSON")
	f.StringVarP(&method, "request", "X", "GET", "request method")
	f.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.StringVarP(&data, "data", "d", "", "request body; @FILE reads a file, @- standard input (implies POST; content-type "+defaultDataType+" unless -H sets one)")
	f.StringVar(&path, "path", "/", "request path and query (a leading / is added if missing)")
	f.Int64Var(&cpuMs, "cpu-ms", 0, "CPU limit in ms (default 1000)")
	f.Int64Var(&memoryMb, "memory-mb", 0, "memory limit in MiB (default 128)")
	f.Int64Var(&wallMs, "wall-ms", 0, "wall-time limit in ms (default 30000)")
	f.StringSliceVar(&allowNet, "allow-net", nil, "grant egress to these hosts (name, *.domain, address, prefix; optional :port)")
	f.StringArrayVar(&vars, "var", nil, "set env.NAME to the string VALUE, NAME=VALUE or NAME:VALUE (repeatable)")
	f.StringArrayVar(&kvs, "kv", nil, "bind env.NAME to a KV namespace, NAME=namespace (repeatable); stored under --state without --node")
	f.StringVar(&state, "state", filepath.Join(".warren", "state"), "directory of the embedded runtime's local state: KV in DIR/kv (not with --node)")
	f.BoolVar(&sched, "scheduled", false, "run the scheduled handler instead of fetch (scheduledTime: now)")
	f.StringVar(&cronExpr, "cron", "", "the cron expression the scheduled handler sees in controller.cron (with --scheduled)")
	compatFlag(c, &compat)
	f.BoolVar(&inProcess, "in-process", false, "run in this process instead of a sandbox worker (trusted code only; not with --node)")
	a.flags(c)
	return c
}

// parseKV parses --kv NAME=namespace flags into bindings (nil for none).
func parseKV(kvs []string) (map[string]node.Binding, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	bindings := make(map[string]node.Binding, len(kvs))
	for _, kv := range kvs {
		name, ns, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, usageError{fmt.Errorf("--kv %q: want NAME=namespace", kv)}
		}
		if err := node.ValidateKVNamespace(ns); err != nil {
			return nil, usageError{fmt.Errorf("--kv %q: %w", kv, err)}
		}
		if _, dup := bindings[name]; dup {
			return nil, usageError{fmt.Errorf("--kv %q: %s is bound twice", kv, name)}
		}
		bindings[name] = node.Binding{KV: ns}
	}
	return bindings, nil
}

// parseVars parses --var NAME=VALUE (or NAME:VALUE, as wrangler spells
// it) flags into the code object's plain env values (nil for none). VALUE
// is a string, kept as given. A name bound twice, or also bound by another
// flag (bindings), is a usage error.
func parseVars(vars []string, bindings map[string]node.Binding) (map[string]json.RawMessage, error) {
	if len(vars) == 0 {
		return nil, nil
	}
	env := make(map[string]json.RawMessage, len(vars))
	for _, v := range vars {
		// NAME=VALUE, or wrangler's NAME:VALUE: the name ends at the first
		// '=' or ':', so a value may hold either ("U=http://x", "U:a=b").
		i := strings.IndexAny(v, "=:")
		if i <= 0 {
			return nil, usageError{fmt.Errorf("--var %q: want NAME=VALUE", v)}
		}
		name, value := v[:i], v[i+1:]
		if _, dup := env[name]; dup {
			return nil, usageError{fmt.Errorf("--var %q: %s is set twice", v, name)}
		}
		if _, dup := bindings[name]; dup {
			return nil, usageError{fmt.Errorf("--var %q: %s is also bound by another flag", v, name)}
		}
		b, err := json.Marshal(value)
		if err != nil {
			return nil, usageError{fmt.Errorf("--var %q: %w", v, err)}
		}
		env[name] = b
	}
	return env, nil
}

// defaultDataType is the content-type of a -d body without one from -H.
const defaultDataType = "text/plain;charset=UTF-8"

func pick(flag, code int64) int64 {
	if flag != 0 {
		return flag
	}
	return code
}

func readData(d string) ([]byte, error) {
	switch {
	case d == "@-":
		return io.ReadAll(os.Stdin)
	case strings.HasPrefix(d, "@"):
		return os.ReadFile(d[1:])
	}
	return []byte(d), nil
}

// runStreaming runs inv, writing a streamed response body to stdout as the
// Worker produces it (an AI answer, server-sent events); printResult then
// prints the rest.
func runStreaming(ctx context.Context, rt *node.Local, inv *node.Invocation) *node.Result {
	pipe := node.NewBodyPipe()
	inv.StreamTo = pipe
	done := make(chan *node.Result, 1)
	go func() { done <- rt.Run(ctx, inv) }()
	var last byte
	for {
		chunk, err := pipe.Next(ctx)
		if err != nil {
			break // the end, or a body that was not streamed (printResult prints it)
		}
		if _, err := os.Stdout.Write(chunk); err != nil {
			pipe.Abort(err)
			break
		}
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1]
		}
	}
	res := <-done
	if res.Response != nil && res.Response.Streamed && last != 0 && last != '\n' && isTerminal(os.Stdout) {
		fmt.Println()
	}
	return res
}

func printResult(res *node.Result) {
	for _, l := range res.Logs {
		fmt.Fprintf(os.Stderr, "[%s] %s\n", l.Level, l.Message)
	}
	if res.Response != nil && !res.Response.Streamed {
		os.Stdout.Write(res.Response.Body)
		if n := len(res.Response.Body); n > 0 && res.Response.Body[n-1] != '\n' && isTerminal(os.Stdout) {
			fmt.Println()
		}
	}
	if !res.OK() {
		fmt.Fprintf(os.Stderr, "outcome: %s", res.Outcome)
		if res.Error != "" {
			fmt.Fprintf(os.Stderr, ": %s", res.Error)
		}
		fmt.Fprintln(os.Stderr)
	} else if res.Error != "" {
		// The response went out, but ctx.waitUntil work was cut short.
		fmt.Fprintf(os.Stderr, "[warren] %s\n", res.Error)
	}
	// An ok call has exceptions too: rejected ctx.waitUntil promises.
	// A stack reads like V8's: "Name: message", then "    at ..." frames.
	for _, e := range res.Exceptions {
		head := e.Name + ": " + e.Message
		stack := e.Stack
		if !strings.HasPrefix(stack, head) {
			stack = strings.TrimRight(head+"\n"+stack, "\n")
		}
		fmt.Fprintln(os.Stderr, stack)
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
