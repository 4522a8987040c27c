// Package hostile is warren's corpus of hostile Workers: code written to
// exhaust the runtime's CPU, memory or time, to escape the isolate, or to
// reach the host's files, processes and network. Each case says which
// outcomes it may end with and what its response may not say.
//
// The isolate's tests run the scripts on one runtime (isolate
// TestHostileScripts); the testnet's run all of it, egress included,
// against a live mesh of node processes while honest calls go on
// (testnet TestHostileCorpusLiveMesh); bench/ measures the honest calls'
// latency beside it. It is data, with no dependency on the runtime, so
// that every one of them runs the same cases.
package hostile

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The outcomes of a call (isolate.Outcome's values).
const (
	OK               = "ok"
	Exception        = "exception"
	ExceededCPU      = "exceededCpu"
	ExceededMemory   = "exceededMemory"
	ExceededWallTime = "exceededWallTime"
)

// Budget is how soon each case must end with its outcome, on a runtime or
// on a mesh (the call's own round trip included).
const Budget = 2 * time.Second

// Kinds of cases: what each attacks.
const (
	KindCPU    = "cpu"    // CPU time: loops, regexps, sorts, recursion
	KindMemory = "memory" // memory: bombs, huge allocations, endless buffers
	KindTime   = "time"   // wall time and the event loop: timers, promises, streams
	KindEscape = "escape" // the isolate's walls: built-ins, files, environment, processes, sockets
	KindEgress = "egress" // the network: fetch where the grants do not reach
	KindState  = "state"  // the replicated state: KV, Durable Objects, their storage and SQL
)

// Case is one hostile Worker.
type Case struct {
	Name string
	// Kind is what it attacks (KindCPU, ...).
	Kind string
	// Src is the Worker's one module, main.js.
	Src string
	// Compat are its compatibility flags.
	Compat []string
	// CPUMs, MemoryMB and WallMs are its limits; 0 leaves the default.
	CPUMs, MemoryMB, WallMs int64
	// Body, if set, is sent as a POST's body.
	Body []byte
	// Outcomes are the outcomes it may end with.
	Outcomes []string
	// Has must appear in the response body when the outcome is ok.
	Has string
	// Egress is set on the cases that fetch: they need the grants of
	// Grants and an Origin server.
	Egress bool
	// State is set on the cases that use the replicated state: they run
	// with the bindings of StateBindings, granted, and StateWorker
	// deployed.
	State bool
	// KeepsWorker is set on the cases the engine itself must stop at their
	// limit, wherever the guest is (a loop, a match, a built-in's own
	// loop): the sandbox worker that ran one serves the next call, where
	// its watchdog would otherwise end it, unanswered, past the limit.
	KeepsWorker bool
}

// Allowed reports whether outcome is one the case may end with.
func (c *Case) Allowed(outcome string) bool {
	for _, o := range c.Outcomes {
		if o == outcome {
			return true
		}
	}
	return false
}

// Check says what is wrong with a call's end: an outcome the case may not
// end with, an ok body without Has, or a body that shows something of the
// host (Leaks).
func (c *Case) Check(outcome, body string) error {
	if !c.Allowed(outcome) {
		return fmt.Errorf("outcome %s, want one of %v", outcome, c.Outcomes)
	}
	if outcome == OK && !strings.Contains(body, c.Has) {
		return fmt.Errorf("body %.300q does not contain %q", body, c.Has)
	}
	if leak := Leaks(body); leak != "" {
		return fmt.Errorf("body %.300q shows %s", body, leak)
	}
	return nil
}

// Canary is an environment variable the harness sets on the node
// processes; no Worker may see its value.
const (
	CanaryEnv   = "WARREN_HOSTILE_CANARY"
	CanaryValue = "canary-7d1f0c2a-must-not-leak"
)

// OriginSecret is what the Origin server answers on every path a Worker
// must not reach: seeing it in a body means the fetch got through.
const OriginSecret = "origin-secret-3b9e"

// Leaks names what body shows of the host, "" if nothing: the canary,
// /etc/passwd, or the origin's secret.
func Leaks(body string) string {
	switch {
	case strings.Contains(body, CanaryValue):
		return "the node's environment"
	case strings.Contains(body, "root:x:0:0") || strings.Contains(body, "root:*:0:0"):
		return "/etc/passwd"
	case strings.Contains(body, OriginSecret):
		return "a response from an address it was not granted"
	}
	return ""
}

func worker(body string) string {
	return "export default { async fetch(request, env, ctx) {\n" + body + "\n} }"
}

// probe is a Worker that tries each expression and answers what each gave
// or threw, one line each.
func probe(exprs ...string) string {
	var b strings.Builder
	b.WriteString("const out = [];\nconst t = async (name, f) => { try { out.push(name + \": \" + String(await f())) } catch (e) { out.push(name + \" refused: \" + e.name + \": \" + e.message) } };\n")
	for i, e := range exprs {
		fmt.Fprintf(&b, "await t(%q, async () => %s);\n", strconv.Itoa(i)+" "+e, e)
	}
	b.WriteString("return new Response(out.join(\"\\n\"));")
	return worker(b.String())
}

// Scripts are the cases that need no network: exhaustion, escape, and
// reaching the host from inside the isolate.
func Scripts() []Case {
	cases := []Case{
		{Name: "infinite loop", Src: worker("for (;;) {}"), CPUMs: 50, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "memory bomb", Src: worker("const a = []; for (;;) a.push(new Uint8Array(1 << 20));"), CPUMs: 5000, MemoryMB: 64, Outcomes: []string{ExceededMemory}},
		{Name: "huge string", Src: worker("return new Response('x'.repeat(2 ** 30).length + '')"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory, Exception}},
		{Name: "huge ArrayBuffer", Src: worker("return new Response(new ArrayBuffer(2 ** 40).byteLength + '')"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory, Exception}},
		// A resizable buffer allocates as it grows: its maxByteLength
		// reserves nothing, and what resize allocates counts like any
		// allocation.
		{Name: "huge resizable ArrayBuffer", Src: worker("const b = new ArrayBuffer(0, { maxByteLength: 2 ** 40 }); b.resize(2 ** 40); return new Response(b.byteLength + '')"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory, Exception}},
		{Name: "resizable ArrayBuffer grown step by step", Src: worker("const b = new SharedArrayBuffer(0, { maxByteLength: 2 ** 32 }); for (let n = 1 << 20; ; n += 1 << 20) b.grow(n);"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory, ExceededCPU}},
		{Name: "deep recursion", Src: "function f(n) { return f(n + 1) + 1 }\n" + worker("return new Response(String(f(0)))"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{Exception}},
		{Name: "catastrophic regexp", Src: worker(`return new Response(String(/^(a+)+(?!x)$/.test("a".repeat(40) + "b")))`), CPUMs: 200, MemoryMB: 64, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		// Built-ins whose own loops make millions of pieces, and a global
		// search over a long string, in one call each.
		{Name: "huge split", Src: worker("return new Response(String('x'.repeat(2 ** 24).split('').length))"), CPUMs: 100, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "global search over a huge string", Src: worker("return new Response(String('ab '.repeat(2 ** 22).replace(/a/g, 'cc').length))"), CPUMs: 100, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "huge native sort", Src: worker("const a = []; for (let i = 0; i < 3e6; i++) a.push((i * 7919) % 1000003); a.sort((x, y) => x - y); return new Response('sorted')"), CPUMs: 100, MemoryMB: 256, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		// What compiling costs: the engine parses literals as it compiles,
		// where the interrupt does not reach, and used to evaluate constant
		// expressions there too (a power of BigInts now runs at call time,
		// under the CPU limit); the call still ends by its wall-time limit.
		{Name: "costly constant", Src: "const x = 3n ** 100000000n;\n" + worker("return new Response(String(x > 0n))"), CPUMs: 100, WallMs: 1000, Outcomes: []string{ExceededWallTime, ExceededCPU}},
		// Its 2 MB of source may also take the bundler past the preparation's
		// own bound (1 s) on a loaded host: an exception saying so.
		{Name: "BigInt literal of two million digits", Src: "const x = " + strings.Repeat("7", 2_000_000) + "n;\n" + worker("return new Response(String(x > 0n))"), CPUMs: 100, WallMs: 1000, Outcomes: []string{ExceededWallTime, Exception}},
		// A promise that can never settle is noticed once nothing is left
		// to run; 100,000 of them cost memory, bounded like any other.
		{Name: "100,000 pending promises awaited", Src: worker("await Promise.all(Array.from({ length: 100000 }, () => new Promise(() => {}))); return new Response('settled')"), CPUMs: 1000, MemoryMB: 128, Outcomes: []string{Exception, ExceededMemory, ExceededCPU}},
		{Name: "100,000 pending promises left behind", Src: worker("const a = []; for (let i = 0; i < 100000; i++) a.push(new Promise(() => {})); return new Response('left ' + a.length)"), CPUMs: 1000, MemoryMB: 128, Outcomes: []string{OK, ExceededMemory, ExceededCPU}, Has: "left 100000"},
		{Name: "timer flood", Src: worker("for (let i = 0; i < 1e6; i++) setTimeout(() => {}, 1); return new Response('flooded')"), CPUMs: 1000, Outcomes: []string{Exception}},
		{Name: "timers that double", Src: worker("return new Promise(() => { const f = () => { setTimeout(f, 0); setTimeout(f, 0) }; f() })"), CPUMs: 1000, WallMs: 1000, Outcomes: []string{Exception, ExceededCPU, ExceededWallTime}},
		{Name: "timer past the wall limit", Src: worker("return new Promise(r => setTimeout(r, 60000))"), WallMs: 300, Outcomes: []string{ExceededWallTime}},
		{Name: "stream that never ends", Src: worker("return new Response(new ReadableStream({ pull(c) { return new Promise(r => setTimeout(() => { c.enqueue(new Uint8Array(8)); r() }, 20)) } }))"), WallMs: 300, Outcomes: []string{ExceededWallTime}},
		{Name: "stream that can never go on", Src: worker("return new Response(new ReadableStream({}))"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{Exception}},
		// Its CPU limit sits below Budget: a limit equal to it could
		// only end the call just past it.
		{Name: "pull that enqueues for ever", Src: worker("return new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(4 << 20)) } }))"), CPUMs: 1500, MemoryMB: 256, Outcomes: []string{Exception, ExceededMemory, ExceededCPU}},
		{Name: "start that enqueues for ever", Src: worker("return new Response(new ReadableStream({ start(c) { for (;;) c.enqueue(new Uint8Array(1 << 20)) } }))"), CPUMs: 5000, MemoryMB: 64, Outcomes: []string{ExceededMemory}},
		{Name: "gzip bomb as the response", Src: worker(`return new Response(request.body.pipeThrough(new DecompressionStream("gzip")))`), CPUMs: 1000, MemoryMB: 128, Body: GzipBomb(), Outcomes: []string{Exception, ExceededMemory, ExceededCPU}},
		{Name: "gzip bomb read whole", Src: worker(`return new Response(String((await new Response(request.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()).byteLength))`), CPUMs: 1000, MemoryMB: 64, Body: GzipBomb(), Outcomes: []string{Exception, ExceededMemory, ExceededCPU}},
		// Web API calls that gather, in one host call, many times what the
		// guest holds: the engine refuses the block before it is made.
		{Name: "Blob of one buffer many times", Src: worker("const u = new Uint8Array(1 << 20); return new Response(String(new Blob(Array(4096).fill(u)).size))"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory}, KeepsWorker: true},
		{Name: "Blob of one string many times", Src: worker("const s = 'x'.repeat(1 << 20); return new Response(String(new Blob(Array(4096).fill(s)).size))"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory}, KeepsWorker: true},
		{Name: "Blob doubled", Src: worker("let b = new Blob([new Uint8Array(1 << 20)]); for (let i = 0; i < 16; i++) b = new Blob([b, b]); return new Response(String(b.size))"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory}, KeepsWorker: true},
		{Name: "form of one Blob many times", Src: worker("const b = new Blob([new Uint8Array(1 << 20)]); const f = new FormData(); for (let i = 0; i < 4096; i++) f.append('f', b); return new Response(f)"), CPUMs: 1000, MemoryMB: 64, Outcomes: []string{ExceededMemory}, KeepsWorker: true},
		// A Web API call that loops over the guest's values in one host
		// call (here for a second or more on a loaded host): the limit
		// stops it inside the loop. (On a fast one it may end first.)
		{Name: "structuredClone of many arrays", Src: worker("const a = []; for (let i = 0; i < 5e4; i++) a.push([i]); return new Response(String(structuredClone(a).length))"), CPUMs: 300, MemoryMB: 256, Outcomes: []string{ExceededCPU, OK}, KeepsWorker: true},
		{Name: "sort of search params with long names", Src: worker("const s = 'a'.repeat(1 << 20); const u = new URLSearchParams(); for (let i = 0; i < 256; i++) u.append(s + i, '1'); u.sort(); return new Response(String(u.size))"), CPUMs: 200, MemoryMB: 128, Outcomes: []string{OK, ExceededCPU}, KeepsWorker: true},
		{Name: "URL query of 20 MB through searchParams", Src: worker("const u = new URL('http://x.test/'); u.searchParams.append('a', 'x'.repeat(2e7)); return new Response(String(u.search.length))"), CPUMs: 1000, MemoryMB: 128, Outcomes: []string{Exception}, KeepsWorker: true},
		{Name: "gzip of 64 MiB past its window", Src: worker("const r = crypto.getRandomValues(new Uint8Array(65536)); const b = new Uint8Array(64 << 20); for (let i = 0; i < b.length; i += r.length) b.set(r, i); const cs = new CompressionStream('gzip'); const w = cs.writable.getWriter(); w.write(b); w.close(); return new Response(String((await new Response(cs.readable).arrayBuffer()).byteLength))"), CPUMs: 300, MemoryMB: 256, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "digest of 160 MiB", Src: worker("const d = await crypto.subtle.digest('SHA-512', new Uint8Array(160 << 20)); return new Response(String(d.byteLength))"), CPUMs: 200, MemoryMB: 256, Outcomes: []string{ExceededCPU, OK}, KeepsWorker: true},
		{Name: "AES-CBC of 200 MiB", Src: worker("const k = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-CBC', false, ['encrypt']); const e = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, k, new Uint8Array(200 << 20)); return new Response(String(e.byteLength))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory, OK}, KeepsWorker: true},
		{Name: "RSA keys of 4,096 bits", Src: worker("for (;;) await crypto.subtle.generateKey({ name: 'RSA-PSS', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign'])"), CPUMs: 100, MemoryMB: 64, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "PBKDF2 with a salt of 64 MiB", Src: worker("const k = await crypto.subtle.importKey('raw', new Uint8Array(16), 'PBKDF2', false, ['deriveBits']); const b = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(64 << 20), iterations: 1 }, k, 65536); return new Response(String(b.byteLength))"), CPUMs: 100, MemoryMB: 256, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "AES-KW unwrap of 64 MiB", Src: worker("const kw = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-KW', false, ['unwrapKey']); await crypto.subtle.unwrapKey('raw', new Uint8Array(64 << 20), kw, 'AES-KW', { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']); return new Response('unwrapped')"), CPUMs: 100, MemoryMB: 256, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "JSON.stringify and join of 100,000 nested arrays", Src: worker("let a = []; for (let i = 0; i < 1e5; i++) a = [a]; const out = []; for (const f of [() => JSON.stringify(a), () => String(a)]) { try { f(); out.push('done') } catch (e) { out.push(e.name) } } return new Response(out.join())"), CPUMs: 1000, MemoryMB: 256, Outcomes: []string{OK, ExceededCPU}, Has: "RangeError,RangeError", KeepsWorker: true},
		{Name: "JSON.parse of 30 million values", Src: worker("const v = await new Response('[' + '0,'.repeat(3e7) + '0]').json(); return new Response(String(v.length))"), CPUMs: 500, MemoryMB: 256, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "sort of a 100 MiB typed array", Src: worker("const a = new Uint8Array(100 << 20); a.sort(); return new Response(String(a.length))"), CPUMs: 300, MemoryMB: 256, Outcomes: []string{ExceededCPU, OK}, KeepsWorker: true},
		{Name: "indexOf over a billion-long array-like", Src: worker("return new Response(String(Array.prototype.indexOf.call({ length: 1e9 }, 1)))"), CPUMs: 100, Outcomes: []string{ExceededCPU}, KeepsWorker: true},
		{Name: "apply of a billion-long array-like", Src: worker("return new Response(String(Math.max.apply(null, { length: 1e9 })))"), CPUMs: 200, MemoryMB: 64, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "keys of a long string", Src: worker("return new Response(String(Object.keys('x'.repeat(1 << 24)).length))"), CPUMs: 200, MemoryMB: 128, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		// Web API conversions of hundreds of megabytes in one host call
		// (strings made by a repeat of a repeat, which is quick): the
		// limit stops each between chunks.
		{Name: "TextDecoder of 200 MiB", Src: worker("return new Response(String(new TextDecoder('utf-16le').decode(new Uint8Array(200 << 20)).length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "TextEncoder of 128 Mi characters", Src: worker("return new Response(String(new TextEncoder().encode('é'.repeat(1 << 16).repeat(1 << 11)).length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "encodeInto of 64 Mi characters", Src: worker("const b = new Uint8Array(128 << 20); return new Response(String(new TextEncoder().encodeInto('é'.repeat(1 << 16).repeat(1 << 10), b).read))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "btoa of 256 MiB", Src: worker("return new Response(String(btoa('x'.repeat(1 << 16).repeat(1 << 12)).length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "atob of 256 MiB", Src: worker("return new Response(String(atob('QUFB'.repeat(1 << 14).repeat(1 << 12)).length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "padStart to 256 Mi characters", Src: worker("return new Response(String(''.padStart(2 ** 28, 'ab').length + 'é'.padEnd(2 ** 27, 'xyz').length))"), CPUMs: 100, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory, OK}, Has: "402653184", KeepsWorker: true},
		// A Web API parse that makes millions of entries from one string.
		{Name: "URLSearchParams of 16 million pairs", Src: worker("return new Response(String(new URLSearchParams('a=b&'.repeat(1 << 24)).size))"), CPUMs: 100, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "multipart form of a million parts", Src: worker(`const part = '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'; const r = new Response(part.repeat(1 << 14).repeat(1 << 6) + '--B--\r\n', { headers: { 'content-type': 'multipart/form-data; boundary=B' } }); return new Response(String([...(await r.formData())].length))`), CPUMs: 300, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "Blob of a string of 128 Mi characters", Src: worker("return new Response(String(new Blob(['é'.repeat(1 << 16).repeat(1 << 11)]).size))"), CPUMs: 300, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "console.log of 128 Mi characters", Src: worker("console.log('é'.repeat(1 << 16).repeat(1 << 11)); return new Response('logged')"), CPUMs: 300, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "toUpperCase of 64 Mi characters", Src: worker("return new Response(String('é'.repeat(1 << 16).repeat(1 << 10).toUpperCase().length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "trim of 64 Mi characters", Src: worker("return new Response(String((' ' + 'é'.repeat(1 << 16).repeat(1 << 10) + ' ').trim().length))"), CPUMs: 400, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory, OK}, Has: "67108864", KeepsWorker: true},
		{Name: "parseFloat after 64 Mi spaces", Src: worker("const s = '\\u00a0'.repeat(1 << 16).repeat(1 << 10) + 'é'; return new Response(String([Number(s), parseInt(s), parseFloat(s), decodeURI(s)].length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "encodeURIComponent of 64 Mi characters", Src: worker("return new Response(String(encodeURIComponent('é'.repeat(1 << 16).repeat(1 << 10)).length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		{Name: "normalize of 128 Mi characters", Src: worker("return new Response(String('é'.repeat(1 << 16).repeat(1 << 11).normalize('NFD').length))"), CPUMs: 200, MemoryMB: 512, Outcomes: []string{ExceededCPU, ExceededMemory}, KeepsWorker: true},
		// Tampering with the built-ins harms only this isolate: the next
		// call (the honest calls beside the corpus) gets fresh ones.
		{Name: "prototype tampering", Src: worker(`Object.prototype.polluted = "yes"; Array.prototype.push = () => -1; Function.prototype.call = () => "hijacked";
JSON.stringify = () => "hijacked"; Promise.prototype.then = function () { return this }; Object.freeze(Object.prototype);
globalThis.Response = function () { throw new Error("hijacked") }; String.prototype.toString = () => "x";
return { status: 200 }`), CPUMs: 1000, Outcomes: []string{Exception}},
		{Name: "escape through constructors", Src: probe(
			`(function () {}).constructor("return typeof process")()`,
			`(async () => {}).constructor("return typeof require")().then(String)`,
			`Function("return Object.getOwnPropertyNames(globalThis).filter(k => /proc|^fs|^env|exec|spawn|sock|^os$|^file|Deno|Bun/i.test(k)).join()")()`,
			// Names the bundler cannot see, so that the calls happen at run time.
			`require(["f", "s"].join(""))`,
			`require(["child", "process"].join("_")).execSync("id")`,
		), CPUMs: 1000, Outcomes: []string{OK}, Has: "refused"},
		{Name: "host files and environment", Src: probe(
			`fetch("file:///etc/passwd").then(r => r.text())`,
			`typeof process === "undefined" ? "no process" : JSON.stringify(process.env)`,
			`new Request("file:///etc/passwd").url`,
			`caches.default.match("file:///etc/passwd")`,
		), CPUMs: 1000, Outcomes: []string{OK}, Has: "refused"},
		{Name: "environment under nodejs_compat", Compat: []string{"nodejs_compat"}, Src: probe(
			`JSON.stringify(process.env)`,
			`process.pid + " " + typeof process.binding + " " + typeof process.dlopen + " " + typeof process.kill`,
			`process.binding("spawn_sync")`,
		), CPUMs: 1000, Outcomes: []string{OK}, Has: "refused"},
		{Name: "host modules", Src: `import fs from "node:fs";` + "\n" + worker(`return new Response(fs.readFileSync("/etc/passwd", "utf8"))`), Compat: []string{"nodejs_compat"}, Outcomes: []string{Exception}},
		{Name: "spawning processes", Src: `import cp from "node:child_process";` + "\n" + worker(`return new Response(cp.execSync("id").toString())`), Compat: []string{"nodejs_compat"}, Outcomes: []string{Exception}},
		{Name: "opening sockets", Src: `import { connect } from "cloudflare:sockets";` + "\n" + worker(`const s = connect("127.0.0.1:22"); return new Response("opened")`), Outcomes: []string{Exception}},
		{Name: "sockets without an import", Src: probe(
			`typeof WebSocket === "undefined" ? "no WebSocket" : new WebSocket("ws://127.0.0.1:1/")`,
			`typeof XMLHttpRequest === "undefined" ? "no XMLHttpRequest" : new XMLHttpRequest()`,
			`typeof EventSource === "undefined" ? "no EventSource" : "EventSource"`,
			`fetch("ws://127.0.0.1:22/")`,
			`fetch("gopher://127.0.0.1:22/")`,
		), CPUMs: 1000, Outcomes: []string{OK}, Has: "refused"},
	}
	for i := range cases {
		cases[i].Kind = scriptKinds[cases[i].Name] // TestCorpus: every script has one
	}
	return cases
}

// scriptKinds are the kinds of the scripts, each named: a case without
// one has none, which TestCorpus refuses (the escape cases were once the
// default, and a CPU case added without a kind counted as an escape).
var scriptKinds = map[string]string{
	"prototype tampering": KindEscape, "escape through constructors": KindEscape,
	"host files and environment": KindEscape, "environment under nodejs_compat": KindEscape,
	"host modules": KindEscape, "spawning processes": KindEscape, "opening sockets": KindEscape,
	"sockets without an import": KindEscape,
	"infinite loop":             KindCPU, "deep recursion": KindCPU, "catastrophic regexp": KindCPU, "huge native sort": KindCPU,
	"huge split": KindCPU, "global search over a huge string": KindCPU,
	"costly constant": KindCPU, "BigInt literal of two million digits": KindCPU, "structuredClone of many arrays": KindCPU,
	"sort of search params with long names": KindCPU, "URL query of 20 MB through searchParams": KindCPU,
	"gzip of 64 MiB past its window": KindCPU, "digest of 160 MiB": KindCPU, "AES-CBC of 200 MiB": KindCPU,
	"RSA keys of 4,096 bits": KindCPU, "PBKDF2 with a salt of 64 MiB": KindCPU, "AES-KW unwrap of 64 MiB": KindCPU,
	"JSON.stringify and join of 100,000 nested arrays": KindCPU, "JSON.parse of 30 million values": KindCPU, "sort of a 100 MiB typed array": KindCPU,
	"indexOf over a billion-long array-like": KindCPU, "apply of a billion-long array-like": KindMemory,
	"keys of a long string": KindCPU, "TextDecoder of 200 MiB": KindCPU, "TextEncoder of 128 Mi characters": KindCPU,
	"encodeInto of 64 Mi characters": KindCPU, "btoa of 256 MiB": KindCPU, "atob of 256 MiB": KindCPU,
	"normalize of 128 Mi characters": KindCPU, "toUpperCase of 64 Mi characters": KindCPU,
	"trim of 64 Mi characters": KindCPU, "encodeURIComponent of 64 Mi characters": KindCPU, "parseFloat after 64 Mi spaces": KindCPU, "padStart to 256 Mi characters": KindCPU,
	"URLSearchParams of 16 million pairs": KindCPU, "multipart form of a million parts": KindCPU,
	"Blob of a string of 128 Mi characters": KindCPU, "console.log of 128 Mi characters": KindCPU, "memory bomb": KindMemory, "huge string": KindMemory, "huge ArrayBuffer": KindMemory,
	"huge resizable ArrayBuffer": KindMemory, "resizable ArrayBuffer grown step by step": KindMemory,
	"pull that enqueues for ever": KindMemory, "start that enqueues for ever": KindMemory,
	"gzip bomb as the response": KindMemory, "gzip bomb read whole": KindMemory,
	"Blob of one buffer many times": KindMemory, "Blob of one string many times": KindMemory, "Blob doubled": KindMemory,
	"form of one Blob many times":      KindMemory,
	"100,000 pending promises awaited": KindTime, "100,000 pending promises left behind": KindTime,
	"timer flood": KindTime, "timers that double": KindTime, "timer past the wall limit": KindTime,
	"stream that never ends": KindTime, "stream that can never go on": KindTime,
}

// Grants are the egress grants the Egress cases run with: every public
// address, the name localhost, and the origin (host:port of Origin's
// server) by address. Nothing they grant reaches a private, loopback or
// link-local address other than the origin's.
func Grants(origin string) []string { return []string{"*", "localhost", origin} }

// Egress are the cases that fetch, with origin the host:port of a server
// running Origin, and Grants(origin) granted. None may see OriginSecret:
// every fetch of theirs that would reach it goes where the grants do not.
func Egress(origin string) []Case {
	_, port, _ := strings.Cut(origin, ":")
	fetchCase := func(name, url string, want string) Case {
		return Case{Name: name, Kind: KindEgress, Src: probe(`fetch(` + strconv.Quote(url) + `).then(r => r.status + " " + r.text())`),
			CPUMs: 1000, WallMs: 1500, Outcomes: []string{OK}, Has: want, Egress: true}
	}
	return []Case{
		fetchCase("fetch to loopback", "http://127.0.0.1:"+otherPort(port)+"/secret", "refused"),
		fetchCase("fetch to loopback as one number", "http://2130706433:"+otherPort(port)+"/secret", "refused"),
		fetchCase("fetch to IPv6 loopback", "http://[::1]:"+port+"/secret", "refused"),
		fetchCase("fetch to a private range", "http://10.1.2.3/secret", "refused"),
		fetchCase("fetch to IPv6 unique-local", "http://[fd00::1]/secret", "refused"),
		fetchCase("fetch to the cloud metadata", "http://169.254.169.254/latest/meta-data/", "refused"),
		fetchCase("fetch to IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/latest/meta-data/", "refused"),
		fetchCase("fetch to 0.0.0.0", "http://0.0.0.0:"+port+"/secret", "refused"),
		fetchCase("fetch to a NAT64 form of loopback", "http://[64:ff9b::7f00:1]:"+port+"/secret", "refused"),
		fetchCase("fetch to an IPv4-compatible form of the metadata", "http://[::a9fe:a9fe]/latest/meta-data/", "refused"),
		fetchCase("a name that resolves to loopback", "http://localhost:"+otherPort(port)+"/secret", "grant it by address"),
		fetchCase("redirect into private space", "http://"+origin+"/redirect?to=http://10.1.2.3/secret", "refused"),
		fetchCase("redirect to the metadata", "http://"+origin+"/redirect?to=http://169.254.169.254/latest/meta-data/", "refused"),
		fetchCase("redirect to another loopback port", "http://"+origin+"/redirect?to=http://127.0.0.1:"+otherPort(port)+"/secret", "refused"),
		fetchCase("redirect to a name of loopback", "http://"+origin+"/redirect?to=http://localhost:"+otherPort(port)+"/secret", "grant it by address"),
		{Name: "oversized response", Kind: KindEgress, Src: probe(`fetch("http://` + origin + `/big").then(r => r.arrayBuffer()).then(b => "read " + b.byteLength)`),
			CPUMs: 1500, MemoryMB: 128, WallMs: 1800, Outcomes: []string{OK, ExceededMemory, ExceededWallTime}, Has: "exceeds", Egress: true},
		{Name: "response that never ends", Kind: KindEgress, Src: probe(`fetch("http://` + origin + `/endless").then(r => r.text()).then(t => "read " + t.length)`),
			CPUMs: 1000, WallMs: 1000, Outcomes: []string{OK, ExceededWallTime}, Has: "refused", Egress: true},
	}
}

// The State cases' world: a KV namespace, and a deployed Worker whose
// Durable Object class Hog misbehaves on request.
const (
	StateNamespace = "hostile"
	StateWorker    = "hostile-state"
	StateClass     = "Hog"
)

// StateBindings are the bindings the State cases run with (a run's
// "bindings"): env.KV and env.HOG.
func StateBindings() map[string]any {
	return map[string]any{
		"KV":  map[string]any{"kv": StateNamespace},
		"HOG": map[string]any{"durableObject": map[string]string{"worker": StateWorker, "class": StateClass}},
	}
}

// StateLimits are the limits StateWorker is deployed with: each of its
// objects' events ends within a fraction of Budget, and 600 ms before
// the wall time of the case that called it (1800 ms), which also holds
// the object's start and its wait for a slot. With 1500 ms, an object's
// SQL that never ends outlasted its caller now and then on a loaded host:
// the case ended exceededWallTime instead of with the object's error.
var StateLimits = map[string]int64{"cpuMs": 300, "memoryMb": 64, "wallMs": 1200}

// StateObjects is StateWorker's code: the class Hog, whose methods each
// attack what an object holds (its storage, its SQL database, its event's
// limits, its owner).
const StateObjects = `import { DurableObject } from "cloudflare:workers";
export class Hog extends DurableObject {
  cpu() { for (;;) {} }
  memory() { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); }
  sqlForever() { return this.ctx.storage.sql.exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").one(); }
  sqlHuge() { return this.ctx.storage.sql.exec("SELECT randomblob(1000000) FROM generate_series(1, 100)").toArray().length; }
  sqlTooMuch() {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (v)");
    return this.ctx.storage.sql.exec("INSERT INTO t SELECT randomblob(1000) FROM generate_series(1, 3000)").rowsWritten;
  }
  sqlEscape() { return this.ctx.storage.sql.exec("ATTACH DATABASE '/etc/passwd' AS p").toArray(); }
  async selfCall() { return await this.env.HOG.get(this.ctx.id).selfCall(); }
  bigValue() { return this.ctx.storage.put("big", "x".repeat(200000)); }
  async flood() {
    const v = "x".repeat(100000);
    for (let i = 0; i < 64; i++) this.ctx.storage.put("f" + i, v);
    await this.ctx.storage.deleteAll();
    return "flooded";
  }
  hugeList() { return this.ctx.storage.list({ prefix: "p".repeat(3000) }); }
}
export default { fetch() { return new Response("hostile state") } };
`

// hog is an expression that calls method on a Hog of a fresh name.
func hog(method string) string {
	return "env.HOG.getByName(crypto.randomUUID())." + method + "()"
}

// State are the cases against the replicated state: each needs
// StateBindings granted and StateWorker deployed.
func State() []Case {
	c := func(name string, exprs ...string) Case {
		return Case{Name: name, Kind: KindState, Src: probe(exprs...), CPUMs: 1000, WallMs: 1800, Outcomes: []string{OK}, Has: "refused", State: true}
	}
	return []Case{
		c("KV value past 25 MiB", `env.KV.put("big", "x".repeat(1 << 20).repeat(26))`),
		c("KV key and metadata past their bounds", `env.KV.put("k".repeat(600), "v")`, `env.KV.put("m", "v", { metadata: { m: "x".repeat(2000) } })`),
		c("KV calls past the subrequest limit", `(async () => { for (let i = 0; i < 100; i++) await env.KV.get("k" + i); })()`),
		{Name: "KV list with a huge prefix", Kind: KindState, Src: probe(`env.KV.list({ prefix: "p".repeat(1 << 20) }).then((l) => l.keys.length + " keys")`),
			CPUMs: 1000, WallMs: 1800, Outcomes: []string{OK}, Has: ": 0 keys", State: true},
		c("object that loops", hog("cpu")),
		c("object memory bomb", hog("memory")),
		c("object SQL that never ends", hog("sqlForever")),
		c("object SQL result past its bound", hog("sqlHuge")),
		c("object SQL commit past a batch", hog("sqlTooMuch")),
		c("object SQL attaching a host file", hog("sqlEscape")),
		c("object calling itself", hog("selfCall")),
		c("object value past 128 KiB", hog("bigValue")),
		c("object list with a huge prefix", hog("hugeList")),
		{Name: "object storage flood", Kind: KindState, Src: probe(hog("flood")), CPUMs: 1000, WallMs: 1800, Outcomes: []string{OK}, Has: "flooded", State: true},
	}
}

// otherPort is a port on loopback that the grants do not name (the
// origin's own port is granted by address, so that a name resolving to
// loopback is refused only where the address is not granted).
func otherPort(port string) string {
	if port == "1" {
		return "2"
	}
	return "1"
}

// Origin serves the Egress cases: /redirect?to=URL redirects there, /big
// sends 48 MiB (more than a fetched body may be), /endless trickles bytes
// until the client leaves, and every other path answers OriginSecret.
func Origin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		case "/big":
			chunk := bytes.Repeat([]byte("b"), 1<<20)
			for range 48 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/endless":
			f, _ := w.(http.Flusher)
			for {
				if _, err := w.Write([]byte("e")); err != nil {
					return
				}
				if f != nil {
					f.Flush()
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		default:
			fmt.Fprint(w, OriginSecret)
		}
	})
}

// GzipBomb is 256 MiB of zeros, gzipped: 256 gzip members of 1 MiB each
// (a gzip stream may have many), about 256 KiB in all. That is more than a
// response or a read body may be, and more than the memory limits used.
var GzipBomb = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Close()
	return bytes.Repeat(b.Bytes(), 256)
})
