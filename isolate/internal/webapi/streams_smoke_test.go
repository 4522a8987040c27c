package webapi

import "testing"

func TestStreamsSmoke(t *testing.T) {
	runCases(t, []jsCase{
		{"basic", `const rs = new ReadableStream({start(c){c.enqueue(1);c.enqueue(2);c.close()}}); const r = rs.getReader(); const a = await r.read(); const b = await r.read(); const d = await r.read(); return [a.value,b.value,d.done].join()`, "1,2,true"},
		{"body", `const r = new Response("hello"); const s = r.body; return [r.bodyUsed, await r.text(), r.bodyUsed].join()`, "false,hello,true"},
		{"rewrap", `const r1 = new Response("hello"); const r2 = new Response(r1.body, r1); return [r1.bodyUsed, await r2.text(), r1.bodyUsed].join()`, "false,hello,true"},
		{"stream body", `const rs = new ReadableStream({start(c){c.enqueue(new TextEncoder().encode("ab"));c.enqueue(new Uint8Array([99]));c.close()}}); return await new Response(rs).text()`, "abc"},
		{"iter", `const rs = new ReadableStream({start(c){c.enqueue(1);c.enqueue(2);c.close()}}); const it = rs[Symbol.for("Symbol.asyncIterator")](); let s=0; for(;;){const r = await it.next(); if (r.done) break; s+=r.value}; return s`, "3"},
		{"gzip", `const cs = new CompressionStream("gzip"); const ds = new DecompressionStream("gzip"); const out = new Blob(["hello world"]).stream().pipeThrough(cs).pipeThrough(ds); return await new Response(out).text()`, "hello world"},
		{"tds", `const s = new Blob([new Uint8Array([0xe2, 0x82]), new Uint8Array([0xac])]).stream().pipeThrough(new TextDecoderStream()); return await new Response(s.pipeThrough(new TextEncoderStream())).text()`, "€"},
	})
}
