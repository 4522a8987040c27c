// Package sandbox runs guest code in sandbox worker processes: the same binary re-executed
// in a hidden worker mode, pre-started in a pool, one invocation at a time each, with a hard
// memory limit, killed and replaced on overrun or crash. It is payload-agnostic: requests,
// callback messages and results are opaque bytes; the engines and the invocation protocol
// live above it.
//
// # Use
//
// The binary checks IsWorker early in main and, if set, calls Serve with its Handler (Serve
// then never returns; the process exits when the pool closes the channel). The host side
// creates a Pool with NewPool and runs invocations with Pool.Call; Pool.Stats feeds
// /healthz and metrics.
//
//	func main() {
//		if sandbox.IsWorker() {
//			log.Fatal(sandbox.Serve(handler))
//		}
//		pool, err := sandbox.NewPool(sandbox.Config{})
//		...
//		res, err := pool.Call(ctx, req, sandbox.CallOptions{Deadline: d}, onCall)
//	}
//
// # Protocol
//
// Host and worker talk over one channel: on unix a socketpair whose worker end is passed
// as an extra fd (its number in WARREN_SANDBOX_FD, next to WARREN_SANDBOX=1); elsewhere the
// worker's stdin/stdout. Every message is a frame: 1 byte type, 4 bytes big-endian length,
// payload. A frame larger than MaxFrameSize (64 MiB + 64 KiB) is an IPC error.
//
//	host -> worker  init (6)            [8] memory limit, [1] flags (bit 0: set RLIMIT_AS)
//	worker -> host  ready (7)           [1] flags (bit 0: RLIMIT_AS set), [8] vsz, [8] cap
//	host -> worker  request (1)         opaque request
//	worker -> host  callback-request (2)  opaque message (the handler called call)
//	host -> worker  callback-response (3) onCall's answer
//	host -> worker  error (5)           onCall's error text (call returns *CallError)
//	worker -> host  response (4)        opaque result; ends the invocation
//
// After init/ready, each invocation is one request, any number of callback round trips in
// order, and one response. Both sides use buffered readers/writers; the host reads and
// writes on the calling goroutine (no per-call goroutines), the worker with blocking
// syscalls. Any unexpected frame, oversize frame or I/O failure ends the worker: the host
// kills it (Reason "ipc") and a replacement is started asynchronously.
//
// # Isolation layers
//
//   - process: guest code runs in a separate process; a crash, a panic, a Go fatal error or
//     a kill never touches the host or a call on another worker.
//   - process-group (unix) and pdeathsig (linux): each worker leads its own session (on
//     linux; a process group elsewhere), with no controlling terminal, killed as a whole;
//     the kernel SIGKILLs workers when the host dies.
//   - netns (linux, where the kernel allows: root, or unprivileged user namespaces): each
//     worker starts in a new network namespace holding only a loopback device that is
//     down, so guest code has no network of its own (egress goes through the host's
//     policy). Without root the worker also gets a user namespace mapping its uid and gid
//     to the host's. If the kernel refuses, the pool logs it once and goes on without;
//     Config.HostNetwork turns it off.
//   - seccomp (linux on amd64 and arm64): once started, each worker installs on all its
//     threads a filter that fails with EPERM the system calls it never needs (new
//     sockets, exec, ptrace, mounts, namespaces, bpf, io_uring, kernel modules, clock and
//     host settings) and kills it on a call of another architecture. Config.NoSeccomp
//     turns it off.
//   - cgroup-v1-memory (linux, where the v1 memory controller is writable): one cgroup per
//     worker under warren-<pid>-<n> in the host's own memory cgroup (or Config.CgroupRoot),
//     memory.limit_in_bytes = MemoryLimitBytes; the kernel OOM-kills a worker that goes
//     over, detected through memory.oom_control. Directories of dead pools are removed
//     at start-up, the pool's own at Close. (cgroup v2 is not used yet.)
//   - cgroup-v1-cpu and cgroup-v1-pids (linux, where those v1 controllers are writable):
//     each worker also gets a cgroup in the cpu hierarchy with a CFS quota of
//     Config.CPUs (1 CPU by default) and one in the pids hierarchy with pids.max 64, so a
//     worker can neither take more than its CPU nor multiply its threads; set up and
//     removed like the memory one. The cpu cgroups, warren-<pid>-<n>-w<id>, sit beside
//     the host's threads rather than in a pool directory: the scheduler weighs each
//     worker as one process, and a demoted worker against every task of the host.
//   - cpu-demotion (with cgroup-v1-cpu): a call that has used Config.DemoteAfter of CPU
//     (20 ms by default; honest calls use well under 1 ms) runs on with its worker's cpu
//     cgroup SCHED_IDLE (cpu.idle, linux 5.15 and later; elsewhere cpu.shares 16 instead
//     of 1024), so that short calls on other workers, of this pool or another, and the
//     host's threads take the CPU first. After 0.25 s demoted, a floor keeps its
//     average at half a CPU (an eighth while any of the pool's short calls runs, or ran in
//     the last 50 ms) with
//     10 ms boosts at the normal weight. A worker's start-up runs at cpu.shares 128;
//     work no caller waits for (a demoted call's remains between calls, the work an
//     Engine's Tidy asks for between calls, a killed worker's exit) runs SCHED_IDLE for
//     0.25 s, then at cpu.shares 128 (128 throughout without cpu.idle); every call
//     starts at 1024, or
//     SCHED_IDLE when the caller asks (CallOptions.Low: its client's calls ran long
//     lately) (demote.go).
//   - mountns and pidns (linux, where the kernel allows): each worker starts in new mount
//     and PID namespaces, makes every mount private and mounts a /proc of its own PID
//     namespace, where it is process 1: it sees no other process (not the node, whose
//     environment and command line /proc would show, nor the other workers).
//     Config.SharedNamespaces turns them off.
//   - unprivileged-uid and rlimit-nproc (linux, when the host runs as root): once set up,
//     each worker switches to Config.WorkerUID (DefaultWorkerUID, which owns no file) with
//     no supplementary groups, under RLIMIT_NPROC: it reads only what anyone may (not
//     the mesh secret nor the node's data), and writes only Config.WritableDirs, which the
//     pool gives to that uid and the worker reaches through WritablePath.
//     Config.NoDropPrivileges turns it off.
//   - landlock (linux 5.13 and later, where Landlock is enabled): once its engine is made,
//     each worker restricts all its threads with Landlock: it may read
//     Config.ReadOnlyDirs and what its engine named with AllowRead, read and write
//     Config.WritableDirs, and no other file (read, written, created or executed),
//     whatever its uid and mount namespace; with ABI 4 it may not connect or bind TCP,
//     with ABI 6 it may not signal, or reach an abstract unix socket of, a process
//     outside its own Landlock domain (the node, the other workers). The pool reports the
//     kernel's ABI version in Stats.LandlockABI. Config.NoLandlock turns it off.
//   - rlimit-as (linux, when no cgroup is in force for the worker): the worker sets its own
//     RLIMIT_AS to its virtual size at start plus MemoryLimitBytes (the Go runtime reserves
//     far more address space than it uses, so a fixed cap set before exec would keep it
//     from starting); allocation beyond it fails and Go dies with "out of memory".
//   - rlimits (unix): each worker sets RLIMIT_CORE to 0 (a crash writes no guest memory to
//     disk), RLIMIT_NOFILE to at most 256 open files and (linux) RLIMIT_FSIZE to 1 GiB. The seccomp filter's
//     no_new_privs also holds for every worker that installs it.
//
// The order in a worker: rlimits, mounts, the uid, the setup of ServeSetup (the engine),
// Landlock, then seccomp, last. Each layer the kernel refuses is logged and left out; the worker
// goes on with the others.
//   - in-process settings in every worker: GOMAXPROCS=1, GOGC=400, and a Go soft memory
//     limit of 7/8 of MemoryLimitBytes.
//   - deadlines: CallOptions.Deadline SIGKILLs the worker; it does not depend on the guest
//     engine's cooperation (native built-ins ignore interrupts).
//
// Stats.Layers reports which of these are in force. On darwin and the BSDs only process,
// process-group and rlimits apply (plus the Go soft limit); on windows only process.
//
// # Pool
//
// Config.Workers slots (default 2 per CPU) each hold one live worker; Config.Spares hot
// spares (default 1) wait outside the slots and are promoted the moment a worker is killed
// or dies (a fresh start takes 6–16 ms). Refills are asynchronous, with backoff when starts
// fail. Call waits FIFO for an idle worker, honouring ctx. Close kills every worker, waits
// until each is reaped and its goroutines are gone, and removes the cgroups.
//
// Lease takes a worker out of the rotation for one holder that keeps state in it across
// calls (live Durable Objects): a hot spare if one is started, else the next idle slot
// worker, and the pool refills the spare or slot at once, so leased workers are beyond
// Config.Workers and one-shot calls keep every slot. Lease.Call has Call's contract on
// that one worker; once the worker is gone, the lease is lost (ErrLeaseLost) and the
// holder takes a new one. Release ends the worker.
package sandbox
