// A chat room per name, each a Durable Object: its messages live in the
// room's replicated storage, and any node serves any room.
//   warren deploy --do ROOMS=Room chat examples/chat.js
//   curl -d '{"from":"ada","text":"hello"}' NODE/w/chat/lobby    # post: {"seq":1}
//   curl 'NODE/w/chat/lobby?since=0'                              # poll: messages after seq 0
import { DurableObject } from "cloudflare:workers";

const key = (seq) => "m:" + String(seq).padStart(12, "0");

export class Room extends DurableObject {
  async post(from, text) {
    const seq = ((await this.ctx.storage.get("seq")) ?? 0) + 1;
    // Two puts with no await between them: they commit together.
    this.ctx.storage.put("seq", seq);
    this.ctx.storage.put(key(seq), { from, text, at: Date.now() });
    return seq;
  }

  async since(seq) {
    const out = [];
    const page = await this.ctx.storage.list({ prefix: "m:", startAfter: key(seq), limit: 100 });
    for (const [k, m] of page) out.push({ seq: Number(k.slice(2)), ...m });
    return out;
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const room = url.pathname.split("/").filter(Boolean).pop() || "lobby";
    const stub = env.ROOMS.getByName(room);
    if (request.method === "POST") {
      const { from, text } = await request.json();
      if (typeof text !== "string" || text.length === 0 || text.length > 2000) {
        return new Response("text: 1 to 2000 characters\n", { status: 400 });
      }
      return Response.json({ seq: await stub.post(String(from ?? "anon").slice(0, 64), text) });
    }
    return Response.json(await stub.since(Number(url.searchParams.get("since") ?? 0)));
  },
};
