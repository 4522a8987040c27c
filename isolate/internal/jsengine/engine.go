package jsengine

import (
	"context"
	"fmt"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// Engine runs JavaScript invocations and Durable Object events where the
// guest runs: in the node's process (the in-process executor) or in a
// sandbox worker. It caches compiled programs and keeps live objects.
type Engine struct {
	compiled *sizedlru.Cache[string, *compiled]
	heap     *HeapMeter
	stuck    func(contract.Outcome)
	cpuClock func() time.Duration // jsCall.cpuClock
	objects  objectTable          // live Durable Object instances
}

// compiledCacheBytes bounds the compiled programs an engine keeps (per
// sandbox worker), by an estimate of their size (compiledSize).
const compiledCacheBytes = 128 << 20

// compiledSize estimates the memory of a compiled program from its source.
func compiledSize(script string) int64 { return 2 * int64(len(script)) }

// New returns an engine keeping up to cacheSize compiled programs. heap,
// if not nil, meters the process's heap for the memory limit (a sandbox
// worker runs one call at a time, so its heap's growth is the call's);
// stuck, if not
// nil, is called when the guest cannot be interrupted (a worker then ends
// its process, reporting the outcome); cpuClock, if not nil, reads the CPU
// time of a process that runs one call at a time (see loop.overCPU).
func New(cacheSize int, heap *HeapMeter, stuck func(contract.Outcome), cpuClock func() time.Duration) *Engine {
	c := sizedlru.New[string, *compiled](cacheSize, compiledCacheBytes)
	return &Engine{compiled: c, heap: heap, stuck: stuck, cpuClock: cpuClock}
}

// Evict drops the live instance of the object with key, if any.
func (e *Engine) Evict(key string) { e.objects.evict(key) }

// Run runs one invocation of a script. It never panics on guest behaviour.
func (e *Engine) Run(ctx context.Context, r *contract.ExecRequest, host contract.HostConn) (res *contract.Result) {
	start := time.Now()
	var sent *contract.Result // the result so far, once the response is out
	defer func() {
		if p := recover(); p != nil {
			res = &contract.Result{Outcome: contract.OutcomeInternalError, Error: fmt.Sprintf("isolate: panic: %v", p), Logs: []contract.Log{}, Exceptions: []contract.Exception{}}
			if sent != nil { // the response stands
				res = contract.AfterResponse(sent, res.Error)
			}
		}
		contract.BoundResult(res)
		res.Telemetry.WallTime = contract.Millis(time.Since(start))
	}()
	prog, cold, res := e.program(ctx, r.Hash, host, start.Add(contract.LimitWall(r.Limits)))
	if res != nil {
		return res
	}
	pre := contract.Millis(time.Since(start)) // fetching and compiling the code
	telemetry := func(res *contract.Result) {
		res.Telemetry.ColdStart = cold
		if cold {
			res.Telemetry.StartupMs += pre
		}
	}
	res = runJS(ctx, &jsCall{
		prog: prog.prog, locale: prog.locale, stacks: prog.stacks, req: r.Request, scheduled: r.Scheduled, env: r.Env, bindings: r.Bindings,
		limits: r.Limits, host: host, heap: e.heap, stuck: e.stuck, cpuClock: e.cpuClock, stream: r.Stream,
		respond: func(partial *contract.Result) {
			telemetry(partial)
			partial.Telemetry.WallTime = contract.Millis(time.Since(start))
			contract.BoundResult(partial)
			sent = partial
			// A failure to hand it over shows in the final result.
			_, _ = host.Call(ctx, &contract.HostCall{Op: contract.OpRespond, Result: partial})
		},
	})
	telemetry(res)
	return res
}

// compiled is a compiled Worker script.
type compiled struct {
	prog *goja.Program
	// locale: the script names a locale-sensitive method of the built-ins
	// (webapi.Options.LocaleMethods).
	locale bool
	// stacks: the script may read an error's stack (usesStacks).
	stacks bool
}

// program returns the compiled program for hash, fetching its source from
// the host on a miss. In a sandbox worker (e.stuck set) a compilation still
// running at deadline, the call's wall-time limit, ends the worker: it runs
// no guest code, but goja evaluates constant expressions as it compiles and
// parses literals of any length, the interrupt does not reach either, and a
// script made to make them slow (a power of BigInt literals, a BigInt
// literal of millions of digits) held its worker until the pool's kill,
// twice the wall-time limit and a second later.
func (e *Engine) program(ctx context.Context, hash string, host contract.HostConn, deadline time.Time) (*compiled, bool, *contract.Result) {
	if p, ok := e.compiled.Get(hash); ok {
		return p, false, nil
	}
	rep, err := host.Call(ctx, &contract.HostCall{Op: contract.OpCode, Hash: hash})
	if err != nil {
		return nil, false, contract.Failure(contract.OutcomeInternalError, fmt.Sprintf("fetching code %s: %v", hash, err))
	}
	if rep.Program == nil || rep.Program.Script == "" {
		return nil, false, contract.Failure(contract.OutcomeInternalError, fmt.Sprintf("host has no script for code %s", hash))
	}
	var guard *time.Timer
	if e.stuck != nil {
		guard = time.AfterFunc(time.Until(deadline), func() { e.stuck(contract.OutcomeExceededWallTime) })
	}
	p, err := goja.Compile(rep.Program.Name, rep.Program.Script, true)
	if guard != nil {
		guard.Stop()
	}
	if err != nil {
		return nil, false, contract.ExceptionResult("SyntaxError", err.Error(), "")
	}
	c := &compiled{prog: p, locale: webapi.UsesLocaleMethods(rep.Program.Script), stacks: usesStacks(rep.Program.Script)}
	e.compiled.Add(hash, c, compiledSize(rep.Program.Script))
	return c, true, nil
}
