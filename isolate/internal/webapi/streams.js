// The streams prelude: web-streams-polyfill (inserted at the marker below;
// see stream.go) and the classes and Go hooks built on it. It runs once per
// runtime, on the first use of a stream.
(function (hooks) {
'use strict';
// The polyfill transfers buffers (byte streams detach what is enqueued or
// read into) with structuredClone(buffer, {transfer: [buffer]}) when there
// is one: it gets hooks.transfer, which a Worker cannot replace.
const structuredClone = (buffer) => hooks.transfer(buffer);
// The polyfill's UMD wrapper exports into these.
const exports = {};
const module = { exports };
/*POLYFILL*/
const S = module.exports;
const { ReadableStream, WritableStream, TransformStream } = S;
const U8 = Uint8Array, AB = ArrayBuffer, isView = ArrayBuffer.isView;
const defineProperty = Object.defineProperty;
const toStringTag = Symbol.toStringTag;
const tag = (C, name) => defineProperty(C.prototype, toStringTag, { value: name, configurable: true });

// TextEncoderStream: a lone high surrogate at the end of a chunk waits for
// the next chunk, as the Encoding Standard says.
class TextEncoderStream {
  #t;
  constructor() {
    const enc = hooks.textEncoder();
    let pending = '';
    this.#t = new TransformStream({
      transform(chunk, c) {
        let s = pending + `${chunk}`;
        pending = '';
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xD800 && last <= 0xDBFF) { pending = s.slice(-1); s = s.slice(0, -1); }
        if (s.length > 0) c.enqueue(enc.encode(s));
      },
      flush(c) { if (pending !== '') c.enqueue(new U8([0xEF, 0xBF, 0xBD])); },
    });
  }
  get encoding() { return 'utf-8'; }
  get readable() { return this.#t.readable; }
  get writable() { return this.#t.writable; }
}
tag(TextEncoderStream, 'TextEncoderStream');

class TextDecoderStream {
  #t; #d;
  constructor(label = 'utf-8', options = undefined) {
    const d = this.#d = hooks.textDecoder(label, options);
    this.#t = new TransformStream({
      transform(chunk, c) {
        if (!(chunk instanceof AB) && !isView(chunk)) throw new TypeError('TextDecoderStream: a chunk must be an ArrayBuffer or an ArrayBufferView');
        const s = d.decode(chunk, { stream: true });
        if (s !== '') c.enqueue(s);
      },
      flush(c) { const s = d.decode(); if (s !== '') c.enqueue(s); },
    });
  }
  get encoding() { return this.#d.encoding; }
  get fatal() { return this.#d.fatal; }
  get ignoreBOM() { return this.#d.ignoreBOM; }
  get readable() { return this.#t.readable; }
  get writable() { return this.#t.writable; }
}
tag(TextDecoderStream, 'TextDecoderStream');

class CompressionStream {
  #t;
  constructor(format) {
    if (arguments.length < 1) throw new TypeError("Failed to construct 'CompressionStream': 1 argument required, but only 0 present.");
    const z = hooks.deflater(`${format}`);
    this.#t = new TransformStream({
      transform(chunk, c) { const out = z.write(chunk); if (out !== null) c.enqueue(out); },
      flush(c) { const out = z.finish(); if (out !== null) c.enqueue(out); },
    });
  }
  get readable() { return this.#t.readable; }
  get writable() { return this.#t.writable; }
}
tag(CompressionStream, 'CompressionStream');

// DecompressionStream is a writable and a readable joined by a decoder that
// makes at most 64 KiB of output per pull: output is made only as fast as it
// is read, so a small input that inflates to gigabytes costs memory only as
// far as the reader keeps what it reads.
class DecompressionStream {
  #readable; #writable;
  constructor(format) {
    if (arguments.length < 1) throw new TypeError("Failed to construct 'DecompressionStream': 1 argument required, but only 0 present.");
    const z = hooks.inflater(`${format}`);
    let input = null;     // the write or close the decoder has not taken yet
    let waiter = null;    // a pull waiting for input
    let closing = null;   // the close, once the decoder took it
    let rc, wc, failed = false;
    const wake = () => { if (waiter !== null) { const w = waiter; waiter = null; w(); } };
    const fail = (e, fromReadable) => {
      if (failed) return;
      failed = true;
      z.abort();
      if (input !== null) { input.reject(e); input = null; }
      if (closing !== null) { closing.reject(e); closing = null; }
      if (fromReadable) wc.error(e); else rc.error(e);
      wake();
    };
    this.#readable = new ReadableStream({
      start(c) { rc = c; },
      async pull(c) {
        for (;;) {
          if (failed) return;
          if (z.needsInput() || z.done()) {
            if (input === null) await new Promise((resolve) => { waiter = resolve; });
            if (failed || input === null) continue;
            const w = input;
            input = null;
            if (w.close && z.done()) { c.close(); w.resolve(); return; }
            try {
              // After the end of the data, give refuses all but empty chunks.
              if (w.close) z.end(); else z.give(w.chunk);
            } catch (e) { w.reject(e); fail(e, true); throw e; }
            if (w.close) closing = w; else w.resolve();
            continue;
          }
          let out;
          try { out = z.next(); } catch (e) { fail(e, true); throw e; }
          if (out === null) continue;
          if (out === undefined) {
            // The data ended: the readable closes with the input, which
            // must have nothing more.
            if (closing !== null) { c.close(); closing.resolve(); closing = null; return; }
            continue;
          }
          c.enqueue(out);
          return;
        }
      },
      cancel(reason) { fail(reason, true); },
    }, { highWaterMark: 0 });
    this.#writable = new WritableStream({
      start(c) { wc = c; },
      write(chunk) {
        return new Promise((resolve, reject) => { input = { chunk, resolve, reject }; wake(); });
      },
      close() {
        return new Promise((resolve, reject) => { input = { close: true, resolve, reject }; wake(); });
      },
      abort(reason) { fail(reason, false); },
    });
  }
  get readable() { return this.#readable; }
  get writable() { return this.#writable; }
}
tag(DecompressionStream, 'DecompressionStream');

S.TextEncoderStream = TextEncoderStream;
S.TextDecoderStream = TextDecoderStream;
S.CompressionStream = CompressionStream;
S.DecompressionStream = DecompressionStream;

// Hooks for Go.
const isStream = (v) => v instanceof ReadableStream;
const getReader = ReadableStream.prototype.getReader;
const read = S.ReadableStreamDefaultReader.prototype.read;
const cancel = S.ReadableStreamDefaultReader.prototype.cancel;
const notBytes = () => new TypeError('This ReadableStream did not return bytes.');
// bytesOf checks a chunk of a body.
const bytesOf = (v) => {
  if (v instanceof U8) return v;
  if (v instanceof AB) return new U8(v);
  if (isView(v)) return new U8(v.buffer, v.byteOffset, v.byteLength);
  throw notBytes();
};
const internals = {
  isStream,
  // pristine: a stream nothing has read, locked or canceled.
  pristine: (s) => !s.locked && !s._disturbed,
  disturbed: (s) => s._disturbed === true,
  locked: (s) => s.locked,
  // fromBytes makes a body's stream; take() gives its bytes on the first read.
  fromBytes(take) {
    return new ReadableStream({
      type: 'bytes',
      pull(c) {
        const u = take();
        if (u.byteLength > 0) c.enqueue(u);
        c.close();
        if (c.byobRequest) c.byobRequest.respond(0);
      },
    });
  },
  // disturb marks a pristine stream read (its bytes were taken from Go).
  disturb(s) { s.cancel(); },
  closed() { const s = new ReadableStream({ start(c) { c.close(); } }); s._disturbed = true; return s; },
  tee: (s) => s.tee(),
  getReader: (s) => getReader.call(s),
  // readChunk reads one chunk and calls back with its bytes, or done.
  readChunk(reader, onChunk, onDone, onError) {
    read.call(reader).then((r) => {
      if (r.done) { onDone(); return; }
      let b;
      try { b = bytesOf(r.value); } catch (e) { cancel.call(reader, e).catch(() => {}); onError(e); return; }
      onChunk(b);
    }, onError);
  },
  cancelReader(reader, reason) { cancel.call(reader, reason).catch(() => {}); },
  // readAll reads a stream to its end: the bytes, at most limit of them.
  async readAll(s, limit, what) {
    const reader = getReader.call(s);
    const chunks = [];
    let n = 0;
    for (;;) {
      const r = await read.call(reader);
      if (r.done) break;
      let b;
      try { b = bytesOf(r.value); } catch (e) { cancel.call(reader, e).catch(() => {}); throw e; }
      n += b.byteLength;
      if (n > limit) {
        const e = new RangeError(what + ': the body is more than ' + limit + ' bytes');
        cancel.call(reader, e).catch(() => {});
        throw e;
      }
      chunks[chunks.length] = b;
    }
    if (chunks.length === 1 && chunks[0].byteOffset === 0 && chunks[0].byteLength === chunks[0].buffer.byteLength) return chunks[0];
    const out = new U8(n);
    let off = 0;
    for (let i = 0; i < chunks.length; i++) { out.set(chunks[i], off); off += chunks[i].byteLength; }
    return out;
  },
};
return { classes: S, internals };
})
