// A small TypeScript Worker with imports, a router, JSON and crypto:
//   warren run examples/router/main.ts --path /hash -d 'some text'
import { Router } from "./router";
import { sha256Hex } from "./lib/digest";
import config from "./config.json";

const router = new Router()
  .get("/", () => Response.json({ service: config.name, routes: ["/", "/hash", "/greet/:name", "/fail"] }))
  .get("/greet/:name", (_req, params) => new Response(`${config.greeting}, ${params.name}!\n`))
  .post("/hash", async (req) => {
    const text = await req.text();
    return Response.json({ sha256: await sha256Hex(text), bytes: new TextEncoder().encode(text).length });
  })
  .get("/fail", () => {
    throw new RangeError("this route fails on purpose: see the mapped stack");
  });

export default {
  fetch(request: Request, env: Record<string, unknown>, ctx: ExecutionContext) {
    return router.handle(request);
  },
};

interface ExecutionContext {
  waitUntil(p: Promise<unknown>): void;
}
