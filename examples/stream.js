// A Worker that streams its answer as server-sent events, a word at a
// time, the way an AI model's answer reaches a browser: each event leaves
// the node (and the peer that ran the call) as soon as it is written.
//
//   warren deploy --node URL stream examples/stream.js
//   curl -N URL/w/stream/?q=warren          (?ms=N: the pause between words)
export default {
  async fetch(request) {
    const params = new URL(request.url).searchParams;
    const q = params.get("q") ?? "the mesh";
    const pause = Number(params.get("ms") ?? 150);
    const words = `Here is a streamed answer about ${q}, sent one word at a time.`.split(" ");
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    (async () => {
      for (const w of words) {
        await writer.write(enc.encode(`data: ${w}\n\n`));
        await new Promise((r) => setTimeout(r, pause));
      }
      await writer.write(enc.encode("event: done\ndata: \n\n"));
      await writer.close();
    })();
    return new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  },
};
