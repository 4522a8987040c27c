// A Worker that counts its visits in Workers KV. The embedded runtime keeps
// the namespace on disk (.warren/state/kv), so every run counts one more:
//   warren run --kv VISITS=visits examples/counter.js
export default {
  async fetch(request, env) {
    const n = Number((await env.VISITS.get("count")) ?? 0) + 1;
    await env.VISITS.put("count", String(n));
    return new Response(`visit ${n}\n`);
  },
};
