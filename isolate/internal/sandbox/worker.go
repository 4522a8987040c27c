package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// Environment variables set by the pool on a worker's command.
const (
	envWorker = "WARREN_SANDBOX"    // "1" in a worker
	envFD     = "WARREN_SANDBOX_FD" // the IPC socket's fd number (unix)
)

// Handler runs one call inside a worker process. call lets the handler ask the host (parent)
// something mid-invocation (bindings, fetch, fetching code on a cache miss) and blocks for
// the answer. The returned slice is the invocation's result.
//
// ctx is never canceled by the pool: a call that must stop is stopped by killing the worker.
// call is safe for concurrent use (calls are serialised) but must not be used after the
// handler has returned.
type Handler func(ctx context.Context, req []byte, call func(msg []byte) ([]byte, error)) []byte

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
)

// ready-frame flags
const (
	readyFlagRlimitAS = 1 << 0
	readyFlagSeccomp  = 1 << 1
	readyFlagRlimits  = 1 << 2 // no core files, bounded open files
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
	if !IsWorker() {
		return errors.New("sandbox: Serve called in a process that is not a sandbox worker")
	}
	conn, err := workerConn()
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(400)
	for _, k := range []string{envWorker, envFD} {
		os.Unsetenv(k)
	}
	err = serveConn(conn, h)
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
func serveConn(rw io.ReadWriter, h Handler) error {
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
	if limit > 0 {
		debug.SetMemoryLimit(limit - limit/8)
	}
	var ready [17]byte
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
		if err := writeFrame(s.bw, frameResponse, resp); err != nil {
			return fmt.Errorf("writing response: %w", err)
		}
	}
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
