package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/internal/stagetime"
)

// Config configures a Pool. The zero value is usable.
type Config struct {
	// Command builds the command for a new worker. Default: os.Executable() with no
	// arguments. The pool adds its environment variables (to cmd.Env, or to os.Environ()
	// when cmd.Env is nil), the IPC channel (an extra fd on unix, stdin/stdout elsewhere),
	// stdout/stderr (captured: the last 4 KiB are kept for CrashError) and, on unix, the
	// process-group and parent-death settings of cmd.SysProcAttr.
	Command func() *exec.Cmd
	// Workers is the number of concurrent invocations (worker slots). 0: 2 per CPU.
	Workers int
	// Spares is the number of hot spare workers kept started beyond Workers. A spare
	// takes no calls: it is promoted into a slot the moment a worker is killed or dies,
	// so callers wait ~0.1 ms instead of a 6–16 ms start. Refills (of slots and spares)
	// are always asynchronous. 0: 1 spare; negative: none.
	Spares int
	// MemoryLimitBytes is the hard per-worker memory cap: a cgroup v1 memory.limit_in_bytes
	// where a cgroup is writable, else an RLIMIT_AS the worker sets on itself at its
	// current virtual size plus this amount. The worker's Go soft limit
	// (debug.SetMemoryLimit) is 7/8 of it. 0: 512 MiB.
	MemoryLimitBytes int64
	// CgroupRoot is the pool's cgroup v1 memory directory (e.g.
	// /sys/fs/cgroup/memory/warren-<pid>); each worker gets a child directory. "":
	// autodetect (a warren-<pid>-<n> child of this process's own memory cgroup); "-":
	// disable cgroups.
	CgroupRoot string
	// CPUs is the CPU time a worker may use, in CPUs: a cgroup v1 CFS quota, where the
	// cpu controller is writable, beside the memory cgroup (and a pids cgroup, which
	// bounds a worker's threads). 0: 1 CPU (a worker runs Go with GOMAXPROCS=1).
	CPUs float64
	// DemoteAfter is the CPU time a call may use before its worker runs on at a low CPU
	// weight, until the call ends, so that short calls and the host come first (see
	// demote.go; it needs the worker's cpu cgroup). 0: 20 ms; negative: never.
	DemoteAfter time.Duration
	// StarveAfter is how long a demoted call runs on the CPU the host does not want
	// before a floor of half a CPU on average (an eighth while the pool's short calls
	// run, or ran lately) applies to it (demote.go). 0: 0.25 s,
	// the grace of waiting the engines do not charge a call for; negative: at once.
	StarveAfter time.Duration
	// HostNetwork leaves workers in the host's network namespace. By default (linux)
	// each worker starts in a new, empty one where the kernel allows it (root, or
	// unprivileged user namespaces), and the pool falls back to the host's otherwise.
	HostNetwork bool
	// NoSeccomp leaves out the seccomp filter that workers (linux on amd64 and
	// arm64) install on themselves: it refuses system calls a worker never needs
	// (new sockets, exec, ptrace, mounts, namespaces, bpf, io_uring, ...).
	NoSeccomp bool
	// NoLandlock leaves out the Landlock rules workers put on themselves where the
	// kernel has Landlock (the layer "landlock"; Stats.LandlockABI).
	NoLandlock bool
	// SharedNamespaces leaves workers in the host's mount and PID namespaces. By default
	// (linux) each worker starts in new ones, where the kernel allows, as process 1 with
	// a /proc of its own: it sees no other process.
	SharedNamespaces bool
	// NoDropPrivileges keeps workers of a host that runs as root running as root. By
	// default they switch to WorkerUID once set up, with RLIMIT_NPROC.
	NoDropPrivileges bool
	// WorkerUID is the uid and gid workers of a root host run as (0: DefaultWorkerUID).
	// It owns no file: a worker reads only what anyone may, and writes only
	// WritableDirs.
	WorkerUID int
	// WritableDirs are directories workers write (the wasm compilation cache): with
	// dropped privileges the pool creates them and gives them, and what they hold, to
	// WorkerUID.
	WritableDirs []string
	// ReadOnlyDirs are existing directories workers read but must not change (the wasm
	// compilation cache that other processes write): a worker in a mount namespace of
	// its own mounts each onto itself read-only (the layer "readonly-dirs"); elsewhere
	// they are only as closed to it as their permissions make them. With dropped
	// privileges the pool gives them to WorkerUID, as WritableDirs, so that workers
	// may read them; a worker reaches them through WritablePath as well.
	ReadOnlyDirs []string
	// Parked is how many idle workers of tenants (CallOptions.Tenant) the pool keeps
	// beyond Workers: a worker whose slot another tenant needed is parked rather than
	// ended, and a later call of its tenant swaps it back into a slot for the least
	// recently used idle worker there, without starting a process. Past it the least
	// recently parked worker of a tenant that keeps another worker is ended, and a
	// tenant's only worker only past twice Parked (parkedVictim). 0: Workers; negative:
	// none.
	Parked int
	// ParkIdle is how long a parked worker waits for its tenant's next call before it
	// is ended (0: DefaultParkIdle; negative: it waits for ever): a node that served
	// many tenants once does not keep their processes idle for good.
	ParkIdle time.Duration
	// Logger receives pool events (spawn failures, crashes). nil: discard.
	Logger *slog.Logger

	// testHookSpawn, if set, is called with the pid of every started worker.
	testHookSpawn func(pid int)
}

// CallOptions are per-call options for Pool.Call.
type CallOptions struct {
	// Deadline is a hard deadline: the worker is killed at this time if it has not
	// answered, and Call returns a *CrashError with Reason "deadline". Zero: none.
	Deadline time.Time
	// Timeout, when set, is a deadline as Deadline's that runs from the moment a worker
	// takes the call, not counting the wait for one (the earlier of the two holds).
	Timeout time.Duration
	// Low starts the call at the low CPU weight, as if it had been demoted at its start:
	// it gets the cycles nobody else wants, and the floor from Config.StarveAfter on
	// (demote.go). A caller sets it for the calls of a client whose calls ran long lately
	// (a node does: its heavy clients). Where calls are never demoted (no cpu cgroup,
	// Config.DemoteAfter negative) it does nothing.
	Low bool
	// OnDemote, when set, is called once if the call is demoted, from the pool's timer
	// goroutine: it must not block or call into the pool. Never for a call that started
	// Low, nor for one whose worker may still be clearing its last call's remains (a
	// demoted call's, or a tidy: the worker's CPU clock counts that work as the call's).
	OnDemote func()
	// CPULimit, when set, bounds the CPU time the worker may use on the call, as the
	// pool reads it from the kernel (the worker's process CPU clock, so the engine's own
	// count, which a worker taken over could falsify, decides nothing): past it the
	// worker is killed, and Call returns a *CrashError with Reason "cpu". The pool looks
	// when the call could first have used it, and again each time it could have used the
	// rest. Zero: none.
	CPULimit time.Duration
	// Tenant names whose call this is. A worker that ran a call of one tenant never
	// runs one of another: the call goes to an idle worker of its tenant, to its
	// tenant's parked one (Config.Parked), or to one that has run nobody's (a spare, a
	// new one); where every idle worker ran another tenant's calls, the least recently
	// used of them leaves its slot (parked, or ended: Stats.Recycled). A guest that
	// took over its worker (a bug in an engine) thus sees only its own tenant's later
	// calls. "" is a tenant like any other.
	Tenant string
}

// taken is o once a worker has taken its call: Timeout runs from now.
func (o CallOptions) taken() CallOptions {
	if o.Timeout > 0 {
		if d := time.Now().Add(o.Timeout); o.Deadline.IsZero() || d.Before(o.Deadline) {
			o.Deadline = d
		}
	}
	return o
}

// maxPassed bounds how often a waiting caller sees a worker it may not use go to
// a caller behind it (of the worker's tenant): past it, the next worker that
// frees up and does not fit it leaves its slot for it (vacate).
const maxPassed = 4

// recycleAfter is how long a caller whose tenant has workers, all busy, waits for
// one of them before a worker of another tenant leaves its slot for it (vacate):
// starting a worker costs some 10-20 ms of CPU, and a short call frees its worker
// in well under a millisecond.
const recycleAfter = 20 * time.Millisecond

// cpuWatchMin bounds how often CallOptions.CPULimit's watch reads a call's CPU time.
const cpuWatchMin = 10 * time.Millisecond

// CrashError reports a call whose worker was killed or died.
type CrashError struct {
	// Reason is "deadline" (killed at CallOptions.Deadline), "cpu" (killed past
	// CallOptions.CPULimit), "memory" (the memory limit
	// was hit), "crash" (the worker exited on its own: panic, os.Exit, fatal error) or "ipc"
	// (malformed or oversized frame, or the channel failed).
	Reason string
	// ExitCode is the worker's exit status, -1 if it was killed by a signal or is unknown.
	ExitCode int
	// Signal names the signal that killed the worker (e.g. "SIGKILL"), if any.
	Signal string
	// MemoryExceeded is set when there is evidence the memory limit was hit: the cgroup's
	// OOM killer fired, Go reported "out of memory" / "cannot allocate memory" on stderr,
	// or the worker was SIGKILLed by the kernel's OOM killer.
	MemoryExceeded bool
	// Stderr is the worker's stdout+stderr, bounded: the first 1 KiB (where Go prints
	// "fatal error:" and "panic:") and the last 3 KiB, with a marker for the gap.
	Stderr string
}

func (e *CrashError) Error() string {
	var b strings.Builder
	b.WriteString("sandbox: worker ")
	switch e.Reason {
	case "deadline":
		b.WriteString("killed at deadline")
	case "memory":
		b.WriteString("exceeded its memory limit")
	case "ipc":
		b.WriteString("killed after an IPC error")
	default:
		b.WriteString("crashed")
	}
	if e.Signal != "" {
		b.WriteString(" (signal " + e.Signal + ")")
	} else if e.ExitCode >= 0 {
		b.WriteString(" (exit status " + strconv.Itoa(e.ExitCode) + ")")
	}
	if line := summary(e.Stderr); line != "" {
		b.WriteString(": " + line)
	}
	return b.String()
}

// Stats is a snapshot of the pool for health checks and metrics.
type Stats struct {
	Workers  int `json:"workers"` // live workers in slots (Idle + Busy)
	Idle     int `json:"idle"`
	Busy     int `json:"busy"`
	Spares   int `json:"spares"`   // started hot spares
	Leased   int `json:"leased"`   // workers held by a Lease (beyond Workers)
	Starting int `json:"starting"` // workers being started
	Waiting  int `json:"waiting"`  // callers waiting for a worker

	Spawned uint64 `json:"spawned"` // workers started successfully since NewPool
	Killed  uint64 `json:"killed"`  // workers the pool killed (deadline, cancel, IPC error)
	Crashed uint64 `json:"crashed"` // workers that died on their own (crash, memory)
	// StartFailures counts failed worker starts (retried with backoff up to 2 s).
	StartFailures uint64 `json:"startFailures"`
	// Demoted counts calls that ran past Config.DemoteAfter of CPU and were demoted.
	Demoted uint64 `json:"demoted"`
	// StartedLow counts calls that started at the low weight (CallOptions.Low).
	StartedLow uint64 `json:"startedLow"`
	// Boosted counts the floor's windows at the normal weight given to demoted calls
	// (demote.go).
	Boosted uint64 `json:"boosted"`
	// Tidied counts answers after which the worker did work of its own before its next
	// call (Engine.Tidy: the garbage of a call that used much memory).
	Tidied uint64 `json:"tidied"`
	// Recycled counts workers ended because they had run another tenant's calls
	// (CallOptions.Tenant) and a caller needed a worker: parked ones past
	// Config.Parked, or slot workers where nothing is parked.
	Recycled uint64 `json:"recycled"`
	// Parked is the idle workers of tenants kept beyond the slots now (Config.Parked);
	// ParkedTotal counts the workers parked so, and Swapped the calls that swapped a
	// parked worker back into a slot, without starting one.
	Parked      int    `json:"parked"`
	ParkedTotal uint64 `json:"parkedTotal"`
	// ParkedIdleEnded counts the parked workers ended after Config.ParkIdle unused.
	ParkedIdleEnded uint64 `json:"parkedIdleEnded"`
	Swapped         uint64 `json:"swapped"`

	MemoryLimitBytes int64 `json:"memoryLimitBytes"`
	// Preparers is the pool of the workers that prepare code and run none, where the
	// caller keeps one (isolate does).
	Preparers *Stats `json:"preparers,omitempty"`
	// LandlockABI is the Landlock ABI version every current worker restricted itself
	// with (the lowest, if they differ; 0 if any has none): 1 and later, file access;
	// 4, TCP; 6, signals and abstract unix sockets (docs/security.md).
	LandlockABI int `json:"landlockAbi"`
	// Layers lists the isolation layers in force: "process", "process-group",
	// "pdeathsig", "netns", and per-worker memory layers "cgroup-v1-memory" /
	// "rlimit-as" (those applied to at least one current worker).
	Layers []string `json:"layers"`
}

var (
	// ErrClosed is returned by Call on a closed pool (or one closed during the call).
	ErrClosed = errors.New("sandbox: pool closed")
)

const (
	defaultMemoryLimit = 512 << 20
	startTimeout       = 10 * time.Second
	// exitGrace bounds how long a call waits for a worker that closed its channel to
	// exit on its own before it is killed (normally well under a millisecond).
	exitGrace = 500 * time.Millisecond
	// reapWait bounds how long a failed call waits for a killed worker's exit status.
	reapWait = 5 * time.Second
)

// worker states (guarded by Pool.mu)
const (
	stStarting = iota
	stSpare
	stIdle
	stBusy
	stRetired
	stLeased // out of the rotation, for a Lease
	stParked // out of the slots, kept idle for its tenant (Pool.park)
)

// abort reasons (besides the CrashError reasons)
const (
	abortCanceled = "canceled"
	abortClosed   = "closed"
)

type worker struct {
	p        *Pool
	id       uint64
	cmd      *exec.Cmd
	pid      int
	conn     hostConn
	br       *bufio.Reader
	bw       *bufio.Writer
	cg       *workerCgroup
	cpuCg    *workerCgroup // its CPU quota, if any
	pidsCg   *workerCgroup // its pids.max, if any
	rlim     bool          // RLIMIT_AS applied
	cgOn     bool          // the worker runs in its cgroup
	netns    bool          // the worker runs in its own network namespace
	seccomp  bool          // the worker installed its seccomp filter
	rlimits  bool          // the worker set its rlimits (no core files, bounded open files)
	mountns  bool          // private mounts, its own /proc
	pidns    bool          // process 1 of its own PID namespace
	unpriv   bool          // runs as a uid other than 0
	nproc    bool          // RLIMIT_NPROC holds
	readOnly bool          // Config.ReadOnlyDirs are mounted read-only
	landlock int           // the Landlock ABI version the worker restricted itself with (0: none)
	cpuOn    bool          // the worker runs in its cpu cgroup
	dm       *demoter      // nil: its calls are never demoted
	pidsOn   bool          // the worker runs in its pids cgroup
	timer    *time.Timer
	cw       cpuWatch // CallOptions.CPULimit of its call
	oom0     int64    // system OOM-kill counter at start
	// tidying: its last answer was a frameResponseTidy, so it works before it reads its
	// next request (Engine.Tidy). Written by the call that holds the worker.
	tidying bool
	// served: it was handed a call of tenant (guarded by p.mu).
	served bool
	tenant string
	// parkedAt is when it was parked last (guarded by p.mu).
	parkedAt time.Time

	out        output        // stdout+stderr head/tail; written by the drainer only
	stderrDone chan struct{} // closed when the drainer hit EOF
	exited     chan struct{} // closed when the worker is reaped and the fields below are set
	state      *os.ProcessState
	memByCg    bool // cgroup OOM evidence
	memByOS    bool // system OOM killer fired during its life

	state_ int // pool state, guarded by p.mu

	mu          sync.Mutex
	abortReason string // first reason the pool killed it for
	reaping     bool   // the reaper is about to reap: the group id may be reused after
}

// Pool is a pool of sandbox worker processes. It is safe for concurrent use.
type Pool struct {
	cfg     Config
	command func() *exec.Cmd
	log     *slog.Logger
	cg      *cgroupPool
	cpuCg   *cgroupPool // nil: no CPU quota
	pidsCg  *cgroupPool // nil: no pids.max
	netns   atomic.Bool // start workers in a new network namespace
	procns  atomic.Bool // start workers in new mount and PID namespaces
	uid     int         // workers switch to this uid and gid; -1: they do not
	workers int
	spares  int
	limit   int64
	// demoteAfter is Config.DemoteAfter (0: never).
	demoteAfter time.Duration
	starveAfter time.Duration // Config.StarveAfter (0: at once)
	demotions   atomic.Uint64
	lowStarts   atomic.Uint64 // Stats.StartedLow
	tidies      atomic.Uint64 // Stats.Tidied
	boosts      atomic.Uint64 // Stats.Boosted
	// earliestBoost is the shortest time from a call's demotion to its first boost,
	// in ns (tests); 0 before any boost.
	earliestBoost atomic.Int64
	// short counts the calls in progress that are not demoted (demote.go): while there
	// are any, or were within shortRecent, the floor keeps a demoted call at shortFloor
	// rather than demoteFloor. shortAt is when the last of them ended or was demoted
	// (ns since born, the pool's start on the monotonic clock).
	short   atomic.Int64
	shortAt atomic.Int64
	born    time.Time

	mu        sync.Mutex
	closed    bool
	done      chan struct{}
	idle      []*worker
	waiters   []*waiter
	owned     map[string]int // slot workers (idle or busy) that served each tenant
	parked    []*worker      // Config.Parked's workers, the least recently parked first
	parkMax   int
	spareList []*worker
	live      int // workers in slots
	leased    int // workers out of the rotation, held by a Lease
	starting  int
	all       map[*worker]struct{} // every started, unreaped worker
	nextID    uint64
	forks     chan func() // run by forkLoop on its locked OS thread
	started   chan error  // NewPool's first outcome (buffered, written once)
	reported  bool        // the first outcome was sent

	spawned, killed, crashed, startFailures, recycled uint64
	parkedCount, swapped, parkIdled                   uint64
	parkIdle                                          time.Duration
	parkTimer                                         *time.Timer // ends parked workers idle for parkIdle

	wg sync.WaitGroup
}

// inheritedOnce marks the descriptors the process inherited close-on-exec, before its
// first worker starts (closeOnExecInherited).
var inheritedOnce sync.Once

// NewPool starts the workers and returns once at least one is ready, or with the error that
// kept the first one from starting.
func NewPool(cfg Config) (*Pool, error) {
	inheritedOnce.Do(closeOnExecInherited)
	p := &Pool{
		born:    time.Now(),
		cfg:     cfg,
		log:     cfg.Logger,
		workers: cfg.Workers,
		spares:  cfg.Spares,
		limit:   cfg.MemoryLimitBytes,
		done:    make(chan struct{}),
		all:     make(map[*worker]struct{}),
		owned:   map[string]int{},
		started: make(chan error, 1),
		forks:   make(chan func()),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.netns.Store(netnsSupported && !cfg.HostNetwork)
	p.procns.Store(procnsSupported && !cfg.SharedNamespaces)
	p.uid = -1
	if dropSupported && !cfg.NoDropPrivileges && os.Geteuid() == 0 {
		p.uid = cfg.WorkerUID
		if p.uid <= 0 {
			p.uid = DefaultWorkerUID
		}
		// ReadOnlyDirs too, for reading: they are mounted read-only for the workers.
		for _, d := range append(slices.Clone(cfg.WritableDirs), cfg.ReadOnlyDirs...) {
			if err := giveDir(d, p.uid); err != nil {
				p.log.Warn("sandbox: a directory workers write is not theirs", "dir", d, "err", err)
			}
		}
	}
	if p.workers <= 0 {
		p.workers = 2 * runtime.NumCPU()
	}
	p.parkIdle = orDefault(cfg.ParkIdle, DefaultParkIdle)
	p.parkMax = orDefault(cfg.Parked, p.workers)
	p.spares = orDefault(p.spares, 1)
	if p.limit <= 0 {
		p.limit = defaultMemoryLimit
	}
	p.demoteAfter = orDefault(cfg.DemoteAfter, DefaultDemoteAfter)
	p.starveAfter = orDefault(cfg.StarveAfter, defaultStarveAfter)
	p.command = cfg.Command
	if p.command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("sandbox: finding own executable: %w", err)
		}
		p.command = func() *exec.Cmd { return exec.Command(exe) }
	}
	if cfg.CgroupRoot != "-" {
		cg, cleaned, err := openCgroup(cfg.CgroupRoot)
		for _, d := range cleaned {
			p.log.Info("sandbox: removed stale cgroup", "dir", d)
		}
		if err != nil {
			p.log.Info("sandbox: no cgroup memory limit, using RLIMIT_AS", "err", err)
		} else {
			p.cg = cg
		}
		if cg, cleaned, err := openCPUCgroup(p.workers); err != nil {
			p.log.Info("sandbox: no cgroup CPU quota for workers", "err", err)
		} else {
			logCleaned(p.log, cleaned)
			p.cpuCg = cg
			if leaveAutogroupErr != nil {
				p.log.Warn("sandbox: the host stays in its session's autogroup, where busy workers outweigh it", "err", leaveAutogroupErr)
			}
		}
		if cg, cleaned, err := openPidsCgroup(); err != nil {
			p.log.Info("sandbox: no cgroup bound on workers' threads", "err", err)
		} else {
			logCleaned(p.log, cleaned)
			p.pidsCg = cg
		}
	}
	p.wg.Add(1)
	go p.forkLoop()
	p.mu.Lock()
	p.rebalance()
	p.mu.Unlock()
	if err := <-p.started; err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// rebalance promotes spares into free slots and starts workers for the remaining deficit.
// Called with p.mu held.
func (p *Pool) rebalance() {
	if p.closed {
		return
	}
	for p.live < p.workers && len(p.spareList) > 0 {
		w := p.spareList[0]
		p.spareList = slices.Delete(p.spareList, 0, 1)
		p.live++
		p.deliver(w)
	}
	need := (p.workers - p.live) + (p.spares - len(p.spareList)) - p.starting
	for range need {
		p.starting++
		p.wg.Add(1)
		go p.startLoop()
	}
}

// forkLoop starts worker processes from one OS thread that stays alive while the pool is
// open: Pdeathsig fires when the *thread* that forked a child exits, and the Go runtime
// terminates a thread when a goroutine locked to it exits; a fork from an arbitrary
// thread could thus kill a healthy worker long after.
func (p *Pool) forkLoop() {
	defer p.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread() // unlocked, the thread lives on
	for {
		select {
		case f := <-p.forks:
			f()
		case <-p.done:
			return
		}
	}
}

// retryCmd copies a command whose Start failed (a Cmd starts at most once).
func retryCmd(c *exec.Cmd) *exec.Cmd {
	n := &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir, Stdin: c.Stdin, Stdout: c.Stdout,
		Stderr: c.Stderr, ExtraFiles: c.ExtraFiles}
	if c.SysProcAttr != nil {
		attr := *c.SysProcAttr
		n.SysProcAttr = &attr
	}
	return n
}

// startProcess runs cmd.Start on the fork thread.
func (p *Pool) startProcess(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	select {
	case p.forks <- func() { done <- cmd.Start() }:
		return <-done
	case <-p.done:
		return ErrClosed
	}
}

// report sends NewPool the first start-up outcome. p.mu held.
func (p *Pool) report(err error) {
	if !p.reported {
		p.reported = true
		p.started <- err
	}
}

// waiter is a caller waiting for a worker.
type waiter struct {
	ch     chan *worker
	t      tenancy
	passed int // workers handed to callers behind it that it could not use
	// expired: it waited recycleAfter for a worker of its tenant; a worker of
	// another tenant now leaves its slot for it rather than stay idle.
	expired bool
}

// tenancy is what a call asks of its worker's past: to have served no tenant but
// tenant (CallOptions.Tenant), or none at all (clean: a Lease's).
type tenancy struct {
	tenant string
	clean  bool
}

func tenancyOf(o CallOptions) tenancy { return tenancy{tenant: o.Tenant} }

// fits reports whether w may take a call of t: one that ran no tenant's call takes
// any; one that did, only its tenant's (and never a clean one). p.mu held.
func (w *worker) fits(t tenancy) bool {
	return !w.served || (!t.clean && w.tenant == t.tenant)
}

// claim marks w as running a call of t. p.mu held.
func (p *Pool) claim(w *worker, t tenancy) {
	if !t.clean && !w.served {
		w.served, w.tenant = true, t.tenant
		p.owned[t.tenant]++
	}
	w.state_ = stBusy
}

// needyWaiters counts the waiters that are needy. p.mu held.
func (p *Pool) needyWaiters() int {
	n := 0
	for _, wt := range p.waiters {
		if p.needy(wt) {
			n++
		}
	}
	return n
}

// disown drops w from its tenant's count of workers (owned). p.mu held.
func (p *Pool) disown(w *worker) {
	if !w.served {
		return
	}
	if p.owned[w.tenant]--; p.owned[w.tenant] <= 0 {
		delete(p.owned, w.tenant)
	}
}

// needy reports whether waiter wt should have a worker of another tenant leave
// its slot for it (vacate), rather than wait for one of its own: its tenant has
// none in a slot, it waited recycleAfter, or it was passed over maxPassed times.
// p.mu held.
func (p *Pool) needy(wt *waiter) bool {
	return wt.expired || wt.passed >= maxPassed || p.ownsNone(wt.t)
}

// ownsNone reports whether no slot worker may serve t but one that served nobody.
// p.mu held.
func (p *Pool) ownsNone(t tenancy) bool { return t.clean || p.owned[t.tenant] == 0 }

// deliver hands a slot worker to the first waiter it may serve, or leaves it idle.
// A worker that may serve only waiters behind one passed over maxPassed times
// already, or none, while more waiters need one (needy) than workers are being
// started for slots, leaves its slot: for a needy waiter's parked worker, else
// for a new one (vacate). p.mu held.
func (p *Pool) deliver(w *worker) {
	if len(p.waiters) > 0 {
		i := slices.IndexFunc(p.waiters, func(wt *waiter) bool { return w.fits(wt.t) })
		switch {
		case i >= 0 && !slices.ContainsFunc(p.waiters[:i], func(wt *waiter) bool { return wt.passed >= maxPassed }):
			wt := p.waiters[i]
			for _, before := range p.waiters[:i] {
				before.passed++
			}
			p.waiters = slices.Delete(p.waiters, i, i+1)
			p.claim(w, wt.t)
			wt.ch <- w
			return
		case p.needyWaiters() > min(p.starting, p.workers-p.live):
			// Workers being started for slots go to waiters too: one ended
			// per needy waiter, not one per worker freed while they start.
			// A needy waiter whose tenant has a worker parked takes it back
			// in w's stead, with no start.
			for i, wt := range p.waiters {
				if !p.needy(wt) {
					continue
				}
				if pw := p.parkedOf(wt.t); pw != nil {
					p.swapIn(pw, w)
					p.waiters = slices.Delete(p.waiters, i, i+1)
					wt.ch <- pw
					return
				}
			}
			p.vacate(w)
			return
		}
		// The waiters wait for workers of their own tenants, busy now.
	}
	w.state_ = stIdle
	if w.atRemains() {
		// Its last call's remains (a demoted call's, or the work it tidies) run at the
		// background weight: it is the last idle worker to take a call (acquire takes
		// from the end), and a caller who gets it waits for what is left of them.
		p.idle = slices.Insert(p.idle, 0, w)
		return
	}
	p.idle = append(p.idle, w)
}

// takeIdle takes the idle worker a call of t should run on (nil: none fits): one not
// at its last call's remains before one that is (deliver), then one of its tenant's
// before one that served nobody (kept for other tenants), then the most recently
// used. p.mu held.
func (p *Pool) takeIdle(t tenancy) *worker {
	at, best := -1, 4
	for i := len(p.idle) - 1; i >= 0 && best > 0; i-- {
		w := p.idle[i]
		if !w.fits(t) {
			continue
		}
		rank := 0
		if !w.served {
			rank++
		}
		if w.atRemains() {
			rank += 2
		}
		if rank < best {
			at, best = i, rank
		}
	}
	if at < 0 {
		return nil
	}
	w := p.idle[at]
	p.idle = slices.Delete(p.idle, at, at+1)
	p.claim(w, t)
	return w
}

// vacate takes w, a slot worker idle or just freed that has served another tenant
// than the callers need, out of its slot: it is parked for its tenant, and past
// Config.Parked the parked worker parkedVictim picks is ended (w itself is ended
// where nothing is parked, or while it is at its last call's remains); a spare or a
// new worker takes the slot. A parked worker given to vacate is ended. p.mu held.
func (p *Pool) vacate(w *worker) {
	if p.parkMax > 0 && w.served && (w.state_ == stIdle || w.state_ == stBusy) && !w.atRemains() {
		p.retire(w, causeParked) // its slot is refilled
		p.park(w)
		for len(p.parked) > p.parkMax {
			v := p.parkedVictim()
			if v < 0 {
				break
			}
			p.vacate(p.parked[v])
		}
		return
	}
	p.retire(w, causeRecycled)
	go w.abort("recycled")
}

// DefaultParkIdle is Config.ParkIdle's default.
const DefaultParkIdle = 5 * time.Minute

// park adds w, out of its slot, to the parked workers (the most recently parked
// last), and arms the timer that ends those idle for p.parkIdle. p.mu held.
func (p *Pool) park(w *worker) {
	w.state_ = stParked
	w.parkedAt = time.Now()
	p.parked = append(p.parked, w)
	if p.parkIdle > 0 && p.parkTimer == nil {
		p.parkTimer = time.AfterFunc(p.parkIdle, p.endIdleParked)
	}
}

// endIdleParked runs on the park timer: it ends the parked workers that waited
// p.parkIdle, and looks again when the next one will have (none while nothing is
// parked: an idle node keeps no timer).
func (p *Pool) endIdleParked() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parkTimer = nil
	if p.closed {
		return
	}
	for len(p.parked) > 0 {
		w := p.parked[0]
		if wait := p.parkIdle - time.Since(w.parkedAt); wait > 0 {
			p.parkTimer = time.AfterFunc(wait, p.endIdleParked)
			return
		}
		p.retire(w, causeParkIdle)
		go w.abort("parked-idle")
	}
}

// parkedVictim is the index of the parked worker to end when more than Config.Parked
// are: the least recently parked of a tenant that keeps another worker (in a slot,
// or parked); failing that, none (-1) up to twice Config.Parked, and past it the
// least recently parked. A tenant's only worker is ended last: ending it whenever
// one too many was parked made that tenant's next call take a new worker and park
// another tenant's, which ended a third one's, and so on. Under hello at 16 clients
// over 8 tokens on 4 slots (slots and parked workers one per tenant), a node fell
// into that now and then for good, every call starting a process: 0.3-2.4k calls/s
// against 7-10k.
// p.mu held.
func (p *Pool) parkedVictim() int {
	for i, w := range p.parked {
		if p.owned[w.tenant] > 0 || slices.ContainsFunc(p.parked[i+1:], func(o *worker) bool { return o.tenant == w.tenant }) {
			return i
		}
	}
	if len(p.parked) <= 2*p.parkMax {
		return -1
	}
	return 0
}

// unpark swaps a parked worker of t's tenant into the slot of the least recently
// used idle worker, which is parked in its stead (nil: t's tenant has none parked,
// or no slot worker is idle). p.mu held.
func (p *Pool) unpark(t tenancy) *worker {
	if len(p.idle) == 0 {
		return nil
	}
	pw := p.parkedOf(t)
	if pw == nil {
		return nil
	}
	out := p.idle[0]
	p.idle = p.idle[1:]
	p.swapIn(pw, out)
	return pw
}

// parkedOf takes t's tenant's parked worker out of the parked ones (nil: none).
// p.mu held.
func (p *Pool) parkedOf(t tenancy) *worker {
	if t.clean {
		return nil
	}
	i := slices.IndexFunc(p.parked, func(w *worker) bool { return w.tenant == t.tenant })
	if i < 0 {
		return nil
	}
	w := p.parked[i]
	p.parked = slices.Delete(p.parked, i, i+1)
	return w
}

// swapIn puts parked worker pw, busy, in the slot of out (idle or just freed, out
// of the idle list), which is parked in its stead, or ended if it is at its last
// call's remains. p.mu held.
func (p *Pool) swapIn(pw, out *worker) {
	if out.atRemains() {
		out.state_ = stBusy // retire takes it out of its slot and its tenant's count
		p.live++            // and pw takes the slot
		p.retire(out, causeRecycled)
		go out.abort("recycled")
	} else {
		p.disown(out)
		p.park(out)
	}
	p.owned[pw.tenant]++
	pw.state_ = stBusy
	p.swapped++
}

// atRemains reports whether w may still be at its last call's remains: the work it
// tidies (its last answer was a frameResponseTidy) or what its demoted last call left
// (a collection, a trim). Both run at the background level, and its CPU clock counts
// them as the next call's.
func (w *worker) atRemains() bool {
	return w.tidying || (w.dm != nil && w.dm.leftDemoted())
}

// Causes for retire, for the counters.
const (
	causeNone     = iota // closing, or a worker that never served
	causeKilled          // the pool kills it
	causeCrashed         // it died on its own
	causeRecycled        // it served another tenant (vacate)
	causeParked          // it left its slot for the parked ones (vacate)
	causeParkIdle        // parked, it waited Config.ParkIdle for its tenant in vain
)

// retire takes w out of service (it is being killed or has died) and refills. p.mu held.
func (p *Pool) retire(w *worker, cause int) {
	switch w.state_ {
	case stRetired:
		return
	case stStarting:
		cause = causeNone
	case stIdle:
		if i := slices.Index(p.idle, w); i >= 0 {
			p.idle = slices.Delete(p.idle, i, i+1)
		}
		p.live--
		p.disown(w)
	case stBusy:
		p.live--
		p.disown(w)
	case stSpare:
		if i := slices.Index(p.spareList, w); i >= 0 {
			p.spareList = slices.Delete(p.spareList, i, i+1)
		}
	case stLeased:
		p.leased--
	case stParked:
		if i := slices.Index(p.parked, w); i >= 0 {
			p.parked = slices.Delete(p.parked, i, i+1)
		}
	}
	w.state_ = stRetired
	switch {
	case p.closed:
	case cause == causeKilled:
		p.killed++
	case cause == causeCrashed:
		p.crashed++
	case cause == causeRecycled:
		p.recycled++
	case cause == causeParked:
		p.parkedCount++
	case cause == causeParkIdle:
		p.parkIdled++
	}
	p.rebalance()
}

// startLoop starts one worker, retrying with backoff until it succeeds or the pool closes.
func (p *Pool) startLoop() {
	defer p.wg.Done()
	backoff := 10 * time.Millisecond
	for {
		w, err := p.startWorker()
		p.mu.Lock()
		if err == nil {
			p.starting--
			if p.closed {
				p.mu.Unlock()
				w.abort(abortClosed)
				return
			}
			p.spawned++
			if p.live < p.workers {
				p.live++
				p.deliver(w)
			} else {
				w.state_ = stSpare
				p.spareList = append(p.spareList, w)
			}
			p.report(nil)
			p.mu.Unlock()
			return
		}
		p.startFailures++
		p.report(err)
		if p.closed {
			p.starting--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.log.Warn("sandbox: starting worker failed", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// warnSetup logs a failure to set up a worker's cgroups, as a warning unless
// the pool is closing: a start under way when Close removed the pool's
// cgroup directories fails so, and printed a warning on the terminal of
// `warren run` as it ended.
func (p *Pool) warnSetup(msg string, args ...any) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.log.Debug(msg, args...)
		return
	}
	p.log.Warn(msg, args...)
}

// orDefault is a Config setting v: def where it is zero, none (zero) where it
// is negative.
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// startWorker starts a worker process and completes the init handshake.
func (p *Pool) startWorker() (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.nextID++
	id := p.nextID
	p.mu.Unlock()

	cmd := p.command()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, envWorker+"=1")
	if len(p.cfg.WritableDirs) > 0 {
		b, _ := json.Marshal(p.cfg.WritableDirs)
		cmd.Env = append(cmd.Env, envWritable+"="+string(b))
	}
	if len(p.cfg.ReadOnlyDirs) > 0 {
		b, _ := json.Marshal(p.cfg.ReadOnlyDirs)
		cmd.Env = append(cmd.Env, envReadOnly+"="+string(b))
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: stderr pipe: %w", err)
	}
	cmd.Stdin = nil
	cmd.Stdout = outW
	cmd.Stderr = outW
	conn, afterStart, err := newIPC(cmd)
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	netns, procns := p.netns.Load(), p.procns.Load()
	prepareCmd(cmd, netns, procns)

	var cg *workerCgroup
	if p.cg != nil {
		cg, err = p.cg.newWorker("w"+strconv.FormatUint(id, 10), p.limit)
		if err != nil {
			p.warnSetup("sandbox: worker cgroup failed, using RLIMIT_AS", "err", err)
			cg = nil
		}
	}
	var cpuCg, pidsCg *workerCgroup
	if p.cpuCg != nil {
		cpus := p.cfg.CPUs
		if cpus <= 0 {
			cpus = 1
		}
		if cpuCg, err = p.cpuCg.newCPUWorker("w"+strconv.FormatUint(id, 10), cpus); err != nil {
			p.warnSetup("sandbox: worker cpu cgroup failed", "err", err)
			cpuCg = nil
		}
	}
	if p.pidsCg != nil {
		if pidsCg, err = p.pidsCg.newPidsWorker("w"+strconv.FormatUint(id, 10), maxWorkerThreads); err != nil {
			p.warnSetup("sandbox: worker pids cgroup failed", "err", err)
			pidsCg = nil
		}
	}
	w := &worker{
		p:          p,
		id:         id,
		cpuCg:      cpuCg,
		pidsCg:     pidsCg,
		cmd:        cmd,
		conn:       conn,
		br:         bufio.NewReaderSize(conn, 64<<10),
		bw:         bufio.NewWriterSize(conn, 64<<10),
		cg:         cg,
		stderrDone: make(chan struct{}),
		exited:     make(chan struct{}),
		oom0:       systemOOMKills(),
		state_:     stStarting,
	}
	err = p.startProcess(cmd)
	if err != nil && procns && netnsRefused(err) {
		// Mount and PID namespaces are not allowed here: go on without them, once for
		// the pool.
		if p.procns.CompareAndSwap(true, false) {
			p.log.Info("sandbox: workers share the host's mount and PID namespaces: the kernel refused new ones", "err", err)
		}
		procns = false
		cmd = retryCmd(cmd)
		prepareCmd(cmd, netns, false)
		w.cmd = cmd
		err = p.startProcess(cmd)
	}
	if err != nil && netns && netnsRefused(err) {
		// Namespaces are not allowed here: go on without them, once for the pool.
		if p.netns.CompareAndSwap(true, false) {
			p.log.Info("sandbox: workers share the host's network namespace: the kernel refused a new one", "err", err)
		}
		netns = false
		cmd = retryCmd(cmd)
		prepareCmd(cmd, false, procns)
		w.cmd = cmd
		err = p.startProcess(cmd)
	}
	afterStart()
	outW.Close()
	if err != nil {
		outR.Close()
		conn.Close()
		for _, c := range []*workerCgroup{cg, cpuCg, pidsCg} {
			if c != nil {
				c.remove()
			}
		}
		return nil, fmt.Errorf("sandbox: starting worker: %w", err)
	}
	w.pid = cmd.Process.Pid
	w.timer = time.AfterFunc(time.Hour, func() { w.abort("deadline") })
	w.timer.Stop()
	if p.cfg.testHookSpawn != nil {
		p.cfg.testHookSpawn(w.pid)
	}
	p.mu.Lock()
	p.all[w] = struct{}{}
	closed := p.closed
	p.wg.Add(2)
	p.mu.Unlock()
	go w.drain(outR)
	go w.reap()
	if closed {
		w.abort(abortClosed)
		return nil, ErrClosed
	}

	if cg != nil {
		if err := cg.add(w.pid); err != nil {
			p.warnSetup("sandbox: moving worker into cgroup failed, using RLIMIT_AS", "err", err)
			cg = nil // w.cg stays set so that the reaper removes the directory
		}
	}
	// The CPU and pids cgroups before the worker's handshake: everything it runs
	// from then on is bounded. (w.cpuCg and w.pidsCg stay set for the reaper.)
	if cpuCg != nil {
		if err := cpuCg.add(w.pid); err != nil {
			p.warnSetup("sandbox: moving worker into its cpu cgroup failed", "err", err)
		} else {
			w.cpuOn = true
		}
	}
	if pidsCg != nil {
		if err := pidsCg.add(w.pid); err != nil {
			p.warnSetup("sandbox: moving worker into its pids cgroup failed", "err", err)
		} else {
			w.pidsOn = true
		}
	}
	// Handshake, bounded by startTimeout.
	w.timer.Reset(startTimeout)
	var init [25]byte
	binary.BigEndian.PutUint64(init[:8], uint64(p.limit))
	if cg == nil && rlimitASSupported {
		init[8] |= initFlagRlimitAS
	}
	if seccompSupported && !p.cfg.NoSeccomp {
		init[8] |= initFlagSeccomp
	}
	if procns {
		init[8] |= initFlagMounts
	}
	if landlockSupported && !p.cfg.NoLandlock {
		init[8] |= initFlagLandlock
	}
	if p.uid > 0 {
		init[8] |= initFlagDropUID
		binary.BigEndian.PutUint32(init[9:13], uint32(p.uid))
		binary.BigEndian.PutUint32(init[13:17], uint32(p.uid))
		// The kernel counts the threads of every process of the uid: every worker of
		// every pool of this host (several nodes, or a test binary's runtimes), so the
		// bound is host-wide, not this pool's size, which would let one busy pool
		// starve another's workers of threads.
		binary.BigEndian.PutUint64(init[17:25], uint64(maxWorkerThreads*maxHostWorkers))
	}
	err = writeFrame(w.bw, frameInit, init[:])
	var typ byte
	var payload []byte
	if err == nil {
		typ, payload, err = readFrame(w.br)
	}
	stopped := w.timer.Stop()
	if err == nil && (typ != frameReady || len(payload) < 1) {
		err = &protocolError{fmt.Sprintf("expected ready frame, got type %d", typ)}
	}
	if err == nil && !stopped {
		err = errors.New("start-up timed out")
	}
	if err != nil {
		w.abort("ipc")
		w.waitExit(reapWait)
		return nil, fmt.Errorf("sandbox: worker did not start: %w%s", err, tailSuffix(w))
	}
	w.rlim = payload[0]&readyFlagRlimitAS != 0
	w.seccomp = payload[0]&readyFlagSeccomp != 0
	w.rlimits = payload[0]&readyFlagRlimits != 0
	w.mountns = payload[0]&readyFlagMountNS != 0
	w.pidns = payload[0]&readyFlagPIDNS != 0
	w.unpriv = payload[0]&readyFlagUID != 0
	w.nproc = payload[0]&readyFlagNProc != 0
	w.readOnly = payload[0]&readyFlagReadOnly != 0
	if len(payload) >= 19 && payload[17]&readyFlag2Landlock != 0 {
		w.landlock = int(payload[18])
	}
	if cg == nil && !w.rlim {
		p.log.Warn("sandbox: worker runs without a hard memory limit", "pid", w.pid)
	}
	w.cgOn = cg != nil
	w.netns = netns
	w.dm = newDemoter(w, p.demoteAfter, p.starveAfter)
	p.log.Debug("sandbox: worker started", "pid", w.pid, "cgroup", cg != nil, "rlimit_as", w.rlim)
	return w, nil
}

func tailSuffix(w *worker) string {
	select {
	case <-w.exited:
		if line := summary(w.out.String()); line != "" {
			return ": " + line
		}
	default:
	}
	return ""
}

// drain keeps the tail of the worker's stdout+stderr until EOF.
func (w *worker) drain(r *os.File) {
	defer w.p.wg.Done()
	defer close(w.stderrDone)
	defer r.Close()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.out.write(buf[:n])
			if stagetime.On { // a worker's GODEBUG=gctrace=1, say
				_, _ = os.Stderr.Write(buf[:n])
			}
		}
		if err != nil {
			return
		}
	}
}

// reap waits for the worker to exit, kills any remnant of its process group, collects its
// status and memory evidence, removes its cgroup and takes it out of service.
func (w *worker) reap() {
	p := w.p
	defer p.wg.Done()
	// On linux this returns at exit without reaping, so the group id is still ours and any
	// process the worker left in its group can be killed before stderr is drained.
	if waitExited(w.pid) {
		w.mu.Lock()
		killGroup(w.pid)
		w.mu.Unlock()
	}
	<-w.stderrDone
	w.mu.Lock()
	w.reaping = true
	w.mu.Unlock()
	w.cmd.Wait()
	w.state = w.cmd.ProcessState
	w.conn.Close()
	w.timer.Stop()
	if w.cg != nil {
		w.memByCg, _ = w.cg.memoryEvidence()
	}
	if w.oom0 >= 0 {
		if n := systemOOMKills(); n > w.oom0 {
			w.memByOS = true
		}
	}
	w.mu.Lock()
	killedByUs := w.abortReason != ""
	w.mu.Unlock()
	p.mu.Lock()
	delete(p.all, w)
	wasLive := w.state_ == stIdle || w.state_ == stSpare
	cause := causeCrashed
	if killedByUs {
		cause = causeKilled
	}
	p.retire(w, cause)
	p.mu.Unlock()
	close(w.exited)
	if wasLive && !killedByUs {
		p.log.Warn("sandbox: idle worker died", "pid", w.pid, "err", w.crashError(""))
	}
	for _, c := range []*workerCgroup{w.cg, w.cpuCg, w.pidsCg} {
		if c != nil {
			if err := c.remove(); err != nil {
				p.log.Warn("sandbox: removing worker cgroup", "err", err)
			}
		}
	}
}

// abort kills the worker (once it is killed, it stays so) and records why.
func (w *worker) abort(reason string) {
	w.mu.Lock()
	if w.abortReason == "" {
		w.abortReason = reason
	}
	if !w.reaping {
		if w.cpuCg != nil {
			// Its exit (the kernel freeing its memory) is work nobody waits for.
			_ = w.cpuCg.setLevel(levelBackground)
		}
		killGroup(w.pid)
	}
	w.mu.Unlock()
	w.cmd.Process.Kill() // pidfd-based where available: safe even after reaping
	w.conn.SetDeadline(time.Unix(1, 0))
}

func (w *worker) reason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.abortReason
}

// waitExit waits up to d for the worker to be reaped.
func (w *worker) waitExit(d time.Duration) bool {
	select {
	case <-w.exited:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.exited:
		return true
	case <-t.C:
		return false
	}
}

// crashError builds the error for a dead worker (call after exited is closed, or with
// partial information if it is not).
func (w *worker) crashError(reason string) *CrashError {
	ce := &CrashError{Reason: reason, ExitCode: -1}
	select {
	case <-w.exited:
	default:
		if ce.Reason == "" {
			ce.Reason = "crash"
		}
		return ce
	}
	st := w.state
	sigkill := false
	if st != nil {
		ce.ExitCode = st.ExitCode()
		ce.Signal, sigkill = exitSignal(st)
	}
	ce.Stderr = w.out.String()
	ce.MemoryExceeded = w.memByCg || w.out.oom ||
		(sigkill && reason == "" && w.memByOS)
	switch {
	case ce.MemoryExceeded:
		ce.Reason = "memory"
	case ce.Reason == "":
		ce.Reason = "crash"
	}
	return ce
}

// acquire takes an idle worker that may run a call of t (fits), or t's tenant's
// parked one (swapped into a slot), waiting (FIFO, but see deliver) if neither is
// there. Where every idle worker has served another tenant, and t's tenant has no
// worker in a slot, or had none free for recycleAfter, the least recently used of
// them leaves its slot (vacate) and a spare or a new worker takes its place.
func (p *Pool) acquire(ctx context.Context, t tenancy) (*worker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	w := p.takeIdle(t)
	if w == nil {
		w = p.unpark(t)
	}
	if w == nil && len(p.idle) > 0 && p.ownsNone(t) && p.needyWaiters() >= min(p.starting, p.workers-p.live) {
		// Idle workers at their remains sit at the front (deliver): the least
		// recently used, or one still at work nobody waits for. Not while
		// workers being started for slots outnumber the needy waiters: one
		// of them comes to this caller (deliver), and every caller that
		// emptied a slot on top emptied one more for nothing.
		p.vacate(p.idle[0])
		w = p.takeIdle(t) // the spare that took its slot, if there was one
	}
	if w != nil {
		p.mu.Unlock()
		return w, nil
	}
	// A caller whose tenant has workers waits recycleAfter for one of them; one
	// that has none, too, should the worker started for it go to another.
	timer := time.NewTimer(recycleAfter)
	defer timer.Stop()
	expire := timer.C
	wt := &waiter{ch: make(chan *worker, 1), t: t}
	p.waiters = append(p.waiters, wt)
	p.mu.Unlock()
	for {
		select {
		case w := <-wt.ch:
			if w == nil {
				return nil, ErrClosed
			}
			return w, nil
		case <-expire:
			expire = nil
			p.expire(wt)
		case <-ctx.Done():
			p.abandon(wt)
			return nil, fmt.Errorf("sandbox: waiting for a worker: %w", ctx.Err())
		}
	}
}

// expire marks wt as having waited recycleAfter for a worker of its tenant, and
// vacates the slot of the least recently used idle worker of another tenant, if
// there is one and no worker being started for a slot is on its way to wt or
// another needy waiter: the worker that takes the slot goes to the first waiter
// (deliver), and a worker freed later leaves its slot for wt if none fits it.
func (p *Pool) expire(wt *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.waiters, wt) {
		return // served meanwhile
	}
	wt.expired = true
	if len(p.idle) > 0 && p.needyWaiters() > min(p.starting, p.workers-p.live) {
		p.vacate(p.idle[0])
	}
}

// abandon takes wt out of the line, giving back a worker handed to it meanwhile.
func (p *Pool) abandon(wt *waiter) {
	p.mu.Lock()
	if i := slices.Index(p.waiters, wt); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if w := <-wt.ch; w != nil {
		p.release(w)
	}
}

// release returns a healthy worker after a call. One that tidies goes to the background
// weight first (a demoted call's worker is there already): no caller waits for that work.
func (p *Pool) release(w *worker) {
	if w.tidying && w.cpuOn && (w.dm == nil || !w.dm.leftDemoted()) {
		_ = w.cpuCg.setLevel(levelBackground) // failing, it stays at the normal one
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.state_ == stRetired {
		return
	}
	if p.closed {
		p.retire(w, causeNone)
		return
	}
	p.deliver(w)
}

// kill retires w and kills it.
func (p *Pool) kill(w *worker, reason string) {
	p.mu.Lock()
	p.retire(w, causeKilled)
	p.mu.Unlock()
	w.abort(reason)
}

// Call sends req to an idle worker (waiting for one if all are busy, honouring ctx), relays
// the worker's callback messages to onCall (in order, on the calling goroutine) and returns
// the worker's answer.
//
// A worker that is killed or dies yields a *CrashError and is replaced asynchronously. If ctx
// is canceled while waiting for a worker, Call returns ctx.Err() wrapped; if it is canceled
// during the call, the worker is killed and ctx.Err() is returned wrapped. onCall runs
// synchronously: while it runs the worker is blocked, and a deadline or cancellation that
// falls meanwhile takes effect when it returns, so onCall should itself honour ctx.
// If onCall is nil, callback requests fail inside the worker with a *CallError.
func (p *Pool) Call(ctx context.Context, req []byte, opts CallOptions, onCall func(msg []byte) ([]byte, error)) ([]byte, error) {
	if len(req) > MaxFrameSize {
		return nil, ErrTooLarge
	}
	if !opts.Deadline.IsZero() && !time.Now().Before(opts.Deadline) {
		return nil, &CrashError{Reason: "deadline", ExitCode: -1}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: waiting for a worker: %w", err)
	}
	for attempt := 0; ; attempt++ {
		tAcquire := stagetime.Now()
		w, err := p.acquire(ctx, tenancyOf(opts))
		stagetime.Since("5a-acquire", tAcquire)
		if err != nil {
			return nil, err
		}
		opts := opts.taken()
		resp, err := p.callOn(ctx, w, req, opts, onCall)
		if err == nil {
			return resp, nil
		}
		if attempt == 0 && p.lostBeforeCall(w, err) {
			continue
		}
		return nil, p.failed(ctx, w, err)
	}
}

// lostBeforeCall reports (and retires w) if w was gone before it could read the request:
// it died while idle and was not reaped yet. Nothing ran, so the call can go to another
// worker.
func (p *Pool) lostBeforeCall(w *worker, err error) bool {
	var rwe *requestWriteError
	if !errors.As(err, &rwe) || w.reason() != "" {
		return false
	}
	p.mu.Lock()
	p.retire(w, causeCrashed)
	p.mu.Unlock()
	w.abort("ipc")
	p.log.Info("sandbox: worker lost before the call, retrying", "pid", w.pid, "err", rwe.err)
	return true
}

// requestWriteError reports that the request could not be handed to the worker.
type requestWriteError struct{ err error }

func (e *requestWriteError) Error() string { return "sandbox: sending request: " + e.err.Error() }
func (e *requestWriteError) Unwrap() error { return e.err }

// callOn runs one call on w. On success w is back in the pool (or retired if a deadline or
// cancellation fired at the same moment); on error the caller handles w.
func (p *Pool) callOn(ctx context.Context, w *worker, req []byte, opts CallOptions, onCall func([]byte) ([]byte, error)) ([]byte, error) {
	resp, clean, err := p.guardedRoundTrip(ctx, w, req, opts, onCall)
	if err == nil {
		if clean {
			p.release(w)
		} else {
			// The answer is complete, but a deadline or cancellation fired at the same
			// moment and the worker is being killed: keep the answer, retire the worker.
			p.kill(w, abortCanceled)
		}
		return resp, nil
	}
	return nil, err
}

// guardedRoundTrip runs one request on w's channel with ctx's cancellation
// and opts' deadline armed to kill w; clean is false when one of them
// fired (w is being killed, whatever the answer).
func (p *Pool) guardedRoundTrip(ctx context.Context, w *worker, req []byte, opts CallOptions, onCall func([]byte) ([]byte, error)) (resp []byte, clean bool, err error) {
	var stopCtx func() bool
	if ctx.Done() != nil {
		stopCtx = context.AfterFunc(ctx, func() { w.abort(abortCanceled) })
	}
	if !opts.Deadline.IsZero() {
		w.timer.Reset(time.Until(opts.Deadline))
	}
	// Every call starts at the normal CPU weight, or the low one if opts.Low: a fresh
	// worker waits at the startup level, one whose last call was demoted at the
	// background one (demote.go).
	leveled, low := true, opts.Low && w.dm != nil
	onDemote := opts.OnDemote
	if onDemote != nil && w.atRemains() {
		onDemote = nil // a demotion would say nothing of this call's caller
	}
	if w.cpuOn {
		level := levelNormal
		if low {
			level = levelLow
		}
		leveled = w.cpuCg.setLevel(level) == nil
	}
	var cpu0 time.Duration // the worker's CPU time at the call's start, if read
	read := false
	if w.dm != nil {
		cpu0, read = w.dm.start(low, onDemote)
	}
	w.watchCPU(opts.CPULimit, cpu0, read)
	tRound := stagetime.Now()
	resp, err = p.roundTrip(w, req, onCall)
	stagetime.Since("6-round-trip", tRound)
	// A worker that could not be brought back to the normal weight, or that the CPU
	// watch killed, takes no other call.
	clean = leveled && !w.stopCPUWatch()
	if w.dm != nil {
		w.dm.end()
	}
	if !opts.Deadline.IsZero() && !w.timer.Stop() {
		clean = false
	}
	if stopCtx != nil && !stopCtx() {
		clean = false
	}
	return resp, clean, err
}

// cpuWatch watches a worker's call for CallOptions.CPULimit. Its timer is the worker's
// for its life, armed for each call that has a limit, so that a call costs no timer of
// its own; the worker's CPU clock is read when the timer fires.
type cpuWatch struct {
	mu     sync.Mutex
	t      *time.Timer
	on     bool          // a call is watched
	killed bool          // the watch killed the worker
	cpu0   time.Duration // the worker's CPU time at the call's start
	limit  time.Duration
}

// watchCPU starts the watch of a call with a CPU limit of limit (none: zero), whose
// worker's CPU time at its start is cpu0 if read (else it is read here).
func (w *worker) watchCPU(limit, cpu0 time.Duration, read bool) {
	if limit <= 0 {
		return
	}
	if !read {
		c, err := processCPUTime(w.pid)
		if err != nil {
			return
		}
		cpu0 = c
	}
	cw := &w.cw
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.on, cw.killed, cw.cpu0, cw.limit = true, false, cpu0, limit
	if cw.t == nil {
		cw.t = time.AfterFunc(limit, w.checkCPU)
	} else {
		cw.t.Reset(limit)
	}
}

// checkCPU runs on the watch's timer: it kills the worker (reason "cpu") if its call
// has used its limit, else looks again when it could have.
func (w *worker) checkCPU() {
	cw := &w.cw
	cw.mu.Lock()
	if !cw.on {
		cw.mu.Unlock()
		return
	}
	c, err := processCPUTime(w.pid)
	if err != nil { // the worker is gone
		cw.mu.Unlock()
		return
	}
	if used := c - cw.cpu0; used < cw.limit {
		cw.t.Reset(max(cw.limit-used, cpuWatchMin))
		cw.mu.Unlock()
		return
	}
	cw.on, cw.killed = false, true
	cw.mu.Unlock()
	w.abort("cpu")
}

// stopCPUWatch ends the watch of the call and reports whether it killed the worker.
func (w *worker) stopCPUWatch() (killed bool) {
	cw := &w.cw
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if cw.t != nil {
		cw.t.Stop()
	}
	killed = cw.killed
	cw.on, cw.killed = false, false
	return killed
}

// roundTrip runs one request on w's channel.
func (p *Pool) roundTrip(w *worker, req []byte, onCall func([]byte) ([]byte, error)) (resp []byte, err error) {
	tWrite := stagetime.Now()
	if err := writeFrame(w.bw, frameRequest, req); err != nil {
		return nil, &requestWriteError{err}
	}
	for {
		typ, payload, err := readFrame(w.br)
		if err != nil {
			return nil, err
		}
		switch typ {
		case frameResponse, frameResponseTidy:
			if stagetime.On {
				payload = handOffStages(payload, tWrite)
			}
			w.tidying = typ == frameResponseTidy
			if w.tidying {
				p.tidies.Add(1)
			}
			return payload, nil
		case frameCallback:
			ans, cerr := p.callback(w, onCall, payload)
			if cerr == nil && len(ans) > MaxFrameSize {
				cerr = ErrTooLarge
			}
			if cerr != nil {
				err = writeFrame(w.bw, frameError, []byte(cerr.Error()))
			} else {
				err = writeFrame(w.bw, frameCallbackResult, ans)
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, &protocolError{fmt.Sprintf("unexpected frame type %d from worker", typ)}
		}
	}
}

// handOffStages records the stages of a round trip from the wall-clock
// stamps a worker built with stagetime appends to its answer (the clock is
// the host's, shared by both processes), and strips them.
func handOffStages(payload []byte, tWrite time.Time) []byte {
	n := len(payload)
	if n < 16 {
		return payload
	}
	now := time.Now().UnixNano()
	recv := int64(binary.BigEndian.Uint64(payload[n-16:]))
	sent := int64(binary.BigEndian.Uint64(payload[n-8:]))
	stagetime.Add("6x-to-worker", time.Duration(recv-tWrite.UnixNano()))
	stagetime.Add("6y-in-worker", time.Duration(sent-recv))
	stagetime.Add("6z-to-node", time.Duration(now-sent))
	return payload[:n-16]
}

var errNoCallback = errors.New("no callback handler")

func (p *Pool) callback(w *worker, onCall func([]byte) ([]byte, error), msg []byte) (ans []byte, err error) {
	if onCall == nil {
		return nil, errNoCallback
	}
	panicked := true
	defer func() {
		if panicked { // leave no worker checked out mid-call
			p.kill(w, "ipc")
		}
	}()
	ans, err = onCall(msg)
	panicked = false
	return ans, err
}

// failed handles a call whose channel failed: decides why, makes sure the worker is dead,
// and builds the error.
func (p *Pool) failed(ctx context.Context, w *worker, ioErr error) error {
	reason := w.reason()
	if reason == "" {
		var pe *protocolError
		if errors.As(ioErr, &pe) {
			reason = "ipc"
		} else if !w.waitExit(exitGrace) {
			// The channel failed but the worker lives on: an IPC failure.
			reason = "ipc"
		}
	}
	if reason != "" {
		p.kill(w, reason)
	} else {
		p.mu.Lock()
		p.retire(w, causeCrashed)
		p.mu.Unlock()
	}
	switch reason {
	case abortCanceled:
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sandbox: call aborted: %w", err)
		}
		return fmt.Errorf("sandbox: call aborted: %w", context.Canceled)
	case abortClosed:
		return ErrClosed
	}
	w.waitExit(reapWait)
	ce := w.crashError(reason)
	p.log.Info("sandbox: worker lost", "pid", w.pid, "reason", ce.Reason, "err", ce, "io", ioErr)
	return ce
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Workers:          p.live,
		Idle:             len(p.idle),
		Busy:             p.live - len(p.idle),
		Spares:           len(p.spareList),
		Leased:           p.leased,
		Starting:         p.starting,
		Waiting:          len(p.waiters),
		Spawned:          p.spawned,
		Killed:           p.killed,
		Crashed:          p.crashed,
		StartFailures:    p.startFailures,
		Demoted:          p.demotions.Load(),
		StartedLow:       p.lowStarts.Load(),
		Boosted:          p.boosts.Load(),
		Tidied:           p.tidies.Load(),
		Recycled:         p.recycled,
		Parked:           len(p.parked),
		ParkedTotal:      p.parkedCount,
		ParkedIdleEnded:  p.parkIdled,
		Swapped:          p.swapped,
		MemoryLimitBytes: p.limit,
		Layers:           slices.Clone(platformLayers),
	}
	var cg, rl, ns, sc, lim, mns, pns, up, np, cpu, pids, dm, ro, seen bool
	for w := range p.all {
		if w.state_ == stStarting || w.state_ == stRetired {
			continue
		}
		if !seen || w.landlock < s.LandlockABI {
			s.LandlockABI = w.landlock // the weakest of the workers'
		}
		seen = true
		cg = cg || w.cgOn
		rl = rl || w.rlim
		ns = ns || w.netns
		sc = sc || w.seccomp
		lim = lim || w.rlimits
		mns = mns || w.mountns
		pns = pns || w.pidns
		up = up || w.unpriv
		np = np || w.nproc
		ro = ro || w.readOnly
		cpu = cpu || w.cpuOn
		pids = pids || w.pidsOn
		dm = dm || w.dm != nil
	}
	if ns {
		s.Layers = append(s.Layers, netnsLayer)
	}
	if sc {
		s.Layers = append(s.Layers, seccompLayer)
	}
	if cg {
		s.Layers = append(s.Layers, cgroupLayer)
	}
	if rl {
		s.Layers = append(s.Layers, "rlimit-as")
	}
	if lim {
		s.Layers = append(s.Layers, rlimitsLayer)
	}
	if mns {
		s.Layers = append(s.Layers, mountnsLayer)
	}
	if pns {
		s.Layers = append(s.Layers, pidnsLayer)
	}
	if up {
		s.Layers = append(s.Layers, uidLayer)
	}
	if np {
		s.Layers = append(s.Layers, nprocLayer)
	}
	if ro {
		s.Layers = append(s.Layers, readOnlyLayer)
	}
	if s.LandlockABI > 0 {
		s.Layers = append(s.Layers, landlockLayer)
	}
	if cpu {
		s.Layers = append(s.Layers, cpuCgroupLayer)
	}
	if pids {
		s.Layers = append(s.Layers, pidsCgroupLayer)
	}
	if dm {
		s.Layers = append(s.Layers, demoteLayer)
	}
	return s
}

// Close kills all workers, waits for them to be reaped, and removes the pool's cgroups.
// Calls in progress return ErrClosed; later calls too.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	close(p.done)
	if p.parkTimer != nil {
		p.parkTimer.Stop()
		p.parkTimer = nil
	}
	for _, wt := range p.waiters {
		close(wt.ch)
	}
	p.waiters = nil
	ws := make([]*worker, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.abort(abortClosed)
	}
	p.wg.Wait()
	var err error
	for _, c := range []*cgroupPool{p.cg, p.cpuCg, p.pidsCg} {
		if c != nil {
			err = errors.Join(err, c.close())
		}
	}
	return err
}

// logCleaned logs the stale cgroup directories a pool removed.
func logCleaned(log *slog.Logger, dirs []string) {
	for _, d := range dirs {
		log.Info("sandbox: removed stale cgroup", "dir", d)
	}
}

var _ io.Closer = (*Pool)(nil)

// DefaultWorkerUID is the uid and gid workers of a root host switch to by default: one
// no file on a usual system belongs to, outside the ranges distributions and container
// runtimes hand out.
const DefaultWorkerUID = 2_000_000_000

// maxWorkerThreads is what one worker may need of RLIMIT_NPROC, which counts threads: the
// Go runtime's (GOMAXPROCS=1, plus those blocking system calls take) with room to spare.
// The pids cgroup, where there is one, holds each worker to it.
const maxWorkerThreads = 64

// maxHostWorkers is how many workers sharing one uid RLIMIT_NPROC leaves room for, on the
// whole host: the kernel counts the threads of every process of the uid together.
const maxHostWorkers = 256

// giveDir creates dir and gives it, and what it holds, to uid (user and group).
func giveDir(dir string, uid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
}
