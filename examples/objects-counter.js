// A counter per name, each a Durable Object: one live instance in the mesh,
// its count in replicated storage, so it survives losing its node.
//   warren deploy --do COUNTERS=Counter objects-counter examples/objects-counter.js
//   curl NODE/w/objects-counter/apples     # 1, 2, 3, ... through any node
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async increment() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return n;
  }
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).pathname.split("/").filter(Boolean).pop() || "default";
    const n = await env.COUNTERS.getByName(name).increment();
    return new Response(`${name}: ${n}\n`);
  },
};
