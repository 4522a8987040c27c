package webapi

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// withTimers gives e a setTimeout on a simulated clock and goCodec
// helpers, and returns an eval that runs timers (earliest first) until the
// body's promise settles.
func (e *env) withTimers() func(body string) string {
	type tm struct {
		due, seq int
		fn       goja.Callable
	}
	var timers []tm
	now, seq := 0, 0
	_ = e.vm.Set("setTimeout", func(call goja.FunctionCall) goja.Value {
		fn, ok := goja.AssertFunction(call.Argument(0))
		if !ok {
			panic(e.vm.NewTypeError("setTimeout needs a function"))
		}
		seq++
		timers = append(timers, tm{due: now + int(call.Argument(1).ToInteger()), seq: seq, fn: fn})
		return e.vm.ToValue(seq)
	})
	// goEncode(format, bytes) and goDecode(format, bytes) are Go's codecs.
	_ = e.vm.Set("goEncode", func(format string, in goja.Value) goja.Value {
		b, _ := e.api.bufferSource(in)
		var buf bytes.Buffer
		var w io.WriteCloser
		switch format {
		case "gzip":
			w = gzip.NewWriter(&buf)
		case "deflate":
			w = zlib.NewWriter(&buf)
		default:
			w, _ = flate.NewWriter(&buf, 9)
		}
		_, _ = w.Write(b)
		_ = w.Close()
		return e.api.newUint8Array(buf.Bytes())
	})
	_ = e.vm.Set("goDecode", func(format string, in goja.Value) string {
		b, _ := e.api.bufferSource(in)
		var r io.Reader
		var err error
		switch format {
		case "gzip":
			r, err = gzip.NewReader(bytes.NewReader(b))
		case "deflate":
			r, err = zlib.NewReader(bytes.NewReader(b))
		default:
			r = flate.NewReader(bytes.NewReader(b))
		}
		if err != nil {
			return "error: " + err.Error()
		}
		out, err := io.ReadAll(r)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(out)
	})
	return func(body string) string {
		e.t.Helper()
		v, err := e.vm.RunString("(async () => {\n" + body + "\n})()")
		if err != nil {
			e.t.Fatalf("running %q: %v", body, err)
		}
		p := v.Export().(*goja.Promise)
		for p.State() == goja.PromiseStatePending && len(timers) > 0 {
			sort.Slice(timers, func(i, j int) bool {
				return timers[i].due < timers[j].due || timers[i].due == timers[j].due && timers[i].seq < timers[j].seq
			})
			t := timers[0]
			timers = timers[1:]
			now = max(now, t.due)
			if _, err := t.fn(goja.Undefined()); err != nil {
				e.t.Fatalf("timer: %v", err)
			}
		}
		if s, ok := settled(p); ok {
			return s
		}
		return "pending"
	}
}

func runStreamCases(t *testing.T, cases []jsCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			got := e.withTimers()(streamPrelude + c.body)
			if strings.HasSuffix(c.want, "*") {
				if !strings.HasPrefix(got, strings.TrimSuffix(c.want, "*")) {
					t.Fatalf("got %q, want prefix %q", got, strings.TrimSuffix(c.want, "*"))
				}
				return
			}
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// streamPrelude has helpers for the cases: readAll collects a stream's
// chunks, sleep waits on the simulated clock, bytes/text convert.
const streamPrelude = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readAll = async (s) => { const r = s.getReader(); const out = []; for (;;) { const x = await r.read(); if (x.done) return out; out.push(x.value); } };
const enc = (s) => new TextEncoder().encode(s);
const dec = (chunks) => { const d = new TextDecoder(); return chunks.map((c) => d.decode(c, { stream: true })).join("") + d.decode(); };
const asyncIterator = Symbol.asyncIterator ?? Symbol.for("Symbol.asyncIterator");
const errName = (e) => e && e.name + ": " + e.message;
`

// TestReadableStream: underlying sources, readers, backpressure, errors,
// cancel, tee and async iteration, per the Streams Standard.
func TestReadableStream(t *testing.T) {
	runStreamCases(t, []jsCase{
		{"start enqueues and closes", `const s = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } });
			return (await readAll(s)).join()`, "a,b"},
		{"pull on demand", `let pulls = 0; const s = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls); if (pulls === 3) c.close(); } });
			const r = s.getReader(); const a = await r.read(); const b = await r.read(); const c = await r.read(); const d = await r.read();
			return [a.value, b.value, c.value, d.done, pulls].join()`, "1,2,3,true,3"},
		{"async pull from a timer", `let n = 0; const s = new ReadableStream({ async pull(c) { await sleep(5); n++; c.enqueue("t" + n); if (n === 2) c.close(); } });
			return (await readAll(s)).join()`, "t1,t2"},
		{"desiredSize and highWaterMark", `let ctl; const s = new ReadableStream({ start(c) { ctl = c; } }, { highWaterMark: 3 });
			const a = ctl.desiredSize; ctl.enqueue(1); ctl.enqueue(2); const b = ctl.desiredSize; ctl.enqueue(3); ctl.enqueue(4); const c = ctl.desiredSize;
			await s.getReader().read(); return [a, b, c, ctl.desiredSize].join()`, "3,1,-1,0"},
		{"pull is not called above the high-water mark", `let pulls = 0; const s = new ReadableStream({ pull(c) { pulls++; c.enqueue(pulls); } }, new CountQueuingStrategy({ highWaterMark: 2 }));
			await sleep(1); return pulls`, "2"},
		{"ByteLengthQueuingStrategy", `let ctl; const s = new ReadableStream({ start(c) { ctl = c; } }, new ByteLengthQueuingStrategy({ highWaterMark: 10 }));
			ctl.enqueue(new Uint8Array(4)); const q = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
			return [ctl.desiredSize, q.highWaterMark, q.size(new Uint8Array(5)), new CountQueuingStrategy({ highWaterMark: 1 }).size("x")].join()`, "6,16,5,1"},
		{"queuing strategy needs highWaterMark", `try { new CountQueuingStrategy({}) } catch (e) { return e.name }`, "TypeError"},
		{"controller.error rejects reads", `const s = new ReadableStream({ start(c) { c.error(new RangeError("bad")); } });
			try { await s.getReader().read(); } catch (e) { return errName(e) }`, "RangeError: bad"},
		{"start that throws errors the stream", `let thrown; try { new ReadableStream({ start() { throw new SyntaxError("sync"); } }) } catch (e) { thrown = e.name }
			const s = new ReadableStream({ async start() { throw new SyntaxError("nope"); } });
			const r = s.getReader(); try { await r.read(); } catch (e) { return thrown + "|" + errName(e) + "|" + (await r.closed.catch((e) => e.name)) }`, "SyntaxError|SyntaxError: nope|SyntaxError"},
		{"cancel reaches the source", `let why; const s = new ReadableStream({ cancel(r) { why = r; } });
			await s.cancel("enough"); return why + "|" + (await s.getReader().read()).done`, "enough|true"},
		{"reader.cancel and closed", `let why; const s = new ReadableStream({ start(c) { c.enqueue(1); }, cancel(r) { why = r; } });
			const r = s.getReader(); await r.cancel("stop"); await r.closed; return why`, "stop"},
		{"locked and releaseLock", `const s = new ReadableStream(); const r = s.getReader(); const a = s.locked;
			let second; try { s.getReader() } catch (e) { second = e.name }
			r.releaseLock(); return [a, second, s.locked].join()`, "true,TypeError,false"},
		{"read after releaseLock rejects", `const s = new ReadableStream(); const r = s.getReader(); r.releaseLock(); try { await r.read() } catch (e) { return e.name }`, "TypeError"},
		{"enqueue after close throws", `let ctl; new ReadableStream({ start(c) { ctl = c; } }); ctl.close(); try { ctl.enqueue(1) } catch (e) { return e.name }`, "TypeError"},
		{"tee gives both branches every chunk", `const s = new ReadableStream({ start(c) { c.enqueue("x"); c.enqueue("y"); c.close(); } });
			const [a, b] = s.tee(); return (await readAll(a)).join() + "|" + (await readAll(b)).join() + "|" + s.locked`, "x,y|x,y|true"},
		{"tee cancels the source when both branches cancel", `let why; const s = new ReadableStream({ cancel(r) { why = r; } });
			const [a, b] = s.tee(); a.cancel("ra"); await b.cancel("rb"); return JSON.stringify(why)`, `["ra","rb"]`},
		{"tee error reaches both", `let ctl; const s = new ReadableStream({ start(c) { ctl = c; } }); const [a, b] = s.tee();
			ctl.error(new TypeError("x")); const ra = await a.getReader().read().catch((e) => e.name); const rb = await b.getReader().read().catch((e) => e.name); return ra + rb`, "TypeErrorTypeError"},
		{"async iteration", `const s = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.enqueue(3); c.close(); } });
			const it = s[asyncIterator](); let sum = 0; for (;;) { const r = await it.next(); if (r.done) break; sum += r.value; } return sum`, "6"},
		{"iterator return cancels", `let why = "none"; const s = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(r) { why = String(r); } });
			const it = s.values(); await it.next(); await it.return("bye"); return why + "|" + s.locked`, "bye|false"},
		{"iterator preventCancel", `let canceled = false; const s = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel() { canceled = true; } });
			const it = s.values({ preventCancel: true }); await it.next(); await it.return(); return canceled + "|" + s.locked`, "false|false"},
		{"ReadableStream.from an array", `return (await readAll(ReadableStream.from(["a", "b"]))).join()`, "a,b"},
		{"ReadableStream.from an async iterable", `const src = { [asyncIterator]() { let i = 0; return { next: async () => i < 2 ? { value: i++, done: false } : { value: undefined, done: true } }; } };
			return (await readAll(ReadableStream.from(src))).join()`, "0,1"},
		{"toStringTag and globals", `return [Object.prototype.toString.call(new ReadableStream()), typeof ReadableStreamDefaultReader, typeof ReadableStreamDefaultController, typeof ReadableByteStreamController, typeof WritableStreamDefaultWriter, typeof TransformStreamDefaultController].join()`,
			"[object ReadableStream],function,function,function,function,function"},
		{"subclass", `class Mine extends ReadableStream { constructor() { super({ start(c) { c.enqueue("m"); c.close(); } }); } } const m = new Mine();
			return (m instanceof ReadableStream) + (await readAll(m)).join()`, "truem"},
		{"a byte stream detaches what is enqueued", `let ctl; const s = new ReadableStream({ type: "bytes", start(c) { ctl = c; } });
			const u = new Uint8Array([7, 8]); ctl.enqueue(u); const x = await s.getReader().read();
			let again; try { ctl.enqueue(u) } catch (e) { again = e.name }
			return [u.byteLength, x.value.join(), again].join("|")`, "0|7,8|TypeError"},
		{"byte stream with a BYOB reader", `const s = new ReadableStream({ type: "bytes", pull(c) { c.enqueue(new Uint8Array([1, 2, 3, 4])); c.close(); } });
			const r = s.getReader({ mode: "byob" }); const x = await r.read(new Uint8Array(2)); return x.value.join() + "|" + x.done`, "1,2|false"},
	})
}

// TestWritableAndTransformStream: sinks, writers, backpressure, abort,
// pipes and transforms.
func TestWritableAndTransformStream(t *testing.T) {
	runStreamCases(t, []jsCase{
		{"writer writes in order and closes", `const got = []; let closed = false;
			const w = new WritableStream({ async write(c) { await sleep(3); got.push(c); }, close() { closed = true; } }).getWriter();
			w.write("a"); w.write("b"); await w.close(); return got.join() + "|" + closed`, "a,b|true"},
		{"backpressure via desiredSize and ready", `let release; const w = new WritableStream({ write() { return new Promise((r) => { release = r; }); } }, { highWaterMark: 2 }).getWriter();
			const a = w.desiredSize; w.write(1); w.write(2); w.write(3); await sleep(0); const b = w.desiredSize; let ready = false; w.ready.then(() => { ready = true; });
			await sleep(0); const c = ready; release(); await sleep(0); release(); await sleep(0); return [a, b, c, ready, w.desiredSize].join()`, "2,-1,false,true,1"},
		{"a failed write errors the stream", `const w = new WritableStream({ write() { throw new RangeError("full"); } }).getWriter();
			const a = await w.write(1).catch(errName); const b = await w.write(2).catch((e) => e.name); return a + "|" + b`, "RangeError: full|RangeError"},
		{"abort reaches the sink", `let why; const w = new WritableStream({ abort(r) { why = r; } }).getWriter(); await w.abort("gone"); return why + "|" + (await w.closed.catch(() => "rejected"))`, "gone|rejected"},
		{"pipeTo moves every chunk and closes", `const got = []; let closed = false;
			const src = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } });
			await src.pipeTo(new WritableStream({ write(c) { got.push(c); }, close() { closed = true; } })); return got.join() + "|" + closed`, "1,2|true"},
		{"pipeTo preventClose", `let closed = false; const dst = new WritableStream({ close() { closed = true; } });
			await ReadableStream.from([1]).pipeTo(dst, { preventClose: true }); return closed + "|" + dst.locked`, "false|false"},
		{"pipeTo with an abort signal", `const ac = new AbortController(); let aborted, canceled; let n = 0;
			const src = new ReadableStream({ async pull(c) { await sleep(5); c.enqueue(n++); }, cancel(r) { canceled = r.name; } });
			const p = src.pipeTo(new WritableStream({ abort(r) { aborted = r.name; } }), { signal: ac.signal });
			setTimeout(() => ac.abort(), 12); const e = await p.catch((e) => e.name); return [e, aborted, canceled].join()`, "AbortError,AbortError,AbortError"},
		{"pipeTo propagates a source error", `let why; const src = new ReadableStream({ start(c) { c.error(new TypeError("src")); } });
			const e = await src.pipeTo(new WritableStream({ abort(r) { why = r.message; } })).catch(errName); return e + "|" + why`, "TypeError: src|src"},
		{"pipeTo propagates a destination error", `let why; const src = new ReadableStream({ pull(c) { c.enqueue(1); }, cancel(r) { why = r.message; } });
			const e = await src.pipeTo(new WritableStream({ write() { throw new Error("dst"); } })).catch(errName); return e + "|" + why`, "Error: dst|dst"},
		{"pipeThrough a TransformStream", `const up = new TransformStream({ transform(c, ctl) { ctl.enqueue(c.toUpperCase()); } });
			return (await readAll(ReadableStream.from(["a", "b"]).pipeThrough(up))).join()`, "A,B"},
		{"TransformStream flush", `const t = new TransformStream({ transform(c, ctl) { ctl.enqueue(c); }, flush(ctl) { ctl.enqueue("end"); } });
			return (await readAll(ReadableStream.from(["x"]).pipeThrough(t))).join()`, "x,end"},
		{"TransformStream error errors both sides", `const t = new TransformStream({ transform() { throw new TypeError("t"); } }); const w = t.writable.getWriter();
			const rb = t.readable.getReader().read().catch((e) => e.name); const a = await w.write(1).catch((e) => e.name); return a + (await rb)`, "TypeErrorTypeError"},
		{"identity TransformStream", `const { readable, writable } = new TransformStream(); const w = writable.getWriter();
			w.write("p"); w.write("q"); w.close(); return (await readAll(readable)).join()`, "p,q"},
		{"terminate", `const t = new TransformStream({ start(ctl) { ctl.enqueue("only"); ctl.terminate(); } }); return (await readAll(t.readable)).join()`, "only"},
	})
}

// TestEncodingAndCompressionStreams: TextEncoderStream and
// TextDecoderStream across split characters; compression round trips
// against Go's codecs; bad input.
func TestEncodingAndCompressionStreams(t *testing.T) {
	cases := []jsCase{
		{"TextEncoderStream splits a surrogate pair", `const t = new TextEncoderStream(); const w = t.writable.getWriter();
			w.write("a\uD83D"); w.write("\uDE00b"); w.close(); const out = await readAll(t.readable);
			return out.map((c) => Array.from(c, (b) => b.toString(16)).join(" ")).join("|") + "|" + t.encoding`, "61|f0 9f 98 80 62|utf-8"},
		{"TextEncoderStream lone surrogate at the end", `const t = new TextEncoderStream(); const w = t.writable.getWriter(); w.write("\uD83D"); w.close();
			return (await readAll(t.readable)).map((c) => c.join()).join("|")`, "239,191,189"},
		{"TextDecoderStream joins split characters", `const t = new TextDecoderStream(); const w = t.writable.getWriter();
			for (const b of [[0xF0, 0x9F], [0x98, 0x80, 0xE2], [0x82], [0xAC]]) w.write(new Uint8Array(b)); w.close();
			return (await readAll(t.readable)).join("")`, "😀€"},
		{"TextDecoderStream utf-16le", `const t = new TextDecoderStream("utf-16le"); const w = t.writable.getWriter(); w.write(new Uint8Array([0x41])); w.write(new Uint8Array([0, 0x42, 0])); w.close();
			return (await readAll(t.readable)).join("") + t.encoding`, "AButf-16le"},
		{"TextDecoderStream fatal", `const t = new TextDecoderStream("utf-8", { fatal: true }); const w = t.writable.getWriter(); w.write(new Uint8Array([0xFF])).catch(() => {});
			return [t.fatal, await t.readable.getReader().read().catch((e) => e.name)].join()`, "true,TypeError"},
		{"TextDecoderStream refuses strings", `const t = new TextDecoderStream(); const w = t.writable.getWriter(); const r = t.readable.getReader().read().catch((e) => e.name);
			return (await w.write("x").catch((e) => e.name)) + (await r)`, "TypeErrorTypeError"},
		{"TextDecoderStream unknown label", `try { new TextDecoderStream("nope") } catch (e) { return e.name }`, "RangeError"},
		{"CompressionStream unknown format", `try { new CompressionStream("brotli") } catch (e) { return errName(e) }`, "TypeError: Failed to construct 'CompressionStream': Unsupported compression format: 'brotli'"},
		{"DecompressionStream unknown format", `try { new DecompressionStream() } catch (e) { return e.name }`, "TypeError"},
		{"DecompressionStream corrupt data", `const s = ReadableStream.from([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])]).pipeThrough(new DecompressionStream("gzip"));
			return await readAll(s).catch(errName)`, "TypeError: DecompressionStream: invalid gzip data: *"},
		{"DecompressionStream truncated data", `const z = goEncode("gzip", enc("hello hello hello")); const s = ReadableStream.from([z.slice(0, z.length - 4)]).pipeThrough(new DecompressionStream("gzip"));
			return await readAll(s).catch(errName)`, "TypeError: DecompressionStream: invalid gzip data: the compressed data ended too soon"},
		{"DecompressionStream trailing junk", `const z = goEncode("deflate-raw", enc("hello")); const s = ReadableStream.from([z, new Uint8Array([1, 2])]).pipeThrough(new DecompressionStream("deflate-raw"));
			return await readAll(s).catch(errName)`, "TypeError: DecompressionStream: invalid deflate-raw data: junk found after the end of the compressed data"},
		{"DecompressionStream trailing junk in the same chunk", `const z = goEncode("deflate", enc("hello")); const both = new Uint8Array(z.length + 1); both.set(z); both[z.length] = 7;
			return await readAll(ReadableStream.from([both]).pipeThrough(new DecompressionStream("deflate"))).catch(errName)`, "TypeError: DecompressionStream: invalid deflate data: junk found after the end of the compressed data"},
		{"DecompressionStream refuses strings", `const s = ReadableStream.from(["text"]).pipeThrough(new DecompressionStream("gzip")); return await readAll(s).catch((e) => e.name)`, "TypeError"},
		{"DecompressionStream output is chunked", `const z = goEncode("gzip", new Uint8Array(200000)); const out = await readAll(ReadableStream.from([z]).pipeThrough(new DecompressionStream("gzip")));
			return out.map((c) => c.byteLength).join()`, "65536,131072,3392"},
		// Chunks grow from 64 KiB while the output fills them, to 1 MiB at most.
		{"DecompressionStream chunks grow to 1 MiB", `const z = goEncode("gzip", new Uint8Array(5 << 20)); const out = await readAll(ReadableStream.from([z]).pipeThrough(new DecompressionStream("gzip")));
			return out.map((c) => c.byteLength / 1024).join()`, "64,128,256,512,1024,1024,1024,1024,64"},
		{"DecompressionStream makes output only as read", `const z = goEncode("gzip", new Uint8Array(1 << 20)); const r = ReadableStream.from([z]).pipeThrough(new DecompressionStream("gzip")).getReader();
			await r.read(); await sleep(5); const x = await r.read(); await r.cancel(); return x.value.byteLength`, "131072"},
		{"gzip multistream", `const a = goEncode("gzip", enc("ab")), b = goEncode("gzip", enc("cd")); const both = new Uint8Array(a.length + b.length); both.set(a); both.set(b, a.length);
			return dec(await readAll(ReadableStream.from([both]).pipeThrough(new DecompressionStream("gzip"))))`, "abcd"},
	}
	for _, format := range []string{"gzip", "deflate", "deflate-raw"} {
		cases = append(cases,
			jsCase{format + " to Go", `const text = "stream me ".repeat(500) + "é€😀";
				const out = await readAll(ReadableStream.from([enc(text.slice(0, 1000)), enc(text.slice(1000))]).pipeThrough(new CompressionStream("` + format + `")));
				const all = new Uint8Array(out.reduce((n, c) => n + c.byteLength, 0)); let off = 0; for (const c of out) { all.set(c, off); off += c.byteLength; }
				return goDecode("` + format + `", all) === text`, "true"},
			jsCase{format + " from Go, one byte at a time", `const z = goEncode("` + format + `", enc("héllo wörld ".repeat(20)));
				const s = new ReadableStream({ i: 0, pull(c) { c.enqueue(z.slice(this.i, this.i + 1)); if (++this.i === z.length) c.close(); } });
				return dec(await readAll(s.pipeThrough(new DecompressionStream("` + format + `")))) === "héllo wörld ".repeat(20)`, "true"},
			jsCase{format + " round trip", `const r = new Response(new Blob(["round " + "trip ".repeat(100)]).stream().pipeThrough(new CompressionStream("` + format + `")).pipeThrough(new DecompressionStream("` + format + `")));
				return (await r.text()).length`, "506"},
		)
	}
	runStreamCases(t, cases)
}

// TestStreamBodies: Request and Response bodies as streams, per the Fetch
// Standard.
func TestStreamBodies(t *testing.T) {
	runStreamCases(t, []jsCase{
		{"re-wrapped body", `const r1 = new Response("payload", { status: 201 }); const r2 = new Response(r1.body, r1);
			const before = r1.bodyUsed; const text = await r2.text(); return [before, text, r2.status, r1.bodyUsed, r2.bodyUsed].join()`, "false,payload,201,true,true"},
		{"handing a body on does not use it", `const r1 = new Response("x"); new Response(r1.body); return r1.bodyUsed + "|" + (await r1.text())`, "false|x"},
		{"a locked body cannot be read", `const r = new Response("x"); r.body.getReader(); return r.bodyUsed + "|" + (await r.text().catch((e) => e.name))`, "false|TypeError"},
		{"reading the stream uses the body", `const r = new Response("abc"); const x = await r.body.getReader().read(); return dec([x.value]) + r.bodyUsed`, "abctrue"},
		{"stream body read as text", `const s = new ReadableStream({ async pull(c) { await sleep(2); c.enqueue(enc("slow")); c.close(); } }); const r = new Response(s);
			return [r.bodyUsed, await r.text(), r.bodyUsed, r.body === s].join()`, "false,slow,true,true"},
		{"stream body as json, arrayBuffer, bytes, blob, formData", `const mk = (t) => new Response(ReadableStream.from([enc(t.slice(0, 2)), enc(t.slice(2))]), { headers: { "content-type": "application/x-www-form-urlencoded" } });
			const j = await mk('{"a":1}').json(); const ab = await mk("abcd").arrayBuffer(); const by = await mk("xyz").bytes(); const bl = await mk("blob").blob(); const fd = await mk("k=v&z=1").formData();
			return [j.a, ab.byteLength, by.join(), await bl.text(), bl.type, fd.get("k")].join("|")`, "1|4|120,121,122|blob|application/x-www-form-urlencoded|v"},
		{"chunks that are not bytes", `const r = new Response(ReadableStream.from(["text"])); return await r.text().catch(errName)`, "TypeError: This ReadableStream did not return bytes."},
		{"ArrayBuffer and DataView chunks are bytes", `const r = new Response(ReadableStream.from([new Uint8Array([104]).buffer, new DataView(new Uint8Array([105]).buffer)])); return await r.text()`, "hi"},
		{"a disturbed stream is not a body", `const s = ReadableStream.from([enc("x")]); await s.getReader().read(); try { new Response(s) } catch (e) { return e.name }`, "TypeError"},
		{"a locked stream is not a body", `const s = new ReadableStream(); s.getReader(); try { new Response(s) } catch (e) { return e.name }`, "TypeError"},
		{"clone tees a stream body", `const r = new Response(ReadableStream.from([enc("a"), enc("b")])); const c = r.clone(); return (await c.text()) + (await r.text())`, "abab"},
		{"clone after the body was asked for", `const r = new Response("ab"); const s = r.body; const c = r.clone(); return (await c.text()) + (await r.text()) + (r.body === s)`, "ababtrue"},
		{"clone of a used body", `const r = new Response(ReadableStream.from([enc("a")])); await r.text(); try { r.clone() } catch (e) { return e.name }`, "TypeError"},
		{"request with a stream body", `const q = new Request("https://x.test/", { method: "POST", body: ReadableStream.from([enc("up")]) }); return (await q.text()) + q.bodyUsed`, "uptrue"},
		{"a Request takes another's stream body", `const q = new Request("https://x.test/", { method: "POST", body: ReadableStream.from([enc("mv")]) });
			const q2 = new Request(q); return q.bodyUsed + "|" + (await q2.text())`, "true|mv"},
		{"Blob.stream", `const s = new Blob(["ab", "cd"]).stream(); const x = await readAll(s); return x.length + dec(x)`, "1abcd"},
		{"empty Blob.stream", `return (await readAll(new Blob([]).stream())).length`, "0"},
		{"body of a used response", `const r = new Response("x"); await r.text(); const s = r.body; return s.locked + "|" + (await s.getReader().read()).done + "|" + r.bodyUsed`, "false|true|true"},
	})
}

// TestStreamBodyLimit: reading a stream body whole is bounded by
// MaxBodyBytes; a gzip bomb read whole is a RangeError.
func TestStreamBodyLimit(t *testing.T) {
	e := &env{t: t, vm: goja.New()}
	e.api = Install(e.vm, Options{MaxBodyBytes: 1 << 20})
	eval := e.withTimers()
	got := eval(streamPrelude + `const z = goEncode("gzip", new Uint8Array(8 << 20));
		let cancel; const r = new Response(ReadableStream.from([z]).pipeThrough(new DecompressionStream("gzip")));
		return z.byteLength < 1 << 20 ? await r.arrayBuffer().then(() => "read", errName) : "bomb too big"`)
	if got != "RangeError: arrayBuffer(): the body is more than 1048576 bytes" {
		t.Fatalf("got %q", got)
	}
}

// TestBodyStreamFromGo: ExportResponse gives a stream body as a
// BodyStream that Go reads chunk by chunk; a chunk that is not bytes is
// a TypeError; Cancel reaches the source.
func TestBodyStreamFromGo(t *testing.T) {
	e := newEnv(t)
	eval := e.withTimers()
	eval(`globalThis.canceled = "";
		globalThis.good = new Response(new ReadableStream({ n: 0, pull(c) { if (this.n === 3) { c.close(); return; } c.enqueue(new TextEncoder().encode("c" + this.n++)); } }));
		globalThis.bad = new Response(ReadableStream.from([new Uint8Array([1]), 42]));
		globalThis.endless = new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(1)); }, cancel(r) { canceled = r.name + ": " + r.message; } }));
		globalThis.plain = new Response("buffered");`)
	export := func(name string) *HTTPResponse {
		t.Helper()
		hr, err := e.api.ExportResponse(e.vm.Get(name))
		if err != nil {
			t.Fatal(err)
		}
		return hr
	}
	drain := func(s *BodyStream) (string, error) {
		var out []byte
		for range 100 {
			var got, eof bool
			var err error
			s.Read(func(c []byte, e bool, er error) {
				got, eof, err = true, e, er
				out = append(out, c...)
			})
			if !got {
				return string(out), io.ErrNoProgress // jobs run before Read returns here
			}
			if err != nil || eof {
				return string(out), err
			}
		}
		return string(out), nil
	}
	if hr := export("plain"); hr.Stream != nil || string(hr.Body) != "buffered" {
		t.Fatalf("plain: %+v", hr)
	}
	hr := export("good")
	if hr.Stream == nil || hr.Body != nil {
		t.Fatalf("good: %+v", hr)
	}
	if got, err := drain(hr.Stream); got != "c0c1c2" || err != nil {
		t.Fatalf("good: %q, %v", got, err)
	}
	got, err := drain(export("bad").Stream)
	var se *StreamError
	if got != "\x01" || !errors.As(err, &se) || !strings.Contains(se.Value.String(), "TypeError: This ReadableStream did not return bytes.") {
		t.Fatalf("bad: %q, %v", got, err)
	}
	s := export("endless").Stream
	s.Read(func([]byte, bool, error) {})
	s.Cancel("the response is too large")
	if c := e.vm.Get("canceled").String(); c != "TypeError: the response is too large" {
		t.Fatalf("canceled = %q", c)
	}
	if _, err := e.api.ExportResponse(e.vm.Get("good")); err == nil {
		t.Fatal("exporting a read body again worked")
	}
}

// TestStreamsStayLazy: bodies used the ordinary way never run the streams
// prelude.
func TestStreamsStayLazy(t *testing.T) {
	e := newEnv(t)
	e.eval(`const r = new Response("x", { headers: { a: "1" } }); await r.text(); const q = new Request("https://x.test/", { method: "POST", body: "y" }); await q.clone().arrayBuffer(); return new Response("z").bodyUsed + q.bodyUsed`)
	v, err := e.vm.RunString(`new Response("hi")`)
	if err != nil {
		t.Fatal(err)
	}
	if hr, err := e.api.ExportResponse(v); err != nil || string(hr.Body) != "hi" {
		t.Fatal(hr, err)
	}
	if e.api.strm != nil {
		t.Fatal("the streams prelude ran")
	}
}

// TestInflaterGoroutinesEnd: the decoder goroutines of DecompressionStreams
// left half read end with Close, and with the runtime's garbage collection
// when Close is not called.
func TestInflaterGoroutinesEnd(t *testing.T) {
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines, want at most %d", what, runtime.NumGoroutine(), want)
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Decoders of earlier tests' runtimes end as those are collected: let
	// them finish first, or base counts goroutines that end meanwhile.
	base := runtime.NumGoroutine()
	for settle := time.Now().Add(2 * time.Second); time.Now().Before(settle); {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n >= base {
			break
		}
		base = n
	}
	start := func() *env {
		e := newEnv(t)
		got := e.withTimers()(streamPrelude + `globalThis.keep = [];
		const z = goEncode("gzip", new Uint8Array(1 << 20));
		for (let i = 0; i < 20; i++) {
			const r = ReadableStream.from([z]).pipeThrough(new DecompressionStream("gzip")).getReader();
			await r.read();
			keep.push(r);
		} return "ok"`)
		if got != "ok" {
			t.Fatal(got)
		}
		if n := runtime.NumGoroutine(); n < base+20 {
			t.Fatalf("%d goroutines, want at least %d: the decoders are not running", n, base+20)
		}
		return e
	}
	start().api.Close()
	waitFor("after Close", base)
	start()
	waitFor("after the runtime was dropped", base)
}

// TestLazyBodyStream: handing a body's stream on unread does not start the
// streams implementation, and the lazy stream behaves as the stream.
func TestLazyBodyStream(t *testing.T) {
	lazy := []jsCase{
		{"re-wrapped, read", `const r1 = new Response("payload", { status: 201, headers: { a: "1" } }); const r2 = new Response(r1.body, r1);
			const before = [r1.bodyUsed, r2.bodyUsed, r1.body === r1.body, r2.body === r1.body].join(); const text = await r2.text();
			return [before, text, r2.status, r2.headers.get("a"), r1.bodyUsed, r2.bodyUsed, await r1.text().catch((e) => e.name)].join()`,
			"false,false,true,true,payload,201,1,true,true,TypeError"},
		{"the source read first", `const r1 = new Response("x"); const r2 = new Response(r1.body); return [await r1.text(), r2.bodyUsed, await r2.text().catch((e) => e.name)].join()`, "x,true,TypeError"},
		{"a Request from a Response's body", `const r = new Response("up"); const q = new Request("https://x.test/", { method: "POST", body: r.body }); return (await q.text()) + r.bodyUsed`, "uptrue"},
		{"a Request's body handed on", `const q = new Request("https://x.test/", { method: "POST", body: "qq" }); const r = new Response(q.body); return (await r.arrayBuffer()).byteLength + "|" + q.bodyUsed`, "2|true"},
		{"clone of a re-wrapped body", `const r1 = new Response("cc"); const r2 = new Response(r1.body); const c = r2.clone(); return (await c.text()) + (await r2.text()) + r1.bodyUsed`, "cccctrue"},
		{"a used body's stream handed on", `const r = new Response("x"); await r.text(); try { new Response(r.body); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"null body", `return String(new Response(null).body) + String(new Response().body)`, "nullnull"},
	}
	for _, c := range lazy {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			if got := e.eval(c.body); got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
			if e.api.strm != nil {
				t.Fatal("the streams implementation was started")
			}
		})
	}
	// Anything done on the lazy stream itself makes the real one.
	runStreamCases(t, []jsCase{
		{"instanceof and locked", `const r = new Response("x"); const s = r.body; return [s instanceof ReadableStream, s.locked, Object.prototype.toString.call(s), r.bodyUsed].join()`, "true,false,[object ReadableStream],false"},
		{"read through a reader", `const r = new Response("abc"); const rd = r.body.getReader(); const x = await rd.read(); return [dec([x.value]), r.bodyUsed, r.body.locked, await r.text().catch((e) => e.name)].join()`, "abc,true,true,TypeError"},
		{"read whole after being made", `const r = new Response("abc"); const s = r.body; void s.locked; return [await r.text(), r.bodyUsed, r.body === s].join()`, "abc,true,true"},
		{"made after being handed on", `const r1 = new Response("hand"); const s = r1.body; const r2 = new Response(s); const x = await s.getReader().read(); return [dec([x.value]), r1.bodyUsed, r2.bodyUsed, await r2.text().catch((e) => e.name)].join()`, "hand,true,true,TypeError"},
		{"handed on after being made", `const r1 = new Response("m"); const s = r1.body; void s.locked; const r2 = new Response(s); return [r2.body === s, await r2.text(), r1.bodyUsed].join()`, "true,m,true"},
		{"made after its bytes were read", `const r1 = new Response("gone"); const s = r1.body; const r2 = new Response(s); await r2.text(); const x = await s.getReader().read(); return [x.done, r1.bodyUsed].join()`, "true,true"},
		{"tee", `const r = new Response("tt"); const [a, b] = r.body.tee(); return dec([(await a.getReader().read()).value]) + dec([(await b.getReader().read()).value]) + r.bodyUsed`, "tttttrue"},
		{"pipeThrough", `const r = new Response("pp"); const out = r.body.pipeThrough(new TransformStream()); return dec(await readAll(out))`, "pp"},
		{"async iterator", `const r = new Response("fa"); const it = r.body[asyncIterator](); const x = await it.next(); return dec([x.value]) + r.bodyUsed`, "fatrue"},
		{"keys and properties", `const s = new Response("k").body; s.extra = 1; return [s.extra, "extra" in s, Object.keys(s).includes("extra"), delete s.extra, "extra" in s, Object.isExtensible(s)].join()`, "1,true,true,true,false,true"},
		{"preventExtensions is refused", `const s = new Response("k").body; try { Object.preventExtensions(s); return "ok" } catch (e) { return e.name }`, "TypeError"},
	})
}
