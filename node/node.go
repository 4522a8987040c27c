package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/warrenmesh/warren/internal/sizedlru"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/warrenmesh/warren/internal/quietio"
	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// Defaults of a node's configuration.
const (
	DefaultListen       = "0.0.0.0:7946"
	DefaultAPI          = "127.0.0.1:7070"
	DefaultQueueTimeout = time.Second
	// DefaultDrainTimeout is how long Close lets running invocations
	// finish: the default wall-time limit.
	DefaultDrainTimeout = 30 * time.Second
	// MaxRunBody caps a POST /v1/run body: the 64 MiB code limit plus room
	// for the request and JSON's base64.
	MaxRunBody = 96 << 20
	// DefaultMaxWallMs is the longest wall time a call may ask for: the
	// default wall-time limit. A call that only waits holds its slot as
	// long as one that computes.
	DefaultMaxWallMs = 30_000
	// DefaultMaxMemoryMB is the most memory a call may ask for, in MiB.
	// Each sandbox worker's hard cap is sized from it, and a node keeps a
	// worker per slot.
	DefaultMaxMemoryMB = isolate.DefaultMaxMemoryMB
)

// Config configures a node. The zero value of each field means its default.
type Config struct {
	// Name of the node in the mesh (default: stored in Data, else host name
	// plus a short id).
	Name string
	// Data holds the node's identity (default ~/.warren).
	Data string
	// Listen is the UDP address carrying QUIC and gossip (default DefaultListen).
	Listen string
	// Advertise is the address peers use to reach Listen (default: derived).
	Advertise string
	// API is the HTTP API address (default DefaultAPI).
	API string
	// Join lists peers' Listen addresses.
	Join []string
	// SecretPath is the mesh secret file (default Data/secret, created if absent).
	SecretPath string
	// Slots is how many invocations run here at once (default 2 per CPU).
	Slots int
	// Tags are gossiped with the node.
	Tags map[string]string
	// KVWriteRate paces the KV writes of each token that is not an
	// administrator's, through its Workers' bindings and the API, on this
	// node, in bytes a second, after a burst of eight seconds' worth
	// (default 4 MiB; negative: unpaced).
	KVWriteRate int64
	// ObjectWriteRate paces the storage writes of each deployed Worker's
	// Durable Objects on this node, in bytes a second, after a burst of
	// two seconds' worth (default 2 MiB; negative: unpaced).
	ObjectWriteRate int64
	// QueueTimeout is how long an invocation waits for room anywhere before
	// it is shed (default DefaultQueueTimeout).
	QueueTimeout time.Duration
	// MaxQueued bounds the invocations waiting for room at once; more are
	// shed at once (default 64 per slot).
	MaxQueued int
	// ClientSlots and ClientQueued bound the slots and queue places one
	// client (see RunRequest.Client) holds on this node (default
	// clientShare of Slots and of MaxQueued: three quarters, at least one,
	// leaving at least one to the others). Its calls past them wait, or
	// go to peers, which apply their own.
	ClientSlots  int
	ClientQueued int
	// OnFinish, if set, is called once for every invocation this node ran,
	// with its final result: after its ctx.waitUntil work ended, so with
	// that work's logs and exceptions too. background reports that the
	// work outlived the response, so the caller never saw this result.
	// It runs on the invocation's goroutine: hand the result on and
	// return; do not modify it.
	OnFinish func(res *isolate.Result, background bool)
	// DrainTimeout is how long Close waits for running invocations before
	// it cancels them (default DefaultDrainTimeout).
	DrainTimeout time.Duration
	// BodyBudget bounds the bytes of API request bodies held at once
	// (default DefaultBodyBudget); past it, requests are answered 503.
	BodyBudget int64
	// ClientBodyBudget bounds the part of BodyBudget one client holds
	// (default a quarter of it): a few clients cannot take it all.
	ClientBodyBudget int64
	// AnswerBudget bounds the bytes of large answers (over 64 KiB: KV
	// values and lists, deployed Workers' bodies, POST /v1/run results) the node
	// holds at once while clients read them (default
	// DefaultAnswerBudget); past it, or past a client's quarter of it,
	// such requests are answered 503 busy.
	AnswerBudget int64
	// BodyGrace, BodyMinRate (bytes/s) and BodyTimeout bound how slowly a
	// request body may arrive (defaults DefaultBodyGrace,
	// DefaultBodyMinRate, DefaultBodyTimeout): it may pause at most
	// BodyGrace, must keep up BodyMinRate on average from BodyGrace after
	// its start, and must end within BodyTimeout; else it is answered 408
	// and its bytes are given back.
	BodyGrace   time.Duration
	BodyMinRate int64
	BodyTimeout time.Duration
	// MaxWallMs is the largest limits.wallMs a call run here may ask for
	// (default DefaultMaxWallMs; at most isolate.MaxLimits.WallMs, 15
	// min). A call asking for more is denied, never clipped.
	MaxWallMs int64
	// MaxMemoryMB is the largest limits.memoryMb a call run here may ask
	// for, in MiB (default DefaultMaxMemoryMB; at most
	// isolate.MaxLimits.MemoryMB, 4096). A call asking for more is denied,
	// never clipped. Each sandbox worker's hard memory cap is sized from
	// it: (isolate.HeapRatio × this + 192 MiB) × 8/7, since memoryMb
	// counts memory as V8 would and goja's heap holds more.
	MaxMemoryMB int64
	// CacheMB sizes the node's Cache API store (caches.default,
	// caches.open), in MiB (0: 64; < 0: none, cache calls reject).
	CacheMB int64
	// Executor is isolate.Sandboxed (default) or isolate.InProcess.
	Executor isolate.ExecutorKind
	// PacketConn replaces the UDP socket (tests inject a fault-injecting one).
	PacketConn net.PacketConn
	// APIListener replaces the API's TCP listener.
	APIListener net.Listener
	// MaxConns bounds the API connections open at once (default half the
	// process's file descriptor limit, at most 16384), and MaxClientConns
	// those of one client (default a quarter of MaxConns): a connection
	// past either is reset as soon as it is accepted.
	MaxConns, MaxClientConns int
	// MeshTuning adjusts the mesh configuration (tests shorten timeouts).
	MeshTuning func(*mesh.Config)
	// Logger receives operational logs (default slog.Default()).
	Logger *slog.Logger
	// Host replaces the node's egress and bindings (for embedding, and for
	// tests that watch a guest's effects). Default: a Worker fetches what
	// its caller's token grants (allowNet), and a call with an admin's
	// token, or none, what AllowNet grants.
	Host isolate.Host
	// AllowNet is the egress of calls made with an admin's token, or
	// without one (a --no-auth node, an embedder's Node.Run): grants as
	// policy.Egress reads them ("*" for every public host). Default: none.
	// A token that is not an admin's brings its own (token create
	// --allow-net).
	AllowNet []string
	// KV replaces the node's replicated KV store (tests that exercise the
	// API against a local store). Default: the mesh's Raft groups.
	KV replication.KV
	// Groups replaces what GET /v1/groups reports (default: the mesh's
	// Raft groups).
	Groups replication.Groups
	// NoReplication runs the node without KV storage: it holds no
	// replica and its KV API and bindings answer that it has no store
	// (tests of other parts, which need not pay for 33 Raft groups).
	NoReplication bool
	// ReplicaGrace is how long a dead node keeps its replicas before
	// they are rebuilt elsewhere (default 5 min).
	ReplicaGrace time.Duration
	// DiskReserve is the free space, in bytes, the node keeps on its data
	// disk: KV puts and Durable Object writes it would lead while the
	// disk has less are refused (507 "full"); deletes are still taken.
	// 0: DefaultDiskReserve (256 MiB); negative: no reserve.
	DiskReserve int64
	// ReplicationTuning adjusts the replication configuration (tests).
	ReplicationTuning func(*replication.ClusterConfig)
	// AuditLog, if set, receives one JSON line per invocation that enters
	// the mesh through this node (AuditEntry). The node does not close it.
	AuditLog io.Writer
	// NoAuth serves the API without tokens, every caller an administrator
	// (development on one machine): the API must then listen on loopback.
	// Forwarded calls from peers still need a valid token.
	NoAuth bool
	// SharedWorkers lets the calls of every token share sandbox worker
	// processes (each call still in a fresh isolate): by default a worker
	// serves one tenant (isolate.Invocation.Tenant); one whose slot another
	// tenant needs is parked and swapped back for its tenant's next call,
	// and past three times Slots tenants calling at once most switches
	// start a worker.
	SharedWorkers bool

	// confirmRevocation bounds how long a deploy asks again whether its
	// token was revoked while it ran (0: confirmRevocationWithin; tests
	// shorten it).
	confirmRevocation time.Duration
}

// confirmRevocationWithin bounds how long a deploy asks again whether its
// token was revoked while it ran, when reading that fails.
const confirmRevocationWithin = 5 * time.Second

// Node is one running warren node: the isolate runtime, the mesh, and the
// HTTP API.
type Node struct {
	cfg   Config
	id    identity
	log   *slog.Logger
	rt    *isolate.Runtime
	mesh  *mesh.Mesh
	slots chan struct{} // a token per running invocation
	http  *http.Server
	mcp   *mcp.StreamableHTTPHandler // POST /mcp, after handleMCP's checks
	ln    net.Listener
	done  chan struct{}
	// backgroundLog bounds the lines about background work cut short.
	backgroundLog rateLog
	// life ends when the node stops: invocations still running then are
	// canceled (an in-process one would otherwise run on to its limit).
	life context.Context
	end  context.CancelFunc
	once sync.Once
	host isolate.Host
	// tokenKey verifies the mesh's tokens (TokenKey).
	tokenKey []byte
	// verified holds tokens whose signature checked out (parseToken).
	verified *sizedlru.Cache[string, *policy.Token]
	// revoked is this node's copy of the token revocation list.
	revoked revocations
	codes   *codeCache     // decoded code objects by JSON hash
	workers *deployments   // deployed Workers this node read
	bodies  *byteBudget    // for API request bodies
	answers *byteBudget    // for large answers, while clients read them
	conns   *limitListener // the API's connections, bounded
	// cronWake is signalled by a deploy or undeploy on this node: the
	// cron loop, asleep while no deployment has triggers, looks again
	// (peers' deploys wake it through the mesh's marks).
	cronWake chan struct{}
	share    *shares // what each client holds of the slots and queue
	heavy    *heavyClients
	// kv is the KV store behind the API and bindings, groups the status of
	// its Raft groups; nil when the node has none.
	kv      replication.KV
	groups  replication.Groups
	cluster *replication.Cluster // nil without replication
	db      *badger.DB           // the replication database
	// running counts the invocations running here (a slot can also be
	// held by a forwarded one awaiting its go-ahead).
	running atomic.Int64
	// ran counts the invocations started here since the node started.
	ran atomic.Int64
	// remote counts the invocations this node forwarded that a peer has
	// started and not yet answered.
	remote atomic.Int64
	// queued counts the invocations waiting for room (here or at a peer).
	queued atomic.Int64
	// overview shares the peers' rows of GET /v1/overview among its
	// calls; overviewRounds counts the rounds of asking the peers.
	overview       overviewShare
	overviewRounds atomic.Int64
	// draining is set by Close: the node takes no new invocations (its
	// own callers' go to peers) while the running ones finish.
	draining atomic.Bool
	// retiring: the node is being decommissioned (decommission.go);
	// retire serializes its changes with the file that records it.
	retiring atomic.Bool
	retire   sync.Mutex
	metrics  *metrics // GET /metrics
	// objects are the Durable Objects this node owns.
	objects *objects
	// kvPace paces each token's KV writes (Config.KVWriteRate).
	kvPace  *writeRate
	alarms  *alarms  // the alarms this node runs as the owner of their objects
	auditor *auditor // nil without Config.AuditLog
	tails   tailHub  // GET /v1/tail
	// raftCommit times the commands this node's replicas applied as
	// leaders (warren_raft_commit_seconds).
	raftCommit prometheus.Histogram
}

// Start brings a node up: identity, secret, runtime, mesh, API.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Data == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("node: no --data dir and no home directory: %w", err)
		}
		cfg.Data = filepath.Join(home, ".warren")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.API == "" {
		cfg.API = DefaultAPI
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 2 * runtime.NumCPU()
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 64 * cfg.Slots
	}
	if cfg.ClientSlots <= 0 {
		cfg.ClientSlots = clientShare(cfg.Slots)
	}
	if cfg.ClientQueued <= 0 {
		cfg.ClientQueued = clientShare(cfg.MaxQueued)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.BodyBudget <= 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.ClientBodyBudget <= 0 {
		cfg.ClientBodyBudget = cfg.BodyBudget / 4
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns()
	}
	if cfg.MaxClientConns <= 0 {
		cfg.MaxClientConns = max(1, cfg.MaxConns/4)
	}
	if cfg.AnswerBudget <= 0 {
		cfg.AnswerBudget = DefaultAnswerBudget
	}
	if cfg.BodyGrace <= 0 {
		cfg.BodyGrace = DefaultBodyGrace
	}
	if cfg.BodyMinRate <= 0 {
		cfg.BodyMinRate = DefaultBodyMinRate
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.MaxWallMs <= 0 {
		cfg.MaxWallMs = DefaultMaxWallMs
	}
	if cfg.MaxWallMs > isolate.MaxLimits.WallMs {
		return nil, fmt.Errorf("node: a maximum wall time of %d ms exceeds the runtime's %d ms", cfg.MaxWallMs, isolate.MaxLimits.WallMs)
	}
	if cfg.MaxMemoryMB <= 0 {
		cfg.MaxMemoryMB = DefaultMaxMemoryMB
	}
	if cfg.MaxMemoryMB > isolate.MaxLimits.MemoryMB {
		return nil, fmt.Errorf("node: a maximum memory of %d MiB exceeds the runtime's %d MiB", cfg.MaxMemoryMB, isolate.MaxLimits.MemoryMB)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	id, err := loadIdentity(cfg.Data, cfg.Name)
	if err != nil {
		return nil, err
	}
	secret, err := loadOrCreateSecret(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, id: id, log: cfg.Logger.With("node", id.Name), slots: make(chan struct{}, cfg.Slots), done: make(chan struct{})}
	n.tokenKey = TokenKey(secret)
	n.verified = sizedlru.New[string, *policy.Token](verifiedTokens, verifiedTokens*policy.MaxTokenLen)
	n.objects = newObjects(n)
	n.kvPace = newPace(n.cfg.KVWriteRate, defaultKVWriteRate, defaultKVWriteBurst)
	if cfg.AuditLog != nil {
		n.auditor = newAuditor(cfg.AuditLog)
	}
	n.host = cfg.Host
	if n.host == nil { // egress as tokens (or --allow-net) grant; KV bindings reach n.kv, if any
		n.host = &kvHost{inner: NewEgress(policy.Egress{}), store: func() replication.KV { return n.kv }, objects: n.objects.namespace,
			egress: newEgressPool(), defaultNet: cfg.AllowNet}
	}
	n.kv, n.groups = cfg.KV, cfg.Groups
	n.codes = newCodeCache()
	n.workers = newDeployments()
	n.cronWake = make(chan struct{}, 1)
	n.bodies = newByteBudget(cfg.BodyBudget, cfg.ClientBodyBudget)
	n.answers = newByteBudget(cfg.AnswerBudget, cfg.AnswerBudget/4)
	n.share = newShares(cfg.ClientSlots, cfg.ClientQueued)
	n.heavy = newHeavyClients()
	n.rt, err = isolate.New(isolate.Options{
		Executor: cfg.Executor, Workers: cfg.Slots, Node: id.Name, Logger: n.log,
		CacheDir: filepath.Join(cfg.Data, "wasm-cache"), Host: n.host,
		// A call that asks for no wall time or memory gets the default, or
		// the maximum where an operator set it lower.
		MaxWallMs: cfg.MaxWallMs, MaxMemoryMB: cfg.MaxMemoryMB, ResponseCacheBytes: cfg.CacheMB << 20,
		Defaults: isolate.Limits{WallMs: min(isolate.DefaultLimits.WallMs, cfg.MaxWallMs), MemoryMB: min(isolate.DefaultLimits.MemoryMB, cfg.MaxMemoryMB)},
	})
	if err != nil {
		return nil, err
	}
	ln := cfg.APIListener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.API); err != nil {
			n.rt.Close()
			return nil, fmt.Errorf("node: API listener: %w", err)
		}
	}
	if cfg.NoAuth {
		if err := checkNoAuth(cfg, ln); err != nil {
			ln.Close()
			n.rt.Close()
			return nil, err
		}
		n.log.Warn("the API needs no token (--no-auth): anyone who reaches " + apiURL(ln.Addr()) + " may run code and read and write KV; for development on one machine only")
	}
	n.ln = ln
	mc := mesh.Config{
		Name: id.Name, ID: id.ID, Secret: secret, Bind: cfg.Listen, PacketConn: cfg.PacketConn,
		Advertise: cfg.Advertise, Tags: cfg.Tags, API: apiURL(ln.Addr()), Logger: n.log,
	}
	if cfg.MeshTuning != nil {
		cfg.MeshTuning(&mc)
	}
	if n.mesh, err = mesh.Start(ctx, mc); err != nil {
		ln.Close()
		n.rt.Close()
		return nil, err
	}
	if n.kv == nil && !cfg.NoReplication {
		if err := n.startReplication(); err != nil {
			n.mesh.Close()
			ln.Close()
			n.rt.Close()
			return nil, err
		}
	}
	n.life, n.end = context.WithCancel(context.Background()) // nothing fails from here on
	n.metrics = newMetrics(n)
	n.mesh.Handle(protoInvoke, n.serveForward)
	if n.cluster != nil {
		n.mesh.Handle(mesh.ProtoObject, n.serveObject)
		go n.sweepObjects()
		n.alarms = newAlarms(n.objects)
		go n.runAlarms()
		go n.runCrons()
		go n.placeObjects()
		// A decommission outlives a restart: the node goes on retiring.
		if _, err := os.Stat(n.retiringPath()); err == nil {
			n.retiring.Store(true)
			n.log.Info("decommissioning (since before a restart): this node's replicas move to other nodes")
		}
	}
	n.publish()
	// No overall read or write timeout: a body may be large and a call may
	// run for its whole wall-time limit; a run body's reads have deadlines
	// of their own (bodyClock). Idle keep-alive connections of vanished
	// clients do not pile up.
	// net/http's own OPTIONS * handler runs outside boundConn, and read a
	// body that never came with no deadline: the node answers it too.
	n.http = &http.Server{Handler: n.boundConn(n.authenticate(n.routes())), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: MaxHeaderBytes, ConnContext: withConn, DisableGeneralOptionsHandler: true}
	n.conns = newLimitListener(quietio.Listener{Listener: ln}, cfg.MaxConns, cfg.MaxClientConns)
	go func() {
		// Connections read and write quietly (package quietio): the
		// scheduler's system-call path cost the node a sixth of its CPU.
		if err := n.http.Serve(n.conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API server stopped", "err", err)
		}
	}()
	if len(cfg.Join) > 0 {
		if _, err := n.mesh.Join(cfg.Join); err != nil {
			// Not fatal: peers may come up later; the mesh keeps trying
			// dead members, and a later `--join` restart fixes a typo.
			n.log.Warn("joining the mesh", "join", cfg.Join, "err", err)
		}
	}
	return n, nil
}

// startReplication opens the node's replication database in
// Data/replication and starts its part of the cluster; the mesh's first
// node (started without Join) founds it.
func (n *Node) startReplication() error {
	dir := filepath.Join(n.cfg.Data, "replication")
	db, err := replication.OpenDB(filepath.Join(dir, "db"), n.log)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.raftCommit = newRaftCommitHistogram()
	cc := replication.ClusterConfig{
		Mesh: n.mesh, Transport: replication.NewTransport(n.mesh, n.log), DB: db, Dir: dir,
		Logger: n.log, Bootstrap: len(n.cfg.Join) == 0, Grace: n.cfg.ReplicaGrace,
		OnCommit:    func(d time.Duration) { n.raftCommit.Observe(d.Seconds()) },
		DiskReserve: n.cfg.DiskReserve,
	}
	if n.cfg.ReplicationTuning != nil {
		n.cfg.ReplicationTuning(&cc)
	}
	cl, err := replication.StartCluster(cc)
	if err != nil {
		db.Close()
		return fmt.Errorf("node: %w", err)
	}
	n.cluster, n.db = cl, db
	n.kv, n.groups = cl, cl
	return nil
}

// stopReplication stops the node's replicas and closes their database.
func (n *Node) stopReplication() error {
	if n.cluster == nil {
		return nil
	}
	return errors.Join(n.cluster.Close(), n.db.Close())
}

func loadOrCreateSecret(cfg Config) (*mesh.Secret, error) {
	path := cfg.SecretPath
	if path == "" {
		path = filepath.Join(cfg.Data, "secret")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			s, err := mesh.GenerateSecret()
			if err != nil {
				return nil, err
			}
			if err := mesh.WriteSecret(path, s); err != nil {
				return nil, err
			}
			cfg.Logger.Info("created a new mesh secret; give this file to the nodes that should join", "secret", path)
			return s, nil
		}
	}
	return mesh.LoadSecret(path)
}

func apiURL(a net.Addr) string { return "http://" + a.String() }

// Name is the node's name in the mesh.
func (n *Node) Name() string { return n.id.Name }

// APIURL is the base URL of the node's HTTP API.
func (n *Node) APIURL() string { return apiURL(n.ln.Addr()) }

// Mesh is the node's mesh endpoint.
func (n *Node) Mesh() *mesh.Mesh { return n.mesh }

// Close drains the node, then stops it. Draining, the node takes no new
// invocations: it gossips no free slot, answers peers "full", sends its
// own callers' calls to peers, and stops accepting API connections. The
// invocations already running finish, for up to DrainTimeout; then the
// rest are canceled, the node leaves the mesh and stops its workers.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.draining.Store(true)
		n.publish()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
		defer cancel()
		err = n.http.Shutdown(ctx) // API calls in flight finish, here or on peers
		if !n.waitIdle(ctx) {
			n.log.Warn("canceling the invocations still running after the drain timeout", "running", len(n.slots), "timeout", n.cfg.DrainTimeout)
		}
		close(n.done)
		n.end()
		err = errors.Join(err, n.stopReplication())
		_ = n.mesh.Leave(time.Second)
		err = errors.Join(err, n.mesh.Close(), n.rt.Close())
		n.auditor.close()
	})
	return err
}

// waitIdle waits until no slot is held, or ctx ends.
func (n *Node) waitIdle(ctx context.Context) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(n.slots) > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// Kill stops the node without leaving the mesh, as a crash would (tests).
func (n *Node) Kill() error {
	var err error
	n.once.Do(func() {
		close(n.done)
		n.end()
		err = errors.Join(n.http.Close(), n.stopReplication(), n.mesh.Close(), n.rt.Close())
		n.auditor.close()
	})
	return err
}

// publish tells the mesh how much room this node has (none, draining).
func (n *Node) publish() {
	used := len(n.slots)
	free := n.cfg.Slots - used
	if n.draining.Load() {
		free = 0
	}
	n.mesh.SetLoad(mesh.LocalState{Slots: n.cfg.Slots, Free: free, Load: float64(used) / float64(n.cfg.Slots), Draining: n.draining.Load(), Retiring: n.retiring.Load()})
}

// tryAcquire takes a slot for a call of cs, if one is free and cs has not
// taken its share.
func (n *Node) tryAcquire(cs *clientState) bool {
	if !cs.takeToken() {
		return false
	}
	select {
	case n.slots <- struct{}{}:
		if n.admitted() {
			return true
		}
	default:
	}
	cs.putToken()
	return false
}

// admitted completes taking a slot: it keeps it unless the node is
// draining.
func (n *Node) admitted() bool {
	if n.draining.Load() {
		<-n.slots
		return false
	}
	n.publish()
	return true
}

func (n *Node) release(cs *clientState) {
	<-n.slots
	cs.putToken()
	n.publish()
}
