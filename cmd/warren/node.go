package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/internal/memtrim"
	"github.com/warrenmesh/warren/node"
)

func newNodeCmd() *cobra.Command {
	var (
		cfg        node.Config
		join       []string
		tags       []string
		inProcess  bool
		cpuprofile string
		memprofile string
		tracefile  string
		auditLog   string
		logFormat  string
		logLevel   string
		// diskReserveMB is --disk-reserve-mb: node.Config.DiskReserve
		// in MiB, 0 for none.
		diskReserveMB int64
	)
	c := &cobra.Command{
		Use:   "node",
		Short: "Run a warren node: join the mesh and serve the HTTP API",
		Long: `Run a node. Nodes started with the same --secret form one mesh: the first
with 'warren secret init s && warren node --secret s', the next ones with
'warren node --secret s --join FIRST_HOST:7946'. Without --secret the node
uses DATA/secret, creating it on first start.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg.Join = join
			switch {
			case diskReserveMB < 0:
				return usageError{fmt.Errorf("--disk-reserve-mb %d: want a size in MiB (0: none)", diskReserveMB)}
			case diskReserveMB == 0:
				cfg.DiskReserve = -1
			default:
				cfg.DiskReserve = diskReserveMB << 20
			}
			if inProcess {
				cfg.Executor = "inprocess"
			}
			if len(tags) > 0 {
				cfg.Tags = map[string]string{}
				for _, t := range tags {
					k, v, ok := strings.Cut(t, "=")
					if !ok || k == "" {
						return usageError{fmt.Errorf("--tags %q: want k=v", t)}
					}
					cfg.Tags[k] = v
				}
			}
			if cfg.SecretPath == "" {
				cfg.SecretPath = os.Getenv("WARREN_SECRET")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)}
			}
			opts := &slog.HandlerOptions{Level: level}
			switch logFormat {
			case "text":
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
			case "json":
				cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
			default:
				return usageError{fmt.Errorf("--log-format %q: want text or json", logFormat)}
			}
			if auditLog != "" {
				f, err := os.OpenFile(auditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					return fmt.Errorf("--audit-log: %w", err)
				}
				defer f.Close()
				cfg.AuditLog = f
			}
			if !inProcess {
				nodeProcs()
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if memprofile != "" {
				defer func() {
					if f, err := os.Create(memprofile); err == nil {
						_ = pprof.Lookup("allocs").WriteTo(f, 0)
						f.Close()
					}
				}()
			}
			if tracefile != "" {
				f, err := os.Create(tracefile)
				if err != nil {
					return err
				}
				if err := trace.Start(f); err != nil {
					return err
				}
				defer trace.Stop()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			n, err := node.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "warren node %s: API %s, mesh %s\n", n.Name(), n.APIURL(), n.Mesh().Addr())
			// After a burst (large bodies, many code objects) an idle node
			// would keep its peak heap for minutes.
			go memtrim.Run(ctx, memtrimInterval, memtrimExcess)
			<-ctx.Done()
			stop() // a second signal ends the process at once
			drain := cfg.DrainTimeout
			if drain <= 0 {
				drain = node.DefaultDrainTimeout
			}
			fmt.Fprintf(os.Stderr, "warren node %s: draining (running calls may finish for up to %v; signal again to quit now), then leaving the mesh\n",
				n.Name(), drain)
			return n.Close()
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Name, "name", "", "node name (default: stored in --data, else host name + id)")
	f.StringVar(&cfg.Data, "data", "", "data directory: identity, secret, caches, KV replicas (default ~/.warren)")
	f.StringVar(&cfg.Listen, "listen", node.DefaultListen, "UDP address for QUIC and gossip")
	f.StringVar(&cfg.Advertise, "advertise", "", "address peers use to reach --listen (default: derived)")
	f.StringVar(&cfg.API, "api", node.DefaultAPI, "HTTP API address")
	f.StringSliceVar(&join, "join", nil, "peers to join (HOST:PORT of their --listen)")
	f.StringVar(&cfg.SecretPath, "secret", "", "mesh secret file (default $WARREN_SECRET, else DATA/secret)")
	f.IntVar(&cfg.Slots, "slots", 0, "concurrent invocations this node accepts (default 2 per CPU)")
	f.StringSliceVar(&tags, "tags", nil, "tags k=v,... gossiped with the node")
	f.Int64Var(&cfg.MaxWallMs, "max-wall-ms", node.DefaultMaxWallMs, "the longest wall time (limits.wallMs) a call may ask for, in ms; calls asking for more are denied (at most 900000, 15 min)")
	f.Int64Var(&cfg.CacheMB, "cache-mb", 64, "the size of the node's Cache API store (caches.default, caches.open) in MiB; negative: none")
	f.Int64Var(&cfg.MaxMemoryMB, "max-memory-mb", node.DefaultMaxMemoryMB, "the most memory (limits.memoryMb) a call may ask for, in MiB; calls asking for more are denied (at most 4096); each sandbox worker's hard memory cap is (8 × this + 192 MiB) × 8/7, memoryMb counting memory as V8 would")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", node.DefaultDrainTimeout, "on SIGTERM or Ctrl-C, how long running calls may finish before they are canceled")
	f.DurationVar(&cfg.ReplicaGrace, "replica-grace", 5*time.Minute, "how long a dead node keeps its KV replicas before they are rebuilt on other nodes")
	f.Int64Var(&cfg.KVWriteRate, "kv-write-rate", 0, "bytes a second one token that is not an admin's may write to KV through this node (its Workers' bindings and the API), after eight seconds' worth at once (default 4 MiB); negative: unpaced")
	f.Int64Var(&cfg.ObjectWriteRate, "object-write-rate", 0, "bytes a second the Durable Objects of one deployed Worker may commit on this node, after two seconds' worth at once (default 2 MiB); negative: unpaced")
	f.Int64Var(&diskReserveMB, "disk-reserve-mb", node.DefaultDiskReserve>>20, "free space (MiB) kept on the data disk: KV puts and Durable Object writes this node leads are refused (507 full) below it, deletes still taken; 0: none")
	f.StringSliceVar(&cfg.AllowNet, "allow-net", nil, "egress of Workers called with an admin's token or none (name, *.domain, *, address, prefix; optional :port); other tokens bring their own (token create --allow-net). Default: none")
	f.BoolVar(&cfg.NoAuth, "no-auth", false, "serve the API without tokens (development on one machine: --api must be a loopback address)")
	f.BoolVar(&cfg.SharedWorkers, "shared-workers", false, "let the calls of different tokens share sandbox worker processes (each still in a fresh isolate); by default a worker serves one token's calls (parked, and swapped back for its token, when another needs its slot), and past three times --slots tokens calling at once most switches start a worker")
	f.BoolVar(&inProcess, "in-process", false, "run guest code in the node process (trusted code only)")
	f.StringVar(&logFormat, "log-format", "text", "the node's log on stderr: text (key=value lines) or json (one object per line)")
	f.StringVar(&logLevel, "log-level", "info", "the least level logged: debug, info, warn or error")
	f.StringVar(&auditLog, "audit-log", "", "append one JSON line per invocation that enters through this node to this file (token name, code hash, nodes, outcome, CPU time)")
	_ = f.MarkHidden("in-process")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the node process here until it stops")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&memprofile, "memprofile", "", "write the node process's allocation profile here when it stops (go tool pprof -sample_index=alloc_space)")
	_ = f.MarkHidden("memprofile")
	f.StringVar(&tracefile, "trace", "", "write a runtime execution trace of the node process here until it stops (go tool trace)")
	_ = f.MarkHidden("trace")
	return c
}

// A node gives memory back once its heap holds more than memtrimExcess
// beyond its live data, checking every memtrimInterval while busy (less
// often while idle, see memtrim.Run).
const (
	memtrimInterval = 2 * time.Second
	memtrimExcess   = 32 << 20
)

// nodeProcs gives the node's own Go work (HTTP, QUIC, gossip, routing) half
// the CPUs, unless GOMAXPROCS says otherwise: guests run in the sandbox
// worker processes, and on a small host every idle P the runtime keeps is
// one more thread to wake per request. On 2 vCPUs this took serial
// POST /v1/run latency from about 195 to 165 µs and 16-client throughput
// from about 10k to 11k/s (RATIONALE.md).
func nodeProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
}

func newSecretCmd() *cobra.Command {
	c := &cobra.Command{Use: "secret", Short: "Manage the mesh secret"}
	c.AddCommand(&cobra.Command{
		Use:   "init FILE",
		Short: "Write a new mesh secret (CA and gossip key) to FILE, mode 0600",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("secret init takes exactly one FILE")}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := node.InitSecret(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote the mesh secret to %s; start nodes with --secret %s (copy it to their hosts; keep it private)\n", args[0], args[0])
			return nil
		},
	})
	return c
}
