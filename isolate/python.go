package isolate

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/pyrun"
)

// ErrPythonUnavailable is what a Python code object gets from a binary that
// carries no Python (docs/python.md).
var ErrPythonUnavailable = pyrun.ErrUnavailable

// SetPythonDir makes the Python artifacts in dir (python.wasm, stdlib.zip)
// the ones this process and its sandbox workers use, unless the binary
// embeds its own. It checks that they are there.
func SetPythonDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("python dir: %w", err)
	}
	if _, err := pyrun.Load(abs); err != nil {
		return err
	}
	return os.Setenv(pyrun.DirEnv, abs)
}

// PythonAvailable reports whether Python code objects can run here: nil, or
// why not (ErrPythonUnavailable, or a folder that cannot be read).
func PythonAvailable() error {
	_, err := pyrun.Find()
	return err
}

// PrecompilePython compiles python.wasm into the disk cache of a runtime
// whose wasm cache is wasmCacheDir ("" for runtimes without one), so that
// the first Python call of its processes loads it instead of compiling it
// (seconds; half a minute under the race detector). Tests use it to fill
// a shared cache once.
func PrecompilePython(wasmCacheDir string) error {
	a, err := pyrun.Find()
	if err != nil {
		return err
	}
	e, err := pyrun.NewEngine(context.Background(), pyrun.Options{CacheDir: pythonCacheDir(wasmCacheDir), Artifacts: a})
	if err != nil {
		return err
	}
	return e.Close(context.Background())
}

// pythonFiles are the modules of a Python code object by name, as bytes.
func pythonFiles(c *Code) map[string][]byte {
	files := make(map[string][]byte, len(c.Modules))
	for name, m := range c.Modules {
		switch m.Kind {
		case ModuleData, ModuleWasm:
			files[name] = m.Data
		case ModuleJSON:
			files[name] = m.JSON
		default:
			files[name] = []byte(m.Source)
		}
	}
	return files
}

// pythonCacheDir is where python.wasm's compilation is cached: under the
// runtime's wasm cache, else under the user's cache folder ("" if there
// is none: compiled in memory).
func pythonCacheDir(wasmCacheDir string) string {
	if wasmCacheDir != "" {
		return filepath.Join(wasmCacheDir, "python")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "warren", "python")
	}
	return ""
}

// pyEngine is the process's Python engine, made on the first Python call:
// JavaScript-only processes never compile the interpreter.
type pyEngine struct {
	once     sync.Once
	cacheDir string
	readOnly bool // the disk cache is only read (pyrun.Options.CacheReadOnly)
	eng      *pyrun.Engine
	err      error
	programs *sizedlru.Cache[string, *pyProgram]
}

// pyProgram is a Python program as a worker keeps it: its modules, and
// the same as a read-only file system for /code.
type pyProgram struct {
	p  *contract.Program
	fs fs.FS
}

// codeFS is a zip archive (stored, not compressed) of the modules, read
// as a file system.
func codeFS(files map[string][]byte) (fs.FS, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[name]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
}

// get returns the engine, and whether this call made it.
func (p *pyEngine) get() (*pyrun.Engine, bool, error) {
	made := false
	p.once.Do(func() {
		made = true
		a, err := pyrun.Find()
		if err != nil {
			p.err = err
			return
		}
		p.eng, p.err = pyrun.NewEngine(context.Background(), pyrun.Options{CacheDir: pythonCacheDir(p.cacheDir), CacheReadOnly: p.readOnly, Artifacts: a})
		p.programs = sizedlru.New[string, *pyProgram](64, 128<<20)
	})
	return p.eng, made, p.err
}

// close closes the engine. Its once first: an engine being made meanwhile
// (a call racing the runtime's close) is waited for and closed; none is
// made after.
func (p *pyEngine) close() {
	p.once.Do(func() { p.err = errPythonClosed })
	if p.eng != nil {
		_ = p.eng.Close(context.Background())
	}
}

var errPythonClosed = errors.New("isolate: the runtime is closed")

var errCPU = errors.New("python: CPU time limit")

// executePython runs a Python code object in a fresh CPython instance: a
// script (stdin the request body, stdout the response body) or a Python
// Worker (docs/python.md).
func (e *engine) executePython(ctx context.Context, r *contract.ExecRequest, host contract.HostConn) *Result {
	startup := time.Now()
	py, made, err := e.py.get()
	if err != nil {
		if errors.Is(err, pyrun.ErrUnavailable) {
			return contract.ExceptionResult("Error", pyrun.UnavailableMessage, "")
		}
		return contract.Failure(OutcomeInternalError, err.Error())
	}
	// The interpreter's compile (or load from the disk cache) and its
	// snapshot happen once per process, and not on the call's limits.
	snapped, err := py.Warm(ctx)
	if err != nil {
		return contract.Failure(OutcomeInternalError, err.Error())
	}
	cold, warm := made || snapped, time.Since(startup)
	prog, ok := e.py.programs.Get(r.Hash)
	if !ok {
		rep, herr := host.Call(ctx, &contract.HostCall{Op: contract.OpCode, Hash: r.Hash})
		if herr != nil || rep.Program == nil || rep.Program.Python == nil {
			return contract.Failure(OutcomeInternalError, fmt.Sprintf("fetching python code %s: %v", r.Hash, herr))
		}
		cfs, err := codeFS(rep.Program.Python)
		if err != nil {
			return contract.Failure(OutcomeInternalError, fmt.Sprintf("python code %s: %v", r.Hash, err))
		}
		prog = &pyProgram{p: rep.Program, fs: cfs}
		size := 0
		for _, b := range prog.p.Python {
			size += 2 * len(b) // the modules, and their archive
		}
		e.py.programs.Add(r.Hash, prog, int64(size))
	}
	p := prog.p
	// The wall-time limit is a deadline; the CPU limit a timer that stops
	// while a host call (fetch, KV) waits, and that in a sandbox worker
	// also asks the process's CPU clock (contract.CPUTimer).
	ctx, cancelWall := context.WithTimeoutCause(ctx, contract.LimitWall(r.Limits), context.DeadlineExceeded)
	defer cancelWall()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cpu := contract.StartCPUTimer(e.cpuClock, contract.LimitCPU(r.Limits), func() { cancel(errCPU) })
	defer cpu.Stop()
	noRetry := false
	hostFn := func(ctx context.Context, op string, arg []byte) ([]byte, error) {
		if op == "noretry" { // a scheduled handler's controller.no_retry()
			noRetry = r.Scheduled != nil
			return nil, nil
		}
		cpu.Pause()
		defer cpu.Resume()
		return pythonHostCall(ctx, op, arg, r, host)
	}
	env := map[string]any{}
	for k, v := range r.Env {
		var x any
		if json.Unmarshal(v, &x) == nil {
			env[k] = x
		}
	}
	var kv []string
	for name, b := range r.Bindings {
		if b.KV != "" {
			kv = append(kv, name)
		}
	}
	req := r.Request
	cfg := map[string]any{
		"request": map[string]any{"method": req.Method, "url": req.URL, "headers": req.Headers, "cf": req.CF},
		"env":     env,
		"kv":      kv,
	}
	if r.Scheduled != nil {
		cfg["scheduled"] = r.Scheduled
	}
	out, err := py.Run(ctx, pyrun.Input{
		Main: p.Name, Files: p.Python, CodeFS: prog.fs, Config: cfg, Stdin: req.Body,
		MemoryLimitBytes: uint64(contract.LimitMemory(r.Limits)), MaxResponseBytes: contract.MaxResponseBytes, Host: hostFn,
	})
	res := pythonResult(ctx, r, out, err)
	res.Telemetry.CPUTime = contract.Millis(cpu.Used()) // the host calls' waits left out
	res.NoRetry = noRetry
	if cold {
		res.Telemetry.ColdStart = true
		res.Telemetry.StartupMs = contract.Millis(warm)
	}
	return res
}

// pythonResult maps a run to the result contract.
func pythonResult(ctx context.Context, r *contract.ExecRequest, out *pyrun.Output, err error) *Result {
	var res *Result
	stderr := string(out.Stderr)
	// A limit that ended the call wins over what the guest made of it (a
	// host call that failed with the context, then an exception).
	var cause error
	if ctx.Err() != nil {
		cause = context.Cause(ctx)
	}
	switch {
	case errors.Is(err, pyrun.ErrMemoryLimit):
		res = contract.Failure(OutcomeExceededMemory, fmt.Sprintf("Worker exceeded its memory limit of %d MiB", r.Limits.MemoryMB))
	case errors.Is(cause, errCPU):
		res = contract.Failure(OutcomeExceededCPU, fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", r.Limits.CPUMs))
	case errors.Is(cause, context.DeadlineExceeded):
		res = contract.Failure(OutcomeExceededWallTime, fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", r.Limits.WallMs))
	case cause != nil:
		res = contract.Failure(OutcomeCanceled, "the invocation was canceled")
	case errors.Is(err, pyrun.ErrOutputTooLarge):
		res = contract.ExceptionResult("RangeError", "the script wrote more than 16 MiB to stdout", "")
	case err != nil:
		res = contract.ExceptionResult("RuntimeError", "the Python interpreter failed: "+err.Error(), "")
	case out.Exception != nil:
		x := out.Exception
		res = contract.ExceptionResult(x.Name, x.Message, x.Stack)
		// The traceback is the exception's stack, not a log line.
		stderr = strings.TrimSuffix(stderr, x.Stack)
	case out.ExitCode != 0:
		res = contract.ExceptionResult("SystemExit", fmt.Sprintf("the script exited with status %d", out.ExitCode), "")
	case r.Scheduled != nil: // a scheduled handler returns nothing
		res = contract.Failure(OutcomeOK, "")
	case out.Response != nil:
		res = contract.Failure(OutcomeOK, "")
		res.Response = &Response{Status: out.Response.Status, Headers: out.Response.Headers, Body: out.Response.Body}
		if cs := out.Response.SetCookie; len(cs) >= 2 {
			// Each its own header line; the map holds them joined, as
			// the result contract has it, whatever the guest sent there.
			if res.Response.Headers == nil {
				res.Response.Headers = map[string]string{}
			}
			res.Response.Headers["set-cookie"] = strings.Join(cs, ", ")
			res.Response.SetCookie = cs
		}
	default:
		res = contract.Failure(OutcomeOK, "")
		res.Response = &Response{Status: 200, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}, Body: out.Stdout}
	}
	res.Telemetry.MemoryBytes = int64(out.MemoryBytes)
	// Logs: a Worker's print() output, and stderr lines.
	now := time.Now().UnixMilli()
	var logs contract.LogBook
	if out.Response != nil || r.Scheduled != nil || (res.Outcome != OutcomeOK && len(out.Stdout) > 0 && looksWorker(out)) {
		addLines(&logs, now, "log", string(out.Stdout))
	}
	addLines(&logs, now, "error", stderr)
	res.Logs = logs.List(now)
	return res
}

func looksWorker(out *pyrun.Output) bool { return out.Response != nil }

func addLines(logs *contract.LogBook, now int64, level, s string) {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return
	}
	for _, line := range strings.Split(s, "\n") {
		logs.Add(now, level, line)
	}
}

// pythonHostCall serves the guest's fetch and KV calls through the host.
func pythonHostCall(ctx context.Context, op string, arg []byte, r *contract.ExecRequest, host contract.HostConn) ([]byte, error) {
	head, body, _ := strings.Cut(string(arg), "\n")
	switch op {
	case "sleep":
		secs, err := strconv.ParseFloat(head, 64)
		if err != nil || secs < 0 || math.IsNaN(secs) {
			return nil, fmt.Errorf("sleep: bad length %q", head)
		}
		d := time.Duration(min(secs, 1e9) * float64(time.Second))
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	case "fetch":
		var h struct {
			URL     string            `json:"url"`
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(head), &h); err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
		req := &contract.Request{Method: h.Method, URL: h.URL, Headers: h.Headers}
		if body != "" {
			req.Body = []byte(body)
		}
		rep, err := host.Call(ctx, &contract.HostCall{Op: contract.OpFetch, Request: req})
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", h.URL, err)
		}
		defer rep.Response.ReleaseBody() // copied below: the host holds it no more
		if rep.Error != "" {
			return nil, fmt.Errorf("fetch %s: %s", h.URL, rep.Error)
		}
		if rep.Response == nil {
			return nil, fmt.Errorf("fetch %s: no response", h.URL)
		}
		m := map[string]any{"status": rep.Response.Status, "headers": rep.Response.Headers}
		if len(rep.Response.SetCookie) >= 2 {
			m["setCookie"] = rep.Response.SetCookie // apart, for get_all
		}
		meta, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		return append(append(meta, '\n'), rep.Response.Body...), nil
	case "kv":
		var h struct {
			Binding string `json:"binding"`
			Method  string `json:"method"`
			Key     string `json:"key"`
			Opts    struct {
				ExpirationTTL int64    `json:"expirationTtl"`
				Prefix        string   `json:"prefix"`
				Limit         int      `json:"limit"`
				Cursor        string   `json:"cursor"`
				Keys          []string `json:"keys"`
			} `json:"opts"`
		}
		if err := json.Unmarshal([]byte(head), &h); err != nil {
			return nil, fmt.Errorf("kv: %w", err)
		}
		c := &contract.HostCall{Op: contract.OpKV, Binding: h.Binding, Method: h.Method, Key: h.Key}
		switch h.Method {
		case "put":
			c.Value = []byte(body)
			if h.Opts.ExpirationTTL != 0 {
				// A negative one too: the store refuses it, as for a
				// JavaScript Worker (dropped, the key never expired).
				c.Put = &contract.KVPutOptions{ExpirationTTL: h.Opts.ExpirationTTL}
			}
		case "list":
			c.List = &contract.KVListOptions{Prefix: h.Opts.Prefix, Limit: h.Opts.Limit, Cursor: h.Opts.Cursor}
		case "getBulk":
			c.Keys = h.Opts.Keys
		}
		rep, err := host.Call(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("kv %s: %w", h.Method, err)
		}
		if rep.Error != "" {
			return nil, fmt.Errorf("kv %s: %s", h.Method, rep.Error)
		}
		switch h.Method {
		case "get":
			if rep.Entry == nil {
				return nil, nil
			}
			return append([]byte{1}, rep.Entry.Value...), nil
		case "getBulk":
			// Per key: 0 (not found), or 1, a be32 length and the value.
			var out []byte
			for _, e := range rep.KVEntries {
				if e == nil {
					out = append(out, 0)
					continue
				}
				out = append(out, 1)
				out = binary.BigEndian.AppendUint32(out, uint32(len(e.Value)))
				out = append(out, e.Value...)
			}
			return out, nil
		case "list":
			if rep.Keys == nil {
				return []byte(`{"keys":[],"list_complete":true}`), nil
			}
			return json.Marshal(rep.Keys)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%s: no such host call", op)
}
