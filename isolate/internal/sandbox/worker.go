package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/stagetime"
)

// Environment variables set by the pool on a worker's command.
const (
	envWorker   = "WARREN_SANDBOX"          // "1" in a worker
	envFD       = "WARREN_SANDBOX_FD"       // the IPC socket's fd number (unix)
	envWritable = "WARREN_SANDBOX_WRITABLE" // Config.WritableDirs, as JSON, when the worker drops privileges
	envReadOnly = "WARREN_SANDBOX_READONLY" // Config.ReadOnlyDirs, as JSON
)

// Handler runs one call inside a worker process. call lets the handler ask the host (parent)
// something mid-invocation (bindings, fetch, fetching code on a cache miss) and blocks for
// the answer. The returned slice is the invocation's result.
//
// ctx is never canceled by the pool: a call that must stop is stopped by killing the worker.
// call is safe for concurrent use (calls are serialised) but must not be used after the
// handler has returned.
type Handler func(ctx context.Context, req []byte, call func(msg []byte) ([]byte, error)) []byte

// Engine is what a worker serves: Handle answers each request. Tidy, when set, is asked
// as each answer is about to go out whether the call left work that the next one would
// otherwise do first (a large heap of garbage to collect); it returns that work, or nil.
// The worker does it once the answer is out and before it reads its next request, and
// the pool meanwhile keeps the worker at the background CPU weight and gives it a call
// only when no other worker is idle: the work runs off every caller's path.
type Engine struct {
	Handle Handler
	Tidy   func() (work func())
}

// CallError is the error a worker's call function returns when the host's onCall
// returned an error; Message is that error's text.
type CallError struct{ Message string }

func (e *CallError) Error() string { return "sandbox: host callback failed: " + e.Message }

// IsWorker reports whether this process was started as a sandbox worker by a Pool
// (environment variable WARREN_SANDBOX=1).
func IsWorker() bool { return os.Getenv(envWorker) == "1" }

// init-frame flags
const (
	initFlagRlimitAS = 1 << 0
	initFlagSeccomp  = 1 << 1
	initFlagMounts   = 1 << 2 // in new mount and PID namespaces: set up the mounts
	initFlagDropUID  = 1 << 3 // switch to the uid and gid that follow the flags
	initFlagLandlock = 1 << 4 // restrict the worker with Landlock
)

// ready-frame flags
const (
	readyFlagRlimitAS = 1 << 0
	readyFlagSeccomp  = 1 << 1
	readyFlagRlimits  = 1 << 2 // no core files, bounded open files
	readyFlagMountNS  = 1 << 3 // private mounts, its own /proc
	readyFlagPIDNS    = 1 << 4 // process 1 of its own PID namespace
	readyFlagUID      = 1 << 5 // runs as a uid other than 0
	readyFlagNProc    = 1 << 6 // RLIMIT_NPROC holds (set, and not root)
	readyFlagReadOnly = 1 << 7 // Config.ReadOnlyDirs are mounted read-only
)

// ready-frame flags of its second flags byte (payload[17]); payload[18] is the
// kernel's Landlock ABI version where the worker applied it.
const (
	readyFlag2Landlock = 1 << 0
)

// readable are the directories the engine named with AllowRead.
var readable []string

// AllowRead names a directory this worker's engine reads once it serves calls (a
// folder of artifacts it loads lazily): its Landlock rules let it read that hierarchy,
// as Config.ReadOnlyDirs. Call it from the setup of ServeSetup or ServeEngine;
// elsewhere it does nothing.
func AllowRead(dir string) {
	if dir != "" {
		readable = append(readable, dir)
	}
}

// writableFDs are the directories of Config.WritableDirs and ReadOnlyDirs this worker
// opened before it dropped its privileges, by path.
var writableFDs map[string]*os.File

// openWritable opens the directories this worker writes, while it may still reach them.
func openWritable(dirs []string) {
	for _, d := range dirs {
		f, err := os.Open(d)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sandbox worker: %v\n", err)
			continue
		}
		if writableFDs == nil {
			writableFDs = map[string]*os.File{}
		}
		writableFDs[d] = f
	}
}

// WritablePath is the path by which a worker reaches dir, one of Config.WritableDirs: once
// it runs under its own uid, the directories above dir may be closed to it (a node's data
// directory is), so it goes through the descriptor it opened before, /proc/self/fd/N.
// Elsewhere (and outside a worker) it is dir.
func WritablePath(dir string) string {
	if f, ok := writableFDs[dir]; ok {
		return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	}
	return dir
}

// hostPID is this worker's pid as the host sees it, when it runs in a PID namespace of its
// own (where it is 1); 0 otherwise.
var hostPID int

// workerPID is this worker's pid as the host sees it.
func workerPID() int {
	if hostPID != 0 {
		return hostPID
	}
	return os.Getpid()
}

// Layers a worker sets up itself (besides rlimit-as, rlimits and seccomp), named in
// Stats.Layers.
const (
	mountnsLayer  = "mountns"
	readOnlyLayer = "readonly-dirs"
	landlockLayer = "landlock"
	pidnsLayer    = "pidns"
	uidLayer      = "unprivileged-uid"
	nprocLayer    = "rlimit-nproc"
)

// Serve runs the worker loop on the IPC channel given by the parent. It first applies the
// worker's in-process settings — GOMAXPROCS=1, GC percent 400, a Go soft memory limit of 7/8
// of the pool's MemoryLimitBytes and, when the pool has no cgroup for this worker, an
// RLIMIT_AS of (current virtual size + MemoryLimitBytes) — then answers requests one at a
// time until the parent closes the channel, and then exits the process (status 0). On a
// protocol error it writes a message to stderr and exits with status 70.
//
// Serve returns only if the process was not started as a worker or the channel cannot be
// opened.
func Serve(h Handler) error {
	return ServeSetup(func() (Handler, error) { return h, nil })
}

// ServeSetup is Serve with a handler that setup makes once the worker has set up its
// isolation layers (namespaces, a dropped uid), before its seccomp filter: what setup
// creates on disk belongs to the worker's uid. Paths of Config.WritableDirs are to be
// read through WritablePath. An error of setup ends the worker (status 70).
func ServeSetup(setup func() (Handler, error)) error {
	return ServeEngine(func() (Engine, error) {
		h, err := setup()
		return Engine{Handle: h}, err
	})
}

// ServeEngine is ServeSetup with an Engine: a handler and its work between calls.
func ServeEngine(setup func() (Engine, error)) error {
	if !IsWorker() {
		return errors.New("sandbox: Serve called in a process that is not a sandbox worker")
	}
	conn, err := workerConn()
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(400)
	var writable, readOnly []string
	if v := os.Getenv(envWritable); v != "" {
		_ = json.Unmarshal([]byte(v), &writable)
	}
	if v := os.Getenv(envReadOnly); v != "" {
		_ = json.Unmarshal([]byte(v), &readOnly)
	}
	for _, k := range []string{envWorker, envFD, envWritable, envReadOnly} {
		os.Unsetenv(k)
	}
	err = serveConn(conn, setup, writable, readOnly)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox worker: %v\n", err)
		os.Exit(70)
	}
	os.Exit(0)
	return nil
}

// workerLoop is the worker side of one connection.
type workerLoop struct {
	br *bufio.Reader
	bw *bufio.Writer

	mu     sync.Mutex // serialises call()
	inCall bool
	broken error // set when the channel failed during a callback
}

// serveConn runs the init handshake and the request loop. It returns nil when the parent
// closes the channel between requests.
func serveConn(rw io.ReadWriter, setup func() (Engine, error), writable, readOnly []string) error {
	s := &workerLoop{
		br: bufio.NewReaderSize(rw, 64<<10),
		bw: bufio.NewWriterSize(rw, 64<<10),
	}
	typ, payload, err := readFrame(s.br)
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("reading init: %w", err)
	}
	if typ != frameInit || len(payload) < 9 {
		return &protocolError{fmt.Sprintf("expected init frame, got type %d", typ)}
	}
	limit := int64(binary.BigEndian.Uint64(payload[0:8]))
	flags := payload[8]
	if flags&initFlagDropUID != 0 && len(payload) < 25 {
		return &protocolError{"init frame without the uid, gid and process limit its flags announce"}
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit - limit/8)
	}
	var ready [19]byte
	if flags&initFlagRlimitAS != 0 && limit > 0 {
		vsz, cap, err := applyRlimitAS(limit)
		if err == nil {
			ready[0] |= readyFlagRlimitAS
		} else {
			fmt.Fprintf(os.Stderr, "sandbox worker: RLIMIT_AS not applied: %v\n", err)
		}
		binary.BigEndian.PutUint64(ready[1:9], uint64(vsz))
		binary.BigEndian.PutUint64(ready[9:17], uint64(cap))
	}
	if err := applyRlimits(); err == nil {
		ready[0] |= readyFlagRlimits
	} else {
		fmt.Fprintf(os.Stderr, "sandbox worker: rlimits not applied: %v\n", err)
	}
	if flags&initFlagMounts != 0 {
		pidns, err := setupMounts()
		if pidns {
			ready[0] |= readyFlagPIDNS
		}
		if err == nil {
			ready[0] |= readyFlagMountNS
			if len(readOnly) > 0 {
				if err := mountReadOnly(readOnly); err == nil {
					ready[0] |= readyFlagReadOnly
				} else {
					fmt.Fprintf(os.Stderr, "sandbox worker: %v\n", err)
				}
			}
		} else {
			fmt.Fprintf(os.Stderr, "sandbox worker: mounts not set up: %v\n", err)
		}
	}
	if flags&initFlagDropUID != 0 {
		openWritable(append(writable, readOnly...))
		uid := int(binary.BigEndian.Uint32(payload[9:13]))
		gid := int(binary.BigEndian.Uint32(payload[13:17]))
		nproc := binary.BigEndian.Uint64(payload[17:25])
		if err := dropPrivileges(uid, gid, nproc); err == nil {
			ready[0] |= readyFlagNProc
		} else {
			fmt.Fprintf(os.Stderr, "sandbox worker: still uid %d: %v\n", os.Geteuid(), err)
		}
	}
	if os.Geteuid() != 0 && os.Getuid() != 0 {
		ready[0] |= readyFlagUID
	} else {
		ready[0] &^= readyFlagNProc // root is not held to RLIMIT_NPROC
	}
	eng, err := setup()
	if err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	h := eng.Handle
	if flags&initFlagLandlock != 0 {
		if abi, err := landlockWorker(readOnly, writable); err == nil {
			ready[17] |= readyFlag2Landlock
			ready[18] = byte(min(abi, 255))
		} else {
			fmt.Fprintf(os.Stderr, "sandbox worker: Landlock not applied: %v\n", err)
		}
	}
	if flags&initFlagSeccomp != 0 {
		// Last, once everything this process sets up is done.
		if err := applySeccomp(); err == nil {
			ready[0] |= readyFlagSeccomp
		} else {
			fmt.Fprintf(os.Stderr, "sandbox worker: seccomp filter not applied: %v\n", err)
		}
	}
	if err := writeFrame(s.bw, frameReady, ready[:]); err != nil {
		return fmt.Errorf("writing ready: %w", err)
	}

	ctx := context.Background()
	for {
		typ, payload, err := readFrame(s.br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("reading request: %w", err)
		}
		if typ != frameRequest {
			return &protocolError{fmt.Sprintf("expected request frame, got type %d", typ)}
		}
		tRecv := stagetime.Now()
		s.mu.Lock()
		s.inCall = true
		s.mu.Unlock()
		resp := h(ctx, payload, s.call)
		s.mu.Lock()
		s.inCall = false
		broken := s.broken
		s.mu.Unlock()
		if broken != nil {
			return broken
		}
		if stagetime.On { // the node strips them (handOffStages)
			resp = binary.BigEndian.AppendUint64(resp, uint64(tRecv.UnixNano()))
			resp = binary.BigEndian.AppendUint64(resp, uint64(time.Now().UnixNano()))
		}
		var tidy func()
		if eng.Tidy != nil {
			tidy = eng.Tidy()
		}
		typ = frameResponse
		if tidy != nil {
			typ = frameResponseTidy
		}
		if err := writeFrame(s.bw, typ, resp); err != nil {
			return fmt.Errorf("writing response: %w", err)
		}
		if tidy != nil {
			tidy()
		}
	}
}

// landlockWorker applies the worker's Landlock rules (applyLandlock): it reads
// readOnly and what its engine named with AllowRead, and reads and writes writable,
// each reached through WritablePath (the path itself may be closed to a worker that
// dropped its uid). Go's local time zone is loaded first: it is read from
// /etc/localtime on first use, which the rules then close.
func landlockWorker(readOnly, writable []string) (int, error) {
	_ = time.Local.String()
	var ro, rw []string
	for _, d := range append(slices.Clone(readOnly), readable...) {
		ro = append(ro, WritablePath(d))
	}
	for _, d := range writable {
		rw = append(rw, WritablePath(d))
	}
	return applyLandlock(ro, rw)
}

var errCallOutside = errors.New("sandbox: call used outside of its handler invocation")

// call sends a callback request to the host and waits for its answer.
func (s *workerLoop) call(msg []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inCall {
		return nil, errCallOutside
	}
	if s.broken != nil {
		return nil, s.broken
	}
	if len(msg) > MaxFrameSize {
		return nil, ErrTooLarge
	}
	if err := writeFrame(s.bw, frameCallback, msg); err != nil {
		s.broken = fmt.Errorf("writing callback: %w", err)
		return nil, s.broken
	}
	typ, payload, err := readFrame(s.br)
	if err != nil {
		s.broken = fmt.Errorf("reading callback answer: %w", err)
		return nil, s.broken
	}
	switch typ {
	case frameCallbackResult:
		return payload, nil
	case frameError:
		return nil, &CallError{Message: string(payload)}
	default:
		s.broken = &protocolError{fmt.Sprintf("expected callback answer, got frame type %d", typ)}
		return nil, s.broken
	}
}
