package jsengine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// MaxCallStackSize bounds guest recursion: goja keeps its stack on the heap,
// so without a bound deep recursion is a memory bomb.
const MaxCallStackSize = 4096

// watchdogPeriod is how often a running invocation's CPU and memory use is
// checked; an overrun is noticed within about one period.
const watchdogPeriod = 2 * time.Millisecond

// stuckAfter is how long an interrupted guest may take to stop before the
// watchdog calls stuck: a native built-in (a huge sort, a huge string)
// ignores goja's Interrupt.
const stuckAfter = 250 * time.Millisecond

// limitHit is the value passed to goja's Interrupt when a limit ends a call.
type limitHit struct {
	outcome contract.Outcome
	msg     string
}

// jsCall is everything one JS invocation needs.
type jsCall struct {
	prog *goja.Program
	// locale: patch the built-ins' locale-sensitive methods from the start
	// (webapi.Options.LocaleMethods).
	locale bool
	// stacks: give errors V8's stacks (installStacks).
	stacks bool
	req    *contract.Request
	// scheduled, when set, runs the scheduled handler instead of fetch.
	scheduled *contract.ScheduledEvent
	env       map[string]json.RawMessage
	bindings  map[string]contract.Binding
	limits    contract.Limits
	host      contract.HostConn
	// heap meters the heap; nil disables the memory limit (the
	// in-process executor shares its heap with other calls).
	heap *HeapMeter
	// stuck is called from the watchdog when an interrupted guest does not
	// stop within stuckAfter; the sandbox ends the worker process.
	stuck func(contract.Outcome)
	// cpuClock, if set, reads the CPU time of the process the call has to
	// itself (a sandbox worker's; nil in the node's process): see
	// loop.overCPU.
	cpuClock func() time.Duration
	// respond, if set, is given the result so far when the response is
	// ready while ctx.waitUntil work is still pending (telemetry other
	// than CPU, wall, startup and memory is the caller's).
	respond func(*contract.Result)
	// stream asks for a response whose body is a stream to go out as it
	// is produced: its head through respond, its chunks as OpBody calls
	// (contract.ExecRequest.Stream). It needs respond.
	stream bool
}

// errDeadline is the cause of a loop's context ending at its deadline.
var errDeadline = errors.New("isolate: deadline")

// runJS runs one invocation in a fresh goja runtime and returns its result
// (telemetry other than CPU, wall, startup and memory is the caller's).
func runJS(ctx context.Context, c *jsCall) *contract.Result {
	l := newLoop(c.locale)
	defer l.api.Close()
	res := &contract.Result{Logs: []contract.Log{}, Exceptions: []contract.Exception{}}
	end := l.begin(ctx, c)
	defer end()
	defer l.closeWasm()

	l.busy()
	err := l.run(func() error {
		if c.stacks {
			if err := installStacks(l.vm); err != nil {
				return err
			}
		}
		_, err := l.vm.RunProgram(c.prog)
		return err
	})
	res.Telemetry.StartupMs = contract.Millis(time.Since(l.start))
	var handlerErr error
	if err == nil {
		handlerErr = l.invoke(res)
	} else {
		handlerErr = err
	}
	l.conclude(res, handlerErr)
	res.NoRetry = l.noRetry
	return res
}

// newLoop makes a goja runtime with the Web API and the loop's globals. The
// runtime may outlive one call (a live Durable Object): each call (event)
// runs between begin and its end function.
func newLoop(localeMethods bool) *loop {
	vm := goja.New()
	vm.SetMaxCallStackSize(MaxCallStackSize)
	// Code compiled at run time (eval, new Function) maps no positions: a
	// sourceMappingURL comment in it would have goja read any file it names
	// (os.ReadFile: a FIFO, /dev/zero, the node's files in process).
	vm.SetParserOptions(parser.WithDisableSourceMaps)
	l := &loop{vm: vm}
	l.api = webapi.Install(vm, webapi.Options{
		Log: func(level, msg string) {
			l.logs.Add(time.Now().UnixMilli(), level, msg)
		},
		MaxMessage:           contract.MaxLogMessageBytes,
		Extra:                &webapi.ExtraGlobals{Names: loopGlobals, Build: l.buildGlobal},
		Interrupted:          l.interrupted,
		LocaleMethods:        localeMethods,
		ArrayBufferAllocated: l.addFlat,
		AllowAlloc:           l.allowAlloc,
	})
	vm.SetArrayBufferAllocHook(l.addFlat)
	vm.SetAllocGuard(l.allowAlloc)
	return l
}

// begin starts one call (event) on the loop: fresh limits, clocks, logs
// and exceptions, no timers or host calls pending. The function it returns
// ends the call: it stops the watchdog and the deadline, and cancels what
// the call started.
func (l *loop) begin(ctx context.Context, c *jsCall) (end func()) {
	start := time.Now()
	// The deadline moves when the response goes out before ctx.waitUntil
	// work is done, so it is a timer rather than the context's own.
	ctx, cancel := context.WithCancelCause(ctx)
	l.ctx, l.call, l.start = ctx, c, start
	l.timers, l.timerByID = nil, nil
	l.pending, l.waiting = 0, nil
	l.background.Store(false)
	l.waitUntil, l.subreqs = 0, 0
	l.rejected, l.noRetry = 0, false
	l.logs, l.excs = contract.LogBook{}, contract.ExceptionBook{}
	l.cpu.Store(0)
	l.busySince.Store(0)
	l.meter = contract.NewCPUMeter(c.cpuClock)
	l.heapPeak.Store(0)
	l.hit.Store(nil)
	l.hitAt.Store(0)
	l.vm.ClearInterrupt()
	l.deadline = start.Add(contract.LimitWall(c.limits))
	// At the deadline the guest is interrupted too, as by the CPU limit,
	// whatever it is doing: a guest that runs without waiting (a loop
	// within a larger cpuMs, or code that goes on after a slow start)
	// would otherwise only see the deadline at its next wait, if ever. The
	// interrupt never lands after the call's end, where it would hit the
	// next call of a runtime that is kept (a Durable Object's).
	dl := &callDeadline{l: l, cancel: cancel}
	l.deadlineTimer = time.AfterFunc(contract.LimitWall(c.limits), dl.fire)
	l.heapBase, l.flatBase, l.gcTicket, l.askPast = 0, 0, 0, 0
	l.liveSeen.Store(false)
	if c.heap != nil {
		l.heapBase, l.flatBase = c.heap.baseline(HeapRatio * contract.LimitMemory(c.limits))
	}
	if w := l.wasm.Load(); w != nil {
		w.newCall()
	}
	l.startWatchdog()
	return func() {
		l.stopWatchdog()
		l.deadlineTimer.Stop()
		dl.end()
		cancel(nil)
	}
}

// callDeadline is what the deadline timer of one call reaches: the loop
// and the call's cancel, until the call ends. Then the timer does nothing
// (it never interrupts a later call of a runtime that is kept, a Durable
// Object's), and it holds nothing of the call: Go drops a stopped timer
// lazily, and one still in the runtime's timer heap keeps what its
// function reaches alive; the runtime of a call that ended, with all its
// guest's objects, outlived collections for as long (seen: the 200 MB a
// guest held, still there two collections after its call).
type callDeadline struct {
	mu     sync.Mutex
	l      *loop // nil once the call ended
	cancel context.CancelCauseFunc
}

// fire runs at the deadline: it cancels the call's context and
// interrupts the guest, unless the call has ended.
func (dl *callDeadline) fire() {
	dl.mu.Lock()
	cancel := dl.cancel
	dl.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel(errDeadline)
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if l := dl.l; l != nil {
		l.interrupt(l.wallHit())
	}
}

// end ends the call for the timer.
func (dl *callDeadline) end() {
	dl.mu.Lock()
	dl.l, dl.cancel = nil, nil
	dl.mu.Unlock()
}

// conclude turns the error that ended the call into res's outcome, logs,
// exceptions and telemetry, and stops the watchdog (the exception that
// ended the call is read with the watchdog still on: its fields may be
// guest getters). It returns the exception that ended the call, if any.
//
// A call whose memory in use at the end counts more than its limit, and
// that no collection has judged since, is judged now (judgeMemory): one
// that allocated past its limit faster than the watchdog's collection
// answered would otherwise end as if it were within it.
func (l *loop) conclude(res *contract.Result, err error) *contract.Exception {
	var heap, flat int64
	if m := l.call.heap; m != nil {
		heap, flat = m.InUse()
		if l.hit.Load() == nil {
			l.judgeMemory(heap, flat)
			if h := l.hit.Load(); h != nil {
				err = h
			}
		}
	}
	last := l.finish(res, err)
	l.idle()
	l.stopWatchdog()
	now := time.Now().UnixMilli()
	res.Logs = l.logs.List(now)
	res.Exceptions = l.excs.Result(last, now)
	l.telemetryWith(res, heap, flat)
	return last
}

// telemetry fills in the CPU, wall time and memory used so far.
func (l *loop) telemetry(res *contract.Result) {
	var heap, flat int64
	if m := l.call.heap; m != nil {
		heap, flat = m.InUse()
	}
	l.telemetryWith(res, heap, flat)
}

// telemetryWith is telemetry given the heap in use and the flat bytes in
// it (HeapMeter.InUse), if the call is metered.
func (l *loop) telemetryWith(res *contract.Result, heap, flat int64) {
	res.Telemetry.CPUTime = contract.Millis(l.cpuTime(l.used()))
	res.Telemetry.WallTime = contract.Millis(time.Since(l.start))
	if l.call.heap != nil {
		// The heap in use at the end, garbage included; past the limit,
		// the live heap a collection found stands (or, if none was
		// found yet, the limit: the call was not judged to exceed it).
		limit := contract.LimitMemory(l.call.limits)
		if used := l.memUsed(heap, flat); used <= limit {
			l.notePeak(used)
		} else if !l.liveSeen.Load() {
			l.notePeak(limit)
		}
		res.Telemetry.MemoryBytes = l.heapPeak.Load()
	}
}

// loop is the event loop of one invocation: it runs JS in slices (the top
// level, the handler, each timer and host completion) and drains promise
// jobs after each. Its CPU time is the time it is busy: everything but the
// waits for a timer to come due or a host call to answer.
type loop struct {
	vm    *goja.Runtime
	api   *webapi.API
	ctx   context.Context
	call  *jsCall
	start time.Time

	timers        timerHeap
	timerSeq      int64
	timerByID     map[int64]*timer
	pending       int                                                // host calls in flight
	callSeq       int64                                              // ids of started host calls
	waiting       map[int64]func(rep *contract.HostReply, err error) // their completions, run on the loop
	deadline      time.Time                                          // the wall-time limit, or the background's
	deadlineTimer *time.Timer                                        // ends ctx at the deadline
	background    atomic.Bool                                        // the response is out; ctx.waitUntil work goes on (read by the deadline's timer)
	responded     bool                                               // the response went to the host before the end
	waitUntil     int                                                // ctx.waitUntil promises not settled yet
	rejected      int                                                // ctx.waitUntil promises that rejected
	noRetry       bool                                               // a scheduled handler called controller.noRetry()
	promiseThen   goja.Callable                                      // Promise.prototype.then, read on the first waitUntil
	subreqs       int64
	logs          contract.LogBook
	excs          contract.ExceptionBook

	cpu       atomic.Int64      // nanoseconds busy so far, excluding the current stretch
	busySince atomic.Int64      // mono() when the loop last became busy, 0 while it waits
	meter     contract.CPUMeter // the call's CPU time as its process's clock counts it (jsCall.cpuClock)
	heapBase  int64             // the heap in use when the call began
	flatBase  int64             // the flat bytes in it (HeapMeter.InUse)
	heapPeak  atomic.Int64      // the memory used at its peak, counted as V8 would (counted)
	gcTicket  uint64            // a collection the watchdog waits for (HeapMeter.ask), 0 for none
	liveSeen  atomic.Bool       // a collection has judged the call (HeapMeter.answer)
	askPast   int64             // the memory used (counted) past which the watchdog asks for the next collection
	hit       atomic.Pointer[limitHit]
	hitAt     atomic.Int64
	wd        *time.Timer
	wdMu      sync.Mutex
	wdStopped bool
	wdGen     uint64    // the call the watchdog watches (begin starts a new one)
	wdRef     *watchRef // what l.wd's function reaches

	// obj is the live Durable Object the loop runs, nil for a one-shot call.
	obj *liveObject
	// sup is the Durable Object prelude, run on first use.
	sup *objSupport

	// wasm is the loop's WebAssembly state, made on first use (most
	// Workers never touch WebAssembly); the watchdog reads it.
	wasm atomic.Pointer[loopWasm]
	// sqlStop, while a Durable Object's SQL statement runs, interrupts it
	// (see withInterrupt).
	sqlStop atomic.Pointer[func()]
}

// mono reads the monotonic clock as nanoseconds since the call began,
// plus one, so that it is never 0.
func (l *loop) mono() int64 { return int64(time.Since(l.start)) + 1 }

// busy starts a stretch of the loop's own work, counted as CPU time.
func (l *loop) busy() { l.busySince.Store(l.mono()) }

// idle ends a stretch of work: the loop is about to wait.
func (l *loop) idle() {
	if s := l.busySince.Swap(0); s != 0 {
		l.cpu.Add(l.mono() - s)
	}
}

// used is the CPU time so far.
func (l *loop) used() time.Duration {
	c := l.cpu.Load()
	if s := l.busySince.Load(); s != 0 {
		c += l.mono() - s
	}
	return time.Duration(c)
}

// run executes one slice of JS. A limit that interrupts the slice comes
// back as a *limitHit error.
func (l *loop) run(f func() error) error {
	err := f()
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if h, ok := ie.Value().(*limitHit); ok {
			return h
		}
		if _, ok := ie.Value().(*goja.RegexpTimeoutError); ok {
			// A match that never returned within its own bound (the
			// regexp engine does not see Interrupt) is the call's CPU.
			return &limitHit{contract.OutcomeExceededCPU, fmt.Sprintf("Worker exceeded its CPU time limit: a regular expression match ran for more than %v, the most one match may take", regexp2.DefaultMatchTimeout)}
		}
	}
	if h := l.hit.Load(); h != nil {
		return h
	}
	// A native call (a regexp with its match timeout, a huge sort) may run
	// past the budget without ever seeing the interrupt.
	if l.overCPU(l.used()) {
		return l.cpuHit()
	}
	return err
}

// overCPU reports whether a call whose event loop has been busy for busy
// is past its CPU limit. The busy time counts the wall clock, including
// the time the loop waited for a processor on a busy host. In a process of
// its own (a sandbox worker, whose call may be demoted to the CPU the host
// does not want) the process's CPU clock also counts: the call's CPU time
// is what it used (the smaller of the clock's and the busy time), and only
// a call starved past contract.StarveGrace is charged seven eighths of its
// busy time beyond it (contract.CountedCPU). So a call is judged by what
// it used, and one that waits for a processor still ends within the grace
// and 8/7 of its limit of busy time.
func (l *loop) overCPU(busy time.Duration) bool {
	limit := contract.LimitCPU(l.call.limits)
	if busy <= limit {
		return false
	}
	return l.cpuTime(busy) > limit
}

// cpuTime is the call's CPU time given its busy time, as overCPU counts
// it.
func (l *loop) cpuTime(busy time.Duration) time.Duration { return l.meter.Used(busy) }

func (l *loop) cpuHit() *limitHit {
	return &limitHit{contract.OutcomeExceededCPU, fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", l.call.limits.CPUMs)}
}

// interrupted reports whether a limit has interrupted the guest: long Go
// work on its behalf (the Web API's, a structured clone's) stops then.
func (l *loop) interrupted() bool { return l.hit.Load() != nil }

// interrupt stops the guest for a limit; the first limit to hit wins.
func (l *loop) interrupt(h *limitHit) {
	if l.hit.CompareAndSwap(nil, h) {
		l.hitAt.Store(time.Now().UnixNano())
		l.vm.Interrupt(h)
		if w := l.wasm.Load(); w != nil {
			w.stop() // stops wasm the guest is running
		}
		if stop := l.sqlStop.Load(); stop != nil {
			(*stop)() // and a SQL statement
		}
	}
}

func (l *loop) startWatchdog() {
	first := watchdogPeriod
	if b := contract.LimitCPU(l.call.limits); b < first {
		first = b
	}
	// The timer may fire before AfterFunc returns: watch takes wdMu before
	// it touches l.wd.
	l.wdMu.Lock()
	l.wdGen++
	l.wdStopped = false
	gen := l.wdGen
	ref := &watchRef{gen: gen}
	ref.l.Store(l)
	l.wdRef = ref
	l.wd = time.AfterFunc(first, ref.fire)
	l.wdMu.Unlock()
}

func (l *loop) stopWatchdog() {
	l.wdMu.Lock()
	l.wdStopped = true
	if l.wd != nil {
		l.wd.Stop()
		l.wdRef.l.Store(nil)
	}
	l.wdMu.Unlock()
}

// watchRef is what the watchdog's timer of one call reaches: the loop,
// until the watchdog stops, so that a stopped timer Go has not dropped
// yet does not keep the runtime alive (see callDeadline).
type watchRef struct {
	l   atomic.Pointer[loop]
	gen uint64
}

func (r *watchRef) fire() {
	if l := r.l.Load(); l != nil {
		l.watch(r.gen)
	}
}

// watch runs on the timer's goroutine: it checks CPU and memory and
// re-arms itself. It holds wdMu throughout, so that a call that ended (or
// a later call on the same loop) is never watched by a stale timer.
func (l *loop) watch(gen uint64) {
	l.wdMu.Lock()
	defer l.wdMu.Unlock()
	if l.wdStopped || gen != l.wdGen {
		return
	}
	now := time.Now().UnixNano()
	used := l.cpu.Load()
	busy := l.busySince.Load()
	if busy != 0 {
		used += l.mono() - busy
	}
	if l.overCPU(time.Duration(used)) {
		l.interrupt(l.cpuHit())
	}
	if l.call.heap != nil && l.hit.Load() == nil {
		l.checkMemory(l.call.heap)
	}
	if h := l.hit.Load(); h != nil && l.call.stuck != nil && busy != 0 &&
		time.Duration(now-l.hitAt.Load()) > stuckAfter {
		l.call.stuck(h.outcome)
	}
	l.wd.Reset(watchdogPeriod)
}

// memUsed is the memory the call has used, counted as V8 would (counted),
// given the heap and the flat bytes in it now.
func (l *loop) memUsed(heap, flat int64) int64 {
	return counted(heap-l.heapBase, flat-l.flatBase)
}

// checkMemory is the watchdog's memory check. The call may use memoryMb
// MiB counted as V8 would: its heap's growth divided by HeapRatio, but
// ArrayBuffer backing stores byte for byte (see counted). While the heap
// in use, garbage included, counts less, that is the sample; past it, the
// watchdog asks for a collection and judges by the live heap it finds
// (the guest runs on meanwhile, and the worker's hard cap bounds what it
// can do in that time). After a collection that found the call within its
// limit, the next one waits until the heap in use counts a sixteenth of
// the limit more than the live heap found: a call that holds nearly its
// limit and makes garbage would otherwise be collected without end.
func (l *loop) checkMemory(m *HeapMeter) {
	limit := contract.LimitMemory(l.call.limits)
	if l.gcTicket != 0 {
		if live, flat, ok := m.answer(l.gcTicket); ok {
			l.gcTicket = 0
			if l.judgeLive(live, flat, limit) {
				return
			}
		}
	}
	used := l.memUsed(m.InUse())
	if used <= limit {
		l.notePeak(used)
	}
	if used > max(limit, l.askPast) && l.gcTicket == 0 {
		l.gcTicket = m.ask()
	}
}

// addFlat is the hook of the runtime's and the Web API's ArrayBuffer
// backing stores (goja.Runtime.SetArrayBufferAllocHook): in a metered call
// it follows the store, and after a large one judges the call's memory at
// once. One
// allocation of hundreds of megabytes takes milliseconds, and the guest
// could drop it again before the watchdog's collection answers; V8 too
// collects when external memory grows past its limit.
func (l *loop) addFlat(data []byte) {
	if l.call == nil || l.call.heap == nil {
		return
	}
	l.call.heap.AddFlat(data)
	if len(data) >= flatExactBytes {
		l.judgeMemory(l.call.heap.InUse())
	}
}

// allowAlloc is the runtime's guard (goja.Runtime.SetAllocGuard), asked
// before an allocation whose size is known in advance (an ArrayBuffer's
// backing store, a string that repeat or padStart builds): one that by
// itself counts more than the call's whole memory limit (a buffer's bytes
// one for one, a string's as heap, see counted) could never fit, and ends
// the call with exceededMemory at once instead of being made. Made, it
// would take the memory before anything judged it (a string is written
// whole before the guest sees it, up to the worker's hard cap, which ends
// the worker) or fail in Go's allocator, which ends the process
// (new ArrayBuffer(2 ** 40)); either way a new worker must start. The
// guest sees V8's RangeError, and the interrupt ends the call even if it
// catches it.
func (l *loop) allowAlloc(size int, kind goja.AllocKind) bool {
	if l.call == nil {
		return true
	}
	n := int64(size)
	if kind == goja.AllocString {
		n = counted(n, 0)
	}
	limit := contract.LimitMemory(l.call.limits)
	if limit <= 0 || n <= limit {
		return true
	}
	l.interrupt(l.memoryHit())
	return false
}

// judgeMemory judges the call's memory now, on the loop's goroutine, if
// the memory it has in use (heap, flat: HeapMeter.InUse), garbage
// included, counts more than its limit (and than askPast, see
// checkMemory): it waits for a collection that starts now (not counted as
// CPU time), and interrupts the guest if the live heap it finds counts
// more than the limit.
func (l *loop) judgeMemory(heap, flat int64) {
	m := l.call.heap
	limit := contract.LimitMemory(l.call.limits)
	l.wdMu.Lock()
	if l.hit.Load() != nil || l.memUsed(heap, flat) <= max(limit, l.askPast) {
		l.wdMu.Unlock()
		return
	}
	// A collection already asked for may have started before what is in
	// use now was allocated, and would leave it out: ask for another.
	ticket := m.ask()
	l.gcTicket = ticket
	l.wdMu.Unlock()
	wasBusy := l.busySince.Load() != 0
	l.idle()
	live, liveFlat := m.wait(ticket)
	if wasBusy {
		l.busy()
	}
	l.wdMu.Lock()
	defer l.wdMu.Unlock()
	if l.gcTicket == ticket {
		l.gcTicket = 0
	}
	l.judgeLive(live, liveFlat, limit)
}

// judgeLive counts what a collection found live (heap, flat) against the
// call's limit: past it the guest is interrupted (and it reports true);
// otherwise the next collection is asked for only once the memory in use
// passes the limit and a sixteenth more than this. l.wdMu held.
func (l *loop) judgeLive(live, flat, limit int64) bool {
	l.liveSeen.Store(true)
	used := l.memUsed(live, flat)
	l.notePeak(used)
	if used > limit {
		l.interrupt(l.memoryHit())
		return true
	}
	l.askPast = max(limit, used+limit/16)
	return false
}

func (l *loop) memoryHit() *limitHit {
	return &limitHit{contract.OutcomeExceededMemory, fmt.Sprintf("Worker exceeded its memory limit of %d MiB", l.call.limits.MemoryMB)}
}

// notePeak records a sample of the memory used (from the watchdog and
// from the loop, for a partial result).
func (l *loop) notePeak(grown int64) {
	for {
		p := l.heapPeak.Load()
		if grown <= p || l.heapPeak.CompareAndSwap(p, grown) {
			return
		}
	}
}

// invoke calls the default export's fetch handler and runs the loop until
// its response settles, and then until ctx.waitUntil promises settle (see
// runBackground); or, for a scheduled event, its scheduled handler and
// then its ctx.waitUntil work (see runScheduled).
func (l *loop) invoke(res *contract.Result) error {
	ev := l.call.scheduled
	name, sig := "fetch", "fetch(request, env, ctx)"
	if ev != nil {
		name, sig = "scheduled", "scheduled(controller, env, ctx)"
	}
	handler, this, ctor, err := l.handler(name, sig)
	if err != nil {
		return err
	}
	var arg goja.Value
	if ev != nil {
		arg = l.controller(ev)
	} else {
		req, err := l.api.NewRequest(l.httpRequest())
		if err != nil {
			return fmt.Errorf("building the request: %w", err)
		}
		arg = req
	}
	env, err := l.envObject()
	if err != nil {
		return err
	}
	_ = l.vm.Set("__warrenEnv", env) // the env export of "cloudflare:workers"
	var ret goja.Value
	err = l.run(func() (err error) {
		if ctor != nil {
			ret, err = l.callEntrypoint(ctor, name, arg, env, l.ctxObject())
			return err
		}
		ret, err = handler(this, arg, env, l.ctxObject())
		return err
	})
	if err != nil {
		return err
	}
	if ret, err = l.await(ret); err != nil {
		return err
	}
	if ev != nil {
		return l.runScheduled()
	}
	resp, err := l.exportResponse(ret, res)
	if err != nil {
		return err
	}
	res.Response = resp
	if l.waitUntil > 0 {
		l.runBackground(res)
	}
	return nil
}

// streamChunk bounds the chunks a streamed body crosses to the host in:
// a Worker's one big write goes in several.
const streamChunk = 1 << 20

// streamBody sends a response whose body is a stream as it is produced:
// res (the result so far, with the response's head) goes to the host at
// once, then each chunk the Worker writes, then the end, or the error
// that cut the body short. The body runs under the call's limits.
func (l *loop) streamBody(res *contract.Result, s *webapi.BodyStream) error {
	l.respondNow(res)
	var gone error // the host's: the client went away
	send := func(c *contract.HostCall) error {
		// Waiting for a slow client is not the guest's CPU.
		l.idle()
		defer l.busy()
		rep, err := l.call.host.Call(l.ctx, c)
		if err == nil && rep != nil {
			err = rep.Err() // a sandbox worker's host answers failures in the reply
		}
		if err != nil && l.ctx.Err() == nil {
			gone = err
		}
		return err
	}
	err := l.drainBody(s, func(chunk []byte) error {
		for len(chunk) > 0 {
			n := min(len(chunk), streamChunk)
			if err := send(&contract.HostCall{Op: contract.OpBody, Chunk: chunk[:n]}); err != nil {
				return err
			}
			chunk = chunk[n:]
		}
		return nil
	})
	if gone != nil {
		// Not the Worker's failure: its stream is canceled, and its
		// ctx.waitUntil work goes on, as when it ends.
		res.Error = "the client went away before the end of the response body (" + gone.Error() + "); the Worker's stream was canceled"
		return nil
	}
	if err != nil && l.ctx.Err() != nil {
		err = l.ctxHit() // a limit, or the call's end, cut the body short
	}
	end := &contract.HostCall{Op: contract.OpBody, End: true}
	if err != nil {
		end.BodyErr = "the Worker's response body failed: " + err.Error()
	}
	if serr := send(end); err == nil && serr != nil {
		err = serr
	}
	return err
}

// handler finds the default export's method name; sig names it in the
// exception when it is missing. A class default export (`export default
// class extends WorkerEntrypoint`) whose prototype has the method is
// returned as ctor: the event makes an instance with (ctx, env) and calls
// the method on it with the event's one argument, as Cloudflare does.
func (l *loop) handler(name, sig string) (fn goja.Callable, this goja.Value, ctor goja.Constructor, err error) {
	vm := l.vm
	var def goja.Value
	if mainV := vm.Get("__warrenMain"); mainV != nil && !goja.IsUndefined(mainV) {
		def = mainV.ToObject(vm).Get("default")
	}
	if def == nil || goja.IsUndefined(def) || goja.IsNull(def) {
		return nil, nil, nil, &guestError{name: "Error", message: "the main module has no default export with a " + sig + " handler"}
	}
	if obj, ok := def.(*goja.Object); ok {
		if fn, _ = goja.AssertFunction(obj.Get(name)); fn != nil {
			return fn, def, nil, nil
		}
		if c, ok := goja.AssertConstructor(obj); ok {
			if proto, ok := obj.Get("prototype").(*goja.Object); ok {
				if _, ok := goja.AssertFunction(proto.Get(name)); ok {
					return nil, nil, c, nil
				}
			}
		}
	}
	if name == "fetch" { // as it always said
		return nil, nil, nil, &guestError{name: "Error", message: "the main module has no default export with a " + sig + " handler"}
	}
	return nil, nil, nil, &guestError{name: "Error", message: "the main module's default export has no " + sig + " handler"}
}

// callEntrypoint makes an instance of a class default export and calls its
// method name with arg.
func (l *loop) callEntrypoint(ctor goja.Constructor, name string, arg, env, ctx goja.Value) (goja.Value, error) {
	inst, err := ctor(nil, ctx, env)
	if err != nil {
		return nil, err
	}
	m, ok := goja.AssertFunction(inst.Get(name))
	if !ok {
		return nil, &guestError{name: "TypeError", message: "the default export's instance has no " + name + " method"}
	}
	return m(inst, arg)
}

// controller is a scheduled handler's first argument, as on Cloudflare.
func (l *loop) controller(ev *contract.ScheduledEvent) *goja.Object {
	c := l.vm.NewObject()
	_ = c.Set("cron", ev.Cron)
	_ = c.Set("scheduledTime", ev.ScheduledTime)
	_ = c.Set("type", "scheduled")
	_ = c.Set("noRetry", func() { l.noRetry = true })
	return c
}

// errWorkRejected ends a scheduled event one of whose ctx.waitUntil
// promises rejected (the rejection is among the exceptions already).
var errWorkRejected = errors.New("isolate: a ctx.waitUntil promise rejected")

// runScheduled runs a scheduled handler's ctx.waitUntil work once the
// handler has settled. There is no response for it to follow, so the
// work is part of the event: it has BackgroundLimit from then (or the
// wall-time limit, if smaller), and whatever cuts it short, or a
// rejection, is the event's outcome.
func (l *loop) runScheduled() error {
	if l.waitUntil > 0 {
		period := contract.BackgroundPeriod(l.call.limits)
		if l.deadlineTimer.Stop() {
			l.background.Store(true) // before the timer can fire again: its limit says so
			l.deadline = time.Now().Add(period)
			l.deadlineTimer.Reset(period)
		} // else the wall-time limit fell just now: the loop stops at once
		l.background.Store(true)
		err := l.loopUntil(func() bool { return l.waitUntil == 0 })
		if err == errHung {
			return &guestError{name: "Error", message: fmt.Sprintf("ctx.waitUntil: %d promise%s can never settle (no timer or host call is pending)", l.waitUntil, contract.Plural(l.waitUntil))}
		}
		if err != nil {
			return err
		}
	}
	if l.rejected > 0 {
		return errWorkRejected
	}
	return nil
}

// await runs the loop until ret, if a promise, settles, and returns its
// value; a rejection is the error.
func (l *loop) await(ret goja.Value) (goja.Value, error) {
	o, ok := ret.(*goja.Object)
	if !ok {
		return ret, nil
	}
	p, ok := o.Export().(*goja.Promise)
	if !ok {
		return ret, nil
	}
	if err := l.loopUntil(func() bool { return p.State() != goja.PromiseStatePending }); err != nil {
		return nil, err
	}
	if p.State() == goja.PromiseStateRejected {
		return nil, l.thrown(p.Result())
	}
	return p.Result(), nil
}

// exportResponse reads the Response a handler returned. A stream body is
// drained here, with the event loop running (see drainBody).
func (l *loop) exportResponse(ret goja.Value, res *contract.Result) (*contract.Response, error) {
	var resp *webapi.HTTPResponse
	err := l.run(func() (err error) {
		resp, err = l.api.ExportResponse(ret)
		if err == nil {
			err = checkResponseSize(resp, 0)
		}
		return err
	})
	if err == nil && resp.Stream != nil && l.call.stream && l.call.respond != nil {
		s := resp.Stream
		resp.Stream, resp.Body = nil, nil
		head := toResponse(resp)
		head.Streamed = true
		res.Response = head
		if err = l.streamBody(res, s); err == nil {
			return head, nil
		}
	} else if err == nil && resp.Stream != nil {
		s := resp.Stream
		resp.Stream, resp.Body = nil, []byte{}
		err = l.drainBody(s, func(chunk []byte) error {
			// Judged before the copy: the chunk that passes the limit
			// is not appended (it would double the body's allocation).
			if err := checkResponseSize(resp, len(chunk)); err != nil {
				return err
			}
			resp.Body = append(resp.Body, chunk...)
			return nil
		})
	}
	if err != nil {
		var h *limitHit
		var ge *guestError
		var se *webapi.StreamError
		switch {
		case errors.As(err, &h):
			return nil, h
		case errors.As(err, &ge):
			return nil, ge
		case errors.As(err, &se):
			return nil, l.thrown(se.Value)
		}
		if _, ok := err.(*goja.Exception); ok {
			return nil, err
		}
		return nil, &guestError{name: "TypeError", message: err.Error()}
	}
	return toResponse(resp), nil
}

// drainBody reads a response body stream to its end, giving each chunk to
// emit as it comes. The event loop runs meanwhile (timers, host calls and
// promise jobs that produce the chunks), under the call's CPU, memory and
// wall-time limits. An error from emit, or the stream never going on,
// cancels the stream (a limit does not: the guest's cancel algorithm would
// run past it). It is the one place a stream body leaves the runtime:
// emit gathers the body (exportResponse) or sends each chunk on
// (streamBody).
func (l *loop) drainBody(s *webapi.BodyStream, emit func(chunk []byte) error) error {
	for {
		var got, eof bool
		var chunk []byte
		var rerr error
		err := l.run(func() error {
			s.Read(func(c []byte, e bool, err error) { got, chunk, eof, rerr = true, c, e, err })
			return nil
		})
		if err == nil && !got {
			err = l.loopUntil(func() bool { return got })
			if err == errHung {
				err = &guestError{name: "Error", message: "the response body stream can never produce its next chunk (no timer or host call is pending)"}
			}
		}
		if err == nil {
			err = rerr
		}
		if err == nil && !eof {
			err = emit(chunk)
		}
		if err != nil {
			// After a limit the guest's cancel algorithm does not run.
			var h *limitHit
			if !errors.As(err, &h) && l.hit.Load() == nil {
				_ = l.run(func() error { s.Cancel(err.Error()); return nil })
			}
			return err
		}
		if eof {
			return nil
		}
	}
}

// respondNow hands the response (in res, the result so far) to the host
// before the call ends, once.
func (l *loop) respondNow(res *contract.Result) {
	if l.call.respond == nil || l.responded {
		return
	}
	l.responded = true
	partial := &contract.Result{Outcome: contract.OutcomeOK, Response: res.Response, Telemetry: res.Telemetry}
	now := time.Now().UnixMilli()
	partial.Logs = l.logs.List(now)
	partial.Exceptions = l.excs.Result(nil, now)
	l.telemetry(partial)
	// Handing the response over is the host's work, not the guest's.
	l.idle()
	l.call.respond(partial)
	l.busy()
}

// runBackground sends the response (the result so far) while ctx.waitUntil
// work is pending, and runs that work until it settles or is cut short:
// by BackgroundLimit after the response (or the wall-time limit, if
// smaller), the CPU or memory limit, an uncaught exception, or nothing
// left that could settle it. None of these changes the response; the
// final result says what cut the work short in its Error.
func (l *loop) runBackground(res *contract.Result) {
	// The background's clock starts with the response: handing it over
	// is part of that time.
	period := contract.BackgroundPeriod(l.call.limits)
	if l.deadlineTimer.Stop() {
		l.background.Store(true) // before the timer can fire again: its limit says so
		l.deadline = time.Now().Add(period)
		l.deadlineTimer.Reset(period)
	} // else the wall-time limit fell just now: the loop stops at once
	l.respondNow(res)
	l.background.Store(true)
	err := l.loopUntil(func() bool { return l.waitUntil == 0 })
	if err == nil {
		return
	}
	const cut = "ctx.waitUntil work was canceled: "
	var h *limitHit
	var ex *goja.Exception
	switch {
	case errors.As(err, &h):
		res.Error = cut + h.msg
	case err == errHung:
		res.Error = cut + fmt.Sprintf("%d promise%s can never settle (no timer or host call is pending)", l.waitUntil, contract.Plural(l.waitUntil))
	case errors.As(err, &ex):
		l.excs.Add(l.exception(ex.Value()))
		res.Error = cut + "an uncaught exception (see exceptions)"
	default:
		res.Error = cut + err.Error()
	}
}

var errHung = &guestError{name: "Error", message: "The Workers runtime canceled this request because it detected that your Worker's code had hung and would never generate a response."}

// loopUntil runs timers and host completions until done reports true.
func (l *loop) loopUntil(done func() bool) error {
	var tm *time.Timer
	defer func() {
		if tm != nil {
			tm.Stop()
		}
	}()
	for !done() {
		if l.ctx.Err() != nil || !time.Now().Before(l.deadline) {
			return l.ctxHit()
		}
		// A host answer that is in goes before due timers.
		if l.pending > 0 {
			a, ok, err := l.call.host.Next(l.ctx, 0)
			if err != nil {
				return err
			}
			if ok {
				if err := l.answer(a); err != nil {
					return err
				}
				continue
			}
		}
		if len(l.timers) == 0 && l.pending == 0 {
			return errHung
		}
		// Wait for the next timer, a host answer or the deadline.
		wait := time.Until(l.deadline)
		if len(l.timers) > 0 {
			d := l.timers[0].due - l.now()
			if d <= 0 {
				if err := l.fireTimer(); err != nil {
					return err
				}
				continue
			}
			wait = min(wait, d)
		}
		wait = max(wait, time.Microsecond)
		l.idle()
		var a contract.HostAnswer
		var ok bool
		var err error
		if l.pending > 0 {
			a, ok, err = l.call.host.Next(l.ctx, wait)
		} else {
			if tm == nil {
				tm = time.NewTimer(wait)
			} else {
				tm.Reset(wait)
			}
			select {
			case <-tm.C:
			case <-l.ctx.Done():
			}
		}
		l.busy()
		switch {
		case err != nil:
			return err
		case ok:
			if err := l.answer(a); err != nil {
				return err
			}
		case len(l.timers) > 0 && l.timers[0].due <= l.now():
			if err := l.fireTimer(); err != nil {
				return err
			}
		}
	}
	return nil
}

// answer runs the completion of a started host call.
func (l *loop) answer(a contract.HostAnswer) error {
	then, ok := l.waiting[a.ID]
	if !ok {
		return fmt.Errorf("isolate: the host answered call %d, which is not pending", a.ID)
	}
	delete(l.waiting, a.ID)
	l.pending--
	return l.run(func() error { then(a.Rep, a.Err); return nil })
}

// now is the loop's clock: the time since the call began, monotonic.
func (l *loop) now() time.Duration { return time.Since(l.start) }

// ctxHit is the limit that ended the call when its context is done or its
// deadline passed.
func (l *loop) ctxHit() *limitHit {
	if h := l.hit.Load(); h != nil {
		return h
	}
	if !time.Now().Before(l.deadline) || context.Cause(l.ctx) == errDeadline {
		return l.wallHit()
	}
	return &limitHit{contract.OutcomeCanceled, "the invocation was canceled"}
}

// wallHit is the limit of a call whose deadline fell: the wall-time
// limit, or the background's after the response or the scheduled
// handler. The deadline's timer calls it too: it reads nothing the loop
// writes but background.
func (l *loop) wallHit() *limitHit {
	switch {
	case l.background.Load() && l.call.scheduled != nil:
		return &limitHit{contract.OutcomeExceededWallTime, fmt.Sprintf("ctx.waitUntil work did not finish within %d ms after the scheduled handler settled", contract.BackgroundPeriod(l.call.limits).Milliseconds())}
	case l.background.Load():
		return &limitHit{contract.OutcomeExceededWallTime, fmt.Sprintf("it did not finish within %d ms after the response", contract.BackgroundPeriod(l.call.limits).Milliseconds())}
	}
	return &limitHit{contract.OutcomeExceededWallTime, fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", l.call.limits.WallMs)}
}

// finish turns the error that ended the invocation into the result's
// outcome, and returns the exception that ended it, if any.
func (l *loop) finish(res *contract.Result, err error) *contract.Exception {
	if err == nil {
		res.Outcome = contract.OutcomeOK
		return nil
	}
	res.Response = nil
	var h *limitHit
	var ge *guestError
	var ex *goja.Exception
	var so *goja.StackOverflowError
	var e contract.Exception
	switch {
	case errors.As(err, &h):
		res.Outcome = h.outcome
		res.Error = h.msg
		return nil
	case err == errWorkRejected:
		res.Outcome = contract.OutcomeException
		return nil
	case errors.As(err, &so):
		e = contract.Exception{Timestamp: time.Now().UnixMilli(), Name: "RangeError", Message: "Maximum call stack size exceeded", Stack: overflowStack(so.Stack())}
	case errors.As(err, &ex):
		e = l.exception(ex.Value())
	case errors.As(err, &ge):
		e = contract.Exception{Timestamp: time.Now().UnixMilli(), Name: ge.name, Message: ge.message, Stack: ge.stack}
	default:
		res.Outcome = contract.OutcomeInternalError
		res.Error = err.Error()
		return nil
	}
	res.Outcome = contract.OutcomeException
	// Reading the exception's fields may have run into a limit.
	if h := l.hit.Load(); h != nil {
		res.Outcome, res.Error = h.outcome, h.msg
	}
	return &e
}

// guestError is an error to report as the guest's exception.
type guestError struct{ name, message, stack string }

func (e *guestError) Error() string { return e.name + ": " + e.message }

func (h *limitHit) Error() string { return h.msg }

// thrown wraps a rejection value as the error that ends the invocation.
func (l *loop) thrown(v goja.Value) error {
	e := l.exception(v)
	return &guestError{name: e.Name, message: e.Message, stack: e.Stack}
}

// exception describes a thrown JS value, its fields bounded. Its
// properties may be guest getters: they run as a slice of the guest's
// (CPU accounted, interruptible), and one that throws leaves its field
// out.
func (l *loop) exception(v goja.Value) contract.Exception {
	e := contract.Exception{Timestamp: time.Now().UnixMilli(), Name: "Error"}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		e.Message = fmt.Sprint(v)
		return e
	}
	str := func(v goja.Value) string { return contract.CutText(v.String(), contract.MaxExceptionFieldBytes, 0) }
	o, ok := v.(*goja.Object)
	if !ok {
		e.Name = "Uncaught"
		l.guard(func() { e.Message = str(v) })
		return e
	}
	l.guard(func() {
		if n := o.Get("name"); n != nil && !goja.IsUndefined(n) {
			e.Name = str(n)
		}
	})
	l.guard(func() {
		if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
			e.Message = str(m)
		}
	})
	l.guard(func() {
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
			e.Stack = cutStack(s.String())
		}
	})
	if e.Message == "" && e.Stack == "" {
		l.guard(func() { e.Message = str(v) })
	}
	return e
}

// guard runs f, which reads guest values, as a slice of the guest's: a
// throw or a limit ends f early. A limit stays recorded in l.hit.
func (l *loop) guard(f func()) {
	_ = l.run(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				ie, ok := r.(*goja.InterruptedError)
				if !ok {
					panic(r)
				}
				err = ie
			}
		}()
		if ex := l.vm.Try(f); ex != nil {
			return ex
		}
		return nil
	})
}

// cutStack cleans a stack and bounds it to MaxExceptionFieldBytes; only
// the part that can be kept is cleaned, so a huge stack costs little.
func cutStack(s string) string {
	extra := 0
	if limit := 2 * contract.MaxExceptionFieldBytes; len(s) > limit {
		n := limit
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		extra, s = len(s)-n, s[:n]
	}
	return contract.CutText(cleanStack(s), contract.MaxExceptionFieldBytes, extra)
}

// A stack overflow's stack keeps its first OverflowHead frames (the
// innermost, where the stack ran out) and its last OverflowTail (the
// outermost, down to the handler that started the recursion); the
// thousands between are one line saying how many.
const (
	OverflowHead = 10
	OverflowTail = 5
)

// overflowStack is the stack of a "Maximum call stack size exceeded"
// RangeError, innermost frame first like any other, with the middle of
// the recursion elided and the whole bounded as cutStack bounds a stack.
func overflowStack(frames []goja.StackFrame) string {
	var b bytes.Buffer
	b.WriteString("RangeError: Maximum call stack size exceeded")
	write := func(frames []goja.StackFrame) {
		for i := range frames {
			b.WriteString("\n\tat ")
			frames[i].Write(&b)
		}
	}
	if n := len(frames); n > OverflowHead+OverflowTail {
		write(frames[:OverflowHead])
		fmt.Fprintf(&b, "\n\t... %d more frame%s", n-OverflowHead-OverflowTail, contract.Plural(n-OverflowHead-OverflowTail))
		write(frames[n-OverflowTail:])
	} else {
		write(frames)
	}
	return cutStack(b.String())
}

// checkResponseSize refuses a response larger than MaxResponseBytes, with
// more bytes of body still to come.
func checkResponseSize(r *webapi.HTTPResponse, more int) error {
	n := len(r.Body) + more
	for _, h := range r.Headers {
		n += len(h.Name) + len(h.Value)
	}
	if n > contract.MaxResponseBytes {
		return &guestError{name: "RangeError", message: fmt.Sprintf("the response is %d bytes (body and headers), more than the limit of %d", n, contract.MaxResponseBytes)}
	}
	return nil
}

// cleanStack makes a goja stack read like V8's (contract.FormatStack).
func cleanStack(s string) string {
	return strings.TrimLeft(contract.FormatStack(s), "\n")
}

func (l *loop) httpRequest() *webapi.HTTPRequest {
	r := l.call.req
	hr := &webapi.HTTPRequest{Method: r.Method, URL: r.URL, Body: r.Body}
	if hr.Method == "" {
		hr.Method = "GET"
	}
	if hr.URL == "" {
		hr.URL = contract.DefaultURL
	}
	for _, k := range contract.SortedKeys(r.Headers) {
		hr.Headers = append(hr.Headers, webapi.Header{Name: k, Value: r.Headers[k]})
	}
	hr.CF = []webapi.Field{} // never undefined for the incoming request
	if cf := r.CF; cf != nil {
		add := func(name string, v any, ok bool) {
			if ok {
				hr.CF = append(hr.CF, webapi.Field{Name: name, Value: v})
			}
		}
		add("colo", cf.Colo, cf.Colo != "")
		add("httpProtocol", cf.HTTPProtocol, cf.HTTPProtocol != "")
		add("clientTcpRtt", cf.ClientTCPRTT, cf.ClientTCPRTT > 0)
		add("tlsVersion", cf.TLSVersion, cf.TLSVersion != "")
	}
	return hr
}

func toResponse(r *webapi.HTTPResponse) *contract.Response {
	names := make([]string, len(r.Headers))
	values := make([]string, len(r.Headers))
	for i, h := range r.Headers {
		names[i], values[i] = h.Name, h.Value
	}
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	h, cookies := contract.ResponseHeaders(names, values)
	return &contract.Response{Status: r.Status, Headers: h, SetCookie: cookies, Body: body}
}

// fromResponse is r for the guest: its Set-Cookie values apart, as
// Headers keep them (getSetCookie).
func fromResponse(r *contract.Response) *webapi.HTTPResponse {
	hr := &webapi.HTTPResponse{Status: r.Status, Body: r.Body}
	for _, k := range contract.SortedKeys(r.Headers) {
		if k == "set-cookie" && len(r.SetCookie) > 0 {
			for _, c := range r.SetCookie {
				hr.Headers = append(hr.Headers, webapi.Header{Name: k, Value: c})
			}
			continue
		}
		hr.Headers = append(hr.Headers, webapi.Header{Name: k, Value: r.Headers[k]})
	}
	return hr
}

// envObject builds the handler's env: plain values and bindings.
func (l *loop) envObject() (*goja.Object, error) {
	vm := l.vm
	env := vm.NewObject()
	if len(l.call.env) > 0 {
		var parse goja.Callable
		for _, k := range contract.SortedKeys(l.call.env) {
			raw := l.call.env[k]
			var s string
			if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
				_ = env.Set(k, s)
				continue
			}
			if parse == nil {
				parse, _ = goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
			}
			v, err := parse(goja.Undefined(), vm.ToValue(string(raw)))
			if err != nil {
				return nil, fmt.Errorf("env[%q]: %w", k, err)
			}
			_ = env.Set(k, v)
		}
	}
	for _, k := range contract.SortedKeys(l.call.bindings) {
		switch b := l.call.bindings[k]; {
		case b.KV != "":
			_ = env.Set(k, l.kvBinding(k))
		case b.DurableObject != nil:
			var ns goja.Value
			err := l.run(func() error {
				sup, err := l.loadSupport()
				if err == nil {
					ns, err = sup.makeNamespace(goja.Undefined(), vm.ToValue(k))
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			_ = env.Set(k, ns)
		}
	}
	return env, nil
}

// ctxObject is the handler's third argument. Its methods are built on
// first use: most handlers never touch ctx.
func (l *loop) ctxObject() *goja.Object {
	return l.vm.NewDynamicObject(&ctxMethods{l: l})
}

// ctxMethods backs the ctx object (waitUntil, passThroughOnException, props).
type ctxMethods struct {
	l    *loop
	vals map[string]goja.Value
}

func (c *ctxMethods) Get(key string) goja.Value {
	if v, ok := c.vals[key]; ok {
		return v
	}
	vm := c.l.vm
	var v goja.Value
	switch key {
	case "waitUntil":
		v = vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if obj, ok := call.Argument(0).(*goja.Object); ok {
				if _, ok := obj.Export().(*goja.Promise); ok {
					c.l.addWaitUntil(obj)
				}
			}
			return goja.Undefined()
		})
	case "passThroughOnException":
		v = vm.ToValue(func() {})
	case "props":
		v = vm.NewObject()
	default:
		return nil
	}
	if c.vals == nil {
		c.vals = map[string]goja.Value{}
	}
	c.vals[key] = v
	return v
}

// addWaitUntil counts p as pending ctx.waitUntil work until it settles; a
// rejection is reported as an exception when it happens.
func (l *loop) addWaitUntil(p *goja.Object) {
	vm := l.vm
	if l.promiseThen == nil {
		// Read from the guest's realm, like every intrinsic: a guest that
		// replaced it gets what it asked for.
		then, ok := goja.AssertFunction(vm.Get("Promise").ToObject(vm).Get("prototype").ToObject(vm).Get("then"))
		if !ok {
			panic(vm.NewTypeError("ctx.waitUntil: Promise.prototype.then is not a function"))
		}
		l.promiseThen = then
	}
	settled := false
	onFulfilled := func(goja.FunctionCall) goja.Value {
		if !settled {
			settled = true
			l.waitUntil--
		}
		return goja.Undefined()
	}
	onRejected := func(call goja.FunctionCall) goja.Value {
		if !settled {
			settled = true
			l.waitUntil--
			l.rejected++
			l.excs.Add(l.exception(call.Argument(0)))
		}
		return goja.Undefined()
	}
	if _, err := l.promiseThen(p, vm.ToValue(onFulfilled), vm.ToValue(onRejected)); err != nil {
		panic(err)
	}
	l.waitUntil++
}

func (c *ctxMethods) Set(key string, val goja.Value) bool {
	if c.vals == nil {
		c.vals = map[string]goja.Value{}
	}
	c.vals[key] = val
	return true
}

func (c *ctxMethods) Has(key string) bool { return c.Get(key) != nil }

func (c *ctxMethods) Delete(key string) bool {
	delete(c.vals, key)
	return true
}

func (c *ctxMethods) Keys() []string { return []string{"waitUntil", "passThroughOnException", "props"} }
